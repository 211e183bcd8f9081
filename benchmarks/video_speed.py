"""Training and inference throughput of the video models (clips/s) beside a frame model's images/s.

Usage:
    .venv/bin/python benchmarks/video_speed.py                        # 3D CNNs at 16 x 112, TALL at 224, frame model
    .venv/bin/python benchmarks/models.py --video                     # the same, from the models benchmark
    .venv/bin/python benchmarks/video_speed.py --models r3d_18 ftcn_lite --steps 2 --batch-size 2
    .venv/bin/python benchmarks/video_speed.py --device cuda --batch-size 16 --steps 10   # on a GPU

Each model is measured at its benchmark input: the 3D CNNs (``r3d_18``, ``r2plus1d_18``, ``mc3_18``) and
``ftcn_lite`` on clips of 16 frames of 112 x 112, ``s3d``/``swin3d_t``/``mvit_v2_s`` on 16 frames of 224 x 224 (their
Kinetics input), TALL on 4 frames tiled into one 224 x 224 thumbnail (2 x 2 cells of 112) over EfficientNet-B0 and
over the paper's Swin-B, and the frame model (efficientnet-pytorch B0) on single 224 x 224 images. Figures are
batch x steps / time of `steps` timed steps after one warm-up step, float32, every model visited once per step in
turn (so a change in the shared machine's load affects them alike). Training = forward + BCE + backward + SGD step;
inference = forward under ``torch.inference_mode()`` in eval mode. ``frames/s`` = clips/s x frames per clip, and the
ratio column divides a model's inference clips/s by the frame model's inference images/s measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import torch

from deepfakeforensics.models import create_model

# name -> (create_model kwargs, frames per clip or 0 for a frame model, frame side)
BENCH: dict[str, tuple[dict, int, int]] = {
    "efficientnet_b0": ({}, 0, 224),
    "r3d_18": ({}, 16, 112),
    "r2plus1d_18": ({}, 16, 112),
    "mc3_18": ({}, 16, 112),
    "ftcn_lite": ({}, 16, 112),
    "tall": ({"backbone": "efficientnet_b0"}, 4, 112),
    "tall/swin_b": ({"backbone": "timm/swin_base_patch4_window7_224"}, 4, 112),
    "s3d": ({}, 16, 224),
    "swin3d_t": ({}, 16, 224),
    "mvit_v2_s": ({}, 16, 224),
}
DEFAULT = ("efficientnet_b0", "r3d_18", "r2plus1d_18", "mc3_18", "ftcn_lite", "tall", "tall/swin_b")
FRAME_MODEL = "efficientnet_b0"


class _Bench:
    def __init__(self, key: str, batch: int, device: torch.device) -> None:
        kwargs, frames, side = BENCH[key]
        torch.manual_seed(0)
        self.model = create_model(key.split("/")[0], **kwargs).to(device)
        self.frames, self.device = frames, device
        shape = (batch, frames, 3, side, side) if frames else (batch, 3, side, side)
        self.x = torch.rand(shape, device=device)
        self.y = torch.randint(0, 2, (batch,), device=device).float()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9)

    def train_step(self) -> float:
        self.model.train()
        start = time.perf_counter()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(self.model(self.x), self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self._sync()
        return time.perf_counter() - start

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def infer_step(self) -> float:
        self.model.eval()
        start = time.perf_counter()
        with torch.inference_mode():
            self.model(self.x)
        self._sync()
        return time.perf_counter() - start


def measure(keys: list[str], batch: int, steps: int, device: str = "cpu") -> dict[str, dict[str, float]]:
    """Clips/s (images/s for the frame model) of training and inference, the models taking turns each step."""
    benches = {k: _Bench(k, batch, torch.device(device)) for k in keys}
    for b in benches.values():  # warm-up
        b.train_step()
        b.infer_step()
    spent = {k: {"train": 0.0, "infer": 0.0} for k in keys}
    for _ in range(steps):
        for k, b in benches.items():
            spent[k]["train"] += b.train_step()
            spent[k]["infer"] += b.infer_step()
    return {k: {m: batch * steps / s for m, s in t.items()} for k, t in spent.items()}


def report(keys: list[str], batch: int, steps: int, device: str = "cpu") -> None:
    keys = list(dict.fromkeys([FRAME_MODEL, *keys]))
    where = torch.cuda.get_device_name(device) if device.startswith("cuda") else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, batch {batch}, {steps} steps, float32")
    header = f"{'model':<14}{'input':>14} | {'train/s':>8}{'infer/s':>9}{'frames/s':>10}{'vs frame':>9}"
    print(header)
    print("-" * len(header))
    figures = measure(keys, batch, steps, device)
    base = figures[FRAME_MODEL]["infer"]
    for k in keys:
        _, frames, side = BENCH[k]
        size = f"{frames} x {side}" if frames else f"{side} image"
        if k.startswith("tall"):
            size = f"{frames} -> {2 * side}"
        f = figures[k]
        per_frame = f["infer"] * max(frames, 1)
        print(f"{k:<14}{size:>14} | {f['train']:>8.2f}{f['infer']:>9.2f}{per_frame:>10.1f}{f['infer'] / base:>9.3f}")
    print("train/s, infer/s: clips/s (images/s for the frame model); vs frame = infer/s / frame model's infer/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT), choices=list(BENCH))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model (after one warm-up)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report(args.models, args.batch_size, args.steps, args.device)


if __name__ == "__main__":
    main()
