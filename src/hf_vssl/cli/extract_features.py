"""`hf-vssl extract-features MODEL --dataset D --out DIR`: dense clip features for temporal models."""

from __future__ import annotations

import argparse
import sys

from .common import (
    add_dataclass_arguments,
    command_main,
    data_arguments,
    finish_parser,
    from_args,
    require,
    training_arguments,
)

DESCRIPTION = """One (T, C) array per video for temporal action localisation / segmentation heads (ActionFormer,
BMN): the model's test clips (its processor's clip length, frame size, centre crop or ten crops) taken every
--stride frames (or --fps times a second), each clip's map at --level pooled over time and space (ten crops
averaged). Writes DIR/<video>.npy (T, C) and DIR/<video>.json (the clips' start frames and times), or with
--format parquet DIR/data/*.parquet (datasets.load_dataset(DIR) opens it), plus DIR/extraction.json (the
settings) and DIR/report.json (what the run did, the undecodable videos it skipped). Resumable: finished
videos are kept. `accelerate launch` splits the videos over processes. --dataset: a plain folder of
videos (searched recursively), a dataset folder of any layout the other commands read, or a Hub id."""

# the test-clip and input fields of EvaluationArguments this command takes (the clip count is --stride's)
CLIP_FIELDS = (
    "stream",
    "num_frames",
    "frame_stride",
    "crop_size",
    "frame_size",
    "ten_crop",
    "skip_bad_videos",
)
RUN_FIELDS = ("cpu", "mixed_precision", "num_workers", "progress_bar")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..data.sources import DataArguments
    from ..evaluation.extract import ExtractionArguments
    from ..evaluation.runner import EvaluationArguments
    from ..training.loop import TrainingArguments

    parser = subparsers.add_parser(
        "extract-features",
        help="dense per-video (T, C) clip features for temporal models",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="backbone folder, pretraining checkpoint, converted release weights or Hub id",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="output folder (a finished one is resumed, never redone)"
    )
    add_dataclass_arguments(parser, ExtractionArguments, title="features")
    add_dataclass_arguments(
        parser, EvaluationArguments, title="clips (default: the model's processor)", only=CLIP_FIELDS
    )
    add_dataclass_arguments(parser, DataArguments, title="data")
    add_dataclass_arguments(parser, TrainingArguments, title="run", only=RUN_FIELDS)
    finish_parser(parser, run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.extract import ExtractionArguments, FeatureFolder, feature_extractor, open_videos
    from ..evaluation.runner import EvaluationArguments
    from ..training.loop import make_accelerator

    require(args, "out")
    args.output_dir = args.out
    data, training = data_arguments(args), training_arguments(args)
    clips = from_args(EvaluationArguments, args)
    videos = open_videos(
        data.dataset, dataset_format=data.dataset_format, split=data.split, video_column=data.video_column
    )
    extractor = feature_extractor(
        args.model, from_args(ExtractionArguments, args), stream=clips.stream,
        accelerator=make_accelerator(training, trackers=False),
        num_workers=training.decoding_workers,
        progress=training.progress_bar, skip_corrupt=clips.skip_bad_videos, **clips.processor_overrides(),
    )  # fmt: skip
    report = FeatureFolder(args.out, extractor).write(videos)
    if extractor.accelerator.is_main_process:
        print(
            f"features of {extractor.name} in {args.out}: {report.extracted} videos extracted ({report.clips} clips, "
            f"{report.to_dict()['clips_per_s']:.1f} clips/s), {report.existing} already there, "
            f"{len(report.skipped)} skipped as undecodable"
        )
        for video, reason in report.skipped.items():
            print(f"  skipped: {video}: {reason}")
    return 0


main = command_main("extract-features")


if __name__ == "__main__":
    sys.exit(main())
