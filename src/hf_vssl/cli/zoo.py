"""`hf-vssl zoo`: print the preset table; `--write-cards DIR` renders every preset's model card."""

from __future__ import annotations

import argparse

from ..hub.zoo import DATASETS, ZOO, Preset

COLUMNS = (
    "name",
    "method",
    "backbone",
    "input",
    "pretrained on",
    "convert --from",
    "paper's numbers (UCF / HMDB)",
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("zoo", help="list the model zoo presets, or write their model cards")
    parser.add_argument(
        "--write-cards", metavar="DIR", help="render one model card per preset into DIR (<name>.md) and exit"
    )
    parser.set_defaults(func=run)


def preset_row(preset: Preset) -> tuple[str, ...]:
    """One line of the table: the preset's setup and the paper's first UCF / HMDB pair per task
    (marked * when the table's note qualifies it, e.g. a two-stream fusion; the card has the note)."""
    kwargs = ", ".join(f"{k}={v}" for k, v in preset.backbone_kwargs)
    reported = []
    for task, short in (("linear-probe", "probe"), ("finetune", "ft")):
        ucf = next((r for r in preset.reported if r.task == task and r.dataset == "ucf101"), None)
        if ucf is None:
            continue
        same_row = (ucf.source, ucf.note, ucf.pretrain_dataset)
        hmdb = next(
            (
                r
                for r in preset.reported
                if r.task == task
                and r.dataset == "hmdb51"
                and (r.source, r.note, r.pretrain_dataset) == same_row
            ),
            None,
        )
        pair = f"{ucf.value:.1f}" + (f" / {hmdb.value:.1f}" if hmdb else "")
        reported.append(f"{short} {pair}{'*' if ucf.note else ''} ({ucf.source})")
    return (
        preset.name,
        preset.method,
        f"{preset.backbone_type}({kwargs})",
        f"{preset.modality} {preset.num_frames}x{preset.crop_size}x{preset.crop_size}",
        DATASETS.get(preset.pretrain_dataset, preset.pretrain_dataset),
        preset.convert_from or "-",
        "; ".join(reported) or "-",
    )


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def run(args: argparse.Namespace) -> int:
    if args.write_cards:
        from ..hub.cards import write_cards

        for path in write_cards(args.write_cards):
            print(path)
        return 0
    print(format_table([COLUMNS, *(preset_row(p) for p in ZOO)]))
    print("* qualified by a note of the source table (e.g. two-stream fusion): see the preset's model card")
    return 0
