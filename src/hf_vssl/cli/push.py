"""`hf-vssl push CHECKPOINT --repo-id OWNER/NAME`: upload any checkpoint with its card, processor and code."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push",
        help="upload a checkpoint folder to the Hub (safetensors, config, remote code, processor, card)",
    )
    parser.add_argument("checkpoint", help="a folder written by save_pretrained or `hf-vssl convert`")
    parser.add_argument("--repo-id", required=True, help="the Hub repository, e.g. alice/my-r21d")
    parser.add_argument(
        "--preset",
        default=None,
        help="the zoo preset whose model this is (checked: architecture, width, clip); its paper's numbers "
        "go into the card. Default: the preset the checkpoint matches, if any",
    )
    parser.add_argument(
        "--results",
        default=None,
        help="JSON list of results measured with hf-vssl, for the card's model-index",
    )
    parser.add_argument(
        "--local-dir", default=None, help="write the repository's files into this folder instead of uploading"
    )
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", default=None, help="branch to commit to")
    parser.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    parser.add_argument("--commit-message", default=None)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..hub.cards import load_results
    from ..hub.push import push_checkpoint
    from ..hub.zoo import get_preset

    measured = load_results(args.results) if args.results else ()
    preset = get_preset(args.preset) if args.preset else None
    if args.local_dir:
        files = push_checkpoint(
            args.checkpoint, args.repo_id, preset=preset, measured=measured, local_dir=args.local_dir
        )
        print(f"staged {args.repo_id} in {args.local_dir}: {', '.join(files)}")
        return 0
    commit = push_checkpoint(
        args.checkpoint,
        args.repo_id,
        preset=preset,
        measured=measured,
        private=args.private or None,
        revision=args.revision,
        create_pr=args.create_pr,
        commit_message=args.commit_message,
    )
    print(f"pushed {args.checkpoint} to {commit.commit_url}")
    return 0
