"""Small I/O helpers shared by every stage: atomic writes, tables with a recorded root, failure logs."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

FAILURE_COLUMNS = ["path", "reason"]


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux: ``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def output_mode() -> int:
    """The mode outputs get: what ``open(path, "w")`` gives a new file, 0666 less the umask (mkstemp alone would
    leave it 0600, readable by its owner only)."""
    return 0o666 & ~current_umask()


def _fsync_path(path: Path, directory: bool = False) -> None:
    """Flush a file's (or a folder's) contents to the disk. Where the system or the file system cannot (a folder on
    Windows, fsync unsupported) nothing is done; a real failure to write (EIO, ENOSPC) is raised."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as e:
        if not directory and e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error it is removed.

    Readers never see a half-written file, and a killed process leaves at most a stray ``.tmp`` file. The output
    has the user's usual mode (`output_mode`: 0666 less the umask, as a plain ``open`` gives), and is durable once
    this returns: the file is fsynced before the rename and its folder after it, so a crash or a power loss leaves
    the old file or the new one, never an empty or truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp_path = Path(tmp)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, output_mode())
        else:  # Windows: only the read-only bit means anything
            os.chmod(tmp_path, output_mode())
    finally:
        os.close(fd)
    try:
        yield tmp_path
        _fsync_path(tmp_path)
        os.replace(tmp_path, path)
        _fsync_path(path.parent, directory=True)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def meta_path(csv_path: str | os.PathLike) -> Path:
    """Sidecar file holding a table's metadata (its root): ``labels/ffpp.csv`` -> ``labels/ffpp.meta.json``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.stem + ".meta.json")


def save_table(df: pd.DataFrame, csv_path: str | os.PathLike, root: str | os.PathLike, **meta: object) -> None:
    """Write a table whose ``path`` column is relative to `root`, and record `root` beside it.

    The root is stored relative to the CSV's folder when possible, so the project and data can move together.
    """
    csv_path = Path(csv_path)
    root = Path(root).resolve()
    csv_dir = csv_path.parent.resolve()
    try:
        stored_root = os.path.relpath(root, csv_dir)
    except ValueError:  # different drives on Windows
        stored_root = str(root)
    write_csv_atomic(df, csv_path)
    write_json_atomic(meta_path(csv_path), {"root": stored_root, **meta})


def load_table(csv_path: str | os.PathLike, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read a table written by `save_table`; ``df.attrs["root"]`` is the absolute root its paths are relative to.

    Args:
        csv_path: the CSV file.
        root: overrides the recorded root (the data moved on its own).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: no such table")
    df = pd.read_csv(csv_path, dtype={"video_id": str, "group": str, "path": str})
    meta: dict = {}
    if meta_path(csv_path).is_file():
        meta = json.loads(meta_path(csv_path).read_text())
    if root is None:
        stored = meta.get("root")
        root = (csv_path.parent / stored) if stored is not None else csv_path.parent
    df.attrs.update({k: v for k, v in meta.items() if k != "root"})
    df.attrs["root"] = str(Path(root).resolve())
    return df


def absolute_paths(df: pd.DataFrame, column: str = "path") -> list[Path]:
    """The table's `column` resolved against ``df.attrs["root"]``."""
    root = Path(df.attrs.get("root", "."))
    return [root / p for p in df[column]]


def append_failures(csv_path: str | os.PathLike, failures: Sequence[tuple[str, str]]) -> None:
    """Append ``(path, reason)`` rows to a failures CSV (created with a header if absent), atomically."""
    if not failures:
        return
    csv_path = Path(csv_path)
    new = pd.DataFrame(list(failures), columns=FAILURE_COLUMNS)
    if csv_path.is_file() and csv_path.stat().st_size > 0:
        new = pd.concat([pd.read_csv(csv_path, dtype=str), new], ignore_index=True)
    write_csv_atomic(new, csv_path)
