"""Benchmark of `predict_folder`: seconds per video and peak memory for a short video and one 6x longer.

The long video is the short clip looped 6 times, both written here with OpenCV (same codec, same size). Frames are
sampled every k-th (so the work scales with length); the point is that memory stays flat while time grows.
Each measurement runs in a fresh subprocess; its peak RSS comes from ``os.wait4`` (that child only). A third child
loads the model and the face finder but predicts nothing: the fixed cost of the process.

Source clip: ../shared/samples/ffpp/.../519.mp4 (real FF++ c23 video) when present, else a synthetic face video.

Usage:
    .venv/bin/python benchmarks/predict.py [--seconds 5] [--loops 6] [--every-k 5] [--repeat 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from deepfakeforensics.data.video import iter_frames, probe_video

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "samples" / "ffpp" / "original_sequences" / "youtube" / "c23" / "videos" / "519.mp4"
MESO_WEIGHTS = REPO.parent / "shared" / "mesonet" / "weights" / "Meso4_DF.h5"


def write_clips(out_dir: Path, seconds: float, loops: int) -> tuple[Path, Path, str]:
    """short.mp4 (the first `seconds` of the source) and long.mp4 (it looped `loops` times)."""
    if SAMPLE.is_file():
        source_path, source = SAMPLE, SAMPLE.name
    else:  # load the tests' synthetic video writer by path (tests/ is not a package)
        spec = importlib.util.spec_from_file_location("synth_videos", REPO / "tests" / "synth_videos.py")
        synth = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(synth)
        source_path = out_dir / "synthetic.mp4"
        synth.write_face_video(source_path, n_faces=1, n_frames=int(seconds * 25.0), fps=25.0)
        source = f"synthetic face video ({SAMPLE} absent)"
    fps = probe_video(source_path).fps or 25.0
    frames = [cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) for _, rgb in iter_frames(source_path, range(int(seconds * fps)))]
    source = f"{source}, first {len(frames)} frames"
    h, w = frames[0].shape[:2]
    paths = []
    for name, n in (("short", 1), ("long", loops)):
        (out_dir / name).mkdir()
        path = out_dir / name / f"{name}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for _ in range(n):
            for f in frames:
                writer.write(f)
        writer.release()
        paths.append(path)
    return paths[0], paths[1], source


def child(folder: str | None, every_k: int) -> None:
    """Run in a subprocess: load the model and finder, then (unless `folder` is None) predict the folder."""
    import torch

    from deepfakeforensics.data.video import SamplingConfig
    from deepfakeforensics.faces import ExtractionConfig
    from deepfakeforensics.inference.predict import predict_folder
    from deepfakeforensics.models import create_model

    torch.manual_seed(0)
    model = create_model("mesonet4", weights=str(MESO_WEIGHTS) if MESO_WEIGHTS.is_file() else None)
    config = ExtractionConfig(sampling=SamplingConfig(strategy="every_k", every_k=every_k))
    finder = config.make_finder()
    out = {"seconds": 0.0}
    if folder is not None:
        t0 = time.perf_counter()
        preds, failures = predict_folder(folder, model, extraction_config=config, finder=finder, progress=False)
        out = {
            "seconds": time.perf_counter() - t0,
            "frames_used": int(preds["frames_used"].sum()),
            "faces_found": int(preds["faces_found"].sum()),
            "score": float(preds["score"].iloc[0]),
            "failures": failures,
        }
    print(json.dumps(out))


def measure(folder: Path | None, every_k: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(folder) if folder else "-", "--every-k", str(every_k)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout = proc.stdout.read()
    proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}): {' '.join(cmd)}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="length of the short clip (default 5 s)")
    p.add_argument("--loops", type=int, default=6, help="the long video is the short one looped this many times")
    p.add_argument("--every-k", type=int, default=5, help="sample every k-th frame (default 5)")
    p.add_argument("--repeat", type=int, default=1, help="runs per video (medians reported)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        child(None if args.child == "-" else args.child, args.every_k)
        return

    import statistics

    with tempfile.TemporaryDirectory() as tmp:
        short, long, source = write_clips(Path(tmp), args.seconds, args.loops)
        n_short, n_long = probe_video(short).n_frames, probe_video(long).n_frames
        print(f"source: {source}; short {n_short} frames, long {n_long} frames; every {args.every_k}th frame sampled")
        base = measure(None, args.every_k)
        runs = {"short": [], "long": []}
        for _ in range(args.repeat):
            for name, path in (("short", short), ("long", long)):
                runs[name].append(measure(path.parent, args.every_k))
    med = {
        name: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_rss_mb", "frames_used")}
        for name, rs in runs.items()
    }
    print(f"fixed cost (imports + model + finder, no video): peak RSS {base['peak_rss_mb']:.0f} MB")
    print(
        f"{'video':<6} {'frames':>7} {'used':>5} {'s/video':>8} {'ms/frame used':>14} {'peak RSS MB':>12} {'over fixed':>11}"
    )
    for name, n in (("short", n_short), ("long", n_long)):
        m = med[name]
        print(f"{name:<6} {n:>7} {int(m['frames_used']):>5} {m['seconds']:>8.2f} "
              f"{1000 * m['seconds'] / max(m['frames_used'], 1):>14.1f} {m['peak_rss_mb']:>12.0f} "
              f"{m['peak_rss_mb'] - base['peak_rss_mb']:>+11.0f}")  # fmt: skip
    s, lg = med["short"], med["long"]
    ratio = lg["peak_rss_mb"] / s["peak_rss_mb"]
    print(f"long/short: time x{lg['seconds'] / s['seconds']:.2f} (length x{n_long / n_short:.1f}), "
          f"peak memory x{ratio:.3f} ({100 * (ratio - 1):+.1f}%; target within 10%: {'met' if abs(ratio - 1) <= 0.10 else 'NOT met'})")  # fmt: skip
    for name in runs:
        fails = runs[name][0].get("failures")
        if fails:
            print(f"warning: {name}: {fails}")


if __name__ == "__main__":
    main()
