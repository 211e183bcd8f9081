"""Unreadable crops: corrupt JPEGs are refused, never scored or trained on under another item's name."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from tiny_data import TINY_CFG, TinyDetector, TinyTemporal, make_manifest

from deepfakeforensics.data.collate import UnreadableItem, collate_readable
from deepfakeforensics.data.crops import CropReadError, crop_problem, read_crop
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset, verify_crops
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.evaluation.scores import failures_table, predict_scores
from deepfakeforensics.faces.crop import jpeg_header_problem

TRACKS = {("a", 0): 5, ("b", 0): 4, ("c", 0): 3}
LABELS = {"a": 1, "b": 0, "c": 1}
SPLITS = {"a": "test", "b": "test", "c": "test"}


@pytest.fixture()
def csv(tmp_path):
    return make_manifest(tmp_path, TRACKS, LABELS, SPLITS)


def corrupt_middle(path, n: int = 200, seed: int = 0) -> None:
    """Overwrite `n` bytes in the middle of a file with random garbage: same size, so it passes existence checks."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + n] = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def test_corrupt_jpeg_that_opencv_decodes_is_refused(tmp_path):
    path = tmp_path / "x.jpg"
    img = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.resize(img, (256, 256)), [cv2.IMWRITE_JPEG_QUALITY, 95])
    clean = read_crop(path)
    assert np.array_equal(clean, cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))  # same pixels as OpenCV
    size = path.stat().st_size
    corrupt_middle(path)
    assert path.stat().st_size == size
    assert cv2.imread(str(path)) is not None  # the lenient decoder returns broken pixels without an error
    with pytest.raises(CropReadError, match="corrupt JPEG") as info:
        read_crop(path)
    assert info.value.path == str(path) and "x.jpg" in str(info.value)
    assert jpeg_header_problem(path) is None  # the header is intact: only decoding finds it
    assert "corrupt JPEG" in crop_problem(path, decode=True)
    path.write_bytes(path.read_bytes()[: size // 2])
    assert "truncated" in jpeg_header_problem(path)
    path.write_bytes(b"")
    assert "empty" in jpeg_header_problem(path)
    path.write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9")
    assert "header" in jpeg_header_problem(path)


def _score_alone(model, ds: FrameDataset | WindowDataset, index: int) -> float:
    with torch.inference_mode():
        return float(model(ds[index][0][None]).reshape(-1)[0])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_scores_never_come_from_another_crop(csv, tmp_path, num_workers):
    """One corrupt crop (same size): its item is left out and listed; every other row is its own crop's score."""
    torch.manual_seed(0)
    model = TinyDetector().eval()
    ds = FrameDataset(csv, "test", TINY_CFG, missing="skip")
    bad = 4
    corrupt_middle(ds.root / ds.meta["path"][bad])
    scores = predict_scores(model, ds, batch_size=3, num_workers=num_workers, progress=False)
    assert len(scores) == len(ds) - 1
    failures = failures_table(scores)
    assert list(failures.columns) == ["path", "reason"] and len(failures) == 1
    assert failures["path"][0].endswith(ds.meta["path"][bad]) and "corrupt JPEG" in failures["reason"][0]
    keys = ["video_id", "track", "frame"]
    assert tuple(ds.meta.loc[bad, keys]) not in set(scores[keys].itertuples(index=False, name=None))
    by_id = {tuple(r): i for i, r in enumerate(ds.meta[keys].itertuples(index=False, name=None))}
    for row in scores.itertuples(index=False):
        i = by_id[(row.video_id, row.track, row.frame)]
        assert row.label == ds.meta["label"][i]
        assert row.logit == pytest.approx(_score_alone(model, ds, i), abs=1e-5)
    assert isinstance(ds[bad], UnreadableItem)


def test_unreadable_window_is_dropped_not_shifted(csv):
    model = TinyTemporal().eval()
    ds = WindowDataset(csv, "test", TINY_CFG, window=2, stride=1, missing="skip")
    bad_row = ds.windows[2][1]  # the second frame of the third window (also the first of the fourth)
    corrupt_middle(ds.root / ds.faces["path"][bad_row])
    scores = predict_scores(model, ds, batch_size=2, progress=False)
    hit = [i for i, w in enumerate(ds.windows) if bad_row in w]
    assert len(hit) == 2 and len(scores) == len(ds) - 2 and len(failures_table(scores)) == 2
    kept = [i for i in range(len(ds)) if i not in hit]
    assert list(scores["start_frame"]) == list(ds.meta["start_frame"][kept])
    for row, i in zip(scores.itertuples(index=False), kept, strict=True):
        assert row.logit == pytest.approx(_score_alone(model, ds, i), abs=1e-5)


def test_training_replaces_an_unreadable_item_with_its_own_label_and_ids(csv):
    ds = FrameDataset(csv, "test", TINY_CFG, train=True, missing="skip", return_meta=True, seed=3)
    bad = int(np.flatnonzero(ds.meta["video_id"] == "b")[0])  # a real among fakes: a wrong label would show
    corrupt_middle(ds.root / ds.meta["path"][bad])
    x, y, ids = ds[bad]
    j = ids["index"]
    assert j != bad and ids["video_id"] == ds.meta["video_id"][j] and ids["frame"] == ds.meta["frame"][j]
    assert float(y) == ds.meta["label"][j]
    assert torch.equal(ds[bad][0], x)  # deterministic in (seed, epoch, index)
    ds.set_epoch(1)
    x1, y1, ids1 = ds[bad]
    assert float(y1) == ds.meta["label"][ids1["index"]]
    for path in ds.meta["path"]:  # nothing readable left: a bounded search, then an error naming the files
        corrupt_middle(ds.root / path)
    with pytest.raises(CropReadError, match="replacement"):
        ds[bad]
    strict = FrameDataset(csv, "test", TINY_CFG, train=True)  # missing="error": no replacement
    with pytest.raises(CropReadError, match="corrupt JPEG"):
        strict[0]


def test_collate_readable_with_every_item_unreadable():
    items = [UnreadableItem(0, "a.jpg", "missing", (2, 3, 32, 32)), UnreadableItem(1, "b.jpg", "empty", (2, 3, 32, 32))]
    batch = collate_readable(items)
    assert batch.x.shape == (0, 2, 3, 32, 32) and len(batch.y) == 0 and batch.ids is None
    assert batch.failures == [("a.jpg", "missing"), ("b.jpg", "empty")]
    x = torch.zeros(3, 4, 4)
    mixed = collate_readable([(x, torch.tensor(1.0)), items[0], (x, torch.tensor(0.0))])
    assert mixed.x.shape == (2, 3, 4, 4) and mixed[1].tolist() == [1.0, 0.0] and len(mixed.failures) == 1


def test_verify_crops_reports_every_problem_at_once(csv, tmp_path):
    train = FrameDataset(csv, ["test"], TINY_CFG)
    windows = WindowDataset(csv, "test", TINY_CFG, WindowConfig(window=2))
    assert verify_crops([train, windows], progress=False).empty
    paths = list(train.meta["path"])
    data = (tmp_path / paths[0]).read_bytes()
    (tmp_path / paths[0]).write_bytes(data[: len(data) * 4 // 5])  # truncated after its header
    (tmp_path / paths[1]).unlink()
    corrupt_middle(tmp_path / paths[2])  # only a full decode finds this one
    with pytest.raises(CropReadError) as info:
        verify_crops([train, windows], progress=False)
    assert "2 of 12" in str(info.value) and paths[0] in str(info.value) and paths[1] in str(info.value)
    assert sorted(info.value.problems["reason"]) == ["missing", "truncated JPEG (no end-of-image marker)"]
    table = verify_crops(train, progress=False, decode=True, raise_errors=False)
    assert len(table) == 3 and any("corrupt JPEG" in r for r in table["reason"])


def test_window_dataset_takes_a_window_config(csv):
    cfg = WindowConfig(window=3, stride=1, short="drop", pad_mode="loop")
    by_cfg = WindowDataset(csv, "test", TINY_CFG, cfg)
    by_kw = WindowDataset(csv, "test", TINY_CFG, window=3, stride=1, short="drop", pad_mode="loop")
    assert np.array_equal(by_cfg.windows, by_kw.windows) and by_cfg.window_cfg == cfg == by_kw.window_cfg
    assert len(by_cfg) == 3 + 2 + 1 and (by_cfg.window, by_cfg.stride, by_cfg.short) == (3, 1, "drop")
    with pytest.raises(ValueError, match="not both"):
        WindowDataset(csv, "test", TINY_CFG, cfg, stride=2)
    with pytest.raises(ValueError, match="window must be"):
        WindowDataset(csv, "test", TINY_CFG, window=0)
