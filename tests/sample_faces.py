"""Faces extracted from the FF++ sample clips in ``../shared`` (used by the landmark, alignment and dense tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deepfakeforensics import _io
from deepfakeforensics.faces import ExtractionConfig, extract_faces

REAL_519 = ("519", "ffpp/original_sequences/youtube/c23/videos/519.mp4", 0)
FAKE_519_515 = ("519_515", "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4", 1)


def extract_samples(
    samples_dir: Path, out: Path, config: ExtractionConfig, videos=(REAL_519,), split: str = "test"
) -> pd.DataFrame:
    """Index `videos` ((video_id, path under `samples_dir`, label), one group) into ``out/labels/samples.csv`` and
    extract their faces into ``out/extracted`` with `config`; the faces manifest."""
    index = pd.DataFrame(
        [(v, p, y, "ffpp", "real" if y == 0 else "Deepfakes", "519", split) for v, p, y in videos],
        columns=["video_id", "path", "label", "dataset", "method", "group", "split"],
    )
    _io.save_table(index, out / "labels" / "samples.csv", root=samples_dir)
    return extract_faces(out / "labels" / "samples.csv", out / "extracted", config, progress=False)
