"""DFD indexer on a tree of empty files named as the release names them (FaceForensics++ download script)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepfakeforensics.cli import main
from deepfakeforensics.indexing import COLUMNS, LayoutError, check_group_splits, index_dataset, index_dfd
from deepfakeforensics.indexing.dfd import dfd_keys

REALS = [
    "01__exit_phone_room",
    "01__hugging_happy",
    "02__exit_phone_room",
    "03__kitchen_pan",
    "04__podium_speech_happy",
]
FAKES = ["01_02__exit_phone_room__YVGY8LOK", "01_02__hugging_happy__YVGY8LOK", "03_11__talking_against_wall__P08VGHTA"]


def touch(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).touch()


@pytest.fixture
def dfd(tmp_path: Path) -> Path:
    root = tmp_path / "FaceForensics++"
    for comp in ("c23", "c40"):
        touch(root, *(f"original_sequences/actors/{comp}/videos/{n}.mp4" for n in REALS))
        touch(root, *(f"manipulated_sequences/DeepFakeDetection/{comp}/videos/{n}.mp4" for n in FAKES))
    touch(root, *(f"manipulated_sequences/DeepFakeDetection/masks/videos/{n}.mp4" for n in FAKES))
    touch(root, "original_sequences/youtube/c23/videos/000.mp4")  # FF++'s own reals are not DFD
    return root


def test_dfd_rows_labels_and_test_set(dfd):
    res = index_dfd(dfd)
    v = res.videos
    assert list(v.columns) == COLUMNS
    assert len(v) == 2 * (len(REALS) + len(FAKES))  # no masks, no youtube reals
    assert set(v["compression"]) == {"c23", "c40"} and set(v["split"]) == {"test"}
    row = v.set_index("video_id").loc["DeepFakeDetection/c23/01_02__exit_phone_room__YVGY8LOK"]
    assert (row["label"], row["method"], row["dataset"]) == (1, "DeepFakeDetection", "dfd")
    assert row["path"] == "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__exit_phone_room__YVGY8LOK.mp4"
    assert v.set_index("video_id").loc["actors/c40/04__podium_speech_happy", "label"] == 0
    assert res.failures == []


def test_dfd_identity_groups_join_both_actors(dfd):
    g = dict(zip(*(index_dfd(dfd).videos[c] for c in ("video_id", "group")), strict=True))
    fake = g["DeepFakeDetection/c23/01_02__exit_phone_room__YVGY8LOK"]
    assert fake == g["actors/c23/01__exit_phone_room"] == g["actors/c40/02__exit_phone_room"] == "actor01"
    assert g["actors/c23/01__hugging_happy"] == fake  # the same target actor in another scene
    assert g["actors/c23/03__kitchen_pan"] == g["DeepFakeDetection/c40/03_11__talking_against_wall__P08VGHTA"]
    assert g["actors/c23/04__podium_speech_happy"] == "actor04"  # never swapped: alone


def test_dfd_video_groups_follow_the_target_clip(dfd):
    g = dict(zip(*(index_dfd(dfd, group_by="video").videos[c] for c in ("video_id", "group")), strict=True))
    assert g["DeepFakeDetection/c23/01_02__exit_phone_room__YVGY8LOK"] == g["actors/c23/01__exit_phone_room"]
    assert g["actors/c23/01__hugging_happy"] != g["actors/c23/01__exit_phone_room"]
    assert g["actors/c23/02__exit_phone_room"] != g["actors/c23/01__exit_phone_room"]
    assert dfd_keys("01_02__exit_phone_room__YVGY8LOK", fake=True) == ["actor01", "actor02"]
    assert dfd_keys("not_a_dfd_name", fake=False) == []


def test_dfd_split_on_request_is_by_group(dfd):
    v = index_dfd(dfd, ratios={"train": 0.5, "val": 0.25, "test": 0.25}, seed=1).videos
    check_group_splits(v)
    assert v.groupby("group")["split"].nunique().max() == 1
    assert len(set(v["split"])) > 1  # three groups (actor01 with 02, actor03 with 11, actor04) spread out


def test_dfd_filters_failures_and_layout(dfd, tmp_path):
    res = index_dfd(dfd, compressions=["c23", "raw"])
    assert set(res.videos["compression"]) == {"c23"}
    assert any("'raw'" in r for _, r in res.failures)
    only_fakes = tmp_path / "only_fakes"
    touch(only_fakes, f"manipulated_sequences/DeepFakeDetection/c23/videos/{FAKES[0]}.mp4")
    res = index_dataset(only_fakes, "dfd")
    assert set(res.videos["label"]) == {1}
    assert any(p.endswith("original_sequences/actors") and "not found" in r for p, r in res.failures)
    with pytest.raises(LayoutError, match="not a DFD root"):
        index_dfd(tmp_path / "nothing")
    with pytest.raises(ValueError, match="group_by"):
        index_dfd(dfd, group_by="celebrity")


def test_cli_group_by_a_grouping_dfd_lacks_is_a_usage_error(dfd, tmp_path, capsys):
    out = tmp_path / "labels" / "dfd.csv"
    argv = ["index", str(dfd), "--dataset", "dfd", "--out", str(out)]
    assert main([*argv, "--group-by", "celebrity"]) == 2
    printed = capsys.readouterr().out
    assert "--group-by celebrity does not apply to --dataset dfd: it takes identity, video" in printed
    assert not out.exists()  # refused before indexing anything
    assert main([*argv, "--group-by", "video"]) == 0  # a grouping DFD has
    assert out.is_file()
