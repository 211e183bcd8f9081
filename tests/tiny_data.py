"""Test helpers for datasets and training: a tiny registered detector and hand-built faces manifests.

Imported by tests (``from tiny_data import ...``) and by the DDP worker script; the models register once per process.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn

from deepfakeforensics._io import save_table
from deepfakeforensics.models import Detector, ModelCfg, register_model

TINY_CFG = ModelCfg(input_size=(3, 32, 32), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class TinyDetector(Detector):
    """Conv + BatchNorm + dropout: small, but with the parts that make determinism and DDP non-trivial."""

    default_cfg = TINY_CFG

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(width, 1))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


class TinyTemporal(Detector):
    """Frame features averaged over time: a stand-in for the LSTM variants (input (B, T, C, H, W))."""

    default_cfg = ModelCfg(input_size=(3, 32, 32), mean=TINY_CFG.mean, std=TINY_CFG.std, temporal=True)

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.backbone = TinyDetector(width)
        self.head = nn.Linear(width, 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        return self.backbone.forward_features(x.flatten(0, 1)).view(b, t, -1).mean(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


@register_model
def tiny_test_detector(pretrained: bool = False, **kwargs) -> TinyDetector:
    return TinyDetector(**kwargs)


@register_model
def tiny_test_temporal(pretrained: bool = False, **kwargs) -> TinyTemporal:
    return TinyTemporal(**kwargs)


def crop_image(label: int, seed: int, size: int = 48) -> np.ndarray:
    """An RGB crop: reals are smooth gradients, fakes carry a fine checkerboard (learnable in a couple of epochs)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([yy, xx, 1 - yy], -1) * 160 + rng.uniform(20, 60, size=3)
    if label == 1:
        base += ((np.indices((size, size)).sum(0) % 2) * 70 - 35)[..., None]
    base += rng.normal(0, 4, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def make_manifest(
    root: Path,
    tracks: dict[tuple[str, int], int],
    labels: dict[str, int],
    splits: dict[str, str],
    size: int = 48,
    name: str = "tiny_faces.csv",
) -> Path:
    """Write crops ``root/crops/<video>/<track>_<frame>.jpg`` and a faces manifest; returns the manifest's path.

    Args:
        tracks: number of frames of each (video_id, track).
        labels, splits: each video's label and split.
    """
    rows = []
    for (video, track), n in tracks.items():
        for k in range(n):
            frame = 3 * k + track  # sampled frames are not consecutive decoded frames
            rel = f"crops/{video}/{track}_{frame}.jpg"
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            seed = zlib.crc32(f"{video}/{track}/{frame}".encode())
            img = crop_image(labels[video], seed, size)
            cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            rows.append(
                {
                    "video_id": video,
                    "track": track,
                    "frame": frame,
                    "path": rel,
                    "x0": 0.0,
                    "y0": 0.0,
                    "x1": float(size),
                    "y1": float(size),
                    "prob": 0.99,
                    "label": labels[video],
                    "split": splits[video],
                    "group": video,
                    "method": "Fake" if labels[video] else "real",
                }
            )
    # shuffle rows: the datasets must not rely on the manifest's order
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)
    csv = root / "labels" / name
    save_table(df, csv, root=root)
    return csv


def standard_manifest(root: Path, n_videos: int = 12, frames: int = 6, size: int = 48) -> Path:
    """Balanced videos, one track each (two for every third video): 2/3 train, 1/6 val, 1/6 test."""
    tracks, labels, splits = {}, {}, {}
    for i in range(n_videos):
        vid = f"v{i:03d}"
        labels[vid] = i % 2
        splits[vid] = "train" if i < n_videos * 2 // 3 else ("val" if i < n_videos * 5 // 6 else "test")
        tracks[(vid, 0)] = frames
        if i % 3 == 0:
            tracks[(vid, 1)] = max(2, frames // 2)
    return make_manifest(root, tracks, labels, splits, size=size)
