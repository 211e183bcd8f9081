"""FrameDataset / WindowDataset / EpochSampler / augmentations on hand-built manifests of synthetic JPEG crops."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from tiny_data import TINY_CFG, TinyDetector, TinyTemporal, make_manifest

from deepfakeforensics._io import load_table, save_table
from deepfakeforensics.data.collate import UnreadableItem
from deepfakeforensics.data.crops import CropReadError, read_crop
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset, build_dataset
from deepfakeforensics.training.sampling import EpochSampler

# video -> label; tracks with hand-picked lengths: long, exact, short, and a two-track video
TRACKS = {("a", 0): 7, ("a", 1): 2, ("b", 0): 4, ("c", 0): 3, ("d", 0): 10}
LABELS = {"a": 1, "b": 0, "c": 1, "d": 0}
SPLITS = {"a": "train", "b": "train", "c": "train", "d": "val"}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> str:
    return str(make_manifest(tmp_path_factory.mktemp("faces"), TRACKS, LABELS, SPLITS))


def test_frame_dataset_items_and_meta(manifest):
    ds = FrameDataset(manifest, "train", TINY_CFG, return_meta=True)
    assert len(ds) == 7 + 2 + 4 + 3
    x, y, meta = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    row = ds.meta.iloc[0]
    assert (meta["video_id"], meta["track"], meta["frame"]) == (row["video_id"], row["track"], row["frame"])
    assert meta["index"] == 0
    assert float(y) == LABELS[meta["video_id"]]
    assert list(ds.meta["video_id"]).count("a") == 9
    assert len(FrameDataset(manifest, ["train", "val"], TINY_CFG)) == 26
    assert len(FrameDataset(manifest, None, TINY_CFG)) == 26


def test_frame_tensor_is_normalised_rgb(tmp_path):
    """Values follow the model's mean/std and colours stay RGB (no BGR swap between disk and tensor)."""
    csv = make_manifest(tmp_path, {("r", 0): 1}, {"r": 0}, {"r": "train"})
    ds = FrameDataset(csv, "train", TINY_CFG)
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[...] = (200, 100, 30)  # orange, written as a proper RGB JPEG
    cv2.imwrite(str(ds.root / ds.meta["path"][0]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert np.abs(read_crop(ds.root / ds.meta["path"][0]).astype(int) - rgb).max() <= 3
    x, y = ds[0]
    expected = (torch.tensor([200.0, 100.0, 30.0]) / 255 - 0.5) / 0.25
    assert torch.allclose(x.mean((1, 2)), expected, atol=0.05)
    assert x.shape == (3, 32, 32) and float(y) == 0.0


def test_window_counts_padding_and_dropping(manifest):
    ds = WindowDataset(manifest, "train", TINY_CFG, window=3, stride=2)
    # a0: 7 frames -> starts 0,2,4 = 3 windows; a1: 2 < 3 padded -> 1; b0: 4 -> starts 0 -> 1; c0: 3 -> 1
    assert len(ds) == 6
    assert (ds.n_padded, ds.n_dropped) == (1, 0)
    x, y = ds[0]
    assert x.shape == (3, 3, 32, 32)
    dropped = WindowDataset(manifest, "train", TINY_CFG, window=3, stride=2, short="drop")
    assert len(dropped) == 5 and (dropped.n_padded, dropped.n_dropped) == (0, 1)
    default_stride = WindowDataset(manifest, "train", TINY_CFG, window=3)  # stride = window
    assert len(default_stride) == 2 + 1 + 1 + 1  # a0: starts 0, 3; a1 padded; b0; c0
    assert list(ds.meta.columns[:5]) == ["video_id", "track", "start_frame", "end_frame", "n_frames"]
    padded = ds.meta[ds.meta["n_frames"] < 3]
    assert list(padded[["video_id", "track", "n_frames"]].itertuples(index=False, name=None)) == [("a", 1, 2)]


def test_windows_never_mix_tracks_and_are_consecutive(manifest):
    ds = WindowDataset(manifest, None, TINY_CFG, window=4, stride=1, pad_mode="loop")
    faces = ds.faces
    for w, (_, m) in zip(ds.windows, ds.meta.iterrows(), strict=True):
        rows = faces.iloc[w]
        assert rows["video_id"].nunique() == 1 and rows["track"].nunique() == 1
        assert rows["video_id"].iloc[0] == m["video_id"] and rows["track"].iloc[0] == m["track"]
        assert (rows["label"] == m["label"]).all()
        frames = rows["frame"].to_numpy()
        if m["n_frames"] == 4:
            track = faces[(faces.video_id == m["video_id"]) & (faces.track == m["track"])]["frame"].sort_values()
            pos = np.searchsorted(track.to_numpy(), frames)
            assert (np.diff(frames) > 0).all() and (np.diff(pos) == 1).all()  # consecutive sampled frames
        assert m["start_frame"] == frames[0]
    # loop padding cycles the short track: a1 has frames [1, 4] -> 1, 4, 1, 4
    a1 = ds.meta.index[(ds.meta.video_id == "a") & (ds.meta.track == 1)][0]
    assert list(faces.iloc[ds.windows[a1]]["frame"]) == [1, 4, 1, 4]
    rep = WindowDataset(manifest, None, TINY_CFG, window=4, stride=1)
    a1 = rep.meta.index[(rep.meta.video_id == "a") & (rep.meta.track == 1)][0]
    assert list(rep.faces.iloc[rep.windows[a1]]["frame"]) == [1, 4, 4, 4]


def test_missing_and_unreadable_crops(tmp_path, caplog):
    csv = make_manifest(tmp_path, {("m", 0): 5}, {"m": 0}, {"m": "train"})
    df = load_table(csv)
    (tmp_path / df["path"][0]).unlink()
    (tmp_path / df["path"][1]).write_bytes(b"")  # empty
    with pytest.raises(CropReadError, match=df["path"][0].split("/")[-1]):
        FrameDataset(csv, "train", TINY_CFG)
    with caplog.at_level(logging.WARNING):
        ds = FrameDataset(csv, "train", TINY_CFG, missing="skip")
    assert len(ds) == 3 and ds.n_missing == 2
    assert sorted(ds.skipped["reason"]) == ["empty (0 bytes)", "missing"]
    assert "skipped 2" in caplog.text
    # a corrupt (non-empty) file: found by verify=True, or at read time
    (tmp_path / df["path"][2]).write_bytes(b"not a jpeg at all")
    assert FrameDataset(csv, "train", TINY_CFG, missing="skip", verify=True).n_missing == 3
    lenient = FrameDataset(csv, "train", TINY_CFG, missing="skip")
    bad = int(np.flatnonzero(lenient.meta["path"] == df["path"][2])[0])
    item = lenient[bad]  # evaluation: reported as unreadable, never replaced by another item
    assert isinstance(item, UnreadableItem) and item.index == bad and item.path.endswith(df["path"][2])
    training = FrameDataset(csv, "train", TINY_CFG, train=True, missing="skip", return_meta=True)
    with caplog.at_level(logging.WARNING):
        x, y, ids = training[bad]  # training: another item, with its own label and ids, and a warning naming the file
    assert x.shape == (3, 32, 32) and ids["index"] != bad and df["path"][2].split("/")[-1] in caplog.text
    # window datasets drop missing rows before building windows, so tracks just get shorter
    wds = WindowDataset(csv, "train", TINY_CFG, window=2, missing="skip", verify=True)
    assert len(wds) == 1 and wds.n_missing == 3


def test_error_mode_names_unreadable_file_at_read_time(tmp_path):
    csv = make_manifest(tmp_path, {("m", 0): 2}, {"m": 0}, {"m": "train"})
    ds = FrameDataset(csv, "train", TINY_CFG)
    (tmp_path / ds.meta["path"][0]).write_bytes(b"garbage")
    with pytest.raises(CropReadError, match="unreadable"):
        ds[0]


def test_dataframe_input_and_build_dataset(manifest):
    df = load_table(manifest)
    assert len(FrameDataset(df, "val", TINY_CFG)) == 10
    with pytest.raises(ValueError, match="root"):
        FrameDataset(pd.DataFrame(df.to_dict("list")), "val", TINY_CFG)  # a DataFrame without a recorded root
    temporal = TinyTemporal()
    wds = build_dataset(manifest, "val", temporal, window=4, stride=3)
    assert isinstance(wds, WindowDataset) and len(wds) == 3  # 10 frames: starts 0, 3, 6
    assert isinstance(build_dataset(manifest, "val", TinyDetector(), window=4), FrameDataset)


def test_mixed_labels_in_one_video_rejected(tmp_path):
    csv = make_manifest(tmp_path, {("x", 0): 3}, {"x": 1}, {"x": "train"})
    df = load_table(csv)
    df.loc[0, "label"] = 0
    save_table(df, csv, root=tmp_path)
    with pytest.raises(ValueError, match="more than one label"):
        WindowDataset(csv, "train", TINY_CFG, window=2)


def test_epoch_sampler_deterministic_balanced_and_sharded():
    labels = np.array([0] * 8 + [1] * 2)
    s = EpochSampler(labels, seed=3)
    s.set_epoch(1)
    first = list(s)
    assert sorted(first) == list(range(10))
    assert list(s) == first  # a function of (seed, epoch)
    s.set_epoch(2)
    assert list(s) != first
    b = EpochSampler(labels, balanced=True, seed=3)
    order = list(b)
    assert len(order) == len(b) == 16
    assert sum(labels[i] for i in order) == 8  # classes drawn equally often
    assert set(order) == set(range(10))  # every item still appears
    shards = [EpochSampler(labels, seed=3, num_replicas=3, rank=r) for r in range(3)]
    parts = [list(sh) for sh in shards]
    assert all(len(p) == len(sh) == 4 for p, sh in zip(parts, shards, strict=True))
    assert set().union(*parts) == set(range(10))
    val = [list(EpochSampler(labels, shuffle=False, num_replicas=3, rank=r, pad=False)) for r in range(3)]
    assert sorted(sum(val, [])) == list(range(10))
