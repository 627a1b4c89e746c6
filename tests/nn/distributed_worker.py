"""One process of the 2-process gloo checks in test_distributed.py (run as a script, not collected).

Usage: python distributed_worker.py RANK WORLD INIT_FILE OUT_DIR. Every process builds the same
global tensors from fixed seeds, keeps its slice of the batch, and saves what it computed.
"""

import sys

import torch
import torch.distributed as dist

from hf_vssl.nn import (
    EmbeddingQueue,
    batch_shuffle,
    batch_unshuffle,
    global_info_nce,
    group_info_nce,
    sinkhorn_knopp,
)
from hf_vssl.nn.swapped import sinkhorn_targets


def global_tensors() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "scores": torch.randn(8, 5, generator=generator, dtype=torch.float64),
        "queued": torch.randn(6, 5, generator=generator, dtype=torch.float64),
        "z_a": torch.randn(8, 6, generator=generator),
        "z_b": torch.randn(8, 6, generator=generator),
        "rows": torch.randn(3, 8, 4, generator=generator),  # 3 steps of a global batch of 8
        "groups": torch.tensor([0, 1, 0, 2, 1, 1, 3, 0]),  # e.g. pace labels: positives across processes
    }


def main() -> None:
    rank, world, init_file, out_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    data = global_tensors()
    per = 8 // world
    mine = slice(rank * per, (rank + 1) * per)
    result = {"sinkhorn": sinkhorn_knopp(data["scores"][mine], epsilon=0.5, num_iters=3)}
    queued_share = data["queued"][rank::world]
    result["targets"] = sinkhorn_targets([data["scores"][mine]], 0.5, 3, queued=[queued_share])[0]

    z_a = data["z_a"][mine].clone().requires_grad_(True)
    z_b = data["z_b"][mine].clone().requires_grad_(True)
    loss = global_info_nce(z_a, z_b, temperature=0.2)
    loss.backward()
    result.update(nce_loss=loss.detach(), grad_a=z_a.grad, grad_b=z_b.grad)
    z = data["z_a"][mine].clone().requires_grad_(True)
    group_loss = group_info_nce(z, data["groups"][mine], temperature=0.2)
    group_loss.backward()
    result.update(group_loss=group_loss.detach(), group_grad=z.grad)

    queue = EmbeddingQueue(size=12, dim=4)
    for step_rows in data["rows"]:
        queue.enqueue(step_rows[mine])
    result.update(queue_state=queue.state_dict(), queue_share=queue.get())

    x = data["z_a"][mine]
    shuffled, inverse = batch_shuffle(x)
    result.update(shuffled=shuffled, unshuffled=batch_unshuffle(shuffled, inverse))
    torch.save(result, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
