"""Celeb-DF++ indexer: Celeb-DF v2 reals, Celeb-synthesis/<scenario>/<method>/ fakes, the official test list.

Folder names are the README's (github.com/OUC-VAS/Celeb-DF-PP); file names follow Celeb-DF v2's (``id0_id16_0000``),
which the new methods reuse for their source clips; a one-identity name (``id3_0001``) stands for a method that
animates a single celebrity.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deepfakeforensics.indexing import COLUMNS, LayoutError, SplitLeakError, check_group_splits, index_celebdfpp


def touch(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).touch()


@pytest.fixture
def cdfpp(tmp_path: Path) -> Path:
    root = tmp_path / "Celeb-DF++"
    touch(root, *(f"Celeb-real/{n}.mp4" for n in ("id0_0000", "id1_0000", "id2_0000", "id3_0001", "id4_0002")))
    touch(root, "YouTube-real/00000.mp4", "YouTube-real/00001.mp4")
    touch(
        root,
        "Celeb-synthesis/FaceSwap/Celeb-DF/id0_id1_0000.mp4",
        "Celeb-synthesis/FaceSwap/BlendFace/id0_id1_0000.mp4",  # the same name under another method
        "Celeb-synthesis/FaceSwap/InSwapper/id2_id1_0000.mp4",
        "Celeb-synthesis/FaceReenact/LivePortrait/id2_id0_0000.mp4",
        "Celeb-synthesis/TalkingFace/SadTalker/id3_0001.mp4",
        "Celeb-synthesis/TalkingFace/IP_LAP/id4_0002.mp4",
    )
    (root / "Celeb-synthesis/FaceReenact/DaGAN").mkdir(parents=True)
    touch(root, "Celeb-synthesis/Extras/x/id9_0000.mp4")
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id2_0000.mp4\n1 YouTube-real/00000.mp4\n"
        "0 Celeb-synthesis/FaceSwap/InSwapper/id2_id1_0000.mp4\n"
        "0 Celeb-synthesis/FaceReenact/LivePortrait/id2_id0_0000.mp4\n"
        "0 Celeb-synthesis/TalkingFace/SadTalker/id3_0001.mp4\n"
        "0 Celeb-synthesis/TalkingFace/EDTalk/id5_0000.mp4\n"
    )
    return root


def test_celebdfpp_methods_scenarios_and_test_list(cdfpp):
    res = index_celebdfpp(cdfpp)
    v = res.videos.set_index("video_id")
    assert list(res.videos.columns) == [*COLUMNS, "scenario"]
    row = v.loc["Celeb-synthesis/FaceSwap/BlendFace/id0_id1_0000"]
    assert (row["label"], row["method"], row["scenario"]) == (1, "BlendFace", "FaceSwap")
    assert v.loc["Celeb-synthesis/FaceSwap/Celeb-DF/id0_id1_0000", "method"] == "Celeb-DF"
    assert v.loc["Celeb-synthesis/TalkingFace/IP_LAP/id4_0002", "scenario"] == "TalkingFace"
    assert v.loc["Celeb-real/id0_0000", "method"] == "original" and v["scenario"].isna()["Celeb-real/id0_0000"]
    test = set(v.index[v["split"] == "test"])
    assert {"Celeb-real/id2_0000", "YouTube-real/00000", "Celeb-synthesis/TalkingFace/SadTalker/id3_0001"} <= test
    assert "Celeb-synthesis/FaceReenact/LivePortrait/id2_id0_0000" in test
    # celebrity of the source clip: the one-identity talking face id4_0002 joins id4's real clip
    assert v.loc["Celeb-synthesis/TalkingFace/IP_LAP/id4_0002", "group"] == v.loc["Celeb-real/id4_0002", "group"]
    # id3's talking face is in test, so its real clip (not listed) is dropped: a group never spans two splits
    assert "Celeb-real/id3_0001" not in v.index
    check_group_splits(res.videos)
    why = {Path(p).as_posix().split("Celeb-DF++/")[1]: r for p, r in res.failures}
    assert "absent" in why["Celeb-synthesis/TalkingFace/EDTalk/id5_0000.mp4"]
    assert why["Celeb-synthesis/FaceReenact/DaGAN"].startswith("empty folder")
    assert "not a Celeb-DF++ scenario folder" in why["Celeb-synthesis/Extras"]
    assert "dropped" in why["Celeb-real/id3_0001.mp4"]


def test_celebdfpp_grouping_leak_and_method_filter(cdfpp, tmp_path):
    strict = index_celebdfpp(cdfpp, group_by="identity", leak="test").videos.set_index("video_id")
    # identity links id0-id1 (swaps) and id2-id1, id2-id0: one group, pulled into test by id2's listed videos
    assert strict.loc["Celeb-synthesis/FaceSwap/BlendFace/id0_id1_0000", "split"] == "test"
    with pytest.raises(SplitLeakError, match="group 'id3'"):
        index_celebdfpp(cdfpp, leak="error")
    only = index_celebdfpp(cdfpp, methods=["SadTalker", "FOMM"])
    assert set(only.videos.loc[only.videos["label"] == 1, "method"]) == {"SadTalker"}
    assert any("FOMM" in p and "not found" in r for p, r in only.failures)
    touch(tmp_path / "v2", "Celeb-synthesis/id0_id1_0000.mp4", "Celeb-real/id0_0000.mp4")
    res = index_celebdfpp(tmp_path / "v2")
    assert any("Celeb-DF v2 layout" in r for _, r in res.failures)
    with pytest.raises(LayoutError, match="Celeb-DF\\+\\+"):
        index_celebdfpp(tmp_path / "nothing")
