"""dff serve against a hostile client (issue 22, items 1-7): decompression bombs, endless and padded bodies, work past
the time limit, CORS preflight with a key, binding beyond loopback without a key, a two-line key file.

Servers listen on 127.0.0.1 only; every load is bounded in bytes and seconds. The engine is a tiny random-init MesoNet
where detection matters (pixel limits, stopping between decoded frames), a stub elsewhere.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time
import zlib
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import pytest
import torch
from synth_videos import face_photo, write_face_video

import deepfakeforensics.faces.stream as stream_module
import deepfakeforensics.serve.app as app_module
from deepfakeforensics.cli import build_parser, main
from deepfakeforensics.data.media_limits import DEFAULT_MAX_PIXELS, MediaTooLarge, check_media_size
from deepfakeforensics.inference.predict import STOPPED, PredictConfig, predict_folder
from deepfakeforensics.models import create_model, save_checkpoint
from deepfakeforensics.serve import Engine, ServeConfig, check_exposure, create_app, read_api_key, running_server

KEY = "k3y-for-limits"
JPEG_HEAD = b"\xff\xd8\xff\xe0"


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG whose header declares `width` x `height` RGB pixels, with a small zlib payload of zero rows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(bytes((3 * width + 1) * 50), 9)  # 50 rows of zeros: a few hundred bytes
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def _face_image() -> np.ndarray:
    img = np.full((300, 520, 3), 120, np.uint8)
    img[70:230, 180:340] = face_photo(160)
    return img


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("runs") / "tiny" / "best.pt"
    path.parent.mkdir()
    save_checkpoint(path, create_model("mesonet4"))
    return path


def _wait_ready(client: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while client.get("/ready").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)


def _wait_idle(app, seconds: float = 10) -> float:
    """Seconds until the server holds no request and no upload file (AssertionError after `seconds`)."""
    start = time.monotonic()
    while app.state.admission.in_progress or os.listdir(app.state.upload_dir):
        assert time.monotonic() - start < seconds, "the server still holds the request"
        time.sleep(0.02)
    return time.monotonic() - start


class _StubEngine:
    """Answers at once without detecting: the transport paths (limits, CORS, keys) without MTCNN."""

    def warm_up(self) -> None:
        pass

    def describe(self) -> dict:
        return {"name": "stub"}

    def detect_image(self, upload, heatmap):
        return {"name": upload.name, "faces": [], "verdict": None}


# 1. decompression bombs --------------------------------------------------------------------------------------------


def test_media_size_is_read_from_the_header(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png())
    assert bomb.stat().st_size < 4000
    with pytest.raises(MediaTooLarge, match="over the limit of 50 megapixels") as caught:
        check_media_size(bomb, "image")
    assert caught.value.pixels == 20000 * 20000 and "--max-pixels" in caught.value.reason
    big = tmp_path / "big.png"
    big.write_bytes(bomb_png(9000, 9000))  # under PIL's own bomb limit: our limit names the size
    with pytest.raises(MediaTooLarge, match="9000x9000 pixels per frame"):
        check_media_size(big, "image")
    assert check_media_size(big, "image", max_pixels=100_000_000).pixels == 81_000_000
    video = tmp_path / "clip.mp4"
    write_face_video(video, n_frames=4, height=240, width=320)
    size = check_media_size(video, "video")
    assert (size.width, size.height, size.n_frames) == (320, 240, 4)
    with pytest.raises(MediaTooLarge, match="320x240 pixels per frame"):
        check_media_size(video, "video", max_pixels=320 * 240 - 1)
    assert DEFAULT_MAX_PIXELS == ServeConfig().max_pixels == PredictConfig().max_pixels == 50_000_000


@pytest.fixture(scope="module")
def small_limit_server(checkpoint, tmp_path_factory):
    """A real engine with a 0.2-megapixel limit: 520x300 images pass, 640x360 videos and the bomb do not."""
    config = ServeConfig(frames=4, detect_size=320, max_pixels=200_000, upload_dir=str(tmp_path_factory.mktemp("up")))
    app = create_app(Engine.from_weights(checkpoint, config), config)
    with running_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        _wait_ready(client)
        yield client, app


def test_a_decompression_bomb_is_refused_before_decoding(small_limit_server, tmp_path):
    client, app = small_limit_server
    start = time.monotonic()
    r = client.post("/detect", files={"file": ("bomb.png", bomb_png(), "image/png")})
    assert (r.status_code, r.json()["error"]) == (422, "too_many_pixels"), r.text
    assert "400000000 pixels" in r.json()["message"] and "0.2 megapixels" in r.json()["message"]
    assert "bomb.png" in r.json()["message"] and time.monotonic() - start < 5
    r = client.post(
        "/detect/batch", files=[("files", ("ok.jpg", _jpeg(_face_image()))), ("files", ("b.png", bomb_png()))]
    )
    assert r.status_code == 200, r.text
    ok, bomb = r.json()["results"]
    assert "faces" in ok and (bomb["status"], bomb["error"]) == (422, "too_many_pixels")
    video = tmp_path / "clip.mp4"
    write_face_video(video, n_frames=4)  # 640x360 = 230 400 pixels a frame
    r = client.post("/detect/video", content=video.read_bytes(), headers={"Content-Type": "video/mp4"})
    assert (r.status_code, r.json()["error"]) == (422, "too_many_pixels"), r.text
    assert "640x360 pixels per frame" in r.json()["message"] and "--max-pixels 200000" in r.json()["message"]
    _wait_idle(app)


def test_dff_predict_reports_a_bomb_as_that_files_failure_and_goes_on(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(bomb_png())
    (folder / "face.jpg").write_bytes(_jpeg(_face_image()))
    write_face_video(folder / "clip.mp4", n_frames=12)
    torch.manual_seed(0)
    preds, failures = predict_folder(folder, create_model("mesonet4"), PredictConfig(device="cpu"), progress=False)
    rows = preds.set_index("path")
    assert "over the limit of 50 megapixels" in rows.loc["bomb.png", "error"]
    assert rows.loc["face.jpg", "error"] == "" and "pixels" not in rows.loc["clip.mp4", "error"]  # scored
    assert "bomb.png" in dict(failures) and "face.jpg" not in dict(failures)
    preds, _ = predict_folder(folder, create_model("mesonet4"), device="cpu", max_pixels=200_000, progress=False)
    assert "640x360 pixels per frame" in preds.set_index("path").loc["clip.mp4", "error"]
    args = build_parser("predict").parse_args(["predict", "x", "--weights", "w", "--max-pixels", "1000"])
    assert args.max_pixels == 1000


# 2. endless bodies ---------------------------------------------------------------------------------------------------


def _endless_post(url: str, route: str, headers: dict[str, str], seconds: float) -> dict:
    """POST a body that never ends (chunked, or longer than declared) for up to `seconds`, reading the answer as it
    comes; returns the answer's head, when it came, when the server closed, and the bytes it let us send."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    sock = socket.create_connection((host, port), timeout=5)
    head = f"POST {route} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    sock.sendall((head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    sock.setblocking(False)
    piece = JPEG_HEAD + bytes(64 * 1024 - len(JPEG_HEAD))
    if headers.get("Transfer-Encoding") == "chunked":
        piece = b"%x\r\n" % len(piece) + piece + b"\r\n"
    out = {"answer": b"", "answered_s": None, "closed_s": None, "sent": 0}
    pending, start = piece, time.monotonic()
    try:
        while time.monotonic() - start < seconds and out["closed_s"] is None:
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 0.05)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    out["closed_s"] = time.monotonic() - start
                out["answer"] += data
                if out["answered_s"] is None and b"\r\n\r\n" in out["answer"]:
                    out["answered_s"] = time.monotonic() - start
            if writable:
                try:
                    n = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    pending = b""  # the server stopped reading: keep listening for its close
                    continue
                out["sent"] += n
                pending = pending[n:] or piece
    finally:
        sock.close()
    return out


@pytest.mark.parametrize("framing", ["chunked", "declared"])
def test_an_endless_body_gets_413_at_once_and_is_not_read(tmp_path, framing):
    config = ServeConfig(max_upload_mb=1, timeout_s=8, workers=1, queue=1, upload_dir=str(tmp_path))
    app = create_app(_StubEngine(), config)
    length = {"Transfer-Encoding": "chunked"} if framing == "chunked" else {"Content-Length": str(80 * 2**20)}
    with running_server(app) as url:
        results: list = [None, None]

        def post(i: int) -> None:
            results[i] = _endless_post(url, "/detect", {"Content-Type": "image/jpeg", **length}, seconds=6)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for out in results:
            head = out["answer"].split(b"\r\n\r\n")[0].lower()
            assert head.startswith(b"http/1.1 413"), out["answer"][:300]
            assert b"connection: close" in head
            assert out["answered_s"] < 3 and out["closed_s"] is not None and out["closed_s"] < 4
            assert out["sent"] < 24 * 2**20  # the socket buffers (about 4 MB here): the server stopped reading
        _wait_idle(app, 2)
        r = httpx.post(f"{url}/detect", content=JPEG_HEAD + bytes(100), timeout=10)  # the queue is free
        assert r.status_code == 200, r.text


# 3. multipart framing counts -----------------------------------------------------------------------------------------


def test_multipart_framing_counts_against_the_limit(tmp_path):
    boundary = "b0undary"
    empty_part = f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n\r\n'.encode()
    file_part = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + JPEG_HEAD
        + bytes(1000)
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def body(n_empty: int):
        for _ in range(n_empty // 1000):
            yield empty_part * 1000
        yield file_part

    assert len(empty_part) * 130_000 > 6 * 2**20  # about 7 MB of framing, three times the limit
    app = create_app(_StubEngine(), ServeConfig(max_upload_mb=2, upload_dir=str(tmp_path)))
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    with running_server(app) as url:
        r = httpx.post(f"{url}/detect", content=body(130_000), headers=headers, timeout=30)  # chunked: no length
        assert (r.status_code, r.json()["error"]) == (413, "too_large"), r.text
        assert "multipart framing included" in r.json()["message"]
        r = httpx.post(f"{url}/detect", content=body(10_000), headers=headers, timeout=30)  # 0.5 MB: under it
        assert r.status_code == 200, r.text
        _wait_idle(app)


# 4. a slow decode stops between frames -------------------------------------------------------------------------------


def test_a_slow_decode_stops_between_frames_after_the_time_limit(checkpoint, tmp_path, monkeypatch):
    decoded: list[float] = []
    real_iter_frames = stream_module.iter_frames

    def slow_frames(*args, **kwargs):
        for item in real_iter_frames(*args, **kwargs):
            time.sleep(0.2)  # a frame of a huge or slow-to-decode video
            decoded.append(time.monotonic())
            yield item

    monkeypatch.setattr(stream_module, "iter_frames", slow_frames)
    config = ServeConfig(frames=32, detect_size=320, timeout_s=1.0, upload_dir=str(tmp_path))
    engine = Engine.from_weights(checkpoint, config)
    app = create_app(engine, config)
    video = tmp_path / "clip.mp4"
    write_face_video(video, n_frames=40, height=240, width=320)
    with running_server(app) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            _wait_ready(client)
            r = client.post("/detect/video", content=video.read_bytes(), headers={"Content-Type": "video/mp4"})
        answered = time.monotonic()
        assert (r.status_code, r.json()["error"]) == (504, "timeout"), r.text
        assert _wait_idle(app, 10) < 1.0  # the worker stopped at the next decoded frame
    after = [t for t in decoded if t > answered]
    assert len(after) <= 2 and len(decoded) < 20, (len(decoded), len(after))


def test_predict_file_stops_between_decoded_frames(tmp_path, monkeypatch):
    from deepfakeforensics.data.video import SamplingConfig
    from deepfakeforensics.faces import ExtractionConfig
    from deepfakeforensics.inference.predict import StreamScorer, predict_file

    video = tmp_path / "clip.mp4"
    write_face_video(video, n_frames=20, height=240, width=320)
    decoded = []
    real_iter_frames = stream_module.iter_frames

    def counted_frames(*args, **kwargs):
        for item in real_iter_frames(*args, **kwargs):
            decoded.append(item[0])
            yield item

    monkeypatch.setattr(stream_module, "iter_frames", counted_frames)
    model = create_model("mesonet4").eval()
    extraction = ExtractionConfig(sampling=SamplingConfig(n_frames=20), detect_size=320)
    finder = extraction.make_finder()
    row = predict_file(video, "clip.mp4", StreamScorer(model), PredictConfig(), extraction, finder, stop=lambda: True)
    assert row["error"] == STOPPED and len(decoded) == 1  # not the 16 frames of MTCNN's first batch
    decoded.clear()
    row = predict_file(video, "clip.mp4", StreamScorer(model), PredictConfig(), extraction, finder, stop=lambda: False)
    assert row["error"] == "" and len(decoded) == 20


# 5. CORS preflight with a key ----------------------------------------------------------------------------------------


def test_cors_preflight_passes_while_real_requests_need_the_key(tmp_path):
    origin = "https://ui.example"
    app = create_app(_StubEngine(), ServeConfig(cors_origins=(origin,), upload_dir=str(tmp_path)), api_key=KEY)
    with running_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        preflight = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type",
        }
        r = client.options("/detect", headers=preflight)
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == origin
        assert "x-api-key" in r.headers["access-control-allow-headers"].lower()
        r = client.options("/detect", headers={**preflight, "Origin": "https://evil.example"})
        assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
        r = client.post("/detect", content=JPEG_HEAD + bytes(100), headers={"Origin": origin})
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == origin  # readable by the page
        r = client.post("/detect", content=JPEG_HEAD + bytes(100), headers={"Origin": origin, "X-API-Key": KEY})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin
        assert client.get("/model", headers={"Origin": origin}).status_code == 401


# 6. binding beyond loopback needs a key ------------------------------------------------------------------------------


def test_binding_beyond_loopback_without_a_key_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DFF_API_KEY", raising=False)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        check_exposure(ServeConfig(host=host), None)
    for host in ("0.0.0.0", "::", "192.168.1.20", "myhost.example"):
        with pytest.raises(ValueError, match=f"refusing to bind {host} without an API key.*--allow-no-key"):
            check_exposure(ServeConfig(host=host), None)
        check_exposure(ServeConfig(host=host), "a-key")
        check_exposure(ServeConfig(host=host, allow_no_key=True), None)

    def no_binding(*args, **kwargs):
        raise AssertionError("the server would have been started")

    monkeypatch.setattr(app_module.uvicorn, "run", no_binding)
    with pytest.raises(ValueError, match="refusing to bind 0.0.0.0"):
        app_module.serve(_StubEngine(), ServeConfig(host="0.0.0.0"))
    missing = str(tmp_path / "no-such-run")
    assert main(["serve", "--weights", missing, "--host", "0.0.0.0"]) != 0
    err = capsys.readouterr().err
    assert "refusing to bind 0.0.0.0" in err and "--allow-no-key" in err and "no-such-run" not in err
    assert main(["serve", "--weights", missing, "--host", "0.0.0.0", "--allow-no-key"]) != 0
    err = capsys.readouterr().err
    assert "refusing" not in err and "no-such-run" in err  # past the check, stopped by the missing weights


# 7. the API key file -------------------------------------------------------------------------------------------------


def test_a_key_file_with_two_lines_is_refused_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DFF_API_KEY", raising=False)
    good = tmp_path / "key.txt"
    good.write_text("\n  the-key \r\n\n")
    assert read_api_key(ServeConfig(api_key_file=str(good))) == "the-key"
    two = tmp_path / "two.txt"
    two.write_text("first-key\nsecond-key\n")
    with pytest.raises(ValueError, match=f"{two}: 2 non-empty lines"):
        read_api_key(ServeConfig(api_key_file=str(two)))
    spaced = tmp_path / "spaced.txt"
    spaced.write_text("my key\n")
    with pytest.raises(ValueError, match="spaces or control characters"):
        read_api_key(ServeConfig(api_key_file=str(spaced)))
    monkeypatch.setenv("DFF_API_KEY", "a\nb")
    with pytest.raises(ValueError, match=r"\$DFF_API_KEY: 2 non-empty lines"):
        read_api_key(ServeConfig())
    monkeypatch.delenv("DFF_API_KEY")
    assert main(["serve", "--weights", str(tmp_path / "run"), "--api-key-file", str(two)]) != 0
    assert f"{two}: 2 non-empty lines" in capsys.readouterr().err
