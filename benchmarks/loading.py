"""Loading throughput of FrameDataset and ClipDataset (with training augmentation, 2 DataLoader workers) and the
disk cost of windows and clips.

Prints images/s against baselines measured in the same process (plain JPEG decoding in one process, by OpenCV and
by the datasets' strict reader, which refuses corrupt JPEG data; the dataset without augmentation), the clip loader's
images/s (clips/s x clip length) against the frame loader's, and the bytes on disk of a WindowDataset and of a clip
(the JPEG crops + manifest rows read on the fly) against storing them as tensors.

Usage:
    .venv/bin/python benchmarks/loading.py [--images 640] [--size 256] [--workers 2] [--window 8 --stride 4]
        [--clip-length 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from deepfakeforensics._io import save_table
from deepfakeforensics.data.clips import ClipDataset
from deepfakeforensics.data.crops import read_crop
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset
from deepfakeforensics.data.transforms import AugmentConfig
from deepfakeforensics.faces.crop import read_rgb
from deepfakeforensics.models import ModelCfg
from deepfakeforensics.training.sampling import worker_init


def face_like(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth, textured RGB image: JPEG size and decoding cost close to a real face crop's."""
    small = rng.uniform(0, 255, size=(8, 8, 3)).astype(np.float32)
    img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def build(root: Path, n_images: int, size: int, frames_per_track: int = 16, clip_length: int = 16) -> Path:
    """Crops of one track per video, consecutive frames, cut into clips of `clip_length` frames (a ``clip`` column
    as ``dff extract --strategy clips`` writes; the frame and window datasets ignore it)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_images):
        video, frame = f"v{i // frames_per_track:04d}", i % frames_per_track
        rel = f"crops/{video}/0_{frame}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), face_like(rng, size), [cv2.IMWRITE_JPEG_QUALITY, 95])
        rows.append({"video_id": video, "track": 0, "frame": frame, "path": rel, "x0": 0, "y0": 0, "x1": size,
                     "y1": size, "prob": 1.0, "clip": frame // clip_length, "label": int(video[-1]) % 2, "split": "train", "group": video,
                     "method": "bench"})  # fmt: skip
    csv = root / "labels" / "bench_faces.csv"
    save_table(pd.DataFrame(rows), csv, root=root)
    return csv


def decode_rate(reader: Callable[[Path], np.ndarray], paths: list[Path]) -> float:
    t0 = time.perf_counter()
    for path in paths:
        reader(path)
    return len(paths) / (time.perf_counter() - t0)


def loader_rate(ds: FrameDataset | ClipDataset, workers: int, batch: int, passes: int) -> float:
    # as in training: fresh workers each pass (their start-up is counted)
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, worker_init_fn=worker_init)
    n, t0 = 0, time.perf_counter()
    for epoch in range(passes):
        ds.set_epoch(epoch)
        for x, _ in loader:
            n += x.shape[0] * (x.shape[1] if x.dim() == 5 else 1)  # images: a clip batch is (B, T, C, H, W)
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=640)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--passes", type=int, default=2)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--stride", type=int, default=4)
    p.add_argument("--clip-length", type=int, default=16)
    args = p.parse_args(argv)
    cfg = ModelCfg(input_size=(3, args.size, args.size))  # MesoNet4's: 256x256, pixels in [0, 1]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv = build(root, args.images, args.size, clip_length=args.clip_length)
        ds_aug = FrameDataset(csv, "train", cfg, train=True, augment=AugmentConfig())
        ds_plain = FrameDataset(csv, "train", cfg, train=False)
        paths = [root / p for p in ds_plain.meta["path"]]

        decode_cv2 = decode_rate(read_rgb, paths)
        decode = decode_rate(read_crop, paths)
        t0 = time.perf_counter()
        for i in range(len(ds_aug)):
            ds_aug[i]
        aug_single = len(ds_aug) / (time.perf_counter() - t0)
        plain = loader_rate(ds_plain, args.workers, args.batch, args.passes)
        aug = loader_rate(ds_aug, args.workers, args.batch, args.passes)

        print(f"{args.images} JPEG crops {args.size}x{args.size}, batch {args.batch}, {args.passes} passes")
        print(f"  baseline: cv2 decode only, 1 process           {decode_cv2:8.0f} images/s")
        strict = f"  strict decode (read_crop), 1 process           {decode:8.0f} images/s"
        print(f"{strict}  ({decode / decode_cv2:.2f}x cv2)")
        print(f"  FrameDataset + augmentation, 1 process         {aug_single:8.0f} images/s")
        print(f"  FrameDataset, no augmentation, {args.workers} workers      {plain:8.0f} images/s")
        print(f"  FrameDataset + augmentation, {args.workers} workers        {aug:8.0f} images/s"
              f"  ({aug / decode:.2f}x decode-only; target >= 400)")  # fmt: skip

        wds = WindowDataset(csv, "train", cfg, window=args.window, stride=args.stride)
        jpeg_bytes = sum(path.stat().st_size for path in paths)
        manifest_bytes = csv.stat().st_size + (csv.parent / "bench_faces.meta.json").stat().st_size
        x, _ = wds[0]
        one = root / "window.pt"
        torch.save(x, one)
        f32 = one.stat().st_size
        torch.save((x * 255).round().to(torch.uint8), one)
        u8 = one.stat().st_size
        n = len(wds)
        print(f"WindowDataset T={args.window} stride={args.stride}: {n} windows over {len(paths)} crops")
        print(f"  on disk as used (JPEG crops + manifest):       {(jpeg_bytes + manifest_bytes) / 1e6:8.1f} MB")
        print(f"  windows stored as float32 tensors:             {n * f32 / 1e6:8.1f} MB"
              f"  ({n * f32 / (jpeg_bytes + manifest_bytes):.0f}x)")  # fmt: skip
        print(f"  windows stored as uint8 tensors:               {n * u8 / 1e6:8.1f} MB"
              f"  ({n * u8 / (jpeg_bytes + manifest_bytes):.0f}x)")  # fmt: skip
        report_clips(csv, cfg, args, aug, jpeg_bytes + manifest_bytes, len(paths))


def report_clips(
    csv: Path, cfg: ModelCfg, args: argparse.Namespace, frame_rate: float, used: int, n_crops: int
) -> None:
    """The clip loader (one window per clip, augmented) against the frame loader, and what a clip costs on disk."""
    cds = ClipDataset(csv, "train", cfg, window=args.clip_length, train=True, augment=AugmentConfig())
    rate = loader_rate(cds, args.workers, max(1, args.batch // args.clip_length), args.passes)
    x, _ = cds[0]
    one = Path(csv).parent / "clip.pt"
    torch.save((x * 255).round().to(torch.uint8), one)
    u8 = one.stat().st_size
    per_clip = used / n_crops * args.clip_length
    print(f"ClipDataset T={args.clip_length} (one window per clip), {len(cds)} clips, batch "
          f"{max(1, args.batch // args.clip_length)} clips")  # fmt: skip
    print(f"  ClipDataset + augmentation, {args.workers} workers         {rate:8.0f} images/s"
          f"  ({rate / args.clip_length:.1f} clips/s; {rate / frame_rate:.2f}x the frame loader)")  # fmt: skip
    print(f"  a clip on disk as used (JPEG crops + manifest): {per_clip / 1e3:8.0f} kB (no copy beyond the crops)")
    print(f"  a clip stored as a uint8 tensor:                {u8 / 1e3:8.0f} kB  ({u8 / per_clip:.0f}x)")


if __name__ == "__main__":
    main()
