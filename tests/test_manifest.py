"""Manifests are data: validation when loaded (one error naming file, column, lines) and paths kept inside the root."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pandas as pd
import pytest
from tiny_data import TINY_CFG, make_manifest

from deepfakeforensics.data.crops import CropReadError
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset
from deepfakeforensics.data.manifest import (
    ManifestError,
    PathEscapeError,
    read_manifest,
    resolve_inside,
    validate_manifest,
    write_manifest,
)


@pytest.fixture()
def csv(tmp_path):
    return make_manifest(tmp_path, {("a", 0): 3, ("b", 0): 2}, {"a": 1, "b": 0}, {"a": "train", "b": "train"})


def _edit(csv, fn) -> None:
    """Rewrite the manifest's CSV text through `fn(DataFrame of str) -> DataFrame` (the recorded root is kept)."""
    df = pd.read_csv(csv, dtype=str)
    fn(df).to_csv(csv, index=False)


def test_resolve_inside_refuses_paths_leading_out(tmp_path):
    root = tmp_path / "root"
    (root / "crops").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    assert resolve_inside(root, "crops/x.jpg") == (root / "crops" / "x.jpg").resolve()
    assert resolve_inside(root, "crops/../crops/x.jpg") == (root / "crops" / "x.jpg").resolve()
    for bad in ("../../../etc/passwd", "crops/../../outside/x.jpg", "/etc/passwd", str(root / "crops/x.jpg"), ""):
        with pytest.raises(PathEscapeError):
            resolve_inside(root, bad)
    os.symlink(tmp_path / "outside", root / "crops" / "link")  # a folder symlink leading out
    with pytest.raises(PathEscapeError, match="outside"):
        resolve_inside(root, "crops/link/x.jpg")
    os.symlink("/etc/passwd", root / "crops" / "pw.jpg")  # a file symlink leading out
    with pytest.raises(PathEscapeError):
        resolve_inside(root, "crops/pw.jpg")
    os.symlink(root / "crops", root / "alias")  # a symlink that stays inside is fine
    assert resolve_inside(root, "alias/x.jpg") == (root / "crops" / "x.jpg").resolve()
    os.symlink(root, tmp_path / "root_link")  # and the root itself may be a symlink
    assert resolve_inside(tmp_path / "root_link", "crops/x.jpg") == (root / "crops" / "x.jpg").resolve()


def test_dataset_refuses_and_never_opens_an_escaping_path(tmp_path, csv, monkeypatch):
    secret = tmp_path.parent / f"{tmp_path.name}_secret.jpg"  # a real, decodable image outside the root
    cv2.imwrite(str(secret), np.full((8, 8, 3), 128, np.uint8))
    rel = os.path.relpath(secret, tmp_path)
    _edit(csv, lambda df: df.assign(path=[rel, "/etc/passwd", *df["path"][2:]]))
    with pytest.raises(CropReadError, match="refused"):
        FrameDataset(csv, "train", TINY_CFG)
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    ds = FrameDataset(csv, "train", TINY_CFG, missing="skip", verify=True)
    assert len(ds) == 3 and ds.n_missing == 2
    assert sorted(ds.skipped["path"]) == sorted([rel, "/etc/passwd"])
    assert ds.skipped["reason"].str.startswith("refused").all()
    assert str(secret) not in opened and "/etc/passwd" not in opened
    assert not any("secret" in p for p in ds._paths)
    secret.unlink()


def test_text_label_is_one_error_naming_file_column_and_line(csv):
    _edit(csv, lambda df: df.assign(label=["1", "fake", "1", "0", "0"]))
    with pytest.raises(ManifestError) as info:
        read_manifest(csv)
    msg = str(info.value)
    assert str(csv) in msg and "'label'" in msg and "'fake'" in msg and "line 3" in msg
    with pytest.raises(ManifestError, match="label"):
        FrameDataset(csv, "train", TINY_CFG)  # the datasets validate too
    _edit(csv, lambda df: df.assign(label=["1", "1", "2", "0", "0"]))
    with pytest.raises(ManifestError, match=r"'label'.*got 2 at line 4"):
        read_manifest(csv)


def test_every_problem_in_one_error(csv):
    def spoil(df):
        df.loc[1, "frame"] = "x"
        df.loc[3, "track"] = "1.5"
        df.loc[2, "label"] = "real"
        return df

    _edit(csv, spoil)
    with pytest.raises(ManifestError) as info:
        read_manifest(csv)
    problems = info.value.problems
    assert len(problems) == 3
    assert any("'frame'" in p and "line 3" in p for p in problems)
    assert any("'track'" in p and "line 5" in p for p in problems)
    assert any("'label'" in p and "line 4" in p for p in problems)


def test_duplicate_rows_and_missing_columns(csv):
    _edit(csv, lambda df: pd.concat([df, df.iloc[[1]]], ignore_index=True))
    with pytest.raises(ManifestError, match=r"duplicate \(video_id, track, frame\) at line 7"):
        read_manifest(csv)
    _edit(csv, lambda df: df.drop(columns=["label"]).drop_duplicates())
    with pytest.raises(ManifestError, match=r"missing column\(s\) \['label'\]"):
        read_manifest(csv)


def test_read_write_round_trip_with_clean_types(tmp_path, csv):
    faces = read_manifest(csv)
    assert faces.attrs["root"] == str(tmp_path.resolve()) and faces.attrs["source"] == str(csv)
    assert faces["label"].dtype == np.int64 and faces["frame"].dtype == np.int64
    moved = tmp_path / "elsewhere" / "faces.csv"
    write_manifest(faces[faces["video_id"] == "a"], moved, faces.attrs["root"], note="subset")
    back = read_manifest(moved)
    assert len(back) == 3 and back.attrs["root"] == faces.attrs["root"] and back.attrs["note"] == "subset"
    assert len(FrameDataset(moved, "train", TINY_CFG)) == 3
    videos = faces.drop_duplicates("video_id")[["video_id", "path", "label"]]
    assert len(validate_manifest(videos, "videos")) == 2
    with pytest.raises(ManifestError, match="duplicate"):
        validate_manifest(pd.concat([videos, videos]), "videos")


def test_window_dataset_validates_too(csv):
    _edit(csv, lambda df: df.assign(frame=["0", "3", "-3", "0", "3"]))
    with pytest.raises(ManifestError, match="'frame'.*-3"):
        WindowDataset(csv, "train", TINY_CFG, window=2)
