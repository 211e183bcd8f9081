"""Videos the tests write themselves: real face photographs (shipped with matplotlib) moving over a background."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from matplotlib import cbook


def face_photo(size: int = 160) -> np.ndarray:
    """Grace Hopper's portrait (RGB), cropped around the head and resized to `size` x `size`."""
    bgr = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    crop = rgb[int(0.02 * h) : int(0.75 * h), int(0.12 * w) : int(0.88 * w)]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def write_face_video(
    path: str | Path,
    n_faces: int = 1,
    n_frames: int = 30,
    height: int = 360,
    width: int = 640,
    face_size: int = 150,
    fps: float = 25.0,
    seed: int = 0,
) -> list[list[tuple[int, int, int, int]]]:
    """Write an mp4 of `n_faces` copies of the photo drifting over a textured background.

    Returns, per frame, the pasted photo rectangles (x0, y0, x1, y1), left to right. `n_faces=0` writes no face.
    """
    rng = np.random.default_rng(seed)
    photo = face_photo(face_size)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([(xx * 255 // width), (yy * 255 // height), np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    background = cv2.GaussianBlur(
        np.clip(background.astype(int) + rng.integers(-20, 20, background.shape), 0, 255).astype(np.uint8), (5, 5), 0
    )
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write mp4v video here")
    slot = width // max(n_faces, 1)
    rects_per_frame = []
    for t in range(n_frames):
        frame = background.copy()
        rects = []
        for k in range(n_faces):
            dx = int(0.25 * (slot - face_size) * np.sin(2 * np.pi * t / max(n_frames, 1) + k))
            x0 = k * slot + (slot - face_size) // 2 + dx
            y0 = (height - face_size) // 2 + int(10 * np.cos(2 * np.pi * t / max(n_frames, 1)))
            frame[y0 : y0 + face_size, x0 : x0 + face_size] = photo
            rects.append((x0, y0, x0 + face_size, y0 + face_size))
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        rects_per_frame.append(rects)
    writer.release()
    return rects_per_frame
