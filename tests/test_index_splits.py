"""Group splits: seeded assignment, official assignments, leak checks, union-find, the indexers' shared pipeline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from deepfakeforensics.data.video import VIDEO_EXTENSIONS
from deepfakeforensics.indexing import COLUMNS, SplitLeakError, _common, check_group_splits, group_split
from deepfakeforensics.indexing._common import UnionFind
from deepfakeforensics.indexing._pipeline import IndexDraft, assign_groups, finalise_index
from deepfakeforensics.indexing.splits import resolve_splits


def test_union_find_merges_chains_and_names_by_smallest_key():
    uf = UnionFind()
    uf.union("519", "515")
    uf.union("515", "700")
    uf.union("900", "901")
    assert uf.find("700") == uf.find("519") == "515"
    assert uf.find("901") == "900"
    assert uf.find("lonely") == "lonely"


def test_group_split_reaches_ratios_and_is_deterministic():
    sizes = {f"g{i:03d}": 1 for i in range(100)}
    a = group_split(sizes, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=3)
    assert pd.Series(a).value_counts().to_dict() == {"train": 70, "val": 15, "test": 15}
    assert a == group_split(dict(reversed(list(sizes.items()))), {"train": 0.7, "val": 0.15, "test": 0.15}, seed=3)
    assert a != group_split(sizes, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=4)


def test_group_split_balances_video_counts_not_group_counts():
    sizes = {"big": 50, **{f"s{i}": 1 for i in range(50)}}
    a = group_split(sizes, {"train": 0.5, "test": 0.5}, seed=0)
    counts = {s: sum(n for g, n in sizes.items() if a[g] == s) for s in ("train", "test")}
    assert counts == {"train": 50, "test": 50}


def test_group_split_with_fewer_groups_than_splits_never_divides_a_group():
    a = group_split({"only": 7}, seed=0)
    assert a == {"only": "train"}
    b = group_split({"x": 5, "y": 1}, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=1)
    assert set(b) == {"x", "y"}


@pytest.mark.parametrize("ratios", [{"train": -1, "val": 2}, {"train": 0}, {"training": 1}])
def test_group_split_rejects_bad_ratios(ratios):
    with pytest.raises(ValueError, match="ratio|split"):
        group_split({"a": 1}, ratios)


def _videos(groups: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": [f"v{i}" for i in range(len(groups))],
            "path": [f"v{i}.mp4" for i in range(len(groups))],
            "group": groups,
            "label": 0,
        }
    )


def test_check_group_splits_names_the_leaking_group():
    df = _videos(["a", "a", "b"]).assign(split=["train", "test", "val"])
    with pytest.raises(SplitLeakError, match=r"group 'a' spans splits \['test', 'train'\]"):
        check_group_splits(df)
    check_group_splits(df.assign(split=["test", "test", "val"]))


def test_resolve_splits_official_conflict_raises_naming_group():
    df = _videos(["a", "a", "b"])
    with pytest.raises(SplitLeakError, match="group 'a'.*v0 in train.*v1 in val|group 'a'.*v1 in val"):
        resolve_splits(df, {"v0": "train", "v1": "val"})


@pytest.mark.parametrize("unlisted", ["inherit", "drop", "error"])
def test_resolve_splits_unlisted_policies(unlisted):
    df = _videos(["a", "a", "b", "c", "d"])
    df.attrs["root"] = "/data"
    official = {"v0": "test"}
    if unlisted == "error":
        with pytest.raises(SplitLeakError, match="group 'a'"):
            resolve_splits(df, official, unlisted=unlisted)
        return
    out, failures = resolve_splits(df, official, ratios={"train": 0.5, "val": 0.5}, unlisted=unlisted)
    by_id = dict(zip(out["video_id"], out["split"], strict=True))
    assert by_id["v0"] == "test"
    assert {by_id[v] for v in ("v2", "v3", "v4")} <= {"train", "val"}
    if unlisted == "inherit":
        assert by_id["v1"] == "test" and failures == []
    else:
        assert "v1" not in by_id
        assert failures[0][0] == "/data/v1.mp4" and "dropped" in failures[0][1] and "'a'" in failures[0][1]


def _draft(tmp_path: Path, videos: dict[str, list[str]]) -> IndexDraft:
    draft = IndexDraft(tmp_path, "test")
    for vid, keys in videos.items():
        draft.add(tmp_path / f"{vid}.mp4", vid, label=int(vid.startswith("f")), method="m", keys=keys)
    return draft


def test_assign_groups_joins_shared_keys_and_prefers_named_keys(tmp_path):
    draft = _draft(tmp_path, {"r1": ["p2"], "f1": ["p2", "p1"], "f2": ["p1"], "r3": ["p3"], "lone": []})
    assert assign_groups(draft) == {"r1": "p1", "f1": "p1", "f2": "p1", "r3": "p3", "lone": "lone"}
    draft.preferred_names.update({"p2", "p9"})
    assert assign_groups(draft)["f2"] == "p2"


def test_assign_groups_rejects_a_repeated_video_id(tmp_path):
    draft = _draft(tmp_path, {"a": [], "b": []})
    draft.add(tmp_path / "a.avi", "a", label=0, method="m")
    with pytest.raises(ValueError, match=r"video_id not unique .*\['a'\]"):
        assign_groups(draft)


def test_finalise_index_applies_official_splits_and_keeps_failures(tmp_path):
    draft = _draft(tmp_path, {"r1": ["p1"], "f1": ["p1", "p2"], "r2": ["p2"], "r3": ["p3"], "r4": ["p4"]})
    draft.fail(tmp_path / "gone.mp4", "listed but absent")
    groups = assign_groups(draft)
    res = finalise_index(draft, groups, {"r1": "test"}, ratios={"train": 1.0}, unlisted="drop", source="my list")
    assert dict(zip(res.videos["video_id"], res.videos["split"], strict=True)) == {
        "r1": "test",
        "r3": "train",
        "r4": "train",
    }
    assert res.failures[0] == (str(tmp_path / "gone.mp4"), "listed but absent")
    assert [Path(p).name for p, _ in res.failures[1:]] == ["f1.mp4", "r2.mp4"]
    assert list(res.videos.columns) == COLUMNS and set(res.videos["dataset"]) == {"test"}
    with pytest.raises(SplitLeakError, match="my list: group 'p1' spans splits"):
        finalise_index(draft, groups, {"r1": "test", "r2": "val"}, source="my list")


def test_indexers_use_the_one_list_of_video_extensions(tmp_path):
    for name in ("a.mp4", "b.MKV", "c.txt", "d.jpg", ".e.mp4"):
        (tmp_path / name).touch()
    found = [p.name for p in _common.iter_videos(tmp_path)]
    assert found == ["a.mp4", "b.MKV"]
    assert _common.VIDEO_EXTENSIONS is VIDEO_EXTENSIONS
