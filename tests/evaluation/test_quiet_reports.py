"""Quiet and informative: no load report on the documented load path, result rows named after the
run, a warning when the retrieval gallery is smaller than the largest k, 1-based epochs."""

from __future__ import annotations

import logging

import torch
from transformers import AutoModel

from hf_vssl.evaluation.features import ClipOutputs
from hf_vssl.evaluation.retrieval import evaluate_retrieval
from hf_vssl.evaluation.runner import display_name
from hf_vssl.methods.pace import PaceConfig, PaceForPretraining

TINY = {"model_type": "vssl-r3d", "depth": 10, "width_multiplier": 0.125}


def test_automodel_loads_a_pretraining_checkpoint_without_a_load_report(tmp_path, capsys, caplog):
    PaceForPretraining(PaceConfig(backbone_config=TINY)).save_pretrained(tmp_path / "run" / "model")
    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        AutoModel.from_pretrained(tmp_path / "run" / "model")
    captured = capsys.readouterr()
    assert "LOAD REPORT" not in captured.out + captured.err + caplog.text
    assert "UNEXPECTED" not in captured.out + captured.err + caplog.text


def test_result_rows_are_named_after_the_run(tmp_path):
    (tmp_path / "pace-run" / "model").mkdir(parents=True)
    assert display_name(str(tmp_path / "pace-run" / "model")) == "pace-run/model"
    assert display_name(str(tmp_path / "pace-run")) == "pace-run"
    assert display_name("vssl/vicc-s3d") == "vssl/vicc-s3d"  # a Hub id


def test_retrieval_warns_when_the_gallery_is_smaller_than_the_largest_k(caplog):
    features = ClipOutputs(torch.eye(4), torch.arange(4), torch.tensor([0, 0, 1, 1]))
    with caplog.at_level(logging.WARNING):
        evaluate_retrieval(features, features, ks=(1, 5))
    assert "gallery has 4 videos, fewer than the largest k (5)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        evaluate_retrieval(features, features, ks=(1, 4))
    assert "gallery" not in caplog.text
