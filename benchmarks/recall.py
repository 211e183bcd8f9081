"""Face recall of extraction against full-resolution MTCNN, on the sample videos and on harder versions of them.

A reference face is a box that facenet-pytorch's ``MTCNN.detect`` finds on a full-resolution frame with probability
>= the strict cut (``ExtractionConfig.min_prob``) and whose longer side is at least 1/8 of the frame's short side.
Recall is the share of reference faces that `iter_face_crops` also gives, on the same frame, at IoU >= 0.5; it is
measured with every frame sampled (``sampling="all"``) and in the default mode (32 uniform frames), on the first
`--max-frames` frames of each clip (0: whole clips). Target: >= 99% in both modes on every clip.
Reference boxes that full-resolution MTCNN itself follows over fewer than 5 frames (`--min-reference-frames`) are set
aside and counted in the "brief" column: on the samples they are its passing false positives (clasped hands).

The harder versions are written by this script (mp4v, same fps) beside a cache of the reference detections, so a second
run only times extraction: "dark" (gamma 2), "low-contrast" (contrast halved about mid-grey), "noise" (Gaussian,
sigma 12), "low-res" (short side downscaled to 360 px, then back up) and "portrait" (a landscape clip centred on a 9:16
portrait canvas, black above and below, as a phone shows it; a clip that is already portrait has no such version),
and "combined" (all five at once, portrait only for a landscape clip: a dim, noisy, soft phone clip, the kind of video
on which downscaled detection loses the face).
The reference searches faces from 1/10 of the short side up (its pyramid starts there), which finds every face of
1/8 or more at a fraction of the cost of MTCNN's 20-pixel default.

Usage:
    .venv/bin/python benchmarks/recall.py [--samples ../shared/samples] [--max-frames 150] [--versions dark noise]
        [any dff extract option, e.g. --detect-size 640]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from deepfakeforensics.commands.options import add_dataclass_arguments, dataclass_from_args
from deepfakeforensics.data.video import SamplingConfig, iter_frames, probe_video, sample_frame_indices
from deepfakeforensics.faces import ExtractionConfig, FaceFinder, IoUTracker, box_iou, iter_face_crops

REPO = Path(__file__).resolve().parents[1]
FACE_FRACTION = 1 / 8  # reference faces: longer side >= this share of the frame's short side
REFERENCE_SEARCH_FRACTION = 1 / 10  # the reference's pyramid starts at this share of the short side
MATCH_IOU = 0.5
MIN_REFERENCE_FRAMES = 5  # reference faces on fewer frames of a clip are MTCNN's passing false positives


def _gamma(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lut = (255.0 * (np.arange(256) / 255.0) ** 2.0).round().astype(np.uint8)
    return lut[rgb]


def _low_contrast(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lut = (128.0 + (np.arange(256) - 128.0) / 2.0).round().astype(np.uint8)
    return lut[rgb]


def _noise(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(rgb + rng.normal(0.0, 12.0, rgb.shape), 0, 255).astype(np.uint8)


def _low_res(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = 360 / min(h, w)
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _portrait(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    height = int(round(w * 16 / 9)) // 2 * 2
    canvas = np.zeros((height, w, 3), np.uint8)
    top = (height - h) // 2
    canvas[top : top + h] = rgb
    return canvas


def _combined(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    frame = _low_res(_noise(_low_contrast(_gamma(rgb, rng), rng), rng), rng)
    return _portrait(frame, rng) if frame.shape[1] > frame.shape[0] else frame


VERSIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "dark": _gamma,
    "low-contrast": _low_contrast,
    "noise": _noise,
    "low-res": _low_res,
    "portrait": _portrait,
    "combined": _combined,
}


def make_clip(source: Path, version: str, n_frames: int, cache: Path) -> Path | None:
    """The `version` of the first `n_frames` frames of `source`, written once into `cache` (None: no such version)."""
    info = probe_video(source)
    if version == "original":
        return source
    if version == "portrait" and info.height >= info.width:
        return None
    out = cache / f"{source.stem}-{version}-{n_frames}.mp4"
    if out.exists():
        return out
    rng = np.random.default_rng(0)
    tmp = out.with_suffix(".tmp.mp4")
    writer = None
    for _, rgb in iter_frames(source, range(n_frames)):
        frame = VERSIONS[version](rgb, rng)
        if writer is None:
            size = (frame.shape[1], frame.shape[0])
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), info.fps or 25.0, size)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    tmp.rename(out)
    return out


def reference_faces(clip: Path, n_frames: int, min_prob: float, cache: Path, mtcnn) -> dict[int, np.ndarray]:
    """Full-resolution facenet MTCNN faces (prob >= `min_prob`, side >= 1/8 short side) per frame, cached on disk."""
    stored = cache / f"{clip.stem}-{clip.parent.name}-{n_frames}-reference.npz"
    if stored.exists():
        data = np.load(stored)
        boxes, probs, frames = data["boxes"], data["probs"], data["frames"]
    else:
        rows = []
        for i, rgb in iter_frames(clip, range(n_frames)):
            mtcnn.min_face_size = REFERENCE_SEARCH_FRACTION * min(rgb.shape[:2])
            found, p = mtcnn.detect(rgb)
            short = min(rgb.shape[:2])
            for box, prob in zip(found if found is not None else [], p if p is not None else [], strict=True):
                rows.append((i, prob, short, *box))
        table = np.array(rows, dtype=np.float64).reshape(-1, 7)
        frames, probs, boxes = table[:, 0].astype(int), table[:, 1], table[:, 3:]
        side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = side >= FACE_FRACTION * table[:, 2]
        frames, probs, boxes = frames[keep], probs[keep], boxes[keep]
        np.savez(stored, boxes=boxes, probs=probs, frames=frames)
    strict = probs >= min_prob
    return {int(f): boxes[strict & (frames == f)] for f in np.unique(frames[strict])}


def split_brief(reference: dict[int, np.ndarray], min_frames: int) -> tuple[dict[int, np.ndarray], int]:
    """Reference faces followed (IoU tracking frame to frame) over at least `min_frames` frames; and how many boxes
    of briefer tracks were set aside (full-resolution MTCNN's own passing false positives: clasped hands, ...)."""
    tracker = IoUTracker(iou_threshold=0.3, patience=2, max_shift=0.5)
    owner: list[tuple[int, int, int]] = []  # (frame, box index, track id)
    for frame in sorted(reference):
        tracks, _ = tracker.update(frame, reference[frame], np.ones(len(reference[frame])))
        owner += [(frame, i, t.id) for i, t in enumerate(tracks)]
    length = Counter(tid for _, _, tid in owner)
    kept: dict[int, list[int]] = {}
    for frame, i, tid in owner:
        if length[tid] >= min_frames:
            kept.setdefault(frame, []).append(i)
    persistent = {f: reference[f][idx] for f, idx in kept.items()}
    return persistent, len(owner) - sum(len(idx) for idx in kept.values())


def extracted_boxes(clip: Path, config: ExtractionConfig, finder: FaceFinder, indices: list[int]) -> dict[int, list]:
    """The boxes `iter_face_crops` gives on each frame of `indices`."""
    ours: dict[int, list] = {}
    for crop in iter_face_crops(clip, config, finder, frame_indices=indices):
        ours.setdefault(crop.frame, []).append(crop.box)
    return ours


def recall(reference: dict[int, np.ndarray], ours: dict[int, list], frames: list[int]) -> tuple[int, int]:
    """(reference faces on `frames` matched by one of ours at IoU >= 0.5 on the same frame, reference faces there)."""
    matched = total = 0
    for frame in frames:
        boxes = reference.get(frame, np.zeros((0, 4)))
        total += len(boxes)
        mine = np.array(ours.get(frame, [])).reshape(-1, 4)
        if len(boxes) and len(mine):
            matched += int((box_iou(boxes, mine).max(axis=1) >= MATCH_IOU).sum())
    return matched, total


def _cell(matched: int, total: int) -> str:
    return f"{matched / total:.1%} ({total - matched})" if total else "n/a"


def measure_clip(
    clip: Path, n_frames: int, config: ExtractionConfig, finder: FaceFinder, cache: Path, mtcnn, min_frames: int
) -> list:
    """(all-frame (matched, total), 32-frame (matched, total), brief reference boxes set aside, seconds) on a clip."""
    reference, brief = split_brief(reference_faces(clip, n_frames, config.min_prob, cache, mtcnn), min_frames)
    every = list(range(n_frames))
    sampled = sample_frame_indices(n_frames, SamplingConfig("uniform", n_frames=32))
    start = time.perf_counter()
    all_mode = recall(reference, extracted_boxes(clip, config, finder, every), every)
    sampled_mode = recall(reference, extracted_boxes(clip, config, finder, sampled), sampled)
    return [all_mode, sampled_mode, brief, time.perf_counter() - start]


def run(
    videos: list[Path], versions: list[str], max_frames: int, config: ExtractionConfig, cache: Path, min_frames: int
) -> bool:
    """Print the recall table; True when every clip reaches 99% in both modes."""
    from facenet_pytorch import MTCNN

    finder = config.make_finder()
    mtcnn = MTCNN(keep_all=True, thresholds=list(config.thresholds), device=finder.device)
    print(
        f"{'video':<16}{'version':<14}{'faces':>7}{'all frames (missed)':>22}{'32 frames (missed)':>22}"
        f"{'brief':>7}{'s':>7}"
    )
    ok = True
    worst = 1.0
    for path in videos:
        n_frames = probe_video(path).n_frames if max_frames <= 0 else min(max_frames, probe_video(path).n_frames)
        for version in versions:
            clip = make_clip(path, version, n_frames, cache)
            if clip is None:
                continue
            (m_all, t_all), (m_32, t_32), brief, seconds = measure_clip(
                clip, n_frames, config, finder, cache, mtcnn, min_frames
            )
            for m, t in ((m_all, t_all), (m_32, t_32)):
                worst = min(worst, m / t if t else 1.0)
                ok &= (m >= 0.99 * t) if t else True
            print(
                f"{path.name:<16}{version:<14}{t_all:>7}{_cell(m_all, t_all):>22}{_cell(m_32, t_32):>22}"
                f"{brief:>7}{seconds:>7.1f}"
            )
    print(f"worst recall {worst:.1%}; target >= 99% on every clip in both modes: {'met' if ok else 'NOT met'}")
    return ok


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=Path, default=REPO.parent / "shared" / "samples")
    p.add_argument("--max-frames", type=int, default=150, help="first frames of each clip (0: whole clips)")
    p.add_argument("--versions", nargs="+", default=["original", *VERSIONS], choices=["original", *VERSIONS])
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "dff-recall", help="clips, references")
    p.add_argument(
        "--min-reference-frames",
        type=int,
        default=MIN_REFERENCE_FRAMES,
        help="reference faces count when full-resolution MTCNN follows them over this many frames (1: every box)",
    )
    add_dataclass_arguments(p.add_argument_group("extraction"), ExtractionConfig, skip=["sampling"])
    args = p.parse_args(argv)
    videos = sorted(args.samples.rglob("*.mp4"))
    if not videos:
        raise SystemExit(f"no .mp4 under {args.samples}")
    args.cache.mkdir(parents=True, exist_ok=True)
    config = dataclass_from_args(ExtractionConfig, args, sampling=SamplingConfig("all"))
    print(f"videos: {len(videos)} under {args.samples}; first {args.max_frames or 'all'} frames; cache {args.cache}")
    run(videos, args.versions, args.max_frames, config, args.cache, args.min_reference_frames)


if __name__ == "__main__":
    main()
