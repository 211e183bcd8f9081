"""Decompression-bomb guard: a file's frame size read from its header, refused above a pixel limit before decoding.

A 389 KB PNG may declare 20000x20000 pixels (1.2 GB decoded) and a 424 KB H.264 clip 12000x12000 frames: the size is
read from the header (PIL reads an image's header lazily and decodes nothing; OpenCV opens a video's container and
codec without decoding a frame) and a frame over `max_pixels` is refused with `MediaTooLarge`, whose ``reason`` names
the limit. ``dff predict`` reports it as that file's failure (the run goes on) and ``dff serve`` answers 422.

Example:
    >>> check_media_size("bomb.png", "image")  # doctest: +SKIP
    MediaTooLarge: bomb.png: 400000000 pixels per frame (400 megapixels), over the limit of 50 megapixels (...)
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass

import cv2
from PIL import Image

from deepfakeforensics.data.video import _open, probe_video
from deepfakeforensics.errors import DFFError

#: Largest frame (width x height) decoded by default: about 50 megapixels (8K UHD is 33).
DEFAULT_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class HeaderSize:
    """What a file's header declares: frame width and height, and frames (1 for an image, 0 when unknown)."""

    width: int
    height: int
    n_frames: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


class MediaTooLarge(DFFError, ValueError):
    """A file whose header declares frames over the pixel limit; `reason` names the size and the limit."""

    def __init__(self, path: str | os.PathLike, declared: str, pixels: int, max_pixels: int) -> None:
        self.path = str(path)
        self.pixels = pixels
        self.max_pixels = max_pixels
        self.reason = (
            f"{declared} pixels per frame ({pixels / 1e6:.3g} megapixels), over the limit of "
            f"{max_pixels / 1e6:g} megapixels (--max-pixels {max_pixels}): not decoded"
        )
        super().__init__(f"{path}: {self.reason}")


def image_header_size(path: str | os.PathLike) -> HeaderSize | int | None:
    """An image's declared size from its header (nothing decoded); an int (its pixel count) when PIL itself refused
    it as a bomb (over twice ``Image.MAX_IMAGE_PIXELS``); None when PIL cannot read the header (the decoder then
    reports the file)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                return HeaderSize(int(width), int(height))
    except Image.DecompressionBombError as e:
        found = re.search(r"\((\d+) pixels\)", str(e))
        return int(found.group(1)) if found else 2 * int(Image.MAX_IMAGE_PIXELS or 0) + 1
    except (OSError, ValueError, SyntaxError):  # not an image PIL knows, truncated header: left to the decoder
        return None


def video_header_size(path: str | os.PathLike) -> HeaderSize:
    """A video's declared frame size and count (container and codec opened, no frame decoded).

    Raises:
        VideoError: the file is missing, empty or unreadable.
    """
    if os.path.isdir(path):  # a frame-folder video: its first frame's header
        info = probe_video(path)
        return HeaderSize(info.width, info.height, info.n_frames)
    cap = _open(path)
    try:
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        n_frames = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    finally:
        cap.release()
    return HeaderSize(width, height, n_frames)


def check_media_size(path: str | os.PathLike, kind: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> HeaderSize | None:
    """Refuse an ``image`` or ``video`` whose header declares frames over `max_pixels` (0 or less: no limit).

    Returns:
        The declared size, or None when the header cannot tell (the decoder then reports the file).

    Raises:
        MediaTooLarge: a frame is over the limit.
        VideoError: a video that cannot even be opened.
    """
    if kind == "video":
        size: HeaderSize | int | None = video_header_size(path)
    else:
        size = image_header_size(path)
    if max_pixels <= 0 or size is None:
        return size if isinstance(size, HeaderSize) else None
    if isinstance(size, int):
        raise MediaTooLarge(path, f"{size}", size, max_pixels)
    if size.pixels > max_pixels:
        raise MediaTooLarge(path, f"{size.width}x{size.height}", size.pixels, max_pixels)
    return size
