"""`ServeConfig`: every option of ``dff serve`` (one source for the command line, the app and the tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from deepfakeforensics.data.media_limits import DEFAULT_MAX_PIXELS
from deepfakeforensics.scoring.aggregation import AGGREGATIONS, Aggregation

#: Environment variable holding the API key when no key file is given.
API_KEY_ENV = "DFF_API_KEY"


@dataclass(frozen=True)
class ServeConfig:
    """How ``dff serve`` listens, what it accepts and how much work it takes on at once.

    Example:
        >>> ServeConfig(max_upload_mb=10).max_upload_bytes
        10485760
    """

    host: str = field(
        default="127.0.0.1",
        metadata={"help": "address to bind (0.0.0.0 exposes it to the network: needs an API key or --allow-no-key)"},
    )
    port: int = field(default=8000, metadata={"help": "TCP port"})
    api_key_file: str | None = field(
        default=None,
        metadata={"help": f"file holding the API key every route but /health requires (else ${API_KEY_ENV})"},
    )
    allow_no_key: bool = field(
        default=False,
        metadata={"help": "allow binding an address other than loopback (e.g. 0.0.0.0) without an API key"},
    )
    cors_origins: tuple[str, ...] = field(
        default=(), metadata={"help": "origins allowed to call from a browser (CORS); none: CORS off"}
    )
    max_upload_mb: float = field(default=100.0, metadata={"help": "largest request body in MB (413 above it)"})
    max_pixels: int = field(
        default=DEFAULT_MAX_PIXELS,
        metadata={"help": "an upload whose header declares frames over this many pixels is refused, undecoded (422)"},
    )
    max_batch_files: int = field(default=16, metadata={"help": "most images in one /detect/batch request"})
    timeout_s: float = field(
        default=120.0, metadata={"help": "time limit of one request's decoding and scoring, in seconds (504 after)"}
    )
    workers: int = field(default=1, metadata={"help": "detections run at once (each holds its own model copy)"})
    queue: int = field(default=8, metadata={"help": "requests that may wait for a worker (503 + Retry-After beyond)"})
    frames: int | None = field(
        default=None,
        metadata={"help": "frames sampled uniformly per uploaded video (default: the clips a run trained on, else 32)"},
    )
    detect_size: int = field(
        default=800, metadata={"help": "long side (pixels) of the frames MTCNN sees; 0: full resolution"}
    )
    threshold: float | None = field(
        default=None, metadata={"help": "decision threshold (default: the run's validation threshold, else 0.5)"}
    )
    metrics_csv: str | None = field(
        default=None,
        metadata={"help": "metrics.csv of dff evaluate: its file-level threshold chosen on validation is used"},
    )
    aggregation: Aggregation | None = field(
        default=None,
        metadata={"help": "file score rule: mean, track_max, median, vote (default: the evaluation's, else mean)"},
    )
    batch_size: int = field(default=32, metadata={"help": "crops (or windows) per forward pass"})
    device: str = field(default="auto", metadata={"help": "torch device: auto (a GPU when there is one), cpu, cuda..."})
    upload_dir: str | None = field(
        default=None, metadata={"help": "parent of the server's private upload folder (default: the system's temp)"}
    )

    def __post_init__(self) -> None:
        if self.aggregation is not None and self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        frames = 1 if self.frames is None else self.frames
        if min(self.workers, self.max_batch_files, frames, self.batch_size) < 1 or self.queue < 0:
            raise ValueError("workers, max_batch_files, frames and batch_size must be >= 1, queue >= 0")
        if self.max_upload_mb <= 0 or self.timeout_s <= 0 or self.max_pixels <= 0:
            raise ValueError("max_upload_mb, timeout_s and max_pixels must be > 0")
        if self.upload_dir is not None and not os.path.isdir(self.upload_dir):
            raise ValueError(f"upload_dir {self.upload_dir}: no such folder (the server makes its upload folder in it)")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)
