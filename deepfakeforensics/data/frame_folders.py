"""Frame-folder videos: a folder of numbered image files read as one video, wherever a video file is accepted.

Some datasets ship no video files, only the frames of each video (or face sequence) as images in a folder of their
own: WildDeepfake (``real_train/<archive>/<sequence>/<n>.png``; its README: "the image name ... represents the frame
number it appears in the original video", github.com/OpenTAI/wild-deepfake), DF40 (``<method>/ff/frames/<video>/``,
github.com/YZY-stack/DF40) and every dataset DeepfakeBench preprocessed (``.../frames/<video>/<n>.png``,
github.com/SCLBD/DeepfakeBench README "Download data"). Such a folder is a video here:

- its frames are the image files directly inside it (`FRAME_EXTENSIONS`, case-insensitive; hidden files and
  sub-folders ignored), in the order of the number in their names (`frame_number`: the last run of digits of the
  stem, so ``000.png``, ``12.png`` and ``frame_0012.jpg`` all work; DeepfakeBench sorts by ``int(stem)``, the same
  order for its names); a frame without a number, or two frames with the same number, is refused naming them;
- the frame index of the "decoded stream" is the position in that order (0, 1, ...), so sampling (uniform, every
  k-th, scenes, clips) works on a folder exactly as on a file; `frame_number` keeps the number in the name;
- `deepfakeforensics.data.video.probe_video` and ``iter_frames`` hand a folder to `probe_frame_folder` and
  `iter_folder_frames`, so face extraction (``dff extract``), prediction (``predict_file``, ``dff predict
  --frame-folders``) and the size guard (``media_limits``) accept it as they accept a file; its size is read from
  the first frame's header (PIL, nothing decoded). Writing videos (``evaluation.perturbations``) needs a file.

When the frames are already face crops (WildDeepfake, DF40, DeepfakeBench's data), `frames_as_crops` makes a faces
manifest whose crops are the frames themselves, without detection.

Example:
    >>> list_frames("WildDeepfake/fake_test/3/fake/12")  # doctest: +SKIP
    [PosixPath('.../0.png'), PosixPath('.../8.png'), PosixPath('.../16.png')]
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from deepfakeforensics.errors import DFFError

#: File name endings taken as frames inside a frame folder (lower case).
FRAME_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})

_DIGITS = re.compile(r"(\d+)")


class FrameFolderError(DFFError, ValueError):
    """A frame folder that cannot be read as a video; ``reason`` says why (the message names the folder too)."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def frame_number(name: str | os.PathLike) -> int | None:
    """The number in a frame file's name: the last run of digits in its stem (``"0012.png"`` -> 12), None if none."""
    found = _DIGITS.findall(Path(name).stem)
    return int(found[-1]) if found else None


def is_frame_file(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in FRAME_EXTENSIONS


def sort_frames(paths: Iterable[str], source: str | os.PathLike) -> list[str]:
    """`paths` sorted by `frame_number` of their last component (either slash).

    Raises:
        FrameFolderError: a name without a number, or two names with the same number (naming `source` and them).
    """
    numbered: dict[int, str] = {}
    for p in paths:
        name = str(p).replace("\\", "/").rsplit("/", 1)[-1]
        n = frame_number(name)
        if n is None:
            raise FrameFolderError(source, f"frame {p!r} has no number in its name (frames are ordered by it)")
        if n in numbered:
            raise FrameFolderError(source, f"frames {numbered[n]!r} and {p!r} have the same number {n}")
        numbered[n] = str(p)
    return [numbered[n] for n in sorted(numbered)]


def is_frame_folder(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder holding at least one frame file directly."""
    try:
        return Path(path).is_dir() and any(is_frame_file(e.name) and e.is_file() for e in os.scandir(path))
    except OSError:
        return False


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """The frame files directly in `folder`, sorted by their number.

    Raises:
        FrameFolderError: not a folder, unreadable, no frame file, or names that cannot be ordered.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FrameFolderError(folder, "not a folder of frames")
    try:
        names = [e.name for e in os.scandir(folder) if is_frame_file(e.name) and e.is_file()]
    except OSError as e:
        raise FrameFolderError(folder, f"folder not readable ({e.strerror or e})") from e
    if not names:
        exts = ", ".join(sorted(FRAME_EXTENSIONS))
        raise FrameFolderError(folder, f"no frames (no {exts} file directly inside)")
    return [folder / n for n in sort_frames(names, folder)]


def find_frame_folders(root: str | os.PathLike) -> list[Path]:
    """Every folder under `root` (itself included) that holds frame files directly, sorted; hidden folders skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if any(is_frame_file(f) for f in filenames):
            found.append(Path(dirpath))
    return sorted(found)


def probe_frame_folder(folder: str | os.PathLike) -> tuple[int, int, int]:
    """``(n_frames, width, height)`` of a frame folder; the size is read from its first frame's header.

    Raises:
        FrameFolderError: see `list_frames`, or a first frame whose header cannot be read.
    """
    frames = list_frames(folder)
    try:
        with Image.open(frames[0]) as im:
            width, height = im.size
    except (OSError, ValueError, SyntaxError) as e:
        raise FrameFolderError(folder, f"first frame {frames[0].name} is not a readable image ({e})") from e
    return len(frames), int(width), int(height)


def read_frame(path: Path) -> np.ndarray:
    """One frame as RGB uint8 (bytes read by Python, decoded in memory: any file name works)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FrameFolderError(path, f"frame not readable ({e.strerror or e})") from e
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if bgr is None:
        raise FrameFolderError(path, "frame is not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_folder_frames(folder: str | os.PathLike, indices: Sequence[int] | None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, rgb)`` for the sorted `indices` (positions in the folder's frame order; None: all frames).

    Indices past the last frame are ignored, as a video's stream ends quietly.

    Raises:
        FrameFolderError: the folder cannot be listed, or a frame cannot be decoded (naming it).
    """
    frames = list_frames(folder)
    wanted = range(len(frames)) if indices is None else sorted({i for i in indices if 0 <= i < len(frames)})
    for i in wanted:
        yield i, read_frame(frames[i])


def frames_as_crops(videos: pd.DataFrame, n_frames: int | None = None) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """A faces manifest whose crops are the frames of each frame-folder video of an index (no face detection).

    For datasets whose frames are face crops already (WildDeepfake's face sequences, DF40 and DeepfakeBench's
    aligned crops): one row per frame with track 0, ``frame`` = the number in the frame's file name (its frame in the
    original video), ``detected`` 0 (no detector ran), and the index's other columns carried over.

    Args:
        videos: a video index (``dff index``) whose ``path`` are frame folders under ``videos.attrs["root"]``.
        n_frames: keep at most this many frames per video, spread evenly over its frames (None: all).

    Returns:
        ``(faces, failures)``: paths relative to the same root; ``(path, reason)`` of each folder that could not be read.
    """
    root = Path(videos.attrs.get("root", "."))
    carried = [c for c in videos.columns if c not in ("video_id", "path")]
    rows, failures = [], []
    for rec in videos.to_dict("records"):
        folder = root / str(rec["path"])
        try:
            frames = list_frames(folder)
        except FrameFolderError as e:
            failures.append((str(folder), e.reason))
            continue
        if n_frames is not None and len(frames) > n_frames:
            keep = np.unique(np.round(np.linspace(0, len(frames) - 1, n_frames)).astype(int))
            frames = [frames[i] for i in keep]
        for f in frames:
            row = {"video_id": rec["video_id"], "track": 0, "frame": frame_number(f.name), "detected": 0}
            row["path"] = f"{rec['path']}/{f.name}"
            rows.append(row | {c: rec[c] for c in carried})
    columns = ["video_id", "track", "frame", "path", "detected", *carried]
    faces = pd.DataFrame(rows, columns=columns)
    faces.attrs = {**videos.attrs, "root": str(root)}
    return faces, failures
