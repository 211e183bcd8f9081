"""FFIW-10K indexer: source/target/target_mask per split folder (README layout), and SBI's videos/ variant.

The README does not show file names and none were found in public code; the names here are placeholders shaped as
numbered clips, and the test covers both a matching source/target name and one without a partner.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deepfakeforensics.indexing import COLUMNS, LayoutError, check_group_splits, index_ffiw


def touch(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).touch()


def test_ffiw_folders_labels_splits_and_groups(tmp_path):
    root = tmp_path / "FFIW10K-v1-release"
    for split, names in (("train", ["00000", "00001", "00002"]), ("val", ["00000", "00003"])):
        touch(root, *(f"source/{split}/{n}.mp4" for n in names), *(f"target/{split}/{n}.mp4" for n in names))
        touch(root, *(f"target_mask/{split}/{n}.mp4" for n in names))
    touch(root, "target/val/00009.mp4", "source/readme.txt", "source/stray.mp4")
    (root / "source/extra").mkdir()
    res = index_ffiw(root)
    v = res.videos.set_index("video_id")
    assert list(res.videos.columns) == COLUMNS
    assert len(v) == 2 * 5 + 1 and not any(p.startswith("target_mask") for p in v["path"])
    assert v.loc["source/train/00001", ["label", "method", "split"]].tolist() == [0, "original", "train"]
    assert v.loc["target/val/00003", ["label", "method", "split"]].tolist() == [1, "fake", "val"]
    # the same name in one split: one group; the same name in another split: another group
    assert v.loc["source/val/00000", "group"] == v.loc["target/val/00000", "group"] == "val/00000"
    assert v.loc["source/train/00000", "group"] == "train/00000"
    assert v.loc["target/val/00009", "group"] == "val/00009"  # no source of that name: alone
    check_group_splits(res.videos)
    why = {Path(p).name: r for p, r in res.failures}
    assert why["stray.mp4"].startswith("outside a train/val/test folder") and "readme.txt" not in why
    assert why["extra"].startswith("unknown split folder")
    assert res.videos.attrs["layout"] == "videos directly in each split folder"


def test_ffiw_sbi_videos_folder_and_test_archive(tmp_path):
    root = tmp_path / "FFIW10K-v1-release-test"
    touch(root, "source/test/videos/00010.mp4", "target/test/videos/00010.mp4")
    res = index_ffiw(root)
    v = res.videos.set_index("video_id")
    assert list(v.index) == ["source/test/00010", "target/test/00010"]
    assert set(v["split"]) == {"test"} and v["group"].nunique() == 1
    assert res.videos.attrs["layout"] == "a videos/ folder in each split folder (SBI)"
    touch(tmp_path / "fakes_only", "target/val/00001.mp4")
    res = index_ffiw(tmp_path / "fakes_only")
    assert any(p.endswith("source") and "no real videos" in r for p, r in res.failures)
    with pytest.raises(LayoutError, match="FFIW-10K"):
        index_ffiw(tmp_path / "nothing")
