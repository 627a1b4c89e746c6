import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_vssl.nn import EmbeddingQueue, Prototypes


def _prototype_step(prototypes: Prototypes, frozen: bool) -> torch.Tensor:
    """One SGD step (momentum, decay) on a loss through the prototypes; returns the weight before."""
    optimizer = torch.optim.SGD(prototypes.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    prototypes.frozen = frozen
    before = prototypes.weight.detach().clone()
    prototypes(torch.randn(4, 8)).logsumexp(dim=1).mean().backward()
    prototypes.drop_grad_if_frozen()
    optimizer.step()
    return before


def test_frozen_prototypes_get_no_update_then_do():
    prototypes = Prototypes(8, 5)
    torch.nn.init.normal_(prototypes.weight)
    before = _prototype_step(prototypes, frozen=True)
    assert torch.equal(prototypes.weight, before)
    assert prototypes.weight.grad is None
    before = _prototype_step(prototypes, frozen=False)
    assert not torch.equal(prototypes.weight, before)


def test_normalize_gives_unit_rows_and_scores_shape():
    prototypes = Prototypes(8, 5)
    torch.nn.init.normal_(prototypes.weight, std=3.0)
    prototypes.normalize_()
    torch.testing.assert_close(prototypes.weight.norm(dim=1), torch.ones(5))
    assert prototypes(torch.randn(2, 3, 8)).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="num_prototypes"):
        Prototypes(8, 0)


def test_queue_fills_rolls_and_survives_save_load(tmp_path):
    queue = EmbeddingQueue(size=5, dim=2)
    assert len(queue) == 0 and queue.get().shape == (0, 2)
    queue.enqueue(torch.tensor([[1.0, 1.0], [2.0, 2.0]]))
    queue.enqueue(torch.tensor([[3.0, 3.0], [4.0, 4.0]]))
    assert len(queue) == 4 and not queue.is_full
    assert sorted(queue.get()[:, 0].tolist()) == [1, 2, 3, 4]
    queue.enqueue(torch.tensor([[5.0, 5.0], [6.0, 6.0], [7.0, 7.0]]))  # rolls: 1 and 2 are the oldest
    assert queue.is_full and sorted(queue.get()[:, 0].tolist()) == [3, 4, 5, 6, 7]
    queue.enqueue(torch.arange(16.0).view(8, 2))  # more than the size: keeps the newest 5
    assert sorted(queue.get()[:, 0].tolist()) == [6, 8, 10, 12, 14]

    save_file(queue.state_dict(), tmp_path / "queue.safetensors")
    restored = EmbeddingQueue(size=5, dim=2)
    restored.load_state_dict(load_file(tmp_path / "queue.safetensors"))
    assert torch.equal(restored.get(), queue.get()) and int(restored.position) == int(queue.position)
    restored.enqueue(torch.tensor([[100.0, 100.0]]))
    queue.enqueue(torch.tensor([[100.0, 100.0]]))
    assert torch.equal(restored.get(), queue.get())  # same row replaced after the reload
    with pytest.raises(ValueError, match="dim 2"):
        queue.enqueue(torch.zeros(1, 3))
