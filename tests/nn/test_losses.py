"""InfoNCE and swapped prediction against values computed by hand on tiny tensors."""

import math

import pytest
import torch
import torch.nn.functional as F

from hf_vssl.nn import (
    global_info_nce,
    group_info_nce,
    info_nce_loss,
    sinkhorn_knopp,
    sinkhorn_targets,
    swapped_prediction_loss,
)


def test_info_nce_single_positive_by_hand():
    anchors = torch.tensor([[3.0, 0.0]])  # normalised inside
    candidates = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    loss = info_nce_loss(anchors, candidates, torch.tensor([[True, False]]), temperature=1.0)
    torch.testing.assert_close(loss, torch.tensor(math.log(1 + math.exp(-1))))


def test_info_nce_multiple_positives_by_hand():
    anchors = torch.tensor([[1.0, 0.0]])
    candidates = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # logits / 0.5 = [2, 0, -2]; both positives in the denominator; loss = mean(lse - 2, lse - 0)
    loss = info_nce_loss(anchors, candidates, torch.tensor([[True, True, False]]), temperature=0.5)
    lse = math.log(math.exp(2) + 1 + math.exp(-2))
    torch.testing.assert_close(loss, torch.tensor(lse - 1.0))


def test_info_nce_extra_negatives_and_ignore_mask():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    candidates = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.eye(2, dtype=torch.bool)
    shared = torch.tensor([[0.0, 1.0]])  # (E, D)
    per_anchor = torch.tensor([[[0.0, 1.0]], [[0.0, 1.0]]])  # (N, E, D)
    # anchor 0: [1, 0 | 0] -> log(e + 2) - 1; anchor 1: [0, 1 | 1] -> log(1 + 2e) - 1
    expected = torch.tensor((math.log(math.e + 2) - 1 + math.log(1 + 2 * math.e) - 1) / 2)
    torch.testing.assert_close(
        info_nce_loss(anchors, candidates, positives, 1.0, extra_negatives=shared), expected
    )
    torch.testing.assert_close(
        info_nce_loss(anchors, candidates, positives, 1.0, extra_negatives=per_anchor), expected
    )
    # ignoring every non-positive pair leaves only the positive: loss 0
    torch.testing.assert_close(
        info_nce_loss(anchors, candidates, positives, 1.0, ignore_mask=~positives), torch.tensor(0.0)
    )


def test_info_nce_anchors_without_positive_do_not_count():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    candidates = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    one = info_nce_loss(anchors[:1], candidates, torch.tensor([[True, False]]), 1.0)
    both = info_nce_loss(anchors, candidates, torch.tensor([[True, False], [False, False]]), 1.0)
    torch.testing.assert_close(both, one)
    none = info_nce_loss(anchors.requires_grad_(), candidates, torch.zeros(2, 2, dtype=torch.bool), 1.0)
    assert none.item() == 0.0 and none.requires_grad
    with pytest.raises(ValueError, match="positive_mask"):
        info_nce_loss(anchors, candidates, torch.ones(3, 2, dtype=torch.bool), 1.0)


def test_global_info_nce_alone_is_cross_entropy():
    z_a, z_b = torch.randn(5, 8), torch.randn(5, 8)
    logits = F.normalize(z_a, dim=1) @ F.normalize(z_b, dim=1).T / 0.1
    torch.testing.assert_close(global_info_nce(z_a, z_b, 0.1), F.cross_entropy(logits, torch.arange(5)))


def test_global_info_nce_with_detached_candidates_sends_no_gradient_to_them():
    z_a, z_b = torch.randn(5, 8, requires_grad=True), torch.randn(5, 8, requires_grad=True)
    global_info_nce(z_a, z_b, 0.1, detach_candidates=True).backward()
    assert z_b.grad is None and z_a.grad.abs().sum() > 0
    global_info_nce(z_a, z_b, 0.1).backward()
    assert z_b.grad.abs().sum() > 0


def test_swapped_prediction_by_hand():
    s1 = torch.tensor([[0.0, 0.0]])
    s2 = torch.tensor([[math.log(3.0), 0.0]])
    q1, q2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]])
    # Q1 from p2 = [3/4, 1/4]: -log(3/4); Q2 from p1 = [1/2, 1/2]: log 2
    both = swapped_prediction_loss([s1, s2], [q1, q2], temperature=1.0)
    torch.testing.assert_close(both, torch.tensor((math.log(4 / 3) + math.log(2)) / 2))
    only_first = swapped_prediction_loss([s1, s2], [q1, None], temperature=1.0)
    torch.testing.assert_close(only_first, torch.tensor(math.log(4 / 3)))


def test_swapped_prediction_is_seed_004_cross_stream_pseudocode():
    generator = torch.Generator().manual_seed(4)
    scores = [torch.randn(6, 5, generator=generator) for _ in range(4)]  # rgb_i, rgb_j, flow_i, flow_j
    q = [sinkhorn_knopp(s) for s in scores]
    p = [F.softmax(s / 0.1, dim=1) for s in scores]
    terms = [sum((q[i] * torch.log(p[v])).sum(dim=1) for v in range(4) if v != i) for i in range(4)]
    expected = (-1 / 4 * sum(t / 3 for t in terms)).mean()
    torch.testing.assert_close(swapped_prediction_loss(scores, q, temperature=0.1), expected)


def test_sinkhorn_targets_prepend_queue_and_return_batch_rows():
    generator = torch.Generator().manual_seed(5)
    batch, past = torch.randn(4, 3, generator=generator), torch.randn(6, 3, generator=generator)
    (targets,) = sinkhorn_targets([batch], 0.05, 3, queued=[past])
    torch.testing.assert_close(targets, sinkhorn_knopp(torch.cat([past, batch]), 0.05, 3)[-4:])
    (no_queue,) = sinkhorn_targets([batch], 0.05, 3)
    torch.testing.assert_close(no_queue, sinkhorn_knopp(batch, 0.05, 3))


def test_group_info_nce_by_hand():
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    groups = torch.tensor([7, 7, 3])
    # rows 0 and 1: logits over the others [1, 0] -> -log(e / (e + 1)); row 2 has no positive
    loss = group_info_nce(z, groups, temperature=1.0)
    torch.testing.assert_close(loss, torch.tensor(math.log(1 + math.exp(-1))))
    with pytest.raises(ValueError, match="groups"):
        group_info_nce(z, groups[:2], 1.0)
