"""Two gloo processes, each holding half of the batch, must compute what one process holding all of it does."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_vssl.nn import (
    EmbeddingQueue,
    all_gather_with_grad,
    get_rank,
    get_world_size,
    global_info_nce,
    group_info_nce,
    sinkhorn_knopp,
)
from hf_vssl.nn.swapped import sinkhorn_targets

WORKER = Path(__file__).with_name("distributed_worker.py")
sys.path.insert(0, str(WORKER.parent))
from distributed_worker import global_tensors  # noqa: E402


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("gloo")
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), "2", str(tmp / "init"), str(tmp)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    for rank, proc in enumerate(procs):
        assert proc.returncode == 0, f"rank {rank} failed:\n{outputs[rank]}"
    return [torch.load(tmp / f"rank{rank}.pt") for rank in range(2)]


def test_alone_collectives_are_identities():
    t = torch.randn(3, 2, requires_grad=True)
    assert get_world_size() == 1 and get_rank() == 0
    assert all_gather_with_grad(t) is t


def test_sinkhorn_two_processes_equal_one(two_process_results):
    data = global_tensors()
    whole = sinkhorn_knopp(data["scores"], epsilon=0.5, num_iters=3)
    split = torch.cat([r["sinkhorn"] for r in two_process_results])
    torch.testing.assert_close(split, whole, rtol=1e-10, atol=1e-12)


def test_sinkhorn_targets_with_queue_two_processes_equal_one(two_process_results):
    data = global_tensors()
    # one process: its queue (all 6 queued rows) in front of the whole batch
    whole = sinkhorn_targets([data["scores"]], 0.5, 3, queued=[data["queued"]])[0]
    split = torch.cat([r["targets"] for r in two_process_results])
    torch.testing.assert_close(split, whole, rtol=1e-10, atol=1e-12)


def test_global_info_nce_two_processes_equal_one(two_process_results):
    data = global_tensors()
    z_a, z_b = data["z_a"].clone().requires_grad_(True), data["z_b"].clone().requires_grad_(True)
    loss = global_info_nce(z_a, z_b, temperature=0.2)
    loss.backward()
    mean_loss = torch.stack([r["nce_loss"] for r in two_process_results]).mean()
    torch.testing.assert_close(mean_loss, loss.detach())
    # DDP averages gradients over the 2 processes: the average must be the one-process gradient
    for name, full in (("grad_a", z_a.grad), ("grad_b", z_b.grad)):
        split = torch.cat([r[name] for r in two_process_results]) / 2
        torch.testing.assert_close(split, full, rtol=1e-5, atol=1e-7)


def test_group_info_nce_two_processes_equal_one(two_process_results):
    data = global_tensors()
    z = data["z_a"].clone().requires_grad_(True)
    loss = group_info_nce(z, data["groups"], temperature=0.2)
    loss.backward()
    # every anchor here has a positive, so the mean over processes is the mean over all anchors
    torch.testing.assert_close(
        torch.stack([r["group_loss"] for r in two_process_results]).mean(), loss.detach()
    )
    split = torch.cat([r["group_grad"] for r in two_process_results]) / 2
    torch.testing.assert_close(split, z.grad, rtol=1e-5, atol=1e-7)


def test_queue_is_identical_on_every_process_and_shares_partition_it(two_process_results):
    data = global_tensors()
    alone = EmbeddingQueue(size=12, dim=4)
    for step_rows in data["rows"]:
        alone.enqueue(step_rows)
    for result in two_process_results:
        for key, value in alone.state_dict().items():
            torch.testing.assert_close(result["queue_state"][key], value)
    shares = torch.cat([r["queue_share"] for r in two_process_results])
    assert shares.shape == alone.get().shape
    assert sorted(map(tuple, shares.tolist())) == sorted(map(tuple, alone.get().tolist()))


def test_batch_shuffle_round_trip(two_process_results):
    data = global_tensors()
    shuffled = torch.cat([r["shuffled"] for r in two_process_results])
    assert not torch.equal(shuffled, data["z_a"])  # 8! permutations: the identity is (almost) impossible
    assert sorted(map(tuple, shuffled.tolist())) == sorted(map(tuple, data["z_a"].tolist()))
    torch.testing.assert_close(torch.cat([r["unshuffled"] for r in two_process_results]), data["z_a"])
