"""Benchmark of ``dff serve``: N concurrent clients for a fixed time against one server process.

The server runs ``dff serve`` in a subprocess (a random-init MesoNet4 checkpoint written here, one worker, the
default queue), bound to a free port of 127.0.0.1. Each client thread posts the same one-face JPEG (matplotlib's
portrait on a 640x480 background) to ``/detect`` in a loop until the time is up or the request cap is reached.
Printed: requests/s, p50/p95/max latency, errors by status (target 0), and the server's resident memory (VmRSS from
/proc) after warm-up and at the end (target: flat).

Usage:
    .venv/bin/python benchmarks/serve.py [--clients 8] [--seconds 30] [--max-requests 5000] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import torch

from deepfakeforensics.demo.faces import load_base_photo
from deepfakeforensics.models import create_model, save_checkpoint

LOCK = threading.Lock()  # guards the shared request cap


def test_image() -> bytes:
    """A 640x480 JPEG with one face (the portrait's head, 200 px) on a gradient background."""
    photo = load_base_photo()
    h, w = photo.shape[:2]
    head = cv2.resize(photo[int(0.02 * h) : int(0.75 * h), int(0.12 * w) : int(0.88 * w)], (200, 200))
    yy, xx = np.mgrid[0:480, 0:640]
    canvas = np.stack([xx * 255 // 640, yy * 255 // 480, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    canvas[140:340, 220:420] = head
    return cv2.imencode(".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))[1].tobytes()


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MB), from /proc."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def start_server(checkpoint: Path, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    """``dff serve`` on port 0; the URL parsed from uvicorn's log line."""
    cmd = [sys.executable, "-m", "deepfakeforensics", "serve", "--weights", str(checkpoint), "--port", "0"]
    cmd += ["--workers", str(workers), "--detect-size", "640"]
    env = {**os.environ, "DFF_API_KEY": ""}
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", log.read_text())
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start in 120 s")


def client_loop(url: str, body: bytes, stop_at: float, cap: list[int], out: list[tuple[float, int]]) -> None:
    """Post `body` to /detect until `stop_at` or the shared request cap is spent; record (latency, status)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        while time.monotonic() < stop_at:
            with LOCK:
                if cap[0] <= 0:
                    return
                cap[0] -= 1
            t0 = time.perf_counter()
            try:
                status = client.post("/detect", content=body, headers={"Content-Type": "image/jpeg"}).status_code
            except httpx.HTTPError:
                status = -1
            out.append((time.perf_counter() - t0, status))


def run_load(url: str, clients: int, seconds: float, max_requests: int) -> tuple[list[tuple[float, int]], float]:
    body = test_image()
    results: list[tuple[float, int]] = []
    cap = [max_requests]
    start = time.monotonic()
    threads = [
        threading.Thread(target=client_loop, args=(url, body, start + seconds, cap, results)) for _ in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--max-requests", type=int, default=5000)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        checkpoint = Path(tmp) / "bench" / "best.pt"
        save_checkpoint(checkpoint, create_model("mesonet4"))
        proc, url = start_server(checkpoint, args.workers, Path(tmp) / "server.log")
        try:
            while httpx.get(f"{url}/ready", timeout=10).status_code != 200:
                time.sleep(0.2)
            httpx.post(f"{url}/detect", content=test_image(), timeout=120)  # warm-up: first MTCNN call
            rss_start = rss_mb(proc.pid)
            results, elapsed = run_load(url, args.clients, args.seconds, args.max_requests)
            rss_end = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    lat = np.array([r[0] for r in results if r[1] == 200]) * 1000
    errors: dict[int, int] = {}
    for _, status in results:
        if status != 200:
            errors[status] = errors.get(status, 0) + 1
    figures = {
        "clients": args.clients,
        "workers": args.workers,
        "seconds": round(elapsed, 1),
        "requests": len(results),
        "requests_per_s": round(len(results) / elapsed, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p95_ms": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
        "max_ms": round(float(lat.max()), 1) if len(lat) else None,
        "errors": errors,
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
    }
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
