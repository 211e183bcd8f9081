"""Dense 68-point landmarks (dlib) on real face crops: where they fall, the sidecar beside the manifest, and the
``dff landmarks`` command."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sample_faces import FAKE_519_515, REAL_519, extract_samples

from deepfakeforensics import _io, cli
from deepfakeforensics.data.manifest import read_manifest
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.faces import ExtractionConfig, extract_faces
from deepfakeforensics.faces import dense as dense_module
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, read_jpeg_strict, write_jpeg
from deepfakeforensics.faces.dense import DenseLandmarker, LandmarkModelError, face_box_in_crop, find_model_file
from deepfakeforensics.faces.dense_sidecar import (
    StaleLandmarksError,
    dense_landmarks_path,
    read_dense_landmarks,
    write_dense_landmarks,
)


@pytest.fixture(scope="module")
def landmarker() -> DenseLandmarker:
    """dlib's predictor, loaded once (about 0.5 s); skips where dlib or its model is not installed."""
    try:
        return DenseLandmarker()
    except LandmarkModelError as e:
        pytest.skip(f"dense landmarks unavailable: {e}")


@pytest.fixture(scope="module")
def extracted(samples_dir, tmp_path_factory) -> pd.DataFrame:
    """Faces of the real FF++ clip 519 and its Deepfakes version, 4 frames each, 256-pixel crops."""
    config = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=4), detect_every=1)
    return extract_samples(samples_dir, tmp_path_factory.mktemp("dense"), config, videos=(REAL_519, FAKE_519_515))


def _manifest(extracted: pd.DataFrame, folder, rows: pd.DataFrame | None = None):
    """A faces manifest in `folder` listing `rows` (default: every extracted face) under the extraction's root."""
    path = folder / "labels" / "x_faces.csv"
    _io.save_table(extracted if rows is None else rows, path, root=extracted.attrs["root"])
    return path


def test_missing_dlib_or_model_says_how_to_install(tmp_path, monkeypatch):
    with pytest.raises(LandmarkModelError, match=r"nope\.dat.*--model-file.*deepfakeforensics\[landmarks\]"):
        find_model_file(tmp_path / "nope.dat")
    monkeypatch.setenv("DFF_DLIB_LANDMARKS", str(tmp_path / "env.dat"))
    with pytest.raises(LandmarkModelError, match=r"env\.dat.*DFF_DLIB_LANDMARKS"):
        find_model_file()
    monkeypatch.delenv("DFF_DLIB_LANDMARKS")
    monkeypatch.setattr(dense_module, "packaged_model_file", lambda: None)
    with pytest.raises(LandmarkModelError, match="face_recognition_models is not installed.*pip install"):
        find_model_file()
    monkeypatch.setattr(dense_module, "dlib", None)
    with pytest.raises(LandmarkModelError, match="need dlib.*pip install 'deepfakeforensics\\[landmarks\\]'"):
        DenseLandmarker()
    (tmp_path / "bad.dat").write_bytes(b"not a model")
    monkeypatch.undo()
    if dense_module.dlib is not None:
        with pytest.raises(LandmarkModelError, match="bad.dat: not a dlib shape predictor"):
            DenseLandmarker(tmp_path / "bad.dat")


def test_package_imports_without_dlib():
    """dlib is optional: the package, the faces module and ``dff --help`` work when it cannot be imported."""
    code = (
        "import sys; sys.modules['dlib'] = None\n"
        "from deepfakeforensics.faces import dense, read_dense_landmarks\n"
        "from deepfakeforensics import cli\n"
        "assert dense.dlib is None and cli.main(['landmarks', '--help']) == 0\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "iBUG 300-W" in done.stdout and "commercial" in done.stdout


def test_the_packaged_model_is_found_without_importing_its_package(landmarker):
    assert landmarker.model_file.name == "shape_predictor_68_face_landmarks.dat" and landmarker.model_file.is_file()
    assert "face_recognition_models" not in sys.modules


def test_68_points_fall_on_the_face_and_agree_with_mtcnn_eyes(extracted, landmarker):
    root = extracted.attrs["root"]
    crops = [read_jpeg_strict(f"{root}/{p}") for p in extracted["path"]]
    five = extracted[LANDMARK_COLUMNS].to_numpy(np.float64).reshape(-1, 5, 2)
    points = landmarker.batch(crops, [face_box_in_crop(p, 256) for p in five])
    assert len(crops) == 8 and points.shape == (8, 68, 2) and points.dtype == np.float32
    assert ((points >= 0) & (points < 256)).all()
    eyes = np.stack([points[:, 36:42].mean(1), points[:, 42:48].mean(1)], 1)
    interocular = np.linalg.norm(five[:, 1] - five[:, 0], axis=1)
    error = np.linalg.norm(eyes - five[:, :2], axis=2) / interocular[:, None]
    assert error.max() < 0.15, error
    assert (points[:, 8, 1] > points[:, 30, 1]).all() and (points[:, 30, 1] > eyes[:, :, 1].max(1)).all()  # chin, nose


def test_sidecar_round_trip_resumes_and_follows_any_row_order(extracted, landmarker, tmp_path):
    faces_csv = _manifest(extracted, tmp_path)
    assert read_dense_landmarks(read_manifest(faces_csv)) is None  # no sidecar yet
    first = write_dense_landmarks(faces_csv, landmarker, limit=3)
    assert first.path == dense_landmarks_path(faces_csv) == tmp_path / "labels" / "x_faces_landmarks68.npz"
    assert (first.n_new, first.n_done, first.n_faces) == (3, 3, 8)
    partial = read_dense_landmarks(faces_csv)
    assert np.isfinite(partial[:3]).all() and np.isnan(partial[3:]).all()
    second = write_dense_landmarks(faces_csv, landmarker)
    assert (second.n_new, second.n_done) == (5, 8) and second.ms_per_face > 0
    faces = read_manifest(faces_csv)
    points = read_dense_landmarks(faces)
    assert points.shape == (8, 68, 2) and points.dtype == np.float32 and np.isfinite(points).all()
    np.testing.assert_array_equal(points[:3], partial[:3])  # kept, not refitted
    subset = faces.iloc[[6, 1, 4]]
    subset.attrs = dict(faces.attrs)
    np.testing.assert_array_equal(read_dense_landmarks(subset), points[[6, 1, 4]])
    subset.attrs = {}
    assert read_dense_landmarks(subset) is None  # no source: no sidecar to find
    np.testing.assert_array_equal(read_dense_landmarks(subset, source=faces_csv), points[[6, 1, 4]])


def test_a_sidecar_from_another_extraction_raises_naming_it(extracted, landmarker, tmp_path):
    faces_csv = _manifest(extracted, tmp_path, extracted.iloc[:4])
    write_dense_landmarks(faces_csv, landmarker)
    moved = extracted.iloc[:4].copy()
    moved.loc[moved.index[2], "frame"] += 1  # same crops, another frame: a new extraction
    faces_csv = _manifest(extracted, tmp_path, moved)
    sidecar = dense_landmarks_path(faces_csv)
    with pytest.raises(StaleLandmarksError, match=f"{sidecar}: written for another extraction: 1 of 4 rows"):
        read_dense_landmarks(faces_csv)
    repathed = extracted.iloc[:4].copy()
    repathed.loc[repathed.index[0], "path"] = repathed["path"].iloc[1]  # same key, another crop
    with pytest.raises(StaleLandmarksError, match="x_faces_landmarks68.npz: written for another extraction"):
        read_dense_landmarks(read_manifest(_manifest(extracted, tmp_path, repathed)))
    run = write_dense_landmarks(faces_csv, landmarker)  # the writer refits what changed, keeps the rest
    assert run.n_new == 1 and np.isfinite(read_dense_landmarks(faces_csv)).all()


def test_re_extracted_crops_make_the_sidecar_stale_until_refitted(extracted, landmarker, tmp_path):
    """Same rows, crops cut with another margin: the stored five points tell; `dff landmarks` refits them."""
    faces_csv = _manifest(extracted, tmp_path)
    write_dense_landmarks(faces_csv, landmarker)
    before = read_dense_landmarks(faces_csv)
    index = tmp_path / "labels" / "samples.csv"
    videos = _io.load_table(Path(extracted.attrs["root"]).parent / "labels" / "samples.csv")
    _io.save_table(videos, index, root=videos.attrs["root"])
    config = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=4), detect_every=1, margin=1.6)
    again = extract_faces(index, tmp_path / "extracted", config, faces_csv=faces_csv, progress=False)
    assert again[["video_id", "track", "frame", "path"]].equals(extracted[["video_id", "track", "frame", "path"]])
    sidecar = dense_landmarks_path(faces_csv)
    with pytest.raises(StaleLandmarksError, match=f"{sidecar}: fitted on other crops: .* of 8 rows .*dff landmarks"):
        read_dense_landmarks(faces_csv)
    run = write_dense_landmarks(faces_csv, landmarker)
    assert run.n_new == 8 and run.n_done == 8
    after = read_dense_landmarks(faces_csv)
    assert np.isfinite(after).all() and np.abs(after - before).max() > 5  # the faces are smaller in these crops


def test_moved_five_points_are_refitted_and_the_rest_kept(extracted, landmarker, tmp_path):
    faces_csv = _manifest(extracted, tmp_path)
    write_dense_landmarks(faces_csv, landmarker)
    before = read_dense_landmarks(faces_csv)
    shifted = extracted.copy()
    shifted.loc[shifted.index[[1, 5]], LANDMARK_COLUMNS] += 3.0
    shifted.loc[shifted.index[2], LANDMARK_COLUMNS[0]] += 0.5  # rounding-level change: still the same crop
    _manifest(extracted, tmp_path, shifted)
    with pytest.raises(StaleLandmarksError, match=r"x_faces_landmarks68\.npz: fitted on other crops: .* 2 of 8 rows"):
        read_dense_landmarks(faces_csv)
    subset = read_manifest(faces_csv).iloc[[0, 2, 3]]  # rows that did not move read fine on their own
    np.testing.assert_array_equal(read_dense_landmarks(subset), before[[0, 2, 3]])
    nan_row = shifted.copy()
    nan_row.loc[nan_row.index[4], LANDMARK_COLUMNS] = np.nan  # points lost: a change too
    _manifest(extracted, tmp_path, nan_row)
    with pytest.raises(StaleLandmarksError, match="3 of 8 rows"):
        read_dense_landmarks(faces_csv)
    _manifest(extracted, tmp_path, shifted)
    run = write_dense_landmarks(faces_csv, landmarker)
    assert (run.n_new, run.n_done) == (2, 8)
    after = read_dense_landmarks(faces_csv)
    kept = [0, 2, 3, 4, 6, 7]
    np.testing.assert_array_equal(after[kept], before[kept])
    assert np.isfinite(after).all() and not np.array_equal(after[[1, 5]], before[[1, 5]])  # box moved: refitted


def test_a_sidecar_without_stored_points_still_reads_with_one_warning(extracted, landmarker, tmp_path, caplog):
    faces_csv = _manifest(extracted, tmp_path)
    write_dense_landmarks(faces_csv, landmarker, limit=3)
    sidecar = dense_landmarks_path(faces_csv)
    with np.load(sidecar) as data:
        old = {k: data[k] for k in data.files if k != "five"}  # as written before the points were stored
    with open(sidecar, "wb") as f:
        np.savez(f, **old)
    with caplog.at_level(logging.WARNING, logger="deepfakeforensics.faces.dense_sidecar"):
        first = read_dense_landmarks(faces_csv)
        second = read_dense_landmarks(read_manifest(faces_csv))
    assert np.isfinite(first[:3]).all() and np.isnan(first[3:]).all()
    np.testing.assert_array_equal(first, second)
    assert caplog.text.count("cannot check") == 1 and "older version" in caplog.text and str(sidecar) in caplog.text
    run = write_dense_landmarks(faces_csv, landmarker)  # kept, and the rewritten file stores the points
    assert (run.n_new, run.n_done) == (5, 8)
    with np.load(sidecar) as data:
        np.testing.assert_allclose(data["five"].reshape(8, -1), extracted[LANDMARK_COLUMNS].to_numpy(), atol=1e-3)


def test_hostile_and_unreadable_crops_get_nan_and_a_log_line(extracted, landmarker, tmp_path, caplog):
    root = Path(extracted.attrs["root"])
    outside = tmp_path / "outside.jpg"
    write_jpeg(outside, read_jpeg_strict(root / extracted["path"].iloc[0]))  # a good crop, but outside the root
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    rows = extracted.iloc[:4].copy()
    rows["path"] = [rows["path"].iloc[0], str(outside), "../../outside.jpg", "broken.jpg"]
    faces_csv = _manifest(extracted, tmp_path, rows)
    with caplog.at_level(logging.WARNING, logger="deepfakeforensics.faces.dense_sidecar"):
        run = write_dense_landmarks(faces_csv, landmarker)
    assert (run.n_done, run.n_unreadable) == (1, 3)
    points = read_dense_landmarks(faces_csv)
    assert np.isfinite(points[0]).all() and np.isnan(points[1:]).all()
    assert caplog.text.count("refused") == 2 and "unreadable crop broken.jpg" in caplog.text


def test_cli_writes_the_sidecar_and_says_where(extracted, landmarker, tmp_path, capsys):
    faces_csv = _manifest(extracted, tmp_path)
    assert cli.main(["landmarks", str(faces_csv), "--limit", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 faces fitted now" in out and "ms/face" in out and "2 of 8 done" in out
    assert str(dense_landmarks_path(faces_csv)) in out
    assert cli.main(["landmarks", str(faces_csv), "--model-file", str(tmp_path / "none.dat")]) == 1
    assert "none.dat: no such 68-point landmark model" in capsys.readouterr().err


def test_datasets_blend_with_the_68_points_when_the_manifest_has_them(extracted, landmarker, tmp_path, caplog):
    from deepfakeforensics.data.datasets import FrameDataset
    from deepfakeforensics.models._base import ModelCfg

    cfg = ModelCfg(input_size=(3, 64, 64), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    faces_csv = _manifest(extracted, tmp_path)
    five = FrameDataset(read_manifest(faces_csv), None, cfg, pseudo_fakes="sbi")
    assert five._points.dense is None and five._points.of([0, 1]).shape == (2, 5, 2)
    write_dense_landmarks(faces_csv, landmarker, limit=2)
    fitted = np.isfinite(read_dense_landmarks(faces_csv)).all(axis=(1, 2))
    with caplog.at_level(logging.WARNING):
        partial = FrameDataset(read_manifest(faces_csv), None, cfg, pseudo_fakes="sbi")
    assert "6 of 8 crops have no 68-point landmarks yet" in caplog.text and "five-point ellipse" in caplog.text
    first, other = int(np.flatnonzero(fitted)[0]), int(np.flatnonzero(~fitted)[0])
    assert partial._points.of([first]).shape == (1, 68, 2) and partial._points.of([other]).shape == (1, 5, 2)
    assert partial._points.of([first, other]).shape == (2, 5, 2)  # a window's frames share one mask shape
    write_dense_landmarks(faces_csv, landmarker)
    dense = FrameDataset(read_manifest(faces_csv), None, cfg, pseudo_fakes="sbi")
    np.testing.assert_array_equal(dense._points.dense, read_dense_landmarks(faces_csv))
    n_real = int((extracted["label"] == 0).sum())
    assert len(five) == len(partial) == len(dense) == 8 + n_real  # one pseudo-fake per real crop, fitted or not
    fake_five, fake_dense = five[8][0], dense[8][0]  # the first pseudo-fake: same draw, other mask shape
    assert fake_five.shape == fake_dense.shape and not np.array_equal(fake_five.numpy(), fake_dense.numpy())
