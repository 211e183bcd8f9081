"""Bounded work: how many requests may be in the server at once, and a time limit per request.

`Admission` counts requests from the moment they are accepted (before their upload is read) until their work has
really ended: a request whose time limit ran out is answered at once (504) and its work is asked to stop
(`Job.stopped`, checked by video scoring after each decoded frame and before each face crop, and between the images
of a batch), but it keeps its place until its thread has finished, so the count never understates the load. Beyond
``workers + queue`` requests, new ones get 503 with Retry-After and Connection: close, without reading their body.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from deepfakeforensics.serve.uploads import UploadError

T = TypeVar("T")
RETRY_AFTER_S = 5


class Busy(UploadError):
    """Every worker busy and the queue full: 503 with a Retry-After header."""

    def __init__(self, capacity: int) -> None:
        super().__init__(503, "busy", f"server busy ({capacity} requests in progress or queued); retry later")
        self.retry_after = RETRY_AFTER_S


class Admission:
    """At most `capacity` requests in the server; `enter` refuses beyond that (`Busy`)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._n = 0
        self._lock = threading.Lock()

    @property
    def in_progress(self) -> int:
        return self._n

    def enter(self) -> None:
        with self._lock:
            if self._n >= self.capacity:
                raise Busy(self.capacity)
            self._n += 1

    def leave(self) -> None:
        with self._lock:
            self._n -= 1


class Job:
    """One admitted request: released (its files deleted, its place freed) exactly once, when its work ends."""

    def __init__(self, admission: Admission, cleanup: Callable[[], None]) -> None:
        admission.enter()
        self._admission = admission
        self._cleanup = cleanup
        self._released = False
        self._lock = threading.Lock()
        self.handed_off = False  # True once a thread owns the release
        self.abandoned = False  # True once the time limit ran out

    def stopped(self) -> bool:
        """True once the request's time limit ran out: its work should end as soon as it can."""
        return self.abandoned

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        try:
            self._cleanup()
        finally:
            self._admission.leave()


async def run_with_deadline(
    executor: ThreadPoolExecutor, job: Job, timeout_s: float, fn: Callable[..., T], *args: Any
) -> T:
    """Run `fn(*args)` in `executor`; raise 504 after `timeout_s`. `job` is released when the thread is done."""

    def work() -> T:
        if job.abandoned:  # its time ran out while it queued: do not start it
            raise TimeoutError("abandoned")
        return fn(*args)

    future = asyncio.get_running_loop().run_in_executor(executor, work)
    job.handed_off = True
    future.add_done_callback(lambda _: job.release())
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout_s)
    except TimeoutError:
        job.abandoned = True
        future.add_done_callback(lambda f: f.exception())  # retrieve it: no "exception never retrieved" log
        raise UploadError(
            504, "timeout", f"decoding and scoring took longer than the server's limit ({timeout_s:g} s)"
        ) from None
