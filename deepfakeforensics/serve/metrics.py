"""Prometheus metrics of the server: requests, latency, errors and verdicts, in a registry of its own."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

#: Route labels: anything else is counted as "other" (unknown paths must not grow the label set).
ROUTES = frozenset(
    {"/health", "/ready", "/model", "/detect", "/detect/video", "/detect/batch", "/metrics", "/docs", "/openapi.json"}
)
_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ServerMetrics:
    """The server's counters and latency histogram, and an ASGI middleware that records every request."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dff_requests", "HTTP requests by route and status", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "dff_request_seconds", "request latency by route", ["route"], buckets=_BUCKETS, registry=self.registry
        )
        self.errors = Counter(
            "dff_errors", "error responses by route and kind", ["route", "code"], registry=self.registry
        )
        self.verdicts = Counter(
            "dff_verdicts", "files and faces judged: fake, real or none (no face)", ["verdict"], registry=self.registry
        )

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def count_verdict(self, verdict: str | None) -> None:
        self.verdicts.labels(verdict or "none").inc()

    def middleware(self, app: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """Wrap an ASGI app so each HTTP request is counted with its status and latency."""

        async def wrapped(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            route = scope["path"] if scope["path"] in ROUTES else "other"
            status = {"code": 500}
            start = time.perf_counter()

            async def record_send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, record_send)
            finally:
                self.requests.labels(route, str(status["code"])).inc()
                self.latency.labels(route).observe(time.perf_counter() - start)

        return wrapped
