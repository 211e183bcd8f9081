"""DFDCP indexer: dataset.json keyed by relative path (names as the preview release ships them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepfakeforensics._io import load_table
from deepfakeforensics.cli import main
from deepfakeforensics.indexing import COLUMNS, INDEXERS, LayoutError, SplitLeakError, check_group_splits, index_dfdcp

# original 643049_A_001 and 1003254_A_001; fakes re-render 1003254's clip with the faces of 1255229 / 643049
META = {
    "original_videos/643049/643049_A_001.mp4": {"label": "real", "set": "train", "augmentations": []},
    "original_videos/1003254/1003254_A_001.mp4": {"label": "real", "set": "test", "augmentations": []},
    "original_videos/1795659/1795659_B_001.mp4": {"label": "real", "set": "train"},
    "original_videos/2059066/2059066_A_001.mp4": {"label": "real", "set": "train"},
    "original_videos/1224068/1224068_C_002.mp4": {"label": "real", "set": "train"},
    "method_A/1003254/1003254_A/1255229_1003254_A_001.mp4": {"label": "fake", "set": "test"},
    "method_A/1795659/1795659_B/2059066_1795659_B_001.mp4": {"label": "fake", "set": "train"},
    "method_B/1224068/1224068_C/1175437_1224068_C_002.mp4": {"label": "fake", "set": "train"},
    "method_B/643049/643049_A/1003254_643049_A_001.mp4": {"label": "fake", "set": "train"},
}


def build(root: Path, meta: dict, nested: bool = False) -> Path:
    for key in meta:
        top, rest = key.split("/", 1)
        f = root / top / "videos" / rest if nested else root / key
        f.parent.mkdir(parents=True, exist_ok=True)
        f.touch()
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def test_dfdcp_labels_methods_groups_and_sets(tmp_path):
    res = index_dfdcp(build(tmp_path / "dfdc_preview_set", META))
    v = res.videos.set_index("video_id")
    assert list(res.videos.columns) == COLUMNS
    assert v.loc["method_A/1003254/1003254_A/1255229_1003254_A_001", "method"] == "method_A"
    assert v.loc["method_B/1224068/1224068_C/1175437_1224068_C_002", ["label", "method"]].tolist() == [1, "method_B"]
    assert v.loc["original_videos/1224068/1224068_C_002", ["label", "method"]].tolist() == [0, "original"]
    # a fake joins its target (the id folder) and its source face: 1795659 and 2059066 share a group
    assert (
        v.loc["original_videos/1795659/1795659_B_001", "group"]
        == v.loc["original_videos/2059066/2059066_A_001", "group"]
    )
    assert v.loc["method_A/1003254/1003254_A/1255229_1003254_A_001", "split"] == "test"
    # 643049 appears in a fake with 1003254 (test): its train videos would leak, so they are dropped and reported
    assert "original_videos/643049/643049_A_001" not in v.index
    assert any("643049_A_001.mp4" in p and "dropped" in r for p, r in res.failures)
    assert set(v.loc[v["split"] != "test", "split"]) <= {"train", "val"}
    check_group_splits(res.videos)
    assert res.videos.attrs["layout"] == "dataset.json paths as listed"


def test_dfdcp_leak_policies(tmp_path):
    root = build(tmp_path / "d", META)
    moved = index_dfdcp(root, leak="test").videos.set_index("video_id")
    assert moved.loc["original_videos/643049/643049_A_001", "split"] == "test"
    with pytest.raises(SplitLeakError, match="group 'p1003254'"):
        index_dfdcp(root, leak="error")


def test_dfdcp_sbi_layout_and_bad_entries(tmp_path):
    meta = dict(META)
    meta["method_A/9/9_A/8_9_A_001.mp4"] = {"label": "FAKE", "set": "test"}  # listed, file absent
    meta["original_videos/7/7_A_001.mp4"] = {"label": "maybe", "set": "train"}
    meta["original_videos/6/6_A_001.mp4"] = {"label": "fake", "set": "train"}  # contradicts its folder
    meta["extras/5/5_A_001.mp4"] = {"label": "real", "set": "train"}
    root = build(tmp_path / "sbi", {k: v for k, v in meta.items() if "9_A_001" not in k}, nested=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    (root / "method_B/videos/1/1_A").mkdir(parents=True)
    (root / "method_B/videos/1/1_A/2_1_A_001.mp4").touch()  # on disk, not listed
    res = index_dfdcp(root, leak="test")
    v = res.videos.set_index("video_id")
    assert res.videos.attrs["layout"] == "a videos/ folder under each top folder (SBI)"
    assert v.loc["method_A/1003254/1003254_A/1255229_1003254_A_001", "path"].startswith("method_A/videos/1003254/")
    why = {Path(p).name: r for p, r in res.failures}
    assert why["8_9_A_001.mp4"] == "listed in dataset.json but absent"
    assert "unknown label 'maybe'" in why["7_A_001.mp4"]
    assert "kept the folder's label" in why["6_A_001.mp4"] and v.loc["original_videos/6/6_A_001", "label"] == 0
    assert "unknown folder 'extras'" in why["5_A_001.mp4"]
    assert "not listed" in why["2_1_A_001.mp4"]


def test_dfdcp_malformed_or_missing_metadata(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    with pytest.raises(LayoutError, match="dataset.json"):
        index_dfdcp(root)
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"dataset.json: not valid JSON"):
        index_dfdcp(root)
    (root / "dataset.json").write_text(json.dumps(["method_A/x.mp4"]))
    with pytest.raises(ValueError, match="expected a JSON object"):
        index_dfdcp(root)


def test_cli_index_lists_every_dataset_and_runs_dfdcp(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["index", "--help"])
    usage = capsys.readouterr().out
    for name in INDEXERS:
        assert name in usage
    root = build(tmp_path / "dfdc_preview_set", META)
    out = tmp_path / "labels" / "dfdcp.csv"
    assert main(["index", str(root), "--dataset", "dfdcp", "--out", str(out), "--leak", "test"]) == 0
    printed = capsys.readouterr().out
    assert "layout matched: dataset.json paths as listed" in printed
    table = load_table(out)
    assert set(table["method"]) == {"original", "method_A", "method_B"} and len(table) == len(META)
    assert main(["index", str(root), "--dataset", "dfdcp", "--out", str(out), "--fake-audio-reals"]) == 2
