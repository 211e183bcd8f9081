"""Time the DeeperForensics-1.0 sweep (7 distortions x 5 levels) on one video: perturb the whole clip, then run the
normal face extraction on the copy. Prints seconds per perturbation and the total per video.

    .venv/bin/python benchmarks/perturbations.py [VIDEO] [--kinds VC GB ...]   (default: ../shared ffpp 519.mp4, all 7)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from deepfakeforensics.evaluation.perturbations import (
    DISTORTIONS,
    Perturbation,
    PerturbationError,
    single_perturbations,
)
from deepfakeforensics.evaluation.video_robustness import perturbed_faces
from deepfakeforensics.faces.config import ExtractionConfig

DEFAULT = Path(__file__).resolve().parents[2] / "shared/samples/ffpp/original_sequences/youtube/c23/videos/519.mp4"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--kinds", nargs="+", default=None, help="distortion codes to time (default: all)")
    args = parser.parse_args(argv)
    video = args.video
    if not video.is_file():
        parser.error(f"{video}: no such video")
    index = pd.DataFrame([{"video_id": video.stem, "path": video.name, "label": 0, "split": "test", "group": "g"}])
    index.attrs["root"] = str(video.parent)
    extraction = ExtractionConfig(device="cpu")
    finder = extraction.make_finder()
    total, rows = 0.0, []
    with tempfile.TemporaryDirectory() as tmp:
        for p in [Perturbation(()), *single_perturbations(args.kinds or DISTORTIONS)]:
            t0 = time.perf_counter()
            try:
                faces = perturbed_faces(index, p, Path(tmp), extraction, 0, finder)
            except PerturbationError as e:
                print(f"{p.name:8s} skipped: {e}", flush=True)
                continue
            dt = time.perf_counter() - t0
            total += dt if p.steps else 0.0
            rows.append((p.name, dt, len(faces)))
            print(f"{p.name:8s} {dt:6.1f} s  {len(faces):3d} crops", flush=True)
    done = len(rows) - 1
    print(f"{done} perturbations: {total:.0f} s in all, {total / max(done, 1):.1f} s each, on {video.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
