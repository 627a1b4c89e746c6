"""Reading an original release's checkpoint file and renaming its weights into hf_vssl's names.

A `KeyMap` is an ordered list of regex renames plus the keys the conversion drops on purpose (a
momentum encoder, a pretext head without a counterpart here), each with its reason. Every key of
the source must be renamed or dropped: anything else stops the conversion with the list of
unexpected keys, and the target model reports what it still misses, so a checkpoint of another
architecture can never load half-way.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# where the releases keep the weights inside the file they save (ViCC / CoCLR / Pace: "state_dict")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
MAX_LISTED = 12  # keys listed in an error message

Replacement = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class KeyMap:
    """renames: (regex, replacement) pairs; the first pattern that fully matches a key renames it
    (`re.Match.expand` templates, or a function of the match).
    drops: (regex, reason) pairs of keys consumed without a target."""

    renames: tuple[tuple[str, Replacement], ...]
    drops: tuple[tuple[str, str], ...] = ()

    def __add__(self, other: KeyMap) -> KeyMap:
        """Both maps' rules, this one's first."""
        return KeyMap(self.renames + other.renames, self.drops + other.drops)

    def rename(self, key: str) -> str | None:
        for pattern, replacement in self.renames:
            match = re.fullmatch(pattern, key)  # the re module caches compiled patterns
            if match:
                return replacement(match) if callable(replacement) else match.expand(replacement)
        return None

    def drop_reason(self, key: str) -> str | None:
        return next((reason for pattern, reason in self.drops if re.fullmatch(pattern, key)), None)

    def apply(self, state_dict: Mapping[str, torch.Tensor], source: str) -> ConvertedWeights:
        """Rename every key; a key neither renamed nor dropped is an error naming the source."""
        tensors: dict[str, torch.Tensor] = {}
        dropped: dict[str, str] = {}
        unexpected: list[str] = []
        for key, tensor in state_dict.items():
            new_key = self.rename(key)
            if new_key is None:
                reason = self.drop_reason(key)
                if reason is None:
                    unexpected.append(key)
                else:
                    dropped[key] = reason
            elif new_key in tensors:
                raise ValueError(f"{source}: two source weights map to '{new_key}' (the second is '{key}')")
            else:
                tensors[new_key] = tensor
        if unexpected:
            raise ValueError(
                f"{source} does not match the expected layout: {len(unexpected)} unexpected keys "
                f"{_listing(unexpected)}; check --from and --arch"
            )
        return ConvertedWeights(tensors, dropped)


@dataclass
class ConvertedWeights:
    """tensors: hf_vssl names -> tensors; dropped: source key -> why it has no target."""

    tensors: dict[str, torch.Tensor]
    dropped: dict[str, str]

    def dropped_summary(self) -> dict[str, int]:
        """How many keys were dropped for each reason."""
        summary: dict[str, int] = {}
        for reason in self.dropped.values():
            summary[reason] = summary.get(reason, 0) + 1
        return summary


def _listing(keys: list[str]) -> str:
    shown = ", ".join(sorted(keys)[:MAX_LISTED])
    return f"[{shown}{', ...' if len(keys) > MAX_LISTED else ''}]"


def load_checkpoint_file(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an original `.pth` / `.pth.tar` / `.pt`, read with `torch.load(weights_only=True)`.

    Unwraps the dict the releases save around the weights ({'epoch', 'state_dict', 'optimizer', ...})
    and strips DataParallel's `module.` prefix. A file whose pickle holds anything but tensors and
    plain containers is refused: unpickling arbitrary objects can run code.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint file {path} is empty (0 bytes): an interrupted download or copy?")
    not_a_checkpoint = ValueError(
        f"{path} is not a PyTorch checkpoint (torch.load cannot read it): pass the release's .pth / .pth.tar file"
    )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):  # not a pickle at all (text, random bytes)
            raise not_a_checkpoint from None
        raise ValueError(
            f"refusing to load {path}: its pickle holds objects other than tensors and plain containers, and "
            f"unpickling them could run arbitrary code (torch.load weights_only=True said: {err}). Re-save the "
            "bare state dict (`torch.save(model.state_dict(), ...)`) in the environment that wrote it."
        ) from None
    except (RuntimeError, EOFError, KeyError, IndexError, ValueError):  # what torch raises on garbage
        raise not_a_checkpoint from None
    state_dict = _unwrap(payload, path)
    if all(key.startswith("module.") for key in state_dict):
        state_dict = {key.removeprefix("module."): tensor for key, tensor in state_dict.items()}
    return state_dict


def _unwrap(payload: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(payload, Mapping):
        wrapped = next((payload[k] for k in WRAPPER_KEYS if isinstance(payload.get(k), Mapping)), None)
        state_dict = wrapped if wrapped is not None else payload
        if state_dict and all(isinstance(v, torch.Tensor) for v in state_dict.values()):
            return dict(state_dict)
    raise ValueError(
        f"{path} holds no state dict: expected a mapping of names to tensors, or a dict with one under "
        f"{list(WRAPPER_KEYS)}; found {type(payload).__name__}"
        + (f" with keys {sorted(payload)[:MAX_LISTED]}" if isinstance(payload, Mapping) else "")
    )


def load_into(
    model: nn.Module, tensors: Mapping[str, torch.Tensor], source: str, *, fresh: tuple[str, ...] = ()
) -> None:
    """`model.load_state_dict(tensors)`, after listing every missing, unexpected or mis-shaped weight.

    fresh: prefixes of the model's weights the source never had (a queue); they keep their initial values.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors and not k.startswith(fresh)]
    unexpected = [k for k in tensors if k not in expected]
    mismatched = [
        f"{k} {tuple(tensors[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in tensors and tensors[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys {_listing(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches (source vs model) {_listing(mismatched)}")
    if problems:
        raise ValueError(f"{source} does not match {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(
        {**{k: v for k, v in expected.items() if k.startswith(fresh)}, **tensors}, strict=True
    )


__all__ = ["ConvertedWeights", "KeyMap", "load_checkpoint_file", "load_into"]
