"""Source-paired batches (``DataConfig.pair_sources``): a real crop, its pseudo-fake and the manifest's fakes of the
same source at the same frame always share a batch; orders are functions of (seed, epoch); DDP shares are disjoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_data import TINY_CFG, make_manifest

from deepfakeforensics._io import load_table, save_table
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS
from deepfakeforensics.training import DataConfig, TrainConfig, read_run_config
from deepfakeforensics.training.run import train_model
from deepfakeforensics.training.sampling import SourceBatchSampler, source_units

POINTS = np.array([[17, 20], [31, 20], [24, 27], [18, 34], [29, 34]], np.float32)  # in a 48-px crop
# group: videos; r4 has no landmarks (no pseudo-fake), g3 has no real video
GROUPS = {"g1": ["r1", "fa", "fb"], "g2": ["r2", "r2b", "f2"], "g3": ["f3"], "g4": ["r4"]}
FRAMES = {"r1": 4, "fa": 4, "fb": 4, "r2": 3, "r2b": 3, "f2": 3, "f3": 2, "r4": 2}


def _manifest(root, splits=None) -> str:
    labels = {v: int(not v.startswith("r")) for v in FRAMES}
    csv = make_manifest(root, {(v, 0): n for v, n in FRAMES.items()}, labels, splits or dict.fromkeys(FRAMES, "train"))
    df = load_table(csv)
    df["group"] = df["video_id"].map({v: g for g, vs in GROUPS.items() for v in vs})
    has = (df["video_id"] != "r4").to_numpy()
    df[LANDMARK_COLUMNS] = np.where(has[:, None], POINTS.reshape(1, 10), np.nan)
    save_table(df, csv, root=root)
    return str(csv)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> FrameDataset:
    return FrameDataset(_manifest(tmp_path_factory.mktemp("pairs")), "train", TINY_CFG, pseudo_fakes="sbi")


def _units(ds) -> list[np.ndarray]:
    return source_units(ds.meta, ds.blended_from, ds.pseudo_fake_index)


def _check_batch(ds, batch: list[int]) -> None:
    """Each real item of the batch has its pseudo-fake there and, where its source has at least as many fakes as reals
    at its frame, one of those fakes; each fake with a real of its source at its frame has one of them there."""
    meta, partner, members = ds.meta, ds.pseudo_fake_index, set(batch)
    manifest = meta.iloc[: int((ds.blended_from < 0).sum())]
    for i in batch:
        row = meta.iloc[i]
        same = manifest[(manifest["group"] == row["group"]) & (manifest["frame"] == row["frame"])]
        reals, fakes = set(same.index[same["label"] == 0]), set(same.index[same["label"] == 1])
        if ds.blended_from[i] >= 0:
            assert ds.blended_from[i] in members, (i, batch)
        elif row["label"] == 0:
            assert partner[i] < 0 or partner[i] in members, (i, batch)
            assert len(fakes) < len(reals) or members & fakes, (i, batch)
        else:
            assert not reals or members & reals, (i, batch)


def test_units_hold_a_real_its_pseudo_fake_and_its_sources_fakes_at_the_same_frame(dataset):
    units = _units(dataset)
    items = np.concatenate(units)
    assert sorted(items.tolist()) == list(range(len(dataset)))  # a partition
    meta = dataset.meta
    for unit in units:
        head = meta.iloc[unit[0]]
        if head["label"] == 1:  # a fake without a real of its source: alone
            assert len(unit) == 1 and head["group"] == "g3"
            continue
        assert (meta["frame"].iloc[unit] == head["frame"]).all() and (meta["group"].iloc[unit] == head["group"]).all()
        pseudo = dataset.pseudo_fake_index[unit[0]]
        assert (pseudo >= 0) == (head["video_id"] != "r4") and (pseudo < 0 or unit[1] == pseudo)
        fakes = sorted(meta["video_id"].iloc[unit[2 if pseudo >= 0 else 1 :]])
        expected = {"r1": ["fa", "fb"], "r4": []}.get(head["video_id"])
        assert fakes == expected if expected is not None else len(fakes) <= 1
    # g2: the fake's three frames are shared out between the group's two real videos, one each per frame
    g2 = [u for u in units if meta["video_id"].iloc[u[0]] in ("r2", "r2b")]
    assert sum(len(u) - 2 for u in g2) == 3


def test_a_source_column_ties_a_fake_to_its_own_real(tmp_path):
    csv = _manifest(tmp_path)
    df = load_table(csv)
    df["source"] = df["video_id"].map({"f2": "r2b", "fa": "r1", "fb": "r1"}).fillna(df["video_id"])
    save_table(df, csv, root=tmp_path)
    ds = FrameDataset(csv, "train", TINY_CFG, pseudo_fakes="sbi")
    for unit in _units(ds):
        names = ds.meta["video_id"].iloc[unit].tolist()
        if "f2" in names:
            assert names[0] == "r2b"


def test_every_batch_keeps_its_units_whole(dataset):
    sampler = SourceBatchSampler(_units(dataset), batch_size=6, seed=3)
    lengths = set()
    for epoch in range(4):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        lengths.add(len(batches))
        assert sorted(i for b in batches for i in b) == list(range(len(dataset)))
        assert max(len(b) for b in batches) <= 6 and len(batches) == len(sampler)
        for batch in batches:
            _check_batch(dataset, batch)
    assert lengths == {len(sampler)}  # as many steps every epoch


def test_orders_are_functions_of_seed_and_epoch(dataset):
    units = _units(dataset)
    a, b = SourceBatchSampler(units, 6, seed=0), SourceBatchSampler(units, 6, seed=0)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert list(a) != list(b)
    assert list(a) != list(SourceBatchSampler(units, 6, seed=1))


def test_units_larger_than_a_batch_are_cut_keeping_the_pair_together(dataset):
    sampler = SourceBatchSampler(_units(dataset), batch_size=2)
    for batch in sampler:
        assert len(batch) <= 2
        real = [i for i in batch if dataset.labels[i] == 0]
        for i in real:
            assert dataset.pseudo_fake_index[i] < 0 or dataset.pseudo_fake_index[i] in batch


@pytest.mark.parametrize("replicas", [2, 3])
def test_ddp_shares_are_disjoint_and_cover_every_item(dataset, replicas):
    units = _units(dataset)
    full = SourceBatchSampler(units, 5, seed=1)
    full.set_epoch(1)
    batches = full.batches()
    shares = []
    for rank in range(replicas):
        s = SourceBatchSampler(units, 5, seed=1, num_replicas=replicas, rank=rank)
        s.set_epoch(1)
        shares.append(list(s))
        assert len(shares[-1]) == len(s) == -(-len(batches) // replicas)
    covered = {i for share in shares for b in share for i in b}
    assert covered == set(range(len(dataset)))
    for rank in range(replicas):  # rank r takes batches r, r + R, ... of the same epoch order (then padding)
        assert shares[rank][: len(batches[rank::replicas])] == batches[rank::replicas]
    if len(batches) % replicas == 0:
        assert sum(len(b) for share in shares for b in share) == len(dataset)  # disjoint


def test_windows_pair_by_start_frame(tmp_path):
    ds = WindowDataset(_manifest(tmp_path), "train", TINY_CFG, window=2, pseudo_fakes="sbi")
    units = _units(ds)
    assert sorted(np.concatenate(units).tolist()) == list(range(len(ds)))
    r1 = [u for u in units if ds.meta["video_id"].iloc[u[0]] == "r1"]
    assert r1 and all(sorted(ds.meta["video_id"].iloc[u]) == ["fa", "fb", "r1", "r1"] for u in r1)


def test_training_with_source_pairs(tmp_path):
    splits = {v: "val" if v in ("r2", "f2") else "train" for v in FRAMES}
    csv = _manifest(tmp_path, splits)
    config = TrainConfig(run="p", checkpoints_dir=str(tmp_path / "ck"), epochs=1, batch_size=4, num_workers=0)
    torch.manual_seed(0)
    data = DataConfig(faces=str(csv), pseudo_fakes="sbi", pair_sources=True)
    _, history = train_model("tiny_test_detector", data, config, callbacks=[])
    assert len(history) == 1 and read_run_config(tmp_path / "ck" / "p")[1].pair_sources
    with pytest.raises(ValueError, match="balanced"):
        train_model("tiny_test_detector", data, config.replace(run="q", balanced=True), callbacks=[])
