"""Issue 22, items 8-18: files the toolkit reads back, odd names and folders, the DeeperForensics differences.

Each test reproduces one hostile input (a hand-edited sidecar, a non-UTF-8 name, a FIFO ...) and checks the toolkit
refuses it naming the file and the field, or reports it and goes on; never a traceback, a crash or a wrong verdict.
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch

from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.errors import is_expected
from deepfakeforensics.models import create_model, save_checkpoint
from deepfakeforensics.run_records import run_window_config, training_crops_aligned
from deepfakeforensics.runs import resolve_threshold
from deepfakeforensics.scoring.thresholds import (
    ThresholdsError,
    read_thresholds,
    recorded_threshold,
    validation_thresholds,
    write_thresholds,
)
from deepfakeforensics.training.config import DataConfig, RunConfigError, TrainConfig, read_run_config

# --- 8. thresholds.json ------------------------------------------------------------------------------------------


@pytest.fixture()
def thresholds_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"")  # read_thresholds needs only the file's name
    scores, labels = np.array([0.1, 0.3, 0.35, 0.8, 0.6, 0.9]), np.array([0, 0, 1, 1, 1, 1])
    write_thresholds(run, validation_thresholds(scores, labels, ["a", "a", "b", "b", "c", "c"], epoch=3))
    return run


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "5", "-3", "true", '"0.5"', "[0.5]"])
def test_thresholds_json_with_a_bad_threshold_is_refused_naming_file_and_field(thresholds_run, bad):
    file = thresholds_run / "thresholds.json"
    text = file.read_text()
    record = json.loads(text)
    good = record["file_by_aggregation"]["mean"]["threshold"]
    record["file_by_aggregation"]["mean"]["threshold"] = "@@"
    file.write_text(json.dumps(record).replace('"@@"', bad))
    with pytest.raises(ThresholdsError, match=r"thresholds\.json: field 'file_by_aggregation\.mean\.threshold'") as e:
        recorded_threshold(thresholds_run / "best.pt")
    assert is_expected(e.value)  # dff prints one line, exit 1: never labels with a NaN threshold
    with pytest.raises(ThresholdsError):
        resolve_threshold("run", thresholds_run / "best.pt")
    assert 0 < good < 1


@pytest.mark.parametrize("content", [b'{"epoch": 3, "levels": {"fi', b"", b'{"split": "\xff\xfe"}', b"[1, 2]"])
def test_truncated_or_non_utf8_thresholds_json_names_the_file(thresholds_run, content):
    (thresholds_run / "thresholds.json").write_bytes(content)
    with pytest.raises(ThresholdsError, match=str(thresholds_run / "thresholds.json")):
        read_thresholds(thresholds_run)


def test_thresholds_json_with_mistyped_fields_is_refused(thresholds_run):
    file = thresholds_run / "thresholds.json"
    record = json.loads(file.read_text())
    for field, value in [("epoch", "3"), ("levels", [1]), ("rule", 1), ("file_by_aggregation", {"mean": 0.5})]:
        file.write_text(json.dumps({**record, field: value}))
        with pytest.raises(ThresholdsError, match=f"field '{field}"):
            read_thresholds(thresholds_run)
    file.write_text(json.dumps(record))
    assert recorded_threshold(thresholds_run)[0] == record["file_by_aggregation"]["mean"]["threshold"]


@pytest.mark.parametrize("given", [float("nan"), float("inf"), 5.0, -3.0])
def test_given_threshold_must_be_a_probability(given):
    with pytest.raises(ValueError, match="--threshold"):
        resolve_threshold("run", None, threshold=given)


# --- 9. run config.json ------------------------------------------------------------------------------------------


def _config(run, data: DataConfig | None = None, **train):
    data = data or DataConfig(faces=None, window=WindowConfig(window=4, stride=2))
    saved = {"train": TrainConfig(**train).to_dict(), "data": data.to_dict()}
    (run / "config.json").write_text(json.dumps(saved))
    return saved


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda s: s["data"]["window"].update(window="eight"), "data.window.window"),
        (lambda s: s["data"]["window"].update(stride=[2]), "data.window.stride"),
        (lambda s: s["data"]["window"].update(pad_mode="mirror"), "data.window.pad_mode"),
        (lambda s: s["data"].update(window=8), "data.window"),
        (lambda s: s["data"].update(faces=3), "data.faces"),
        (lambda s: s["train"].update(epochs="10"), "train.epochs"),
        (lambda s: s["train"].update(lr=None), "train.lr"),
    ],
)
def test_mistyped_run_config_is_refused_naming_file_and_field(tmp_path, edit, field):
    saved = _config(tmp_path)
    edit(saved)
    (tmp_path / "config.json").write_text(json.dumps(saved))
    for read in (read_run_config, run_window_config, lambda d: training_crops_aligned(d / "best.pt")):
        with pytest.raises(RunConfigError, match=rf"config\.json: field '{field}'") as e:
            read(tmp_path)
        assert is_expected(e.value)


def test_truncated_run_config_is_refused_not_replaced_by_window_8(tmp_path):
    text = (tmp_path / "config.json").write_text("") or json.dumps(_config(tmp_path))
    for content in (text[: len(text) // 2].encode(), b"", b'{"train": {"run": "\xff"}}'):
        (tmp_path / "config.json").write_bytes(content)
        with pytest.raises(RunConfigError, match=str(tmp_path / "config.json")):
            run_window_config(tmp_path)
        with pytest.raises(RunConfigError, match=str(tmp_path / "config.json")):
            training_crops_aligned(tmp_path / "best.pt")
    (tmp_path / "config.json").write_text(json.dumps({"train": {}, "data": {"window": {"window": 0}}}))
    with pytest.raises(RunConfigError, match="config.json: window must be >= 1"):
        run_window_config(tmp_path)
    # a legacy config (windows in the validation summary) is checked too
    (tmp_path / "config.json").write_text(json.dumps({"train": {}, "val_data": {"window": "4"}}))
    with pytest.raises(RunConfigError, match="field 'val_data.window'"):
        run_window_config(tmp_path)


def test_a_folder_without_config_json_keeps_the_defaults_with_a_warning(tmp_path, caplog):
    assert run_window_config(tmp_path) == WindowConfig()  # a checkpoint copied on its own
    assert "config.json" in caplog.text
    assert training_crops_aligned(tmp_path / "best.pt") is None
    _config(tmp_path)
    assert run_window_config(tmp_path) == WindowConfig(window=4, stride=2)


def test_a_temporal_run_with_a_damaged_config_is_not_loaded(tmp_path):
    from deepfakeforensics.runs import RunInfo

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "best.pt", create_model("mesonet4_lstm"))
    (tmp_path / "config.json").write_text('{"train": {}, "data": {"window": {"window": 4, "str')
    with pytest.raises(RunConfigError, match="config.json"):
        RunInfo.load(tmp_path)


# --- 10. landmark sidecars ---------------------------------------------------------------------------------------


def _sidecar(tmp_path, **changes):
    """A faces table, its manifest path and a valid sidecar (two fitted rows), with `changes` to its arrays."""
    import pandas as pd

    from deepfakeforensics.faces.dense_sidecar import N_DENSE, _keys, _save_sidecar, dense_landmarks_path

    faces = pd.DataFrame({"video_id": ["a", "a"], "track": [0, 0], "frame": [0, 5], "path": ["a/0.jpg", "a/5.jpg"]})
    source = tmp_path / "x_faces.csv"
    points = np.random.default_rng(0).uniform(20, 230, (2, N_DENSE, 2)).astype(np.float32)
    arrays = {**_keys(faces), "points": points, "status": np.ones(2, np.int8), **changes}
    _save_sidecar(dense_landmarks_path(source), arrays)
    return faces, source, dense_landmarks_path(source)


def test_a_valid_sidecar_reads(tmp_path):
    from deepfakeforensics.faces.dense_sidecar import read_dense_landmarks

    faces, source, _ = _sidecar(tmp_path)
    assert read_dense_landmarks(faces, source).shape == (2, 68, 2)


@pytest.mark.parametrize("damage", ["truncated", "empty", "bad crc", "not a zip", "npy"])
def test_a_damaged_sidecar_is_refused_naming_it(tmp_path, damage):
    from deepfakeforensics.faces.dense_sidecar import StaleLandmarksError, read_dense_landmarks

    faces, source, path = _sidecar(tmp_path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "bad crc":  # a byte of the points array flipped: the zip member's CRC-32 no longer matches
        i = data.index(b"points.npy") + 400
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    elif damage == "not a zip":
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    else:
        np.save(open(path, "wb"), np.zeros(3))
    with pytest.raises(StaleLandmarksError, match=str(path)) as e:
        read_dense_landmarks(faces, source)
    assert is_expected(e.value)


@pytest.mark.parametrize(
    "changes, what",
    [
        ({"points": np.zeros((2, 5, 2), np.float32)}, "'points' has shape"),
        ({"points": np.zeros((2, 68, 2), np.int64)}, "'points' is int64"),
        ({"points": np.full((2, 68, 2), 1e30, np.float32)}, "not finite or beyond"),
        ({"points": np.full((2, 68, 2), np.inf, np.float32)}, "not finite or beyond"),
        ({"status": np.array([1, 7], np.int8)}, "'status' holds values"),
        ({"status": np.ones((2, 1), np.int8)}, "'status' is int8 of shape"),
        ({"track": np.zeros(3, np.int64)}, "'track' has shape"),
    ],
)
def test_sidecar_points_of_wrong_shape_dtype_or_range_are_refused(tmp_path, changes, what):
    from deepfakeforensics.faces.dense_sidecar import StaleLandmarksError, read_dense_landmarks

    faces, source, path = _sidecar(tmp_path, **changes)
    with pytest.raises(StaleLandmarksError, match=what):
        read_dense_landmarks(faces, source)


def test_unfitted_rows_may_hold_nan(tmp_path):
    from deepfakeforensics.faces.dense_sidecar import read_dense_landmarks

    points = np.full((2, 68, 2), np.nan, np.float32)
    faces, source, _ = _sidecar(tmp_path, points=points, status=np.array([0, 2], np.int8))
    assert np.isnan(read_dense_landmarks(faces, source)).all()


# --- 11. claim files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, why",
    [
        (json.dumps({"host": "HOST", "pid": 2**31, "token": "t"}).encode(), "pid 2147483648 is no process id"),
        (json.dumps({"host": "HOST", "pid": 10**20, "token": "t"}).encode(), "is no process id"),
        (b'{"host": "HOST", "pid": Infinity, "token": "t"}', "is no process id"),
        (json.dumps({"host": "HOST", "pid": -5, "token": "t"}).encode(), "is no process id"),
        (json.dumps({"host": "HOST", "pid": "12", "token": "t"}).encode(), "is no process id"),
        (b'{"host": "HOST\xff\xfe", "pid": 12, "token": "t"}', "not UTF-8"),
        (json.dumps({"host": "HOST", "pid": 12, "token": "../../x"}).encode(), "token"),
        (json.dumps([1, 2]).encode(), "not a claim record"),
    ],
)
def test_a_damaged_claim_is_stale_and_taken_over_saying_so(tmp_path, caplog, content, why):
    import socket

    from deepfakeforensics.faces.claims import VideoClaim, is_stale, read_owner, try_claim

    claim = tmp_path / "v.claim"
    claim.write_bytes(content.replace(b"HOST", socket.gethostname().encode()))  # this host: its pid is checked
    owner = read_owner(claim)
    assert why in owner.damaged and is_stale(owner)
    taken = try_claim(claim)
    assert isinstance(taken, VideoClaim) and taken.held()
    assert "damaged claim" in caplog.text and str(claim) in caplog.text
    taken.release()


def test_a_claim_being_written_is_left_alone_for_a_moment(tmp_path):
    import os
    import time

    from deepfakeforensics.faces.claims import WRITE_GRACE_S, ClaimOwner, VideoClaim, try_claim

    claim = tmp_path / "v.claim"
    claim.write_bytes(b'{"host": "HOST", "pi')
    busy = try_claim(claim)
    assert isinstance(busy, ClaimOwner) and "half-written" in busy.describe()
    then = time.time() - WRITE_GRACE_S - 1
    os.utime(claim, (then, then))
    assert isinstance(try_claim(claim), VideoClaim)


# --- 12. dff report on a hand-edited CSV ------------------------------------------------------------------------

_HEADER = "path,kind,score,label,frames_used,faces_found,track_scores,error\n"
_ROW = 'a.mp4,video,0.9,1,8,1,"{""0"": 0.9}",\n'


@pytest.mark.parametrize(
    "text, where",
    [
        (_HEADER + _ROW + 'b.mp4,video,0.2,0,8,1,"{""0"": 0.2",\n', "line 3, column 'track_scores': not JSON"),
        (
            _HEADER + _ROW + "\n" + 'b.mp4,video,0.2,0,8,1,"[0.2]",\n',
            "line 4, column 'track_scores': not a JSON object",
        ),
        (_HEADER + 'b.mp4,video,0.2,0,8,1,"{""x"": 0.2}",\n', "line 2, column 'track_scores': track 'x'"),
        (_HEADER + 'b.mp4,video,0.2,0,8,1,"{""0"": ""hi""}",\n', "line 2, column 'track_scores': score 'hi'"),
        (_HEADER + 'b.mp4,video,high,0,8,1,"{}",\n', "line 2, column 'score': 'high'"),
        (_HEADER + 'b.mp4,video,7,0,8,1,"{}",\n', "line 2, column 'score': 7 is not a probability"),
        (_HEADER.replace("path,", "file,") + _ROW, "line 1: no 'path' column"),
        (_HEADER + _ROW + "b\udcff.mp4,video,0.2,0,8,1,{},\n", r"line 3, column 2 \(byte \d+\): not UTF-8"),
        ("", "empty file"),
        (_HEADER + _ROW + 'c.mp4,video,0.2,0,8,1,"{}",,,,\n', "not a predictions CSV"),
    ],
)
def test_dff_report_on_a_hand_edited_csv_says_file_line_and_column(tmp_path, capsys, text, where):
    from deepfakeforensics.cli import main
    from deepfakeforensics.inference.report import PredictionsFileError, read_predictions

    csv = tmp_path / "predictions.csv"
    csv.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(PredictionsFileError, match=where):
        read_predictions(csv)
    assert main(["report", str(csv)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dff: error: {csv}: ") and "Traceback (most recent" not in err and "a bug" not in err
    assert not (tmp_path / "predictions.html").exists()


def test_dff_report_reads_what_dff_predict_writes_and_refuses_a_nan_threshold(tmp_path, capsys):
    from deepfakeforensics.cli import main

    csv = tmp_path / "predictions.csv"
    csv.write_text(_HEADER + _ROW + "broken.mp4,video,,,0,0,,unreadable video\n")
    assert main(["report", str(csv)]) == 0 and (tmp_path / "predictions.html").is_file()
    assert main(["report", str(csv), "--threshold", "nan"]) == 1
    assert "--threshold" in capsys.readouterr().err


# --- 13. non-UTF-8 file names --------------------------------------------------------------------------------------

_NON_UTF8_SCRIPT = r"""
import json, os, sys
from pathlib import Path
import cv2, numpy as np, torch
from synth_videos import face_photo, write_face_video
from deepfakeforensics.faces import ExtractionConfig
from deepfakeforensics.faces.crop import jpeg_header_problem, read_jpeg_strict, read_rgb
from deepfakeforensics.models import create_model
from deepfakeforensics.inference.predict import predict_folder
from deepfakeforensics.data.video import SamplingConfig, iter_frames, probe_video

root = Path(sys.argv[1])
bad = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: not UTF-8, a surrogate escape in Python
(root / f"dir_{bad}").mkdir()
write_face_video(root / "v.mp4", n_faces=1, n_frames=12)
os.rename(root / "v.mp4", root / f"dir_{bad}" / f"{bad}.mp4")
canvas = np.full((300, 300, 3), 120, np.uint8)
canvas[60:220, 70:230] = face_photo(160)
ok, png = cv2.imencode(".png", canvas)
(root / f"{bad}.png").write_bytes(png.tobytes())
video, image = root / f"dir_{bad}" / f"{bad}.mp4", root / f"{bad}.png"
print("probe", probe_video(video).n_frames, len(list(iter_frames(video, [0, 3]))), file=sys.stderr)
print("image", read_rgb(image).shape, read_jpeg_strict(image).shape, jpeg_header_problem(image), file=sys.stderr)
torch.manual_seed(0)
model = create_model("mesonet4").eval()
config = ExtractionConfig(sampling=SamplingConfig(strategy="uniform", n_frames=6), detect_size=320)
out = root.parent / "predictions.csv"
for attempt in range(2):  # the second run resumes from the CSV: the same names must not crash it either
    preds, failures = predict_folder(root, model, extraction_config=config, out_csv=out, progress=False)
rows = preds[["path", "kind", "faces_found", "error"]].to_dict("records")
print(json.dumps({"rows": rows, "failures": failures}, ensure_ascii=True))
"""


def test_non_utf8_file_names_are_read_never_crash(tmp_path):
    """OpenCV crashed (SIGSEGV) on a surrogate-escaped path: run in a child process so that a crash fails the test."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    media = tmp_path / "media"
    media.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "PYTHONIOENCODING": "utf-8:surrogateescape"}
    proc = subprocess.run(
        [sys.executable, "-c", _NON_UTF8_SCRIPT, str(media)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    by_kind = {r["kind"]: r for r in result["rows"]}
    assert set(by_kind) == {"image", "video"}
    for row in by_kind.values():
        assert row["faces_found"] >= 1 and row["error"] == "", row
    assert result["failures"] == []


# --- 14. odd entries in a predicted folder -------------------------------------------------------------------------


@pytest.fixture()
def odd_folder(tmp_path):
    import os

    import cv2

    root = tmp_path / "media"
    (root / "real").mkdir(parents=True)
    still = cv2.imencode(".png", np.full((16, 16, 3), 100, np.uint8))[1].tobytes()
    (root / "top.png").write_bytes(still)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "inside.png").write_bytes(still)  # only reachable through a symlinked folder
    os.symlink(tmp_path / "elsewhere", root / "linked")
    os.symlink(root, root / "real" / "back_to_top")  # a folder loop
    os.mkfifo(root / "x.mp4")  # opening it for reading would block forever
    os.symlink(root / "loop_b.png", root / "loop_a.png")
    os.symlink(root / "loop_a.png", root / "loop_b.png")
    os.symlink(root / "gone.mp4", root / "dangling.mp4")
    (root / "anim.gif").write_bytes(b"GIF89a" + b"\x00" * 20)
    (root / "notes.txt").write_text("not media")  # not media: ignored, as before
    return root


def test_the_folder_walk_lists_what_it_skips_and_follows_symlinked_folders_once(odd_folder):
    from deepfakeforensics.inference.media import list_media, walk_media

    files, skipped = walk_media(odd_folder)
    assert [f.relative_to(odd_folder).as_posix() for f in files] == ["linked/inside.png", "top.png"]
    reasons = dict(skipped)
    assert "FIFO" in reasons["x.mp4"]
    assert reasons["loop_a.png"] == reasons["loop_b.png"] == "symlink loop"
    assert "broken symlink" in reasons["dangling.mp4"]
    assert "GIF" in reasons["anim.gif"]
    assert "already listed" in reasons["real/back_to_top"]
    assert "notes.txt" not in reasons
    assert list_media(odd_folder) == files


def test_an_unreadable_folder_and_file_say_permission_denied(odd_folder, monkeypatch):
    import os

    import deepfakeforensics.faces.crop as crop
    import deepfakeforensics.inference.media as media
    from deepfakeforensics.faces import read_rgb

    locked = odd_folder / "locked"
    locked.mkdir()
    (locked / "hidden.png").write_bytes(b"")
    secret = odd_folder / "secret.png"
    secret.write_bytes(b"\x89PNG")
    real_scandir, real_open = os.scandir, open
    if os.geteuid() == 0:  # root reads everything: make the kernel's answer for these two paths
        monkeypatch.setattr(
            media.os,
            "scandir",
            lambda p: (
                (_ for _ in ()).throw(PermissionError(13, "Permission denied")) if p == locked else real_scandir(p)
            ),
        )

        def fake_open(path, *args, **kwargs):
            if str(path) == str(secret):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(crop, "open", fake_open, raising=False)
    else:
        locked.chmod(0)
        secret.chmod(0)
    try:
        _, skipped = media.walk_media(odd_folder)
        assert dict(skipped)["locked"] == "folder not listed (permission denied)"
        with pytest.raises(ValueError, match="permission denied"):
            read_rgb(secret)
    finally:
        locked.chmod(0o755)
        secret.chmod(0o644)


def test_predict_folder_reports_the_skipped_entries_as_failures(odd_folder):
    from deepfakeforensics.inference.predict import predict_folder

    class StubFinder:  # the walk, not the detector, is under test: a file that reaches detection says so
        def detect(self, images):
            raise RuntimeError("stub finder reached")

    model = create_model("mesonet4").eval()
    preds, failures = predict_folder(odd_folder, model, finder=StubFinder(), progress=False, max_pixels=0)
    assert list(preds["path"]) == ["linked/inside.png", "top.png"]
    failed = dict(failures)
    assert failed["x.mp4"].startswith("skipped: a FIFO") and failed["loop_a.png"] == "skipped: symlink loop"
    assert "stub finder reached" in failed["top.png"] and "stub finder reached" in failed["linked/inside.png"]


# --- 15-18. perturbations ------------------------------------------------------------------------------------------


def _authors_color_saturation(img_bgr: np.ndarray, param: float) -> np.ndarray:
    """``color_saturation`` of DeeperForensics-1.0 ``perturbation/distortions.py`` (MIT licence), verbatim in effect:
    BGR in, chroma rescaled to [16, 240] / 255, scaled around 0.5 there, converted back, cast to uint8."""
    import cv2

    ycbcr = cv2.cvtColor(img_bgr.astype(np.float32), cv2.COLOR_BGR2YCR_CB)[:, :, (0, 2, 1)].astype(np.float32)
    ycbcr[:, :, 0] = (ycbcr[:, :, 0] * (235 - 16) + 16) / 255.0
    ycbcr[:, :, 1:] = (ycbcr[:, :, 1:] * (240 - 16) + 16) / 255.0
    ycbcr[:, :, 1] = 0.5 + (ycbcr[:, :, 1] - 0.5) * param
    ycbcr[:, :, 2] = 0.5 + (ycbcr[:, :, 2] - 0.5) * param
    ycbcr[:, :, 0] = (ycbcr[:, :, 0] * 255.0 - 16) / (235 - 16)
    ycbcr[:, :, 1:] = (ycbcr[:, :, 1:] * 255.0 - 16) / (240 - 16)
    return cv2.cvtColor(ycbcr[:, :, (0, 2, 1)].astype(np.float32), cv2.COLOR_YCR_CB2BGR).astype(np.uint8)


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_colour_saturation_is_the_authors_to_the_last_bit(level):
    from deepfakeforensics.evaluation import perturbations as P

    rgb = np.random.default_rng(level).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    param = P.level_param("CS", level)
    theirs = _authors_color_saturation(np.ascontiguousarray(rgb[..., ::-1]), param)[..., ::-1]
    np.testing.assert_array_equal(P.color_saturation(rgb, param), theirs)
    assert P.CHROMA_CENTRE == pytest.approx(0.497768, abs=1e-6)


def _fake_ffmpeg(tmp_path):
    """An ffmpeg that writes half an output file, complains in bytes that are not UTF-8, and fails."""
    script = tmp_path / "ffmpeg"
    script.write_text(
        '#!/bin/sh\nfor a; do last="$a"; done\nprintf partial > "$last"\n'
        "printf 'caf\\351.mp4: Invalid data found when processing input\\n' >&2\nexit 1\n"
    )
    script.chmod(0o755)
    return str(script)


def test_a_failed_ffmpeg_with_non_utf8_output_names_the_video_and_leaves_nothing(tmp_path, monkeypatch):
    import os

    from deepfakeforensics.evaluation import perturbations as P

    src = tmp_path / os.fsdecode(b"caf\xe9.mp4")
    src.write_bytes(b"not a video")
    monkeypatch.setattr(P, "ffmpeg_binary", lambda: _fake_ffmpeg(tmp_path))
    out = tmp_path / "out"
    with pytest.raises(P.PerturbationError, match="ffmpeg re-encoding failed .*caf\ufffd.mp4: Invalid data"):
        P.perturb_video(src, out, P.Perturbation((("VC", 1),)))
    assert list(out.iterdir()) == []  # the partial mp4 is removed


@pytest.mark.skipif(
    __import__("deepfakeforensics.evaluation.perturbations").evaluation.perturbations.ffmpeg_binary() is None,
    reason="no ffmpeg",
)
def test_frame_distortions_then_vc_on_a_non_utf8_name_keep_4_2_0(tmp_path):
    """In a child process (OpenCV crashed on a non-UTF-8 name); the H.264 output is 4:2:0 like its source."""
    import subprocess
    import sys

    script = r"""
import os, sys
from pathlib import Path
import cv2, numpy as np
from deepfakeforensics.evaluation import perturbations as P
root = Path(sys.argv[1])
src = root / os.fsdecode(b"clip\xe9.mp4")
tmp = root / "clip.mp4"
w = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
for i in range(4):
    w.write(np.full((48, 64, 3), 40 * i, np.uint8))
w.release()
os.rename(tmp, src)
ffmpeg = P.ffmpeg_binary()
assert P.source_pixel_format(src, ffmpeg) == "yuv420p", P.source_pixel_format(src, ffmpeg)
out = P.perturb_video(src, root / "out", P.Perturbation((("CS", 2), ("VC", 1))))
print(P.source_pixel_format(out, ffmpeg), sorted(os.listdir(root / "out")) == [out.name])
"""
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["yuv420p", "True"]  # 4:2:0, the intermediate removed


def test_the_vc_command_sets_the_pixel_format_when_asked():
    from pathlib import Path

    from deepfakeforensics.evaluation import perturbations as P

    cmd = P.video_compression_command(Path("a.avi"), Path("b.mp4"), 30, pix_fmt="yuv420p")
    assert cmd[cmd.index("-pix_fmt") + 1] == "yuv420p" and cmd[-1] == "b.mp4"
    assert "-pix_fmt" not in P.video_compression_command(Path("a.mp4"), Path("b.mp4"), 30)


# --- 16. one bad video in the video robustness sweep ---------------------------------------------------------------


def test_one_bad_video_is_counted_per_video_in_every_row_not_voiding_it(tmp_path, monkeypatch):
    import pandas as pd
    from synth_videos import write_face_video

    from deepfakeforensics.evaluation.perturbations import PerturbationError

    vr = importlib.import_module("deepfakeforensics.evaluation.video_robustness")  # (the package re-exports a
    # function of the same name)

    for name in ("a", "b", "c", "d"):
        write_face_video(tmp_path / f"{name}.mp4", n_faces=0, n_frames=2, height=32, width=32)
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 2048)  # undecodable: failed in every row, the clean one too
    videos = pd.DataFrame(
        {
            "video_id": ["a", "b", "c", "d", "broken"],
            "path": ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "broken.mp4"],
            "label": [0, 1, 0, 1, 1],
            "split": "test",
        }
    )
    videos.attrs["root"] = str(tmp_path)
    extracted: dict[str, list[str]] = {}

    def perturb(src, dst_dir, perturbation, seed=0):  # b's GB copy fails (e.g. ffmpeg refused its name)
        if src.stem == "b":
            raise PerturbationError(f"{src}: ffmpeg re-encoding failed (ffmpeg): Invalid data")
        return src

    def extract(one, crops, extraction, faces_csv, finder=None, progress=False):  # every video shows one face
        extracted.setdefault(str(faces_csv), []).append(str(one["video_id"].iat[0]))
        ids = extracted[str(faces_csv)]
        return pd.DataFrame({"video_id": ids, "split": "test"})

    def scores(model, faces, split, config):  # fakes score high: a perfect detector
        label = dict(zip(videos["video_id"], videos["label"], strict=True))
        ids = list(faces["video_id"]) if not faces.empty else []
        return pd.DataFrame({"video_id": ids, "score": [0.9 if label[v] else 0.1 for v in ids], "n_rows": 2})

    monkeypatch.setattr(vr, "perturb_video", perturb)
    monkeypatch.setattr(vr, "extract_faces", extract)
    monkeypatch.setattr(vr, "_video_scores", scores)
    monkeypatch.setattr(vr, "ExtractionConfig", lambda **kw: type("C", (), {"make_finder": lambda self: None})())
    cfg = vr.VideoRobustnessConfig(kinds=("GB",), levels=(1,))
    table = vr.video_robustness({"m": object()}, videos, cfg).set_index("perturbation")
    clean, gb = table.loc["none"], table.loc["GB-1"]
    assert clean["videos_failed"] == 1 and gb["videos_failed"] == 2  # broken in both; b only where it failed
    assert clean["videos_without_face"] == gb["videos_without_face"] == 0
    assert not str(gb["note"]).startswith("skipped") and np.isfinite(gb["auc"])
    assert "broken" in clean["note"] and "broken" in gb["note"] and "b: ffmpeg re-encoding failed" in gb["note"]
    assert clean["n_videos"] == gb["n_videos"] == 5
    # broken (a fake) at 0.5 in both rows; b (a fake) at 0.5 in GB-1 only
    assert clean["auc"] == 1.0 and gb["auc"] == 1.0 and clean["crops"] == 8 and gb["crops"] == 6
