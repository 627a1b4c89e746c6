"""The GPU check of issue 13, prepared to run once when a device is lent (and at the tiniest size on a CPU).

One run prints, section by section (each with its seconds):
1. versions: Python, torch (+ CUDA, the device), torchvision, transformers, datasets, accelerate, av (+ FFmpeg),
   evaluate, hf_vssl;
2. parity against torchvision: its r3d_18, r2plus1d_18 and s3d (random weights, random BatchNorm statistics)
   converted by `hf-vssl convert --source torchvision`'s code, our pooled features vs theirs on the device in
   float32 (TF32 off) and under bf16 autocast; skipped with a line saying so where torchvision is absent;
3. throughput of a 400-way training step, ours vs torchvision's r3d_18 / r2plus1d_18 side by side at the same
   settings: float32, bf16 + channels_last_3d, and that + torch.compile (`bench_train.classification_step_rate`);
4. `benchmarks/bench_train.py` end to end on `hf-vssl synth --preset small` and its `hf-vssl prepare` copy.

On the H200 (estimated at ~5 minutes of the 10 a command may run; never run there yet):

    bash benchmarks/device_check.sh                 # installs the carried wheels, then runs this script
    bash benchmarks/device_check.sh --quick --cpu   # the CPU smoke run (tiny sizes, ~4 minutes on 2 cores)

Carrying wheels: the device image has torch, torchvision, transformers, accelerate, numpy, scipy, pyarrow,
pandas, tensorboard, but not datasets, av, evaluate (nor datasets' dill and multiprocess); it has no network.
Once, here, in the repository root (the device machine runs Python 3.12 on x86-64):

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
        -d .whl datasets==5.2.0 av==18.1.0 evaluate==0.4.6 dill==0.4.1 multiprocess==0.70.19

(~36 MB, of the 64 MiB a call may carry), then call the device tool's `run` with `carry: [".whl"]`,
`timeout_s` 600 and the command `bash benchmarks/device_check.sh 2>&1 | tee $OUT/device_check.log` (the
whole log comes back even if the run is cut). device_check.sh installs `.whl/*.whl` into /tmp/site
(`pip install --no-index --no-deps --target`) and puts it and `src/` on PYTHONPATH. datasets 5.2 needs
pyarrow >= 24 and fsspec <= 2026.9: the versions section prints the image's; if datasets fails to import
on them, carry the matching wheels too. Each section is timed and a failing one is reported without
stopping the next; the torch.compile rows come last.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))  # bench_train, imported inside the sections (it needs datasets)

# (torchvision builder, our family) of each backbone family torchvision has; C3D has no torchvision twin
TORCHVISION_FAMILIES = (("r3d_18", "r3d"), ("r2plus1d_18", "r2plus1d"), ("s3d", "s3d"))
# our classification models with torchvision's r3d_18 / r2plus1d_18 layout (the converter's configs)
OUR_TWINS = {
    "r3d_18": ("vssl-r3d", {"depth": 18, "stem": "torchvision"}),
    "r2plus1d_18": ("vssl-r2plus1d", {"variant": "torchvision"}),
}
FLOAT32_TOLERANCE = 1e-4  # max |ours - theirs| / max |theirs| of the pooled features
BF16_TOLERANCE = 5e-2  # bf16 keeps 8 bits of mantissa; two cuDNN algorithm choices differ at that level


@contextmanager
def section(title: str, failed: list[str]):
    """Times a section; an exception is printed and recorded in `failed`, and the next sections still run
    (one device run must report all it can)."""
    print(f"\n## {title}", flush=True)
    start = time.perf_counter()
    try:
        yield
    except Exception:
        traceback.print_exc()
        failed.append(title)
    print(f"({title}: {time.perf_counter() - start:.0f} s)", flush=True)


def versions(device: torch.device) -> None:
    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        print(
            f"device {props.name}, {props.total_memory / 2**30:.0f} GiB, capability {props.major}.{props.minor}"
        )
    else:
        print("device cpu (no CUDA device used)")
    packages = (
        "torchvision",
        "transformers",
        "datasets",
        "accelerate",
        "av",
        "evaluate",
        "pyarrow",
        "fsspec",
    )
    for name in (*packages, "hf_vssl"):
        try:
            module = importlib.import_module(name)
        except Exception as err:  # report every package, present or not
            print(f"{name}: absent ({type(err).__name__}: {err})")
            continue
        extra = ""
        if name == "av":
            extra = f" (FFmpeg libavcodec {'.'.join(map(str, module.library_versions['libavcodec']))})"
        print(f"{name} {module.__version__}{extra}")


def torchvision_video():
    """torchvision.models.video, or None (printed) when torchvision does not import."""
    try:
        from torchvision.models import video
    except Exception as err:  # absent, or built for another torch
        print(f"torchvision does not import ({type(err).__name__}: {err}): parity and anchors skipped")
        return None
    return video


def _randomise_batchnorm(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Random running statistics and affine parameters, so eval-mode parity tests the BN mapping too."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator) * 0.1)


def _torchvision_features(model: torch.nn.Module, name: str, clips: torch.Tensor) -> torch.Tensor:
    """torchvision's pooled features before its classifier: (B, C)."""
    if name == "s3d":  # features -> global mean (its AvgPool3d(2, 7, 7) is that mean at 16x224x224)
        return model.features(clips).mean(dim=(2, 3, 4))
    head, model.fc = model.fc, torch.nn.Identity()  # VideoResNet: avgpool, flatten, fc
    try:
        return model(clips)
    finally:
        model.fc = head


def parity(video, device: torch.device, clip_shape: tuple[int, int, int], workdir: Path) -> bool:
    """Each torchvision family converted by our converter: pooled features equal theirs on `device`."""
    from transformers import AutoModel

    from hf_vssl.hub.convert import convert_checkpoint, get_source

    frames, height, width = clip_shape
    generator = torch.Generator().manual_seed(0)
    clips = torch.randn(2, 3, frames, height, width, generator=generator).to(device)
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    ok = True
    print("| torchvision | ours | float32 max abs diff / max abs | bf16 autocast | result |")
    print("|---|---|---:|---:|---|")
    try:
        for name, family in TORCHVISION_FAMILIES:
            theirs = getattr(video, name)(weights=None)
            _randomise_batchnorm(theirs, generator)
            path = workdir / f"{name}.pth"
            torch.save(theirs.state_dict(), path)
            convert_checkpoint(get_source("torchvision"), path, workdir / name)
            ours = AutoModel.from_pretrained(workdir / name).to(device).eval()
            theirs = theirs.to(device).eval()
            # bf16 on CUDA only: CPU bf16 3D convolutions take minutes (and are wrong, see make_accelerator)
            precisions = (False, True) if device.type == "cuda" else (False,)
            errors = []
            for bf16 in precisions:
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    reference = _torchvision_features(theirs, name, clips).float()
                    features = ours(clips).pooler_output.float()
                errors.append(((features - reference).abs().max() / reference.abs().max()).item())
            passed = errors[0] <= FLOAT32_TOLERANCE and all(e <= BF16_TOLERANCE for e in errors[1:])
            ok &= passed
            bf16_cell = f"{errors[1]:.1e}" if len(errors) > 1 else "-"
            print(
                f"| {name} | {family} ({type(ours).__name__}) | {errors[0]:.1e} | {bf16_cell} | "
                f"{'ok' if passed else 'MISMATCH'} |",
                flush=True,
            )
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    return ok


def our_classifier(name: str) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForVideoClassification

    import hf_vssl  # noqa: F401  (registers the vssl-* configs and models)

    model_type, fields = OUR_TWINS[name]
    config = AutoConfig.for_model(model_type, num_labels=400, classifier_dropout=0.0, **fields)
    return AutoModelForVideoClassification.from_config(config)


def throughput_settings(device: torch.device) -> list[tuple[str, dict[str, bool]]]:
    """The uncompiled settings timed on `device` (bf16 only on CUDA)."""
    if device.type != "cuda":  # PyTorch's CPU bf16 autocast is wrong for 3D convolutions (make_accelerator)
        return [
            ("float32", {"bf16": False, "channels_last": False}),
            ("float32 + channels_last_3d", {"bf16": False, "channels_last": True}),
        ]
    return [
        ("float32 (TF32 convolutions)", {"bf16": False, "channels_last": False}),
        ("bf16 + channels_last_3d", {"bf16": True, "channels_last": True}),
    ]


def throughput(video, device: torch.device, args: argparse.Namespace, settings) -> None:
    """Ours vs torchvision's r3d_18 / r2plus1d_18: clips/s of a training step at each setting."""
    from bench_train import classification_step_rate

    print(
        f"batch {args.batch_size}, clips {args.frames}x{args.crop}x{args.crop}, "
        f"{args.steps} timed steps after {args.warmup}; clips/s"
    )
    print("| model | setting | ours | torchvision | ours / torchvision |")
    print("|---|---|---:|---:|---:|")
    for name in OUR_TWINS:
        for label, options in settings:
            torch.manual_seed(0)
            ours = classification_step_rate(our_classifier(name), args, device, **options)
            theirs = (
                classification_step_rate(getattr(video, name)(num_classes=400), args, device, **options)
                if video is not None
                else None
            )
            cells = (
                f"{ours:.1f} | - | -"
                if theirs is None
                else f"{ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}"
            )
            print(f"| {name} | {label} | {cells} |", flush=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()


def end_to_end(args: argparse.Namespace, workdir: Path) -> int:
    """`hf-vssl synth` + `hf-vssl prepare`, then bench_train.py on both (a child process: its own output)."""
    from hf_vssl.cli.main import main as hf_vssl

    source, prepared = workdir / "synthetic", workdir / "prepared"
    for command in (
        ["synth", "--preset", args.synth_preset, "--out", str(source), "--workers", str(args.num_workers)],
        ["prepare", str(source), str(prepared), "--num-workers", str(args.num_workers)],
    ):
        start = time.perf_counter()
        code = hf_vssl(command)
        print(f"hf-vssl {command[0]}: exit {code} in {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            return code
    command = [
        sys.executable, str(BENCHMARKS / "bench_train.py"), "--dataset", str(source), "--prepared", str(prepared),
        "--methods", args.methods, "--width", str(args.width), "--frames", str(args.frames),
        "--crop", str(args.crop), "--frame-size", *map(str, args.frame_size), "--batch-size", str(args.batch_size),
        "--steps", str(args.steps), "--warmup", str(args.warmup), "--num-workers", str(args.num_workers),
    ]  # fmt: skip
    if args.cpu:
        command.append("--cpu")
    print(" ".join(command[1:]), flush=True)
    return subprocess.run(command, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the tiniest sizes (a CPU smoke run)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the torch.compile rows (default: on CUDA only; inductor on 2 CPU cores takes minutes)",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=("parity", "throughput", "end-to-end"))
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    args.compile = device.type == "cuda" if args.compile is None else args.compile
    if args.quick:  # 2 shared CPU cores: a few steps of tiny clips, two methods end to end
        sizes = dict(batch_size=2, frames=4, crop=32, steps=2, warmup=1, width=0.125, frame_size=(40, 50))
        sizes |= dict(num_workers=1, methods="pace,supervised", synth_preset="tiny", parity_clip=(8, 32, 32))
    else:  # the setting: R3D-18-sized models at 16x112x112, batch 64 (~1000 clips/s on an H100)
        sizes = dict(batch_size=64, frames=16, crop=112, steps=20, warmup=5, width=1.0, frame_size=(128, 171))
        sizes |= dict(num_workers=14, methods="pace,mfo,sdc,vicc,supervised", synth_preset="small")
        sizes |= dict(parity_clip=(16, 224, 224))
    vars(args).update(sizes)
    torch.backends.cudnn.benchmark = True  # fixed shapes, as the training loop
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="device-check-") as tmp:
        workdir = Path(tmp)
        with section("versions", failed):
            versions(device)
        video = torchvision_video()
        if "parity" not in args.skip and video is not None:
            with section(f"parity against torchvision on {device}", failed):
                if not parity(video, device, args.parity_clip, workdir):
                    raise RuntimeError("a converted backbone differs from torchvision's (table above)")
        if "throughput" not in args.skip:
            with section(f"training-step throughput on {device}, ours vs torchvision", failed):
                throughput(video, device, args, throughput_settings(device))
        if "end-to-end" not in args.skip:
            with section("bench_train.py end to end (synthetic source and prepared copy)", failed):
                code = end_to_end(args, workdir)
                if code:
                    raise RuntimeError(f"exit status {code}")
        if "throughput" not in args.skip and args.compile:  # last: compiling takes the longest
            with section(f"torch.compile training-step throughput on {device}, ours vs torchvision", failed):
                bf16 = device.type == "cuda"
                label = "bf16 + channels_last_3d + compile" if bf16 else "float32 + compile"
                options = {"bf16": bf16, "channels_last": bf16, "compile": True}
                throughput(video, device, args, [(label, options)])
    print(f"\ndevice check: {'all ok' if not failed else 'FAILED: ' + '; '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
