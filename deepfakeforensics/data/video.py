"""Reading videos: probing, choosing which frames to sample, and decoding only those frames (RGB).

Frames are sampled across the whole video (uniformly, every k-th, all, per detected scene, or as clips of consecutive
frames spread over it), never "the first N".
Frames that are not sampled are skipped with ``grab()``, which demuxes and decodes but skips the colour conversion
and the copy into a numpy array.

Example:
    >>> cfg = SamplingConfig(strategy="uniform", n_frames=32)
    >>> indices = plan_frames("video.mp4", cfg)
    >>> for index, rgb in iter_frames("video.mp4", indices):
    ...     ...
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import cv2
import numpy as np

from deepfakeforensics.data.frame_folders import FrameFolderError, iter_folder_frames, probe_frame_folder
from deepfakeforensics.errors import DFFError

Strategy = Literal["uniform", "every_k", "all", "scene", "clips"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)

#: File name endings taken as videos when a folder is scanned (lower case; compare with ``suffix.lower()``).
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})


class VideoError(DFFError):
    """A video that cannot be used (missing, empty, unreadable, no frames); the message names the file and reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` learns about a video without decoding it."""

    n_frames: int  # frames in the stream (counted by grabbing when the container does not say)
    fps: float  # frames per second (0.0 when unknown)
    width: int  # frame width in pixels
    height: int  # frame height in pixels


@dataclass(frozen=True)
class SamplingConfig:
    """Which frames of a video to use."""

    strategy: Strategy = field(
        default="uniform",
        metadata={
            "help": "uniform: n frames over the whole video; every_k; all; scene: n frames per detected scene; "
            "clips: --clips clips of --clip-length consecutive frames spread over the whole video",
            "aliases": ("--sampling",),
        },
    )
    n_frames: int = field(default=32, metadata={"help": "uniform: frames spread over the video; scene: per scene"})
    every_k: int = field(default=10, metadata={"help": "every_k: take frames 0, k, 2k, ..."})
    scene_threshold: float = field(
        default=0.5,
        metadata={"help": "scene: HSV-histogram (Bhattacharyya) distance between consecutive frames that makes a cut"},
    )
    scene_min_length: int = field(
        default=5, metadata={"help": "scene: a cut closer than this many frames to the previous one is ignored"}
    )
    clip_length: int = field(default=16, metadata={"help": "clips: frames per clip"})
    clips: int = field(
        default=4, metadata={"help": "clips: clips per video, spread over it (fewer when the video is too short)"}
    )
    clip_stride: int = field(
        default=1, metadata={"help": "clips: decoded frames between two frames of a clip (1: consecutive frames)"}
    )

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown sampling strategy {self.strategy!r}; choose from {STRATEGIES}")
        if self.n_frames < 1 or self.every_k < 1:
            raise ValueError("n_frames and every_k must be >= 1")
        if self.clip_length < 1 or self.clips < 1 or self.clip_stride < 1:
            raise ValueError("clip_length, clips and clip_stride must be >= 1")

    @property
    def clip_span(self) -> int:
        """Decoded frames one clip covers, first to last: ``(clip_length - 1) * clip_stride + 1``."""
        return (self.clip_length - 1) * self.clip_stride + 1

    @property
    def max_frames(self) -> int | None:
        """The most frames a video gives: `n_frames` (uniform), ``clips * clip_length`` (clips); None when it
        depends on the video's length (every_k, all, scene)."""
        return {"uniform": self.n_frames, "clips": self.clips * self.clip_length}.get(self.strategy)


def opencv_safe_name(path: str | os.PathLike) -> bool:
    """Whether OpenCV can be given this path as it is: a name that is valid UTF-8 (a non-UTF-8 byte in a POSIX file
    name reaches Python as a surrogate escape, on which OpenCV's imread and VideoCapture crash the process)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _capture(path: Path) -> cv2.VideoCapture:
    """`cv2.VideoCapture` of `path`; a name OpenCV cannot take is opened through a symlink with an ASCII name in a
    private temporary folder (removed at once: the container stays open)."""
    if opencv_safe_name(path):
        return cv2.VideoCapture(str(path))
    with tempfile.TemporaryDirectory(prefix="dff-open-") as tmp:
        link = Path(tmp) / f"video{path.suffix.encode('ascii', 'replace').decode('ascii').replace('?', '_')}"
        try:
            os.symlink(path.resolve(), link)
        except OSError as e:  # no symlinks here (some Windows set-ups): refuse the name rather than crash
            raise VideoError(
                path, f"file name is not valid UTF-8 and OpenCV cannot open it ({e}); rename the file"
            ) from e
        return cv2.VideoCapture(str(link))


def open_video(path: str | os.PathLike) -> cv2.VideoCapture:
    """An opened `cv2.VideoCapture` of `path`, whatever its name (release it when done).

    Raises:
        VideoError: missing, empty (0 bytes), permission denied, or OpenCV cannot open it.
    """
    p = Path(path)
    if not p.exists():
        raise VideoError(path, "file not found")
    if p.is_file() and p.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    if p.is_file() and not os.access(p, os.R_OK):
        raise VideoError(path, "permission denied")
    cap = _capture(p)
    if not cap.isOpened():
        cap.release()
        raise VideoError(path, "unreadable (OpenCV cannot open it)")
    return cap


_open = open_video  # (the name other modules import)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count, fps and size of a video.

    Raises:
        VideoError: the file is missing, empty, unreadable, or has no decodable frame.
    """
    if os.path.isdir(path):  # a frame-folder video (`deepfakeforensics.data.frame_folders`)
        try:
            n, width, height = probe_frame_folder(path)
        except FrameFolderError as e:
            raise VideoError(path, e.reason) from e
        return VideoInfo(n_frames=n, fps=0.0, width=width, height=height)
    cap = _open(path)
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if n <= 0:  # some containers do not record it: count by grabbing
            n = 0
            while cap.grab():
                n += 1
        elif not cap.grab():  # a header that promises frames the stream does not deliver
            n = 0
    finally:
        cap.release()
    if n <= 0 or width <= 0 or height <= 0:
        raise VideoError(path, "no decodable frames")
    return VideoInfo(n_frames=n, fps=fps, width=width, height=height)


def _uniform(start: int, stop: int, n: int) -> list[int]:
    """At most `n` indices spread evenly over [start, stop), centred in their segments, first and last included."""
    length = stop - start
    if length <= n:
        return list(range(start, stop))
    if n == 1:
        return [start + length // 2]
    return sorted({start + int(round(i * (length - 1) / (n - 1))) for i in range(n)})


def sample_clips(n_total: int, config: SamplingConfig) -> list[list[int]]:
    """The clips of a video of `n_total` frames: lists of frame indices, every `clip_stride`-th frame from a start.

    `clips` clips of `clip_length` frames, their starts spread evenly over the video (the first at frame 0, the last
    ending on the video's last frame or just before); clips never overlap, so a frame belongs to at most one clip. A
    video too short for `clips` clips gets as many whole clips as fit; one shorter than a clip gets one clip of the
    frames it has (fewer than `clip_length`: a dataset pads or drops it, as it does a short track).

    Example:
        >>> sample_clips(100, SamplingConfig("clips", clip_length=3, clips=2))
        [[0, 1, 2], [97, 98, 99]]
        >>> sample_clips(5, SamplingConfig("clips", clip_length=4, clips=2, clip_stride=2))
        [[0, 2, 4]]
    """
    if n_total <= 0:
        return []
    span, stride = config.clip_span, config.clip_stride
    if n_total < span:
        return [list(range(0, n_total, stride))]
    n_clips = min(config.clips, n_total // span)
    starts = _uniform(0, n_total - span + 1, n_clips)  # consecutive starts are >= span apart: no overlap
    return [list(range(start, start + span, stride)) for start in starts]


def sample_frame_indices(n_total: int, config: SamplingConfig, cuts: Sequence[int] = ()) -> list[int]:
    """The sorted frame indices to use from a video of `n_total` frames.

    Args:
        n_total: frames in the video.
        config: the sampling strategy.
        cuts: for the "scene" strategy, the first frame of every scene after the first (from `find_scene_cuts`).
    """
    if n_total <= 0:
        return []
    if config.strategy == "all":
        return list(range(n_total))
    if config.strategy == "every_k":
        return list(range(0, n_total, config.every_k))
    if config.strategy == "uniform":
        return _uniform(0, n_total, config.n_frames)
    if config.strategy == "clips":
        return [index for clip in sample_clips(n_total, config) for index in clip]
    bounds = [0] + sorted(c for c in set(cuts) if 0 < c < n_total) + [n_total]
    out: list[int] = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        out.extend(_uniform(start, stop, config.n_frames))
    return out


def _hsv_histogram(rgb: np.ndarray) -> np.ndarray:
    small = cv2.resize(rgb, (64, max(1, 64 * rgb.shape[0] // rgb.shape[1])), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [16, 8, 8], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def find_scene_cuts(path: str | os.PathLike, threshold: float = 0.5, min_length: int = 5) -> list[int]:
    """First frame of every scene after the first: where the HSV-histogram distance to the previous frame jumps.

    Decodes every frame (at about 650 frames/s for 640x480 here) and compares 16x8x8-bin HSV histograms of
    64-pixel-wide thumbnails with the Bhattacharyya distance.
    """
    cuts: list[int] = []
    previous = None
    for index, rgb in iter_frames(path, None):
        hist = _hsv_histogram(rgb)
        if previous is not None:
            distance = cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA)
            last = cuts[-1] if cuts else 0
            if distance > threshold and index - last >= min_length:
                cuts.append(index)
        previous = hist
    return cuts


def plan_frames(path: str | os.PathLike, config: SamplingConfig, info: VideoInfo | None = None) -> list[int]:
    """Probe `path` (unless `info` is given) and return the frame indices `config` samples from it."""
    info = info or probe_video(path)
    cuts: list[int] = []
    if config.strategy == "scene":
        cuts = find_scene_cuts(path, config.scene_threshold, config.scene_min_length)
    return sample_frame_indices(info.n_frames, config, cuts)


def plan_clips(path: str | os.PathLike, config: SamplingConfig, info: VideoInfo | None = None) -> list[list[int]]:
    """Probe `path` (unless `info` is given) and return its clips (`sample_clips`); `config.strategy` must be clips."""
    if config.strategy != "clips":
        raise ValueError(f"plan_clips needs the clips strategy, not {config.strategy!r}")
    return sample_clips((info or probe_video(path)).n_frames, config)


def iter_frames(
    path: str | os.PathLike, indices: Sequence[int] | None, prefetch: int = 0
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, rgb uint8 HxWx3)`` for the sorted `indices` (None: every frame), decoding only those.

    Stops quietly at the real end of the stream when the container promised more frames than it holds.

    Args:
        path: the video file.
        indices: frame indices to decode (any order, duplicates ignored); None decodes every frame.
        prefetch: decode up to this many frames ahead in a background thread (0: no thread), so decoding overlaps
            with the caller's work (OpenCV releases the GIL while decoding).

    Raises:
        VideoError: the file is missing, empty or unreadable.
    """
    if prefetch > 0:
        stop = threading.Event()  # set when the caller stops reading: the reader thread stops grabbing too
        yield from _prefetched(_decode(path, indices, stop), prefetch, stop)
    else:
        yield from _decode(path, indices)


def _decode(
    path: str | os.PathLike, indices: Sequence[int] | None, stop: threading.Event | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """The frames of `iter_frames`; a set `stop` ends it between two grabs (a long skip to a far index included)."""
    if os.path.isdir(path):  # a frame-folder video: index = position in the frames' numeric order
        try:
            yield from iter_folder_frames(path, indices)
        except FrameFolderError as e:
            raise VideoError(e.path, e.reason) from e
        return
    cap = _open(path)
    try:
        wanted = None if indices is None else iter(sorted(set(indices)))
        target = None if wanted is None else next(wanted, None)
        index = 0
        while wanted is None or target is not None:
            if (stop is not None and stop.is_set()) or not cap.grab():
                return
            if wanted is None or index == target:
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    return
                yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                if wanted is not None:
                    target = next(wanted, None)
            index += 1
    finally:
        cap.release()


_END = object()


def _prefetched(items: Iterator, size: int, stop: threading.Event | None = None) -> Iterator:
    """Run `items` in a background thread, at most `size` items ahead; errors are raised in the caller.

    `stop` (default: a new event) is set when the caller stops reading; `items` may watch it to stop early.
    """
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event() if stop is None else stop

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((None, item)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer
            put((exc, None))
        finally:
            items.close()

    thread = threading.Thread(target=work, name="frame-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            flag, item = q.get()
            if flag is _END:
                return
            if flag is not None:
                raise flag
            yield item
    finally:
        stop.set()
        thread.join()
