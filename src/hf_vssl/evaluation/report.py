"""Evaluation results as JSON and a markdown table, and their section in a model card.

Results are rows (a model: "pretrained (pace)", "random init"...) of named numbers; accuracies,
recalls and cluster scores in [0, 1] are shown as percentages, entropy (nats) as is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

RESULTS_START = "<!-- hf-vssl results start -->"
RESULTS_END = "<!-- hf-vssl results end -->"
NOT_PERCENT = ("entropy",)  # entropy is in nats, everything else a fraction shown in %


def _cell(name: str, value: Any) -> str:
    if not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.3f}" if name.endswith(NOT_PERCENT) else f"{100 * value:.1f}"


def markdown_table(rows: dict[str, dict[str, Any]], title: str = "model") -> str:
    """A markdown table with one row per model and one column per metric (union, first-seen order)."""
    columns: list[str] = []
    for values in rows.values():
        columns += [c for c in values if c not in columns]
    lines = [
        "| " + " | ".join([title, *columns]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for name, values in rows.items():
        cells = [_cell(c, values[c]) if c in values else "-" for c in columns]
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines)


def write_report(
    rows: dict[str, dict[str, Any]], output_dir: str | Path, name: str, **extra: Any
) -> tuple[Path, Path]:
    """Write `<name>.json` (raw fractions, plus `extra` context) and `<name>.md` (the table)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output_dir / f"{name}.json", output_dir / f"{name}.md"
    json_path.write_text(json.dumps({"results": rows, **extra}, indent=2, default=str) + "\n")
    md_path.write_text(markdown_table(rows) + "\n\nNumbers in %, except entropy (nats).\n")
    return json_path, md_path


def update_model_card(card_path: str | Path, heading: str, table: str) -> Path:
    """Put `table` under `heading` in the card's results section (created at the end when missing).

    The section sits between HTML-comment markers; a heading already in it is replaced, so
    re-running an evaluation updates its own table and keeps the others.
    """
    card_path = Path(card_path)
    text = card_path.read_text() if card_path.is_file() else ""
    block = f"### {heading}\n\n{table}\n"
    if RESULTS_START in text and RESULTS_END in text:
        before, rest = text.split(RESULTS_START, 1)
        section, after = rest.split(RESULTS_END, 1)
        parts = [p for p in re.split(r"(?m)^(?=### )", section.strip()) if p.strip()]
        parts = [p for p in parts if not p.startswith(f"### {heading}\n")] + [block]
        section = "\n".join(p.rstrip() + "\n" for p in parts)
    else:
        before, after = text.rstrip() + "\n\n## Evaluation results (measured with hf-vssl)\n\n", "\n"
        section = block
    card_path.write_text(f"{before}{RESULTS_START}\n{section}{RESULTS_END}{after}")
    return card_path


def publish_results(
    evaluation: Any,
    rows: dict[str, dict[str, Any]],
    *,
    output_dir: str | Path,
    name: str,
    heading: str,
    dataset_name: str,
    update_card: bool,
    model: str | None,
) -> None:
    """Write `<name>.json` / `<name>.md` into `output_dir`, print the table, and, with `update_card`,
    put it into the evaluated checkpoint's model card when `model` is a local folder with one."""
    if not evaluation.accelerator.is_main_process:
        return
    context = evaluation.describe()
    json_path, md_path = write_report(rows, output_dir, name, dataset=dataset_name, **context)
    print(markdown_table(rows))
    print(f"results: {json_path} and {md_path}")
    for split, videos in context.get("skipped_videos", {}).items():
        print(f"skipped {len(videos)} undecodable {split} video(s), named in {json_path}")
    card = Path(model) / "README.md" if model else None
    if update_card and card is not None and card.is_file():
        update_model_card(card, f"{heading} on {dataset_name}", markdown_table(rows))
        print(f"model card updated: {card}")
