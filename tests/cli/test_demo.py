"""Each method's demo recipe builds and every stage it relies on starts inside its run; the verdict tells a
win from the seed-to-seed noise."""

from __future__ import annotations

import pytest

from hf_vssl.cli.demo import verdict
from hf_vssl.hub.recipes import AXES, DEMO_RECIPES, DEMO_VERDICT, DemoVerdict

# stage fields of the method configs: epoch at which something starts (a queue only matters when it is on)
STAGE_STARTS = ("graph_start_epoch", "local_start_epoch", "freeze_prototypes_epochs", "queue_start_epoch")


@pytest.mark.parametrize("method", sorted(DEMO_RECIPES))
def test_demo_recipe_builds_and_its_stages_start_within_the_run(method):
    recipe = DEMO_RECIPES[method]
    config = recipe.build_config()
    assert recipe.learns and set(recipe.learns) <= set(AXES)
    assert config.epoch_repeats == 1  # the budget counts passes over the videos
    assert getattr(config, "stream", "rgb") == recipe.stream  # trained on the stream it is tested on
    for name in STAGE_STARTS:
        start = getattr(config, name, None)
        if start is None or (name == "queue_start_epoch" and config.queue_size == 0):
            continue
        assert start < config.epochs, f"{method}: {name}={start} never starts in {config.epochs} epochs"


def test_beating_the_random_init_needs_both_metrics_and_allows_a_tie_at_the_ceiling():
    beats = DEMO_VERDICT.beats
    random_init = {"appearance probe top1": 1.0, "appearance R@1": 0.925}
    assert beats({"appearance probe top1": 1.0, "appearance R@1": 1.0}, random_init, "appearance")
    assert not beats({"appearance probe top1": 1.0, "appearance R@1": 0.925}, random_init, "appearance")
    assert not beats({"appearance probe top1": 0.9, "appearance R@1": 1.0}, random_init, "appearance")


VIDEO = 1 / 80  # one test video of two-label-small


def test_a_win_by_a_video_or_two_is_a_tie_and_a_win_beyond_the_margin_counts():
    random_init = {"motion probe top1": 0.25, "motion R@1": 0.2}
    for videos in (1, 2):  # within the seed-to-seed spread of a network that learned nothing
        row = {"motion probe top1": 0.25 + videos * VIDEO, "motion R@1": 0.2 + videos * VIDEO}
        assert not DEMO_VERDICT.beats(row, random_init, "motion"), videos
    win = {"motion probe top1": 0.25 + DEMO_VERDICT.margin + VIDEO, "motion R@1": 0.2}
    assert DEMO_VERDICT.beats(win, random_init, "motion")
    # a loss within the margin on the other metric is a tie too; a loss beyond it is a loss
    assert DEMO_VERDICT.beats({**win, "motion R@1": 0.2 - 2 * VIDEO}, random_init, "motion")
    assert not DEMO_VERDICT.beats(
        {**win, "motion R@1": 0.2 - DEMO_VERDICT.margin - VIDEO}, random_init, "motion"
    )


def test_the_margin_is_a_checked_config_field():
    assert DemoVerdict().margin >= 2 * VIDEO  # two videos of 80 never read as learning
    assert DemoVerdict(margin=0.0).beats(
        {"motion probe top1": VIDEO, "motion R@1": 0.0},
        {"motion probe top1": 0.0, "motion R@1": 0.0},
        "motion",
    )
    with pytest.raises(ValueError, match="margin"):
        DemoVerdict(margin=1.5)
    with pytest.raises(ValueError, match="R@50"):
        DemoVerdict(metrics=("R@50",))


def test_the_verdict_names_each_label_and_sets_the_exit_status(capsys):
    random_init = {
        "motion probe top1": 0.175,
        "motion R@1": 0.162,
        "appearance probe top1": 0.94,
        "appearance R@1": 0.76,
    }
    sdc = {
        "motion probe top1": 0.2,
        "motion R@1": 0.112,
        "appearance probe top1": 0.96,
        "appearance R@1": 0.9,
    }
    assert verdict("sdc", {"pretrained (sdc)": sdc, "random init": random_init}) == 1
    printed = capsys.readouterr().out
    assert "on motion (sdc is for it), the pretrained backbone does NOT beat" in printed
    assert "on appearance (sdc is for it), the pretrained backbone beats" in printed
    assert verdict("vicc", {"pretrained (vicc)": sdc, "random init": random_init}) == 0
    motion_only = {"motion probe top1": 0.2, "motion R@1": 0.2}
    assert verdict("vicc", {"pretrained (vicc)": motion_only, "random init": motion_only}) == 1
    assert "which this dataset lacks" in capsys.readouterr().out
