"""Results as JSON + markdown, and the model card section they are pushed into."""

import json

from hf_vssl.evaluation.report import RESULTS_START, markdown_table, update_model_card, write_report

ROWS = {"pretrained": {"top1": 0.75, "R@1": 0.5, "entropy": 1.234}, "random init": {"top1": 0.25}}


def test_markdown_table_shows_percentages_and_missing_cells():
    table = markdown_table(ROWS).splitlines()
    assert table[0] == "| model | top1 | R@1 | entropy |"
    assert table[2] == "| pretrained | 75.0 | 50.0 | 1.234 |"
    assert table[3] == "| random init | 25.0 | - | - |"


def test_write_report_keeps_raw_fractions_in_json(tmp_path):
    json_path, md_path = write_report(ROWS, tmp_path, "probe", dataset="synthetic")
    saved = json.loads(json_path.read_text())
    assert saved["results"]["pretrained"]["top1"] == 0.75 and saved["dataset"] == "synthetic"
    assert "| pretrained | 75.0 |" in md_path.read_text()


def test_update_model_card_replaces_its_own_table_and_keeps_the_rest(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("---\nlicense: apache-2.0\n---\n# my model\n\nSome text.\n")
    update_model_card(card, "Linear probe", "| a |\n|---|\n| 1 |")
    update_model_card(card, "Retrieval", "| r |\n|---|\n| 2 |")
    update_model_card(card, "Linear probe", "| a |\n|---|\n| 3 |")
    text = card.read_text()
    assert text.startswith("---\nlicense: apache-2.0\n---\n# my model\n\nSome text.\n")
    assert text.count(RESULTS_START) == 1 and text.count("### Linear probe") == 1
    assert "| 3 |" in text and "| 1 |" not in text and "| 2 |" in text
