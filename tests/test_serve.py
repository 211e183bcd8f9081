"""dff serve as a client uses it: a real uvicorn on 127.0.0.1, called over HTTP with httpx (issue 14).

A tiny random-init MesoNet checkpoint written here; images with 0, 1 and 2 faces made from matplotlib's portrait; a
test-made video and, when present, a real sample video; bad uploads; the busy, timeout and error paths on a stub
engine (no detection cost). After each server stops, its private upload folder must be empty.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import time

import cv2
import httpx
import numpy as np
import pandas as pd
import pytest
import torch
from synth_videos import face_photo, write_face_video

from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.faces import ExtractionConfig
from deepfakeforensics.inference.predict import NO_FACE, predict_folder
from deepfakeforensics.models import create_model, save_checkpoint
from deepfakeforensics.runs import NO_THRESHOLD, RunInfo
from deepfakeforensics.scoring.thresholds import validation_thresholds, write_thresholds
from deepfakeforensics.serve import (
    Engine,
    ServeConfig,
    create_app,
    read_api_key,
    running_server,
    sniff_kind,
)

KEY = "k3y-for-tests"
CONFIG = ServeConfig(frames=6, detect_size=320, max_upload_mb=3.0, timeout_s=60, queue=4)


def _jpeg(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def _canvas(n_faces: int) -> np.ndarray:
    yy, xx = np.mgrid[0:300, 0:520]
    img = np.stack([xx * 255 // 520, yy * 255 // 300, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    for k in range(n_faces):
        img[70:230, 50 + 260 * k : 210 + 260 * k] = face_photo(160)
    return img


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_media")
    images = {n: _jpeg(_canvas(n)) for n in (0, 1, 2)}
    video = root / "one_face.mp4"
    write_face_video(video, n_faces=1, n_frames=12)
    return {"images": images, "video": video.read_bytes(), "root": root}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("runs") / "tiny" / "best.pt"
    path.parent.mkdir()
    save_checkpoint(path, create_model("mesonet4"))
    return path


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory):

    parent = tmp_path_factory.mktemp("uploads_parent")
    config = ServeConfig(**{**CONFIG.__dict__, "upload_dir": str(parent)})
    engine = Engine.from_weights(checkpoint, config)
    app = create_app(engine, config, api_key=KEY)
    with running_server(app) as url, httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=120) as client:
        deadline = time.monotonic() + 60
        while client.get("/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield client, app, parent
    assert not app.state.upload_dir.exists()  # removed at shutdown


def _empty_uploads(app) -> None:
    deadline = time.monotonic() + 10
    while os.listdir(app.state.upload_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(app.state.upload_dir) == []


def test_health_is_open_every_other_route_needs_the_key(server):
    client, app, _ = server
    bare = httpx.Client(base_url=str(client.base_url), timeout=30)
    assert bare.get("/health").json() == {"status": "ok"}
    for route in ("/ready", "/model", "/metrics", "/docs"):
        r = bare.get(route)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = bare.get("/model", headers={"X-API-Key": KEY + "x"})
    assert r.status_code == 401
    assert bare.get("/model", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    r = bare.post("/detect", content=b"\xff\xd8\xff" + b"0" * 100)
    assert r.status_code == 401
    assert r.headers.get("access-control-allow-origin") is None  # CORS off by default


def test_model_describes_the_threshold_and_its_source(server):
    client, _, _ = server
    info = client.get("/model").json()
    assert info["name"] == "mesonet4" and info["run"] == "tiny" and info["checkpoint"] == "best.pt"
    assert info["threshold"] == 0.5 and info["threshold_source"].startswith(NO_THRESHOLD)
    assert info["aggregation"] == "mean" and info["frames_per_video"] == 6 and info["heatmaps"] is True
    assert info["aligned_crops"] is False  # the run trained on plain crops (or cannot tell): cut them plain
    assert client.get("/ready").json()["ready"] is True


@pytest.mark.parametrize("n_faces", [0, 1, 2])
def test_detect_finds_every_face(server, media, n_faces):
    client, app, _ = server
    r = client.post("/detect", files={"file": ("photo.jpg", media["images"][n_faces], "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["faces"]) == n_faces and body["width"] == 520 and body["height"] == 300
    for face in body["faces"]:
        x0, y0, x1, y1 = face["box"]
        assert 0 <= x0 < x1 <= 520 and 0 <= y0 < y1 <= 300 and 0 <= face["score"] <= 1
        assert face["heatmap_png"] is None  # only when asked
    if n_faces == 2:
        left, right = sorted(face["box"][0] for face in body["faces"])
        assert left < 260 < right  # one face on each half
    if n_faces == 0:
        assert body["score"] is None and body["verdict"] is None and body["error"] == NO_FACE
    else:
        assert body["verdict"] == ("fake" if body["score"] >= 0.5 else "real")
    _empty_uploads(app)


def test_detect_gives_the_score_of_dff_predict_and_a_heatmap(server, media, checkpoint, tmp_path):
    client, _, _ = server
    r = client.post("/detect?heatmap=true", content=media["images"][2], headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200, r.text
    body = r.json()
    (tmp_path / "two.jpg").write_bytes(media["images"][2])
    from deepfakeforensics.models import load_model

    extraction = ExtractionConfig(sampling=SamplingConfig(strategy="uniform", n_frames=6), detect_size=320)
    preds, _ = predict_folder(tmp_path, load_model(checkpoint), extraction_config=extraction, progress=False)
    assert body["score"] == pytest.approx(preds["score"].iat[0], abs=1e-6)
    png = base64.b64decode(body["faces"][0]["heatmap_png"])
    heat = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and heat.shape == (256, 256, 3)


@pytest.mark.parametrize(
    "name, kwargs",
    [("timm/vit_tiny_patch16_224", {"img_size": 64, "depth": 2}), ("mesonet4_lstm", {})],
    ids=["vit-attention-rollout", "temporal-grad-cam"],
)
def test_heatmaps_for_vits_and_temporal_models(media, tmp_path, name, kwargs):
    torch.manual_seed(0)
    path = tmp_path / "run" / "best.pt"
    path.parent.mkdir()
    save_checkpoint(path, create_model(name, **kwargs))

    config = ServeConfig(**{**CONFIG.__dict__, "upload_dir": str(tmp_path)})
    app = create_app(Engine.from_weights(path, config), config)
    with running_server(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert client.get("/model").json()["heatmaps"] is True
        r = client.post("/detect?heatmap=true", content=media["images"][1], headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200, r.text
    png = base64.b64decode(r.json()["faces"][0]["heatmap_png"])
    assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).shape == (256, 256, 3)


def test_batch_scores_each_image(server, media):
    client, app, _ = server
    files = [("files", (f"{n}.jpg", media["images"][n], "image/jpeg")) for n in (1, 2, 0)]
    r = client.post("/detect/batch", files=files)
    assert r.status_code == 200, r.text
    assert [len(x["faces"]) for x in r.json()["results"]] == [1, 2, 0]
    assert [x["name"] for x in r.json()["results"]] == ["1.jpg", "2.jpg", "0.jpg"]
    _empty_uploads(app)


def test_detect_video_gives_tracks_and_file_score(server, media):
    client, app, _ = server
    r = client.post("/detect/video", files={"file": ("clip.mp4", media["video"], "video/mp4")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["tracks"]) == 1 and 0 < body["frames_used"] <= 6 and body["frames_sampled"] == 6
    assert body["aggregation"] == "mean" and 0 <= body["score"] <= 1 and body["verdict"] in ("fake", "real")
    _empty_uploads(app)


def test_detect_video_on_a_real_sample(server, samples_dir):
    client, app, _ = server
    data = (samples_dir / "ffpp/original_sequences/youtube/c23/videos/519.mp4").read_bytes()
    config_limit = app.state.config.max_upload_bytes
    if len(data) > config_limit:
        pytest.skip(f"sample of {len(data)} bytes over the test server's {config_limit}-byte limit")
    r = client.post("/detect/video", content=data, headers={"Content-Type": "video/mp4"})
    assert r.status_code == 200, r.text
    assert r.json()["tracks"] and r.json()["frames_used"] > 0
    _empty_uploads(app)


def test_bad_uploads_are_refused_with_their_reason(server, media):
    client, app, parent = server
    cases = [
        ("/detect", ("empty.jpg", b""), 400, "empty_upload"),
        ("/detect/video", ("notes.mp4", b"these are not video bytes, just text\n" * 20), 415, "unsupported_media_type"),
        ("/detect/video", ("cut.mp4", media["video"][:3000]), 422, "unreadable_video"),
        ("/detect", ("big.jpg", b"\xff\xd8\xff" + bytes(3_200_000)), 413, "too_large"),
        ("/detect", ("clip.mp4", media["video"]), 415, "wrong_media_type"),
        ("/detect/video", ("photo.jpg", media["images"][1]), 415, "wrong_media_type"),
        ("/detect", ("broken.jpg", media["images"][1][:200]), 415, "undecodable_image"),
    ]
    for route, (name, data), status, code in cases:
        r = client.post(route, files={"file": (name, data, "application/octet-stream")})
        assert (r.status_code, r.json()["error"]) == (status, code), (name, r.text)
        assert name in r.json()["message"] or status == 413
    r = client.post("/detect", content=b"\xff\xd8\xff" + bytes(3_300_000), headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 413 and "limit" in r.json()["message"]
    _empty_uploads(app)
    assert os.listdir(parent) == [app.state.upload_dir.name]  # nothing written beside the private folder


def test_a_client_file_name_is_a_label_never_a_path(server, media):
    client, app, parent = server
    name = "../../escaped.jpg"
    r = client.post("/detect", files={"file": (name, media["images"][1], "image/jpeg")})
    assert r.status_code == 200 and r.json()["name"] == name
    r = client.post(f"/detect?name={name}", content=media["images"][1], headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["name"] == name
    assert not (parent / "escaped.jpg").exists() and not (parent.parent / "escaped.jpg").exists()
    assert stat.S_IMODE(app.state.upload_dir.stat().st_mode) == 0o700
    _empty_uploads(app)


def test_errors_are_json_and_metrics_count_requests(server):
    client, _, _ = server
    r = client.get("/no/such/route")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.post("/detect?heatmap=maybe", content=b"x")
    assert r.status_code == 422 and r.json()["error"] == "bad_parameter" and "heatmap" in r.json()["message"]
    text = client.get("/metrics").text
    assert 'dff_requests_total{route="/detect",status="200"}' in text
    assert 'dff_request_seconds_bucket{le="0.01",route="/health"}' in text
    assert 'dff_verdicts_total{verdict="none"}' in text
    assert 'dff_errors_total{code="empty_upload",route="/detect"}' in text


class _SlowEngine:
    """An engine that sleeps (or fails) instead of detecting: the busy, timeout and crash paths without MTCNN."""

    def __init__(self, delay: float, fail: bool = False) -> None:
        self.delay, self.fail = delay, fail

    def warm_up(self) -> None:
        pass

    def describe(self) -> dict:
        return {"name": "slow"}

    def detect_image(self, upload, heatmap):
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("boom in the engine")
        return {"name": upload.name, "faces": [], "verdict": None}


class _StoppableEngine(_SlowEngine):
    """Video work that runs for up to 20 s unless told to stop; images that take `delay` each."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.stopped_after: float | None = None
        self.images_scored = 0

    def detect_image(self, upload, heatmap):
        self.images_scored += 1
        return super().detect_image(upload, heatmap)

    def detect_video(self, upload, stop):
        start = time.monotonic()
        while time.monotonic() - start < 20:
            if stop():
                self.stopped_after = time.monotonic() - start
                raise InterruptedError("stopped")
            time.sleep(0.02)
        return {"name": upload.name}


def test_work_past_the_time_limit_stops_and_frees_its_place(tmp_path):
    engine = _StoppableEngine(0.2)
    app = create_app(engine, ServeConfig(timeout_s=0.5, upload_dir=str(tmp_path)))
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(200)
    with running_server(app) as url:
        started = time.monotonic()
        r = httpx.post(f"{url}/detect/video", content=video, headers={"Content-Type": "video/mp4"}, timeout=30)
        assert r.status_code == 504 and r.json()["error"] == "timeout"
        _empty_uploads(app)  # the video's work stopped: its upload is deleted and its place freed
        assert engine.stopped_after is not None and engine.stopped_after < 2.0
        assert time.monotonic() - started < 5 and app.state.admission.in_progress == 0
        images = [("files", (f"{i}.jpg", b"\xff\xd8\xff" + bytes(100), "image/jpeg")) for i in range(10)]
        r = httpx.post(f"{url}/detect/batch", files=images, timeout=30)
        assert r.status_code == 504
        _empty_uploads(app)
        assert engine.images_scored < 10  # the rest of the batch was not scored once nobody would read it


def _post_image(url: str, out: list, i: int) -> None:
    r = httpx.post(f"{url}/detect", content=b"\xff\xd8\xff" + bytes(100), timeout=30)
    out[i] = r


def test_full_queue_answers_503_with_retry_after(tmp_path):
    config = ServeConfig(workers=1, queue=0, upload_dir=str(tmp_path))
    app = create_app(_SlowEngine(1.0), config)
    with running_server(app) as url:
        out = [None, None]
        first = threading.Thread(target=_post_image, args=(url, out, 0))
        first.start()
        time.sleep(0.4)
        _post_image(url, out, 1)
        first.join()
        assert out[0].status_code == 200
        assert out[1].status_code == 503 and out[1].headers["Retry-After"] and out[1].json()["error"] == "busy"
        assert httpx.get(f"{url}/health").status_code == 200
        _empty_uploads(app)


def test_time_limit_and_a_crashing_engine_answer_json_and_the_server_lives(tmp_path):
    app = create_app(_SlowEngine(1.0), ServeConfig(timeout_s=0.3, upload_dir=str(tmp_path)))
    with running_server(app) as url:
        r = httpx.post(f"{url}/detect", content=b"\xff\xd8\xff" + bytes(100), timeout=30)
        assert r.status_code == 504 and r.json()["error"] == "timeout"
        _empty_uploads(app)  # deleted once the abandoned work ended
    app = create_app(_SlowEngine(0.0, fail=True), ServeConfig(upload_dir=str(tmp_path)))
    with running_server(app, log_level="critical") as url:
        r = httpx.post(f"{url}/detect", content=b"\xff\xd8\xff" + bytes(100), timeout=30)
        assert r.status_code == 500 and r.json()["error"] == "internal"
        assert "Traceback" not in r.text and "boom" not in r.text
        assert httpx.get(f"{url}/health").status_code == 200
        _empty_uploads(app)


def test_sniff_kind_reads_content_not_names():
    assert sniff_kind(b"\xff\xd8\xff\xe0") == ("image", ".jpg")
    assert sniff_kind(b"\x00\x00\x00\x18ftypmp42") == ("video", ".mp4")
    assert sniff_kind(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ("image", ".webp")
    assert sniff_kind(b"RIFF\x00\x00\x00\x00AVI LIST") == ("video", ".avi")
    assert sniff_kind(b"hello world") is None


def test_api_key_from_file_or_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("DFF_API_KEY", raising=False)
    assert read_api_key(ServeConfig()) is None
    monkeypatch.setenv("DFF_API_KEY", "from-env")
    assert read_api_key(ServeConfig()) == "from-env"
    (tmp_path / "key").write_text("from-file\n")
    assert read_api_key(ServeConfig(api_key_file=str(tmp_path / "key"))) == "from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="empty API key"):
        read_api_key(ServeConfig(api_key_file=str(tmp_path / "empty")))


def test_a_missing_upload_folder_is_named_before_the_server_starts(tmp_path):
    with pytest.raises(ValueError, match=f"upload_dir {tmp_path / 'nowhere'}: no such folder"):
        ServeConfig(upload_dir=str(tmp_path / "nowhere"))


def resolve_threshold(weights, **options):
    """The threshold `dff serve` resolves for `weights` with these ServeConfig options (through RunInfo.load)."""
    c = ServeConfig(**options)
    return RunInfo.load(weights, threshold=c.threshold, aggregation=c.aggregation, metrics_csv=c.metrics_csv).threshold


def test_threshold_chosen_on_validation_comes_from_the_evaluation(checkpoint, tmp_path):
    metrics = tmp_path / "metrics.csv"
    pd.DataFrame(
        [
            {"run": "tiny", "level": "frame", "aggregation": "track_max", "threshold_rule": "eer", "threshold": 0.2},
            {"run": "tiny", "level": "file", "aggregation": "track_max", "threshold_rule": "eer", "threshold": 0.37},
            {"run": "other", "level": "file", "aggregation": "mean", "threshold_rule": "eer", "threshold": 0.9},
        ]
    ).to_csv(metrics, index=False)
    t = resolve_threshold(checkpoint, metrics_csv=str(metrics))
    assert (t.value, t.aggregation) == (0.37, "track_max") and "validation" in t.source and "'eer'" in t.source
    assert resolve_threshold(checkpoint, threshold=0.8, metrics_csv=str(metrics)).value == 0.8
    with pytest.raises(ValueError, match="aggregation 'track_max', not 'mean'"):
        resolve_threshold(checkpoint, metrics_csv=str(metrics), aggregation="mean")
    pd.DataFrame([{"run": "x", "level": "file", "threshold": 0.1}]).to_csv(metrics, index=False)
    with pytest.raises(ValueError, match="no file-level row for run 'tiny'"):
        resolve_threshold(checkpoint, metrics_csv=str(metrics))


def test_model_reports_the_threshold_training_chose_on_validation(tmp_path):

    torch.manual_seed(0)
    run = tmp_path / "trained"
    run.mkdir()
    save_checkpoint(run / "best.pt", create_model("mesonet4"))
    scores, labels = np.array([0.1, 0.3, 0.35, 0.8, 0.6, 0.9]), np.array([0, 0, 1, 1, 1, 1])
    write_thresholds(run, validation_thresholds(scores, labels, ["a", "a", "b", "b", "c", "c"], epoch=3))
    # file level, mean per video: a 0.2 (real), b 0.575 and c 0.75 (fake): EER at the lowest fake video
    config = ServeConfig(**{**CONFIG.__dict__, "upload_dir": str(tmp_path)})
    app = create_app(Engine.from_weights(run / "best.pt", config), config)
    with running_server(app) as url:
        info = httpx.get(f"{url}/model", timeout=60).json()
    assert info["threshold"] == pytest.approx(0.575) and info["aggregation"] == "mean"
    assert "chosen on validation" in info["threshold_source"] and "epoch 3" in info["threshold_source"]
    assert "trained/thresholds.json" in info["threshold_source"] and str(tmp_path) not in info["threshold_source"]
    # --threshold wins; another aggregation has its own recorded threshold (vote: the share of frames > 0.5 per video,
    # a 0, b 0.5, c 1: EER at b); a file not named best.pt, or a record from before per-rule thresholds, has none
    assert resolve_threshold(run / "best.pt", threshold=0.8).value == 0.8
    vote = resolve_threshold(run / "best.pt", aggregation="vote")
    assert vote.value == pytest.approx(0.5) and "aggregation 'vote'" in vote.source
    old = json.loads((run / "thresholds.json").read_text())
    del old["file_by_aggregation"]
    (run / "thresholds.json").write_text(json.dumps(old))
    assert resolve_threshold(run / "best.pt", aggregation="track_max").source.startswith(NO_THRESHOLD)
    (run / "last.pt").write_bytes((run / "best.pt").read_bytes())
    assert resolve_threshold(run / "last.pt").source.startswith(NO_THRESHOLD)


def test_dff_serve_defaults_are_the_config_defaults():
    from deepfakeforensics.cli import build_parser
    from deepfakeforensics.commands.options import dataclass_defaults

    args = build_parser("serve").parse_args(["serve", "--weights", "run"])
    assert {k: getattr(args, k) for k in dataclass_defaults(ServeConfig)} == dataclass_defaults(ServeConfig)
    assert args.host == "127.0.0.1"
