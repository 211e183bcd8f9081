"""Errors a person can act on, and the rule that tells them apart from bugs.

The library raises an *expected* error when the input or the environment is at fault (a truncated checkpoint, a
manifest without a column, a full disk, another run holding the output); its message names the file and says what to
do. ``dff`` prints such an error in one or two lines with exit status 1; anything else is a bug and keeps its
traceback. Every error class of this project derives from `DFFError` (most also from the built-in type callers
already catch: `WeightsError` is a `ValueError`, `CropReadError` an `OSError`).
"""

from __future__ import annotations

import contextlib
import errno
import traceback
from collections.abc import Iterator
from pathlib import Path

#: errno values that mean the environment, not the data, is at fault: no space, quota, permission, read-only.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})

_PACKAGE_DIR = Path(__file__).resolve().parent


class DFFError(Exception):
    """Base class of the library's expected errors: the message names the file at fault and what to do."""


class OutputError(DFFError, OSError):
    """Writing results failed because of the environment (disk full, quota, permission, read-only file system).

    The run stops at once: everything finished so far is kept, and rerunning the same command resumes it.
    """

    def __init__(self, path: str | Path, cause: OSError, what: str = "write", hint: str = ""):
        self.path = str(path)
        self.cause = cause
        reason = cause.strerror or str(cause)
        message = f"{path}: cannot {what} ({reason})"
        if hint:
            message += f"\n{hint}"
        super().__init__(message)
        self.errno = cause.errno


class OutputBusyError(DFFError):
    """Another live run holds the output this run was asked to write."""


def is_environment_error(exc: BaseException) -> bool:
    """True for an `OSError` caused by the environment (no space, quota, permission, read-only file system)."""
    return isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS


@contextlib.contextmanager
def output_errors(path: str | Path, what: str = "write", hint: str = "", any_os_error: bool = False) -> Iterator[None]:
    """Turn an environment `OSError` raised inside the block into an `OutputError` naming the file.

    Args:
        path: the file or folder being written, named in the message.
        what: the action, for the message ("write the faces manifest").
        hint: a second line saying what to do.
        any_os_error: convert every `OSError`, not only environment ones (for files whose loss must be named).
    """
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        if not (any_os_error or is_environment_error(exc)):
            raise
        raise OutputError(path, exc, what, hint) from exc


def _raised_in_package(exc: BaseException) -> bool:
    """True when the innermost frame of `exc`'s traceback is code of this package (not pandas, torch, ...)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    try:
        return Path(frames[-1].filename).resolve().is_relative_to(_PACKAGE_DIR)
    except OSError:
        return False


def is_expected(exc: BaseException) -> bool:
    """Whether `exc` is a fault of the input or the environment (print its message) rather than a bug (traceback).

    Expected: `DFFError` (every error class of the package); `FileNotFoundError`,
    `PermissionError`, an `OSError` that names a file or comes from the environment; a `ValueError` raised by the
    library's own code (its messages name the file and the value at fault).
    """
    if isinstance(exc, DFFError | FileNotFoundError | PermissionError):
        return True
    if isinstance(exc, OSError):
        return exc.filename is not None or is_environment_error(exc)
    return isinstance(exc, ValueError) and _raised_in_package(exc)
