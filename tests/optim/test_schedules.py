import pytest

from hf_vssl.optim import cosine_schedule, step_schedule


def test_cosine_from_one_to_final_factor():
    factor = cosine_schedule(total_steps=100, final_factor=0.001)  # ViCC supp.: 0.6 -> 0.0006
    assert factor(0) == pytest.approx(1.0)
    assert factor(50) == pytest.approx((1 + 0.001) / 2)
    assert factor(100) == pytest.approx(0.001) and factor(150) == pytest.approx(0.001)
    assert all(factor(s) > factor(s + 1) for s in range(99))


def test_cosine_warmup():
    factor = cosine_schedule(total_steps=20, warmup_steps=4)
    assert [factor(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factor(4) == pytest.approx(1.0) and factor(20) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        cosine_schedule(total_steps=3, warmup_steps=5)


def test_step_decay_in_epochs():
    # Pace Prediction supp.: x0.1 every 6 epochs
    factor = step_schedule([6, 12], gamma=0.1, steps_per_epoch=10)
    assert factor(59) == 1.0 and factor(60) == pytest.approx(0.1) and factor(120) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="milestones"):
        step_schedule([12, 6])
