"""Training and inference throughput (images/s) of the frame models, with and without channels_last.

Usage:
    .venv/bin/python benchmarks/models.py                      # mesonet4, mesoinception4, efficientnet_b0
    .venv/bin/python benchmarks/models.py --families           # EfficientNet-B0 of efficientnet-pytorch and timm,
                                                               # Xception, ConvNeXt-Tiny, in the same run
    .venv/bin/python benchmarks/models.py --models efficientnet_b4 --steps 1
    .venv/bin/python benchmarks/models.py --all                 # every frame model: B5-B7 take tens of minutes
    .venv/bin/python benchmarks/models.py --families --repeat 3 # medians of 3 repeats, with their range and the load
    .venv/bin/python benchmarks/models.py --released-clip --steps 2   # Effort and GenD ViT-L/14 at batch 8:
                                                               # float32 vs bfloat16 speed, memory, |dP(fake)|
    .venv/bin/python benchmarks/models.py --video --steps 2    # video models' clips/s (benchmarks/video_speed.py)

Each figure is batch x steps / time over `steps` timed steps after one warm-up step, at the model's native input
size (or --image-size), float32 on CPU. The two memory formats alternate step by step, so their ratio holds even when
other work shares the cores. Training = forward + BCE loss + backward + SGD step; inference = forward under
torch.inference_mode() in eval mode. The ratio column is channels_last / NCHW measured in the same process; the
README lists the latest figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from deepfakeforensics.models import create_model, list_models

sys.path.insert(0, str(Path(__file__).resolve().parent))
from released_clip_speed import report as released_clip_report  # noqa: E402
from video_speed import DEFAULT as VIDEO_MODELS  # noqa: E402
from video_speed import report as video_report  # noqa: E402

DEFAULT_MODELS = ("mesonet4", "mesoinception4", "efficientnet_b0")
# efficientnet-pytorch's B0 beside timm's two (the TF port and timm's own), and the field's timm CNNs
FAMILY_MODELS = ("efficientnet_b0", "tf_efficientnet_b0", "timm/efficientnet_b0", "xception", "convnext_tiny")


class _Bench:
    """One model in one memory format, with a fixed batch and an optimiser."""

    def __init__(self, name: str, channels_last: bool, batch: int, image_size: int | None) -> None:
        torch.manual_seed(0)
        self.model = create_model(name, channels_last=channels_last)
        c, h, w = self.model.default_cfg.input_size
        h = w = image_size or h
        self.x = torch.rand(batch, c, h, w)
        self.y = torch.randint(0, 2, (batch,)).float()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9)
        self.loss_fn = torch.nn.BCEWithLogitsLoss()

    def train_step(self) -> float:
        self.model.train()
        start = time.perf_counter()
        loss = self.loss_fn(self.model(self.x), self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return time.perf_counter() - start

    def infer_step(self) -> float:
        self.model.eval()
        with torch.inference_mode():
            start = time.perf_counter()
            self.model(self.x)
            return time.perf_counter() - start


def throughput(name: str, batch: int, steps: int, image_size: int | None) -> dict[str, float]:
    """Images/s of model `name` for train/infer x NCHW/channels_last.

    The two memory formats alternate step by step in ABBA order, so a change in the machine's load during the run
    affects both alike (this machine's 2 cores are shared).
    """
    benches = {"nchw": _Bench(name, False, batch, image_size), "cl": _Bench(name, True, batch, image_size)}
    for b in benches.values():  # warm-up: oneDNN kernel selection, allocator
        b.train_step()
        b.infer_step()
    seconds = {f"{mode}_{fmt}": 0.0 for mode in ("train", "infer") for fmt in benches}
    for mode in ("train", "infer"):
        for i in range(steps):
            order = ("nchw", "cl") if i % 2 == 0 else ("cl", "nchw")
            for fmt in order:
                b = benches[fmt]
                seconds[f"{mode}_{fmt}"] += b.train_step() if mode == "train" else b.infer_step()
    return {k: batch * steps / v for k, v in seconds.items()}


def interleaved_throughput(
    names: list[str], batch: int, steps: int, image_size: int | None
) -> dict[str, dict[str, float]]:
    """`throughput` of several models measured together: each step visits every (model, format) pair, in forward
    order on even steps and reversed on odd ones, so a change of the machine's load affects every model alike."""
    benches = {(n, fmt): _Bench(n, fmt == "cl", batch, image_size) for n in names for fmt in ("nchw", "cl")}
    for b in benches.values():
        b.train_step()
        b.infer_step()
    seconds = {key: {"train": 0.0, "infer": 0.0} for key in benches}
    for mode in ("train", "infer"):
        for i in range(steps):
            for key in list(benches) if i % 2 == 0 else list(benches)[::-1]:
                b = benches[key]
                seconds[key][mode] += b.train_step() if mode == "train" else b.infer_step()
    return {
        n: {
            f"{mode}_{fmt}": batch * steps / seconds[(n, fmt)][mode]
            for mode in ("train", "infer")
            for fmt in ("nchw", "cl")
        }
        for n in names
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="frame models to measure")
    parser.add_argument("--all", action="store_true", help="every registered frame model (slow: B5-B7)")
    parser.add_argument(
        "--families", action="store_true", help=f"the families, interleaved step by step: {', '.join(FAMILY_MODELS)}"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement (after one warm-up)")
    parser.add_argument("--image-size", type=int, default=None, help="override the native input size (H = W)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="repeat every measurement; print medians, then each figure's min-max"
    )
    parser.add_argument(
        "--released-clip",
        action="store_true",
        help="Effort and GenD CLIP ViT-L/14 at batch 8: float32 vs bfloat16 (benchmarks/released_clip_speed.py)",
    )
    parser.add_argument(
        "--video",
        action="store_true",
        help="video models: clips/s at 16 x 112 (3D CNNs) and TALL at 224 beside a frame model (video_speed.py)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.video:
        video_report(list(VIDEO_MODELS), batch=4, steps=args.steps)
        return
    if args.released_clip:
        released_clip_report(batch=8, steps=args.steps)
        return
    names = args.models
    if args.all:
        names = [n for n in list_models() if not n.endswith(("_lstm", "_transformer"))]
    elif args.families:
        names = list(FAMILY_MODELS)

    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, {args.steps} steps, "
        f"{args.repeat} repeat(s); load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    runs = [measure(names, args) for _ in range(args.repeat)]
    header = f"{'model':<22}{'input':>7} | {'train NCHW':>11}{'train CL':>10}{'ratio':>7} | {'infer NCHW':>11}{'infer CL':>10}{'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name in names:
        size = args.image_size or create_model(name).default_cfg.input_size[1]
        r = {k: statistics.median(run[name][k] for run in runs) for k in KEYS}
        print(
            f"{name:<22}{size:>7} | {r['train_nchw']:>11.1f}{r['train_cl']:>10.1f}{r['train_cl'] / r['train_nchw']:>7.2f} | "
            f"{r['infer_nchw']:>11.1f}{r['infer_cl']:>10.1f}{r['infer_cl'] / r['infer_nchw']:>7.2f}",
            flush=True,
        )
    print("images/s (median of the repeats); CL = channels_last; ratio = CL / NCHW (>1: channels_last faster)")
    if args.repeat > 1:
        print("\nspread over the repeats (min-max, images/s):")
        for name in names:
            spread = "  ".join(
                f"{k} {min(run[name][k] for run in runs):.1f}-{max(run[name][k] for run in runs):.1f}" for k in KEYS
            )
            print(f"{name:<22} {spread}")
    load = os.getloadavg()
    print(
        f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores: above 2 means other work shared them)"
    )


KEYS = ("train_nchw", "train_cl", "infer_nchw", "infer_cl")


def measure(names: list[str], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """One measurement of every model: interleaved for the families, one model after another otherwise."""
    if args.families:
        return interleaved_throughput(names, args.batch_size, args.steps, args.image_size)
    return {name: throughput(name, args.batch_size, args.steps, args.image_size) for name in names}


if __name__ == "__main__":
    main()
