import pytest
import torch

from hf_vssl.nn import sinkhorn_knopp


def reference_sinkhorn(scores: torch.Tensor, epsilon: float, num_iters: int) -> torch.Tensor:
    """The formula of docs/METHODS.md#sinkhorn-knopp, literally, in float64 on one process."""
    q = torch.exp(scores.double() / epsilon).T  # (K, N)
    q /= q.sum()
    num_prototypes, num_rows = q.shape
    for _ in range(num_iters):
        q /= q.sum(dim=1, keepdim=True)
        q /= num_prototypes
        q /= q.sum(dim=0, keepdim=True)
        q /= num_rows
    return (q * num_rows).T


@pytest.mark.parametrize("epsilon,num_iters", [(0.05, 3), (0.5, 1), (0.1, 10)])
def test_matches_float64_reference(epsilon, num_iters):
    generator = torch.Generator().manual_seed(1)
    embeddings = torch.nn.functional.normalize(torch.randn(40, 16, generator=generator), dim=1)
    prototypes = torch.nn.functional.normalize(torch.randn(7, 16, generator=generator), dim=1)
    scores = embeddings @ prototypes.T  # cosine scores, as the methods produce
    q = sinkhorn_knopp(scores, epsilon, num_iters)
    assert q.dtype == torch.float32 and q.shape == (40, 7)
    torch.testing.assert_close(
        q.double(), reference_sinkhorn(scores, epsilon, num_iters), rtol=1e-4, atol=1e-6
    )
    torch.testing.assert_close(
        sinkhorn_knopp(scores.double(), epsilon, num_iters), reference_sinkhorn(scores, epsilon, num_iters)
    )


def test_rows_sum_to_one_and_columns_balance():
    scores = torch.randn(60, 6, generator=torch.Generator().manual_seed(2)).tanh()
    q = sinkhorn_knopp(scores, epsilon=0.05, num_iters=3)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(60))
    # more iterations converge to equal prototype marginals N / K = 10
    balanced = sinkhorn_knopp(scores, epsilon=0.05, num_iters=200).sum(dim=0)
    torch.testing.assert_close(balanced, torch.full((6,), 10.0), rtol=1e-3, atol=1e-3)
    # and 3 iterations are already far more balanced than the plain softmax of the same scores
    plain = (scores / 0.05).softmax(dim=1).sum(dim=0)
    assert (q.sum(dim=0) - 10).abs().max() < (plain - 10).abs().max()


def test_large_scores_stay_finite():
    scores = torch.randn(32, 5, generator=torch.Generator().manual_seed(3)) * 1000  # S / eps ~ 1e4
    q = sinkhorn_knopp(scores, epsilon=0.05, num_iters=3)
    assert torch.isfinite(q).all()
    torch.testing.assert_close(q.sum(dim=1), torch.ones(32))


def test_no_grad_and_input_checks():
    scores = torch.randn(4, 3, requires_grad=True)
    assert not sinkhorn_knopp(scores).requires_grad
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        sinkhorn_knopp(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_knopp(scores, epsilon=0.0)
