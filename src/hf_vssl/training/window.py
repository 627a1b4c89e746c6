"""What the loop logs between two logging steps: loss terms and metrics summed on the device, the
first non-finite value of each, clips per second and the time spent waiting for data."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from accelerate import Accelerator


class LogWindow:
    """Running sums of the loss terms and metrics between two logging steps, on the device.

    The values of an optimizer step wait in `pending` until `end_step` adds them, stacked into one
    tensor per tuple of value names (or drops them when the step was skipped). `first_nonfinite`
    records on the device, per value, the first step at which it was NaN or infinite: divergence is
    caught with a few small kernels per step and no host synchronisation, read by `nonfinite` where
    the loop synchronises anyway (logging steps, checkpoints). `data_wait`: the seconds spent waiting
    for the data loader in the window (`timed`).
    """

    def __init__(self) -> None:
        self.first_nonfinite: dict[tuple[str, ...], torch.Tensor] = {}
        self.pending: list[tuple[str, torch.Tensor]] = []
        self._reset()

    def _reset(self) -> None:
        self.sums: dict[tuple[str, ...], torch.Tensor] = {}
        self.counts: dict[tuple[str, ...], int] = defaultdict(int)
        self.count = 0
        self.clips = 0
        self.data_wait = 0.0
        self.start = time.perf_counter()

    def add(self, out: Any, clips: int) -> None:
        """The loss, loss terms and metrics of one micro-batch."""
        self.add_step_value("loss", out.loss)
        for group in ("loss_terms", "metrics"):
            for key, value in (getattr(out, group, None) or {}).items():
                self.add_step_value(key, value)
        self.count += 1
        self.clips += clips

    def add_step_value(self, key: str, value: torch.Tensor) -> None:
        value = value.detach()
        self.pending.append((key, (value.mean() if value.ndim else value).float()))

    def step_is_nonfinite(self, accelerator: Accelerator) -> bool:
        """Whether any process has a non-finite value in this step (one synchronisation)."""
        bad = ~torch.isfinite(torch.stack([value for _, value in self.pending])).all()
        return bool(accelerator.reduce(bad.float(), reduction="sum").item() > 0)

    def end_step(self, step: int, skipped: bool) -> None:
        if self.pending and not skipped:
            names = tuple(key for key, _ in self.pending)
            values = torch.stack([value for _, value in self.pending])
            self.sums[names] = self.sums[names] + values if names in self.sums else values
            self.counts[names] += 1
            first = self.first_nonfinite.get(names, torch.full_like(values, -1, dtype=torch.long))
            self.first_nonfinite[names] = torch.where(torch.isfinite(values) | (first >= 0), first, step)
        self.pending = []

    def nonfinite(self, accelerator: Accelerator) -> tuple[int, list[str]] | None:
        """(first step, the values non-finite at it) over all processes, or None."""
        if not self.first_nonfinite:
            return None
        names = [name for group in self.first_nonfinite for name in group]
        steps = accelerator.gather(torch.cat(list(self.first_nonfinite.values()))[None])
        steps = torch.where(steps < 0, torch.iinfo(steps.dtype).max, steps).min(0).values.tolist()
        first = min(steps)
        if first == torch.iinfo(torch.long).max:
            return None
        return first, sorted({name for name, step in zip(names, steps) if step == first})

    def reduce(self, accelerator: Accelerator) -> dict[str, float]:
        """Means over the window and all processes, plus global clips/s and this process's data_wait
        (the fraction of the time spent waiting for batches: near 1 = the input pipeline is the
        bottleneck); resets the window."""
        keys = sorted({name for group in self.sums for name in group})  # none if every step was skipped
        index = {name: i for i, name in enumerate(keys)}
        sums = torch.zeros(len(keys), device=accelerator.device)
        counts = [0] * len(keys)
        for group, values in self.sums.items():
            sums.index_add_(0, torch.tensor([index[name] for name in group], device=sums.device), values)
            for name in group:
                counts[index[name]] += self.counts[group]
        means = sums / torch.tensor(counts, dtype=sums.dtype, device=sums.device)
        logs = dict(zip(keys, accelerator.reduce(means, reduction="mean").tolist()))
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        logs["clips_per_s"] = self.clips / elapsed
        logs["data_wait"] = min(self.data_wait / elapsed, 1.0)
        self._reset()
        return logs


def timed(batches: Iterable[Any], window: LogWindow) -> Iterator[Any]:
    """`batches`, adding the seconds between asking for each batch and getting it to `window.data_wait`."""
    iterator = iter(batches)
    while True:
        start = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            return
        window.data_wait += time.perf_counter() - start
        yield batch
