"""The media under a folder that `predict_folder` scores: videos, images and (optionally) frame-folder videos, found
by one walk that lists what it skipped and why, and the names their rows carry in a predictions CSV.

Example:
    >>> files, skipped = walk_media("videos/")  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from deepfakeforensics.data.frame_folders import is_frame_folder
from deepfakeforensics.data.video import VIDEO_EXTENSIONS

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

#: Files with these endings are listed as skipped (not silently ignored): media the toolkit does not score.
UNSUPPORTED_MEDIA = {".gif": "GIF (animated or not) is not scored: convert it to a video (mp4) or a still (png)"}


def media_name(path: Path, folder: Path) -> str:
    """The name a file's row carries: its path relative to `folder` (``/``-separated), as UTF-8 text.

    A byte of a file name that is not UTF-8 (a surrogate escape in Python) is written ``\\xNN`` (the CSV stays
    UTF-8 and a resumed run finds the row again); `media_path` turns the name back into the file's path.
    """
    rel = path.relative_to(folder).as_posix()
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def media_path(folder: str | os.PathLike, name: str) -> Path:
    """The path of the file `media_name` named `name` under `folder` (``\\xNN`` of bytes >= 0x80 undone)."""
    return Path(folder) / _ESCAPED_BYTE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), name)


_ESCAPED_BYTE = re.compile(r"\\x([89a-f][0-9a-f])")


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device")):
        if test(mode):
            return name
    return "a block device" if stat.S_ISBLK(mode) else "not a regular file"


_MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS


def walk_media(folder: str | os.PathLike, frame_folders: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """Every video and image file under `folder` (recursively, by extension, case-insensitive), and what was skipped.

    Symlinked folders are followed once (a folder reached again, e.g. through a symlink loop, is not walked twice);
    a media-named entry that is not a regular file (FIFO, socket, device), a broken or looping symlink, an unreadable
    folder and an unsupported medium (GIF) are skipped and listed. Files without read permission are listed as media:
    scoring them reports "permission denied". With `frame_folders`, a folder below `folder` holding frame files is
    one video (`deepfakeforensics.data.frame_folders`), listed instead of walked.

    Returns:
        ``(files, skipped)``: files sorted (paths under `folder`, symlinks not resolved), and ``(path relative to
        folder, reason)`` of every entry skipped.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    walk = _MediaWalk(folder, frame_folders)
    walk.folder(folder)
    return sorted(walk.files), sorted(walk.skipped)


class _MediaWalk:
    """The state of one `walk_media`: the media found, what was skipped and why, the folders listed (by device and
    inode, so that a folder reached again through a symlink is not listed twice)."""

    def __init__(self, top: Path, frame_folders: bool = False) -> None:
        self.top = top
        self.frame_folders = frame_folders
        self.files: list[Path] = []
        self.skipped: list[tuple[str, str]] = []
        self.seen: dict[tuple[int, int], Path] = {}

    def rel(self, path: Path) -> str:
        return media_name(path, self.top)

    def folder(self, directory: Path) -> None:
        """List `directory` once, then each of its entries in name order."""
        try:
            key = (directory.stat().st_dev, directory.stat().st_ino)
        except OSError as e:
            self.skipped.append((self.rel(directory), f"folder not listed ({e.strerror or e})"))
            return
        if key in self.seen:
            first = self.rel(self.seen[key]) or "."
            self.skipped.append((self.rel(directory), f"folder already listed as {first} (symlink loop?)"))
            return
        self.seen[key] = directory
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except PermissionError:
            self.skipped.append((self.rel(directory) or ".", "folder not listed (permission denied)"))
            return
        except OSError as e:
            self.skipped.append((self.rel(directory) or ".", f"folder not listed ({e.strerror or e})"))
            return
        for entry in entries:
            self.entry(directory / entry.name, entry.is_symlink())

    def entry(self, path: Path, is_symlink: bool) -> None:
        """A folder is walked, a regular media file kept; anything else media-named is skipped with its reason."""
        suffix = path.suffix.lower()
        try:
            mode = os.stat(path).st_mode  # follows symlinks
        except OSError as e:
            if is_symlink:
                loop = e.errno == errno.ELOOP
                self.skipped.append(
                    (self.rel(path), "symlink loop" if loop else "broken symlink (its target is missing)")
                )
            elif suffix in _MEDIA_EXTENSIONS:
                self.skipped.append((self.rel(path), f"cannot be read ({e.strerror or e})"))
            return
        if stat.S_ISDIR(mode) and self.frame_folders and is_frame_folder(path):
            self.files.append(path)  # a frame-folder video
        elif stat.S_ISDIR(mode):
            self.folder(path)
        elif suffix in _MEDIA_EXTENSIONS:
            if stat.S_ISREG(mode):
                self.files.append(path)
            else:
                self.skipped.append((self.rel(path), f"{_kind_of(mode)}, not a regular file: not read"))
        elif suffix in UNSUPPORTED_MEDIA:
            self.skipped.append((self.rel(path), UNSUPPORTED_MEDIA[suffix]))


def list_media(folder: str | os.PathLike) -> list[Path]:
    """Every video and image file under `folder` (recursively, by extension, case-insensitive), sorted.

    `walk_media` also says what was skipped and why.
    """
    return walk_media(folder)[0]
