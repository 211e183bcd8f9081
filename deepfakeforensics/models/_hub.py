"""Reaching the internet for published weights: fail at once, with a hint, where there is no connection."""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def internet_reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether the host of `url` accepts a TCP connection within `timeout` seconds (fails at once without DNS)."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout):
            return True
    except OSError:
        return False
