"""``dff serve``: a detection API over HTTP (FastAPI + uvicorn) on the code path of ``dff predict``.

`ServeConfig` holds every option; `Engine` loads nothing itself: it takes a `runs.RunInfo` (``Engine.from_weights``
loads one with the server's threshold options) and scores uploads with `deepfakeforensics.inference.predict`'s functions;
`create_app` builds the application and `running_server` runs it in a thread (tests, notebooks, the benchmark),
`serve` in the foreground (after `check_exposure`: no address beyond loopback without a key).
"""

from deepfakeforensics.serve.app import check_exposure, create_app, read_api_key, running_server, serve
from deepfakeforensics.serve.config import API_KEY_ENV, ServeConfig
from deepfakeforensics.serve.engine import Engine
from deepfakeforensics.serve.uploads import Upload, UploadError, sniff_kind

__all__ = [
    "API_KEY_ENV",
    "Engine",
    "ServeConfig",
    "Upload",
    "UploadError",
    "check_exposure",
    "create_app",
    "read_api_key",
    "running_server",
    "serve",
    "sniff_kind",
]
