"""A small extraction dataset shared by the extraction tests: three videos with faces and four bad ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from synth_videos import write_face_video

from deepfakeforensics import _io
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.faces import ExtractionConfig

CONFIG = ExtractionConfig(
    sampling=SamplingConfig("uniform", n_frames=5), detect_every=1, detect_size=480, min_face_size=30
)
#: The same settings as `dff extract` options.
CONFIG_OPTIONS = ["--n-frames", "5", "--detect-every", "1", "--detect-size", "480", "--min-face-size", "30"]
GOOD = ["two", "one", "one_b"]
BAD = {"none": "no face found", "empty": "empty file", "corrupt": "unreadable", "missing": "file not found"}


def write_dataset(root: Path, copies: int = 1) -> Path:
    """Write the videos under `root`/videos and an index listing each good video `copies` times; return the index."""
    (root / "videos").mkdir(parents=True)
    for name, n_faces, seed in [("two", 2, 0), ("one", 1, 1), ("one_b", 1, 2), ("none", 0, 3)]:
        width = 200 + 200 * max(n_faces - 1, 0)  # the photo drifts by a quarter of its free width: keep it moderate
        write_face_video(
            root / "videos" / f"{name}.mp4",
            n_faces=n_faces,
            n_frames=9,
            height=240,
            width=width,
            face_size=120,
            seed=seed,
        )
    (root / "videos" / "empty.mp4").write_bytes(b"")
    (root / "videos" / "corrupt.mp4").write_bytes(b"not an mp4 at all" * 100)
    files = [g for g in GOOD for _ in range(copies)] + list(BAD)
    names = [f if copies == 1 or f in BAD else f"{f}_{i % copies}" for i, f in enumerate(files)]
    index = pd.DataFrame(
        {
            "video_id": names,
            "path": [f"videos/{n}.mp4" for n in files],
            "label": [i % 2 for i in range(len(names))],
            "dataset": "synth",
            "method": ["Deepfakes" if i % 2 else "real" for i in range(len(names))],
            "compression": "c23",
            "group": [f"g{i // 2}" for i in range(len(names))],
            "split": "train",
        }
    )
    _io.save_table(index, root / "labels" / "synth.csv", root=root)
    return root / "labels" / "synth.csv"


def copy_index(index_csv: Path, dest_dir: Path) -> Path:
    """The index saved again in `dest_dir` (same videos), so its manifest and parts go there."""
    table = _io.load_table(index_csv)
    _io.save_table(table, dest_dir / "synth.csv", root=table.attrs["root"])
    return dest_dir / "synth.csv"


def comparable(faces: pd.DataFrame) -> pd.DataFrame:
    return faces.sort_values(["video_id", "track", "frame"]).reset_index(drop=True)
