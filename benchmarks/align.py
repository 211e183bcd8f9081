"""Aligned crops (``dff extract --align``): extraction speed with and without, the crop step alone, and the geometry.

Extracts the same frames of one sample video with ``align`` off and on, alternating, in one process with one
finder (so MTCNN's start-up is paid once), and reports crops per second for each (median of `--repeats` runs) and
their ratio; then times `crop_face` and `aligned_crop` alone on one face, at the video's resolution (the crop
enlarges the face) and on the frame upscaled 3x (the crop shrinks it: the Gaussian prefilter runs); then the five
points of the main track in both kinds of crop: eye-line tilt and distance from the template.

Run:
    .venv/bin/python benchmarks/align.py

Measured (2 CPU cores shared with other jobs, so whole-extraction figures are noisy; FF++ 519, 48 frames, 640x480,
256-pixel crops), two runs of the script: plain 10.4 / 8.2, aligned 10.0 / 8.6 crops/s, ratio aligned/plain 0.96 /
1.04: no difference beyond the noise (single runs ranged 7-31 crops/s). The crop step alone: 0.06-0.10 ms plain vs
0.27-0.29 ms aligned at 640x480 (73-pixel face, enlarged), 0.68-0.70 ms vs 0.48-0.49 ms on the 3x frame (shrunk):
under 1 ms a face either way, against tens of ms a frame for decoding and detection. Geometry (main track, 16
frames): eye-line tilt at most 6.3 px in plain crops, 1.4 px in aligned ones; points 12.3 px (plain) vs 2.7 px
(aligned) from the template on average; eye distance 66.7 / 64.9 px vs the template's 62.0 (the aligned face is
about the plain crop's size).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from deepfakeforensics.data.video import SamplingConfig, iter_frames
from deepfakeforensics.faces import ExtractionConfig, FaceFinder, aligned_crop, crop_face, iter_face_crops
from deepfakeforensics.faces.crop import template_in_crop

VIDEO = Path(__file__).resolve().parents[2] / "shared/samples/ffpp/original_sequences/youtube/c23/videos/519.mp4"


def extraction_speed(video: Path, n_frames: int, repeats: int, finder: FaceFinder) -> dict[bool, list[float]]:
    """Crops per second of `iter_face_crops` with align off and on, `repeats` alternating runs each."""
    sampling = SamplingConfig("uniform", n_frames=n_frames)
    list(iter_face_crops(video, ExtractionConfig(sampling=sampling), finder))  # warm-up
    runs: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for align in (False, True):
            start = time.perf_counter()
            n = sum(1 for _ in iter_face_crops(video, ExtractionConfig(sampling=sampling, align=align), finder))
            runs[align].append(n / (time.perf_counter() - start))
    return runs


def per_call_ms(fn: Callable[[], object], n: int = 300) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def crop_step(video: Path, finder: FaceFinder) -> None:
    """Time of one plain and one aligned 256-pixel crop of the first frame's face, at 1x and 3x resolution."""
    frame = next(iter(iter_frames(video, [0])))[1]
    [dets] = finder.detect([frame])
    box, points = dets.boxes[0], dets.landmarks()[0]
    big = cv2.resize(frame, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    for scale, image in ((1, frame), (3, big)):
        plain = per_call_ms(lambda image=image, s=scale: crop_face(image, box * s))
        aligned = per_call_ms(lambda image=image, s=scale: aligned_crop(image, points * s, box * s))
        print(
            f"crop step, frame x{scale} (face box {(box[2] - box[0]) * scale:.0f} px wide): "
            f"crop_face {plain:.3f} ms, aligned_crop {aligned:.3f} ms"
        )


def geometry(video: Path, n_frames: int, finder: FaceFinder) -> None:
    """Eye-line tilt and distance from the template of the main track's five points, plain and aligned crops."""
    template = template_in_crop()
    for align in (False, True):
        config = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=n_frames), align=align)
        points = np.array([c.landmarks for c in iter_face_crops(video, config, finder) if c.track == 0])
        tilt = np.abs(points[:, 1, 1] - points[:, 0, 1]).max()
        off = np.linalg.norm(points - template, axis=-1)
        eyes = np.linalg.norm(points[:, 1] - points[:, 0], axis=-1).mean()
        print(
            f"{'aligned' if align else 'plain  '} crops: eye-line |dy| max {tilt:.2f} px, distance to template "
            f"mean {off.mean():.2f} max {off.max():.2f} px, eye distance {eyes:.1f} px "
            f"(template {np.linalg.norm(template[1] - template[0]):.1f})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", type=Path, default=VIDEO, help="a video with one face")
    p.add_argument("--n-frames", type=int, default=48, help="frames sampled uniformly")
    p.add_argument("--repeats", type=int, default=5, help="alternating runs per setting (the median is reported)")
    args = p.parse_args()
    finder = ExtractionConfig().make_finder()
    runs = extraction_speed(args.video, args.n_frames, args.repeats, finder)
    plain, aligned = (float(np.median(runs[a])) for a in (False, True))
    print(
        f"extraction, {args.n_frames} frames of {args.video.name}: plain {plain:.1f} crops/s, aligned "
        f"{aligned:.1f} crops/s (median of {args.repeats}; runs {[round(v, 1) for v in runs[False]]} / "
        f"{[round(v, 1) for v in runs[True]]}), ratio aligned/plain {aligned / plain:.3f}"
    )
    crop_step(args.video, finder)
    geometry(args.video, 16, finder)


if __name__ == "__main__":
    main()
