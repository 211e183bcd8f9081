"""Per-video claims: several extraction runs (or the shards of a job array) on one output split the work safely.

Before working on a video a run creates its claim file, ``NAME.claim`` beside the video's part file, with
``O_CREAT | O_EXCL`` (atomic on local file systems and on NFS v3+). The file records the run's host, process id and
a random token; the run touches it now and then while it works (a heartbeat) and removes it when the video's part
file is written. A run that finds a claim skips that video, unless the claim is stale: its process is gone (same
host) or it has not been touched for `stale_after` seconds (any host: a killed run elsewhere, or a reused PID here).
A stale claim is taken over by renaming it away first, so that only one of several runs can take it over. A damaged
claim (not UTF-8, not a claim record, a pid no process can have) is stale, with a warning naming it; an empty or
half-written one too, once `WRITE_GRACE_S` has passed (its run may be writing it this very moment).

Why claims rather than one lock per output: two runs, or the N shards of a cluster job array restarted with a
different N, then share the work without any coordination beyond the file system, and a run killed on a node never
blocks the others for longer than `stale_after`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

STALE_AFTER_S = 600.0  # a claim untouched this long is abandoned (the heartbeat touches live ones every 30 s)
HEARTBEAT_S = 30.0
CLAIM_SUFFIX = ".claim"
WRITE_GRACE_S = 5.0  # an empty or half-written claim younger than this may still be being written by its run
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_PID = 2**31 - 1  # pid_t is a signed 32-bit integer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimOwner:
    """Who holds a claim, as recorded in its file."""

    host: str
    pid: int
    token: str
    age_s: float  # seconds since the claim was last touched
    damaged: str = ""  # why the file is not a claim record ("" for a sound one)

    def describe(self) -> str:
        if self.damaged:
            return f"a damaged claim ({self.damaged})"
        return f"process {self.pid} on {self.host}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    if not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def read_owner(path: Path) -> ClaimOwner | None:
    """The owner recorded in claim file `path`; None when there is no such file.

    Content that is not a claim record gives pid 0 and `ClaimOwner.damaged` saying why (never an exception).
    """
    try:
        age = time.time() - path.stat().st_mtime
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        info = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return ClaimOwner("?", 0, "", age, "not UTF-8 text")
    except ValueError:  # being written right now, or truncated
        return ClaimOwner("?", 0, "", age, "empty or half-written" if len(data) < 200 else "not JSON")
    if not isinstance(info, dict) or not {"host", "pid", "token"} <= set(info):
        return ClaimOwner("?", 0, "", age, "not a claim record")
    pid, host, token = info["pid"], info["host"], info["token"]
    if not isinstance(host, str) or not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        return ClaimOwner("?", 0, "", age, "host or token is not a claim's")  # (the token names leftover files)
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= MAX_PID:
        return ClaimOwner(host, 0, token, age, f"pid {str(pid)[:40]} is no process id")
    return ClaimOwner(host, pid, token, age)


def is_stale(owner: ClaimOwner, stale_after: float = STALE_AFTER_S) -> bool:
    """A claim is stale when untouched for `stale_after` seconds, or when its process on this host is gone, or when
    it is damaged (an empty or half-written one after `WRITE_GRACE_S`)."""
    if owner.age_s > stale_after:
        return True
    if owner.damaged:
        return owner.damaged != "empty or half-written" or owner.age_s > WRITE_GRACE_S
    return owner.host == socket.gethostname() and owner.pid > 0 and not pid_alive(owner.pid)


class VideoClaim:
    """A claim this process holds on one video; use `held` before committing results and `release` after."""

    def __init__(self, path: Path, token: str, previous: ClaimOwner | None = None):
        self.path = path
        self.token = token
        self.previous = previous  # the stale claim this one took over (its leftovers are named by its token)
        self._touched = time.monotonic()

    def heartbeat(self) -> None:
        """Touch the claim (at most every `HEARTBEAT_S` seconds) so other hosts see it is alive."""
        now = time.monotonic()
        if now - self._touched >= HEARTBEAT_S:
            self._touched = now
            try:
                os.utime(self.path)
            except FileNotFoundError:  # taken over: `held` will say so before anything is committed
                pass

    def held(self) -> bool:
        """Whether the claim file still holds this process's token (False once another run took it over)."""
        owner = read_owner(self.path)
        return owner is not None and owner.token == self.token

    def release(self) -> None:
        """Remove the claim file if it is still this process's."""
        if self.held():
            self.path.unlink(missing_ok=True)


def _create(path: Path, token: str) -> bool:
    """Create the claim file atomically; False when it already exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    record = {"host": socket.gethostname(), "pid": os.getpid(), "token": token, "started": time.time()}
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    return True


def _take_over(path: Path, stale: ClaimOwner) -> None:
    """Move a stale claim out of the way; if a fresh claim replaced it meanwhile, put that one back."""
    grave = path.with_name(f"{path.name}.{secrets.token_hex(6)}.stale")
    try:
        os.rename(path, grave)
    except FileNotFoundError:  # released or taken over by another run already
        return
    moved = read_owner(grave)
    if moved is not None and moved.token != stale.token:
        try:
            os.link(grave, path)
        except OSError as e:  # FileExistsError: a third run claimed meanwhile; else the fresh claim is lost
            log.warning(
                "%s: the fresh claim of %s, taken aside with a stale one, could not be put back (%s); "
                "that run will find it lost and another may redo this video",
                path,
                moved.describe(),
                e.strerror or e,
            )
    grave.unlink(missing_ok=True)


def try_claim(path: str | os.PathLike, stale_after: float = STALE_AFTER_S) -> VideoClaim | ClaimOwner:
    """Claim `path` for this process, taking over a stale claim.

    Returns:
        The `VideoClaim` when this process now holds it, else the live `ClaimOwner` that holds it.
    """
    path = Path(path)
    token = secrets.token_hex(8)
    previous = None
    for _ in range(3):  # lost races against other runs taking over the same stale claim
        if _create(path, token):
            return VideoClaim(path, token, previous)
        owner = read_owner(path)
        if owner is None:
            continue
        if not is_stale(owner, stale_after):
            return owner
        if owner.damaged:
            log.warning("%s: damaged claim (%s): treated as stale and taken over", path, owner.damaged)
        _take_over(path, owner)
        previous = owner
    owner = read_owner(path)
    return owner if owner is not None else ClaimOwner("?", 0, "", 0.0)
