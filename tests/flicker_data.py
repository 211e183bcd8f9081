"""A synthetic video dataset whose real and fake videos differ only in time (the flicker test, tests/test_flicker.py).

Every video is one smooth random face-sized image whose colour channels are offset by ``A sin(phase_t)``: in a real
video each channel's phase advances steadily frame by frame (a slow colour drift), in a fake one each frame's phases
are drawn at random (colour flicker). Uniform random starting phases make every frame's offsets follow the same
(arcsine) distribution in both classes, so no single frame says which class its video is: only consecutive frames do.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from deepfakeforensics._io import save_table

AMPLITUDE = 60.0  # brightness swing (grey levels)
PERIOD = 64.0  # frames per brightness cycle of a real video (smooth: under 6 grey levels a frame)


def base_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour image (float, about 110-150: the flicker, not the content, stands out): coarse noise upsampled, like a blurred face."""
    coarse = rng.uniform(115, 145, size=(4, 4, 3)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def flicker_frames(label: int, seed: int, n_frames: int, size: int) -> list[np.ndarray]:
    """The RGB frames of one video: smooth brightness changes (label 0) or frame-to-frame flicker (label 1)."""
    rng = np.random.default_rng(seed)
    base = base_image(rng, size)
    start = rng.uniform(0, 2 * np.pi, size=3)  # one phase per colour channel
    steps = np.arange(n_frames)[:, None] * 2 * np.pi / PERIOD
    phases = start + steps if label == 0 else rng.uniform(0, 2 * np.pi, size=(n_frames, 3))
    frames = []
    for phase in phases:
        img = base + AMPLITUDE * np.sin(phase) + rng.normal(0, 2.0, base.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def flicker_manifest(root: Path, splits: dict[str, int], n_frames: int = 16, size: int = 32, seed: int = 0) -> Path:
    """Write ``splits[name]`` videos per split (half real, half fake) as JPEG crops and a faces manifest; its path."""
    rows = []
    for split, n_videos in splits.items():
        for i in range(n_videos):
            video, label = f"{split}{i:03d}", i % 2
            for k, img in enumerate(flicker_frames(label, zlib.crc32(f"{seed}/{video}".encode()), n_frames, size)):
                rel = f"crops/{video}/0_{2 * k}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / rel), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
                rows.append(
                    {
                        "video_id": video,
                        "track": 0,
                        "frame": 2 * k,
                        "path": rel,
                        "label": label,
                        "split": split,
                        "group": video,
                        "method": "flicker" if label else "real",
                    }
                )
    csv = root / "labels" / "flicker_faces.csv"
    save_table(pd.DataFrame(rows), csv, root=root)
    return csv
