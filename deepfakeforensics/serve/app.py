"""The FastAPI application of ``dff serve``: routes, API key, CORS, error bodies, and a server runner.

Every route but ``/health`` requires the API key when one is set (header ``X-API-Key: KEY`` or ``Authorization:
Bearer KEY``, compared in constant time); a browser's CORS preflight is answered before the key is asked for (the CORS
middleware is outermost), the real request still needs it. `serve` refuses to bind beyond loopback without a key
unless ``--allow-no-key``. Uploads are received by `UploadReceiver` (private 0600 files, size limit,
typed by content) under an `Admission` (bounded concurrency, 503 + Retry-After) and scored in a worker thread with a
time limit (`run_with_deadline`); their files are deleted when the work ends, whatever happened. Every error is JSON
``{"error": code, "message": what was wrong}``, never a traceback.

Example:
    >>> engine = Engine.from_weights("checkpoints/meso", ServeConfig())  # doctest: +SKIP
    >>> with running_server(create_app(engine, ServeConfig())) as url:  # doctest: +SKIP
    ...     httpx.get(f"{url}/model").json()["threshold"]
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from deepfakeforensics.serve.config import API_KEY_ENV, ServeConfig
from deepfakeforensics.serve.engine import Engine
from deepfakeforensics.serve.limits import Admission, Busy, Job, run_with_deadline
from deepfakeforensics.serve.metrics import ROUTES, ServerMetrics
from deepfakeforensics.serve.uploads import Upload, UploadError, UploadReceiver

log = logging.getLogger(__name__)

OPEN_ROUTES = frozenset({"/health"})
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_MULTIPART = {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}
_UPLOAD_DOC = {"requestBody": {"content": {"application/octet-stream": _BINARY, "multipart/form-data": _MULTIPART}}}


def _checked_key(key: str, where: str) -> str:
    """`key` when it is one line of printable characters without spaces; else ValueError naming `where`."""
    lines = [line for line in key.splitlines() if line.strip()]
    if len(lines) > 1:
        raise ValueError(
            f"{where}: {len(lines)} non-empty lines; an API key file holds the key alone on one line "
            "(nothing else: a key with a line break could never be sent)"
        )
    if any(c.isspace() or not c.isprintable() for c in key):
        raise ValueError(f"{where}: the API key contains spaces or control characters (it could not be sent)")
    return key


def read_api_key(config: ServeConfig) -> str | None:
    """The API key: `config.api_key_file` (the key alone on one line; surrounding blank space is ignored, a second
    non-empty line is refused, naming the file), else ``$DFF_API_KEY``, else None (no key required)."""
    if config.api_key_file:
        try:
            text = Path(config.api_key_file).read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            raise ValueError(f"{config.api_key_file}: the API key file is not UTF-8 text") from None
        if not text:
            raise ValueError(f"{config.api_key_file}: empty API key file")
        return _checked_key(text, config.api_key_file)
    key = os.environ.get(API_KEY_ENV, "").strip()
    return _checked_key(key, f"${API_KEY_ENV}") if key else None


def is_loopback(host: str) -> bool:
    """Whether binding `host` listens on this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def check_exposure(config: ServeConfig, api_key: str | None) -> None:
    """Refuse (ValueError) to listen beyond loopback without an API key, unless `config.allow_no_key`."""
    if api_key or config.allow_no_key or is_loopback(config.host):
        return
    raise ValueError(
        f"refusing to bind {config.host} without an API key: anyone who can reach it could use the server. Give "
        f"--api-key-file FILE (or set ${API_KEY_ENV}), bind 127.0.0.1, or pass --allow-no-key to accept it"
    )


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


class ApiKeyMiddleware:
    """Refuses (401) every request but the open routes that lacks the key; constant-time comparison."""

    def __init__(self, app: Callable, key: str) -> None:
        self.app = app
        self.key = key.encode("utf-8")

    def _given(self, scope: dict[str, Any]) -> bytes:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-api-key", b"")
        auth = headers.get(b"authorization", b"")
        if not given and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        return given

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_ROUTES:
            await self.app(scope, receive, send)
            return
        if not hmac.compare_digest(self._given(scope), self.key):
            body = error_body("unauthorized", "missing or wrong API key (send X-API-Key or Authorization: Bearer)")
            await JSONResponse(body, 401, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        await self.app(scope, receive, send)


class MetricsMiddleware:
    """Counts every HTTP request (route, status, latency) in `metrics`."""

    def __init__(self, app: Callable, metrics: ServerMetrics) -> None:
        self.wrapped = metrics.middleware(app)

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        await self.wrapped(scope, receive, send)


class _Body:
    """The request body, chunk by chunk, with a deadline (408 after it); `done` once it was read to its end."""

    def __init__(self, receive: Callable, deadline: float) -> None:
        self.receive = receive
        self.deadline = deadline
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.done:
            try:
                message = await asyncio.wait_for(self.receive(), max(0.0, self.deadline - time.monotonic()))
            except TimeoutError:
                raise UploadError(408, "upload_timeout", "the upload did not arrive within the time limit") from None
            if message["type"] == "http.disconnect":
                self.done = True
                raise UploadError(400, "disconnected", "the client disconnected during the upload")
            self.done = not message.get("more_body", False)
            if message.get("body"):
                yield message["body"]


def _check_length(request: Request, config: ServeConfig) -> None:
    """413 at once, before reading, when the declared length is over the limit (multipart framing counts too)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > config.max_upload_bytes:
        raise UploadError(
            413, "too_large", f"upload of {int(length)} bytes over the limit ({config.max_upload_mb:g} MB)"
        )


def _require_kind(uploads: list[Upload], kind: str, route: str) -> None:
    """415 when an upload is a video on an image route, or the reverse."""
    for u in uploads:
        if u.kind != kind:
            where = "/detect/video" if u.kind == "video" else "/detect or /detect/batch"
            raise UploadError(
                415,
                "wrong_media_type",
                f"{u.name!r} is a{'n' * (u.kind == 'image')} {u.kind}: {route} takes {kind}s (send it to {where})",
            )


async def run_upload(
    request: Request, kind: str, max_files: int, work: Callable[[list[Upload], Callable[[], bool]], Any]
) -> Any:
    """Admit a request, receive its files, run ``work(uploads, stopped)`` in a worker with the time limit (`stopped`
    turns True when it runs out); files always deleted."""
    state = request.app.state
    config: ServeConfig = state.config
    body = _Body(request.receive, time.monotonic() + config.timeout_s)
    receiver = UploadReceiver(state.upload_dir, config.max_upload_bytes, max_files)
    job = None
    try:
        job = Job(state.admission, receiver.delete)
        _check_length(request, config)
        ctype, name = request.headers.get("content-type", ""), request.query_params.get("name")
        uploads = await receiver.receive(ctype, body.chunks(), name)
        _require_kind(uploads, kind, request.url.path)
        return await run_with_deadline(state.executor, job, config.timeout_s, work, uploads, job.stopped)
    except UploadError as e:
        # refused before its body ended (too large, busy, too slow): answer at once with Connection: close and read
        # no more of it; the server closes the connection after the answer (an endless body cannot hold it)
        e.close_connection = not body.done
        raise
    finally:
        if job is None:
            receiver.delete()
        elif not job.handed_off:
            job.release()


def _error_response(
    request: Request, status: int, code: str, message: str, headers: dict | None = None
) -> JSONResponse:
    route = request.url.path
    request.app.state.metrics.errors.labels(route if route in ROUTES else "other", code).inc()
    return JSONResponse(error_body(code, message), status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error", "message"}`` JSON; an unexpected one is logged here, never sent to the client."""

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else {}
        if exc.status == 413 or getattr(exc, "close_connection", False):
            headers["Connection"] = "close"  # the rest of the body is never read
        return _error_response(request, exc.status, exc.code, str(exc), headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return _error_response(request, exc.status_code, code, f"{request.method} {request.url.path}: {exc.detail}")

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _error_response(request, 422, "bad_parameter", problems)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        message = f"internal error ({type(exc).__name__}) while handling the request; the server log has the details"
        return _error_response(request, 500, "internal", message)


def _routes(app: FastAPI) -> None:
    """The HTTP routes (OpenAPI docs at /docs)."""
    state = app.state

    @app.get("/health", summary="The server is up (no key needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="The model is loaded and warmed up")
    async def ready() -> JSONResponse:
        if not state.ready.is_set():
            return JSONResponse(
                error_body("not_ready", "the model is still loading"), 503, headers={"Retry-After": "2"}
            )
        return JSONResponse({"ready": True, "model": state.engine.describe()["name"]})

    @app.get("/model", summary="Model name, checkpoint, threshold and where it came from")
    async def model() -> dict[str, Any]:
        return state.engine.describe()

    @app.post(
        "/detect",
        summary="Every face of one image: score, box, optional Grad-CAM heatmap (PNG base64)",
        openapi_extra=_UPLOAD_DOC,
    )
    async def detect(request: Request, heatmap: bool = False) -> dict[str, Any]:
        result = await run_upload(request, "image", 1, lambda ups, _: state.engine.detect_image(ups[0], heatmap))
        state.metrics.count_verdict(result["verdict"])
        return result

    @app.post(
        "/detect/video",
        summary="One video: per-track and file scores, frames used, aggregation rule",
        openapi_extra=_UPLOAD_DOC,
    )
    async def detect_video(request: Request) -> dict[str, Any]:
        result = await run_upload(request, "video", 1, lambda ups, stopped: state.engine.detect_video(ups[0], stopped))
        state.metrics.count_verdict(result["verdict"])
        return result

    @app.post("/detect/batch", summary="Several images (multipart, one part per file)", openapi_extra=_UPLOAD_DOC)
    async def detect_batch(request: Request, heatmap: bool = False) -> dict[str, Any]:
        results = await run_upload(
            request,
            "image",
            state.config.max_batch_files,
            lambda ups, stopped: _detect_each(state.engine, ups, heatmap, stopped),
        )
        for r in results:
            state.metrics.count_verdict(r.get("verdict"))
        return {"results": results}

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        body, content_type = state.metrics.exposition()
        return Response(body, media_type=content_type)


def _detect_each(
    engine: Engine, uploads: list[Upload], heatmap: bool, stopped: Callable[[], bool]
) -> list[dict[str, Any]]:
    """One result per image; an image that cannot be decoded gets its error in place, the others are still scored.
    Once `stopped` (the time limit ran out: nobody will read the answer), the remaining images are not scored."""
    results = []
    for upload in uploads:
        if stopped():
            break
        try:
            results.append(engine.detect_image(upload, heatmap))
        except UploadError as e:
            results.append({"name": upload.name, "kind": upload.kind, "status": e.status, **error_body(e.code, str(e))})
    return results


def create_app(engine: Engine, config: ServeConfig, api_key: str | None = None) -> FastAPI:
    """The application serving `engine`: a private upload folder, bounded workers, key and CORS as configured.

    ``app.state.upload_dir`` is the private folder (mode 0700) the uploads pass through; it is removed at shutdown.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warm = asyncio.create_task(asyncio.to_thread(_warm_up, app))
        try:
            yield
        finally:
            warm.cancel()
            app.state.executor.shutdown(wait=False, cancel_futures=True)
            shutil.rmtree(app.state.upload_dir, ignore_errors=True)

    app = FastAPI(
        title="deepfakeforensics", summary="Deepfake detection: P(fake) per face, image and video", lifespan=lifespan
    )
    app.state.config = config
    app.state.engine = engine
    app.state.metrics = ServerMetrics()
    app.state.admission = Admission(config.workers + config.queue)
    app.state.executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="dff-detect")
    app.state.upload_dir = Path(tempfile.mkdtemp(prefix="dff-serve-", dir=config.upload_dir))  # mode 0700
    app.state.ready = threading.Event()
    _install_error_handlers(app)
    _routes(app)
    # the last added is outermost: metrics, then CORS (a preflight is answered before the key is asked for, and a
    # 401 carries the CORS headers so that a browser can read it), then the key
    if api_key:
        app.add_middleware(ApiKeyMiddleware, key=api_key)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def _warm_up(app: FastAPI) -> None:
    try:
        app.state.engine.warm_up()
    finally:
        app.state.ready.set()


@contextlib.contextmanager
def running_server(app: FastAPI, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> Iterator[str]:
    """Run `app` with uvicorn in a background thread; yields its base URL (port 0: a free port) and stops it after."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on"))
    thread = threading.Thread(target=server.run, name="dff-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start (see its log)")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{bound[0]}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def serve(engine: Engine, config: ServeConfig, api_key: str | None = None) -> None:
    """Run the server in the foreground until Ctrl-C (what ``dff serve`` does); refuses a non-loopback address
    without a key (`check_exposure`)."""
    check_exposure(config, api_key)
    uvicorn.run(create_app(engine, config, api_key), host=config.host, port=config.port, log_level="info")
