"""Face extraction speed and box agreement against plain facenet-pytorch MTCNN, on the sample videos.

Section 1, all frames: frames/s of `iter_face_crops` with every frame sampled (downscaled batched detection on every
k-th frame, full-resolution re-detection around missed tracks, tracking and interpolation, crops made) against ``MTCNN.detect`` called once per full-resolution frame;
box agreement = share of the baseline's boxes (filtered by the same min_prob and min_face_size) matched by one of ours
on the same frame at IoU >= 0.8. Target: >= 10x at >= 95%.

Section 2, default sampling (32 uniform frames): seconds per video of `iter_face_crops` against decoding every frame
and detecting on the 32 sampled frames at full resolution. Target: >= 3x.

Both run in the same process, one after the other, on the same frames, after one untimed warm-up pass of each.
Besides wall-clock speedups the script prints CPU-time speedups (``time.process_time``), which suffer less when other
processes share the machine.

Usage:
    .venv/bin/python benchmarks/extraction.py [--samples ../shared/samples] [--max-frames 150]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from deepfakeforensics.data.video import SamplingConfig, iter_frames, plan_frames, probe_video
from deepfakeforensics.faces import ExtractionConfig, box_iou, iter_face_crops

REPO = Path(__file__).resolve().parents[1]


def baseline_detect(mtcnn, frame: np.ndarray, min_prob: float, min_face_size: float) -> np.ndarray:
    """Plain per-frame full-resolution MTCNN (default min_face_size 20), boxes filtered by our probability and size."""
    boxes, probs = mtcnn.detect(frame)
    if boxes is None:
        return np.zeros((0, 4))
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    probs = np.asarray(probs, dtype=np.float64).reshape(-1)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return boxes[(probs >= min_prob) & (side >= min_face_size)]


def agreement(baseline: dict[int, np.ndarray], ours: dict[int, list], threshold: float = 0.8) -> tuple[int, int]:
    """(baseline boxes matched by one of ours on the same frame at IoU >= threshold, baseline boxes)."""
    matched = total = 0
    for frame, boxes in baseline.items():
        total += len(boxes)
        mine = np.array(ours.get(frame, [])).reshape(-1, 4)
        if len(boxes) and len(mine):
            matched += int((box_iou(boxes, mine).max(axis=1) >= threshold).sum())
    return matched, total


def warm_up(path: Path, config: ExtractionConfig, finder, mtcnn) -> None:
    """One untimed pass of both sides over a few frames, so neither pays torch's first-call set-up in its timing."""
    indices = list(range(4))
    for _ in iter_face_crops(path, config, finder, frame_indices=indices):
        pass
    for _, rgb in iter_frames(path, indices):
        mtcnn.detect(rgb)


def bench_all_frames(videos: list[Path], config: ExtractionConfig, max_frames: int) -> None:
    from facenet_pytorch import MTCNN

    finder = config.make_finder()
    mtcnn = MTCNN(keep_all=True, thresholds=list(config.thresholds), device=finder.device)
    warm_up(videos[0], config, finder, mtcnn)
    print(
        f"\n## All frames (first {max_frames} frames per video; detect_size={config.detect_size}, "
        f"detect_every={config.detect_every}, batch_size={config.batch_size})"
    )
    print(f"{'video':<16}{'size':>11}{'frames':>8}{'ours f/s':>10}{'base f/s':>10}{'speedup':>9}{'cpu':>9}{'agree':>9}")
    totals = np.zeros(7)  # frames, ours s, base s, matched, baseline boxes
    for path in videos:
        info = probe_video(path)
        indices = list(range(min(max_frames, info.n_frames)))
        start, cpu = time.perf_counter(), time.process_time()
        ours: dict[int, list] = {}
        for crop in iter_face_crops(path, config, finder, frame_indices=indices):
            ours.setdefault(crop.frame, []).append(crop.box)
        t_ours, c_ours = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        base = {
            i: baseline_detect(mtcnn, rgb, config.min_prob, finder.min_face_for(*rgb.shape[:2]))
            for i, rgb in iter_frames(path, indices)
        }
        t_base, c_base = time.perf_counter() - start, time.process_time() - cpu
        matched, total = agreement(base, ours)
        n = len(indices)
        totals += (n, t_ours, t_base, matched, total, c_ours, c_base)
        print(
            f"{path.name:<16}{f'{info.width}x{info.height}':>11}{n:>8}{n / t_ours:>10.1f}{n / t_base:>10.1f}"
            f"{t_base / t_ours:>8.1f}x{c_base / c_ours:>8.1f}x{matched / max(total, 1):>9.1%}"
        )
    n, t_ours, t_base, matched, total, c_ours, c_base = totals
    print(
        f"{'overall':<16}{'':>11}{int(n):>8}{n / t_ours:>10.1f}{n / t_base:>10.1f}{t_base / t_ours:>8.1f}x"
        f"{c_base / c_ours:>8.1f}x{matched / max(total, 1):>9.1%}   (target >= 10x at >= 95%; "
        f"{int(matched)}/{int(total)} boxes)"
    )


def bench_sampled(videos: list[Path], config: ExtractionConfig) -> None:
    from facenet_pytorch import MTCNN

    finder = config.make_finder()
    mtcnn = MTCNN(keep_all=True, thresholds=list(config.thresholds), device=finder.device)
    warm_up(videos[0], config, finder, mtcnn)
    print(
        f"\n## Default sampling ({config.sampling.n_frames} uniform frames per video; detect_size={config.detect_size})"
    )
    print(f"{'video':<16}{'frames':>8}{'ours s':>9}{'base s':>9}{'speedup':>9}{'cpu':>9}{'agree':>9}")
    totals = np.zeros(6)
    for path in videos:
        start, cpu = time.perf_counter(), time.process_time()
        ours: dict[int, list] = {}
        for crop in iter_face_crops(path, config, finder):
            ours.setdefault(crop.frame, []).append(crop.box)
        t_ours, c_ours = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        wanted = set(plan_frames(path, config.sampling))
        base = {}
        for i, rgb in iter_frames(path, None):  # decode every frame, detect on the sampled ones
            if i in wanted:
                base[i] = baseline_detect(mtcnn, rgb, config.min_prob, finder.min_face_for(*rgb.shape[:2]))
        t_base, c_base = time.perf_counter() - start, time.process_time() - cpu
        matched, total = agreement(base, ours)
        totals += (t_ours, t_base, matched, total, c_ours, c_base)
        print(
            f"{path.name:<16}{len(wanted):>8}{t_ours:>9.2f}{t_base:>9.2f}{t_base / t_ours:>8.1f}x"
            f"{c_base / c_ours:>8.1f}x{matched / max(total, 1):>9.1%}"
        )
    t_ours, t_base, matched, total, c_ours, c_base = totals
    k = len(videos)
    print(
        f"{'per video':<16}{'':>8}{t_ours / k:>9.2f}{t_base / k:>9.2f}{t_base / t_ours:>8.1f}x"
        f"{c_base / c_ours:>8.1f}x{matched / max(total, 1):>9.1%}   (target >= 3x)"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=Path, default=REPO.parent / "shared" / "samples")
    p.add_argument("--max-frames", type=int, default=150, help="all-frames section: first frames per video")
    p.add_argument("--detect-size", type=int, default=ExtractionConfig.detect_size)
    p.add_argument("--detect-every", type=int, default=5, help="all-frames section: detect on every k-th frame")
    p.add_argument("--n-frames", type=int, default=32, help="default-sampling section: frames per video")
    p.add_argument("--section", choices=["all", "sampled", "both"], default="both")
    args = p.parse_args(argv)
    videos = sorted(args.samples.rglob("*.mp4"))
    if not videos:
        raise SystemExit(f"no .mp4 under {args.samples}")
    import torch

    print(f"videos: {len(videos)} under {args.samples}; torch threads: {torch.get_num_threads()}")
    base = ExtractionConfig(detect_size=args.detect_size or None)
    if args.section in ("all", "both"):
        bench_all_frames(
            videos,
            ExtractionConfig(
                sampling=SamplingConfig("all"), detect_size=base.detect_size, detect_every=args.detect_every
            ),
            args.max_frames,
        )
    if args.section in ("sampled", "both"):
        bench_sampled(
            videos,
            ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=args.n_frames), detect_size=base.detect_size),
        )


if __name__ == "__main__":
    main()
