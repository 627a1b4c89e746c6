"""`hf-vssl cluster`: cluster evaluation of test videos (ViCC supp. Table 1) and a t-SNE plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import (
    add_evaluation_arguments,
    add_run_arguments,
    command_main,
    evaluation_from_args,
    finish_parser,
    publish,
    training_arguments,
)

DESCRIPTION = """Cluster evaluation of the test videos: k-means on their features (clip features averaged per
video, L2-normalised), or the rounded prototype assignments of a pretraining checkpoint whose
method scores prototypes, against the labels: accuracy after Hungarian matching, NMI, ARI, mean
entropy per cluster and mean maximal purity (ViCC supp. Table 1). Also writes a t-SNE
plot of the test features coloured by class (OUTPUT_DIR/tsne.png)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cluster", help="cluster metrics and a t-SNE plot", description=DESCRIPTION
    )
    add_evaluation_arguments(parser)
    group = parser.add_argument_group("clustering")
    group.add_argument(
        "--assignments",
        default="kmeans",
        choices=("kmeans", "prototypes"),
        help="k-means on features, or the checkpoint's prototype assignments (default: kmeans)",
    )
    group.add_argument("--num-clusters", type=int, help="k of k-means (default: the number of classes)")
    group.add_argument("--no-tsne", action="store_true", help="skip the t-SNE plot")
    add_run_arguments(parser, training=False)
    finish_parser(parser, run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.clustering import cluster_metrics, kmeans_assignments, prototype_assignments
    from ..evaluation.tsne import plot_tsne

    training = training_arguments(args)  # the run's seed: args.seed is None unless given
    evaluation = evaluation_from_args(args, training=training)
    test = evaluation.features("test")
    features = test.video_means().numpy()
    if args.assignments == "prototypes":
        if args.model is None:
            raise ValueError(
                "--assignments prototypes needs --model, a pretraining checkpoint with prototypes"
            )
        assignments = prototype_assignments(args.model, evaluation)
    else:
        assignments = kmeans_assignments(
            features, args.num_clusters or len(evaluation.class_names), seed=training.seed
        )
    metrics = cluster_metrics(assignments, test.labels.numpy())
    if evaluation.accelerator.is_main_process and not args.no_tsne:
        path = plot_tsne(
            features, test.labels.numpy(), evaluation.class_names, Path(args.output_dir) / "tsne.png",
            title=f"t-SNE of test features: {evaluation.name}", seed=training.seed,
        )  # fmt: skip
        print(f"t-SNE plot: {path}")
    publish(args, evaluation, f"Clustering ({args.assignments})", {evaluation.name: metrics}, "clustering")
    return 0


main = command_main("cluster")  # `python -m hf_vssl.cli.cluster`, examples/cluster.py


if __name__ == "__main__":
    sys.exit(main())
