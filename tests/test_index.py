"""Indexers on directory trees built by the tests (empty files), on the real samples, and `dff index`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from deepfakeforensics._io import load_table
from deepfakeforensics.cli import main
from deepfakeforensics.indexing import (
    COLUMNS,
    LayoutError,
    SplitLeakError,
    check_group_splits,
    index_celebdf,
    index_dataset,
    index_deeperforensics,
    index_dfdc,
    index_ffpp,
    index_folder,
)


def touch(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).touch()


def by_id(df: pd.DataFrame, column: str) -> dict:
    return dict(zip(df["video_id"], df[column], strict=True))


def reasons(failures) -> dict[str, str]:
    return {Path(p).name: r for p, r in failures}


# ---------------------------------------------------------------- FaceForensics++

YT = [f"{i:03d}" for i in range(12)]
PAIRS = [("000", "001"), ("001", "000"), ("002", "003"), ("003", "002"), ("004", "005"), ("008", "009"), ("010", "011")]


@pytest.fixture
def ffpp(tmp_path: Path) -> Path:
    root = tmp_path / "ffpp"
    for comp in ("c23", "c40"):
        touch(root, *(f"original_sequences/youtube/{comp}/videos/{i}.mp4" for i in YT))
        for method in ("Deepfakes", "Face2Face"):
            touch(root, *(f"manipulated_sequences/{method}/{comp}/videos/{t}_{s}.mp4" for t, s in PAIRS))
    # a chain: FaceSwap 005_006 links 006 to the 004/005 group; FaceSwap masks are no compression
    touch(
        root,
        "manipulated_sequences/FaceSwap/c23/videos/005_006.mp4",
        "manipulated_sequences/FaceSwap/masks/videos/005_006.mp4",
    )
    touch(
        root,
        "original_sequences/actors/c23/videos/01__walk.mp4",
        "original_sequences/actors/c23/videos/02__talk.mp4",
        "original_sequences/actors/c23/videos/03__talk.mp4",
        "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__walk__ABCD1234.mp4",
    )
    return root


def write_ff_splits(folder: Path, train, val, test) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, pairs in (("train", train), ("val", val), ("test", test)):
        (folder / f"{name}.json").write_text(json.dumps([list(p) for p in pairs]))


def test_ffpp_labels_ids_and_groups(ffpp):
    res = index_ffpp(ffpp, splits_dir=None)
    v = res.videos
    assert list(v.columns) == COLUMNS
    assert v["video_id"].is_unique
    assert len(v) == 2 * 12 + 2 * 2 * len(PAIRS) + 1 + 3 + 1
    assert by_id(v, "label")["original/c23/000"] == 0 and by_id(v, "label")["Deepfakes/c40/000_001"] == 1
    assert by_id(v, "label")["actors/c23/01__walk"] == 0
    assert by_id(v, "method")["DeepFakeDetection/c23/01_02__walk__ABCD1234"] == "DeepFakeDetection"
    assert by_id(v, "path")["Face2Face/c40/002_003"] == "manipulated_sequences/Face2Face/c40/videos/002_003.mp4"
    assert "masks" not in set(v["compression"])
    g = by_id(v, "group")
    # every method and compression of a pair, both directions and the reals share one group
    assert {g["original/c23/000"], g["original/c40/001"], g["Deepfakes/c23/001_000"], g["Face2Face/c40/000_001"]} == {
        "000"
    }
    # chain 004_005 + 005_006 merges three identities
    assert g["original/c23/004"] == g["original/c23/006"] == g["FaceSwap/c23/005_006"] == "004"
    assert g["original/c23/007"] == "007"  # a real with no fake is its own group
    assert g["actors/c23/01__walk"] == g["actors/c23/02__talk"] == g["DeepFakeDetection/c23/01_02__walk__ABCD1234"]
    assert g["actors/c23/03__talk"] != g["actors/c23/01__walk"]
    check_group_splits(v)
    assert set(v["split"]) <= {"train", "val", "test"}
    assert v.attrs["root"] == str(ffpp.resolve())


def test_ffpp_seeded_split_is_deterministic_and_seed_dependent(ffpp):
    a = index_ffpp(ffpp, seed=1).videos
    pd.testing.assert_frame_equal(a, index_ffpp(ffpp, seed=1).videos)
    assignments = {tuple(index_ffpp(ffpp, seed=s).videos.groupby("group")["split"].first()) for s in range(8)}
    assert len(assignments) > 1
    only_train = index_ffpp(ffpp, ratios={"train": 1.0}).videos
    assert set(only_train["split"]) == {"train"}


def test_ffpp_filters(ffpp):
    v = index_ffpp(ffpp, methods=["Deepfakes"], compressions=["c23"]).videos
    assert set(v["method"]) == {"original", "Deepfakes"}  # actors only come with DeepFakeDetection
    assert set(v["compression"]) == {"c23"}
    res = index_ffpp(ffpp, methods=["DeepFakeDetection", "NeuralTextures"], compressions=["c23", "raw"])
    assert set(res.videos["method"]) == {"original", "actors", "DeepFakeDetection"}
    assert any("NeuralTextures" in p and "not found" in r for p, r in res.failures)
    assert any("'raw'" in r for _, r in res.failures)


def test_ffpp_official_splits(ffpp):
    write_ff_splits(
        ffpp / "splits",
        train=[("000", "001"), ("004", "005"), ("006", "007")],
        val=[("002", "003")],
        test=[("008", "009"), ("010", "011")],
    )
    v = index_ffpp(ffpp).videos
    s = by_id(v, "split")
    assert s["original/c23/000"] == s["Face2Face/c40/001_000"] == "train"
    assert s["original/c40/003"] == s["Deepfakes/c23/002_003"] == "val"
    assert s["original/c23/011"] == s["Deepfakes/c23/010_011"] == "test"
    assert s["FaceSwap/c23/005_006"] == s["original/c23/007"] == "train"
    assert index_ffpp(ffpp).failures == []
    # the actors are not in the official files: seeded, but still whole groups
    check_group_splits(v)
    # the same files given with --splits elsewhere
    other = ffpp.parent / "my_splits"
    write_ff_splits(other, train=[("000", "001")], val=[("002", "003")], test=[("004", "005"), ("006", "007")])
    s2 = by_id(index_ffpp(ffpp, splits_dir=other).videos, "split")
    assert s2["original/c23/006"] == s2["FaceSwap/c23/005_006"] == "test"
    # ids listed officially that no indexed video shows are reported
    write_ff_splits(other, train=[("000", "001"), ("998", "999")], val=[], test=[])
    res = index_ffpp(ffpp, splits_dir=other)
    assert reasons(res.failures) == {
        "998.mp4": "id listed in train.json but no video shows it",
        "999.mp4": "id listed in train.json but no video shows it",
    }


def test_ffpp_leaking_official_split_fails_naming_the_group(ffpp):
    # 006 in val, but FaceSwap 005_006 ties it to 004/005 in train
    write_ff_splits(ffpp / "splits", train=[("000", "001"), ("004", "005")], val=[("006", "007")], test=[])
    with pytest.raises(SplitLeakError, match="005_006.*'005', '006'|'004'"):
        index_ffpp(ffpp)
    # a pair listed across two splits: caught at the group level
    write_ff_splits(ffpp / "splits", train=[("002", "007")], val=[("003", "008")], test=[])
    with pytest.raises(SplitLeakError, match=r"video 'Deepfakes/c23/002_003' \(group '002'\)"):
        index_ffpp(ffpp)
    write_ff_splits(ffpp / "splits", train=[("000", "001")], val=[("001", "002")], test=[])
    with pytest.raises(SplitLeakError, match="'001' is listed in both train and val"):
        index_ffpp(ffpp)


def test_ffpp_missing_and_unknown_layouts(tmp_path):
    root = tmp_path / "ff"
    touch(root, "original_sequences/youtube/c23/videos/000.mp4", "manipulated_sequences/Deepfakes/c23/videos/notes.txt")
    (root / "manipulated_sequences/Face2Face/c23").mkdir(parents=True)
    (root / "original_sequences/weird").mkdir(parents=True)
    res = index_ffpp(root)
    assert list(res.videos["video_id"]) == ["original/c23/000"]
    r = {p.split("ff/", 1)[1]: why for p, why in res.failures}
    assert r["manipulated_sequences/Deepfakes/c23/videos"].startswith("empty folder")
    assert "videos/ folder" in r["manipulated_sequences/Face2Face/c23"]
    assert "unknown layout" in r["original_sequences/weird"]
    with pytest.raises(LayoutError, match="expected original_sequences"):
        index_ffpp(tmp_path)


def test_ffpp_on_samples(samples_dir):
    res = index_ffpp(samples_dir / "ffpp")
    v = res.videos
    assert by_id(v, "label") == {"Deepfakes/c23/519_515": 1, "original/c23/519": 0}
    assert v["group"].nunique() == 1 and v["split"].nunique() == 1
    assert all((samples_dir / "ffpp" / p).is_file() for p in v["path"])
    assert res.failures == []


# ---------------------------------------------------------------- Celeb-DF


@pytest.fixture
def celebdf(tmp_path: Path) -> Path:
    root = tmp_path / "Celeb-DF-v2"
    touch(
        root,
        *(
            f"Celeb-real/{n}.mp4"
            for n in ("id0_0000", "id0_0001", "id1_0000", "id2_0000", "id2_0001", "id3_0000", "id4_0000", "id5_0000")
        ),
    )
    touch(root, *(f"Celeb-synthesis/{n}.mp4" for n in ("id0_id1_0000", "id1_id0_0000", "id2_id3_0000", "id4_id5_0000")))
    touch(root, *(f"YouTube-real/videos/{n:05d}.mp4" for n in range(4)))  # some copies nest a videos/ folder
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id2_0000.mp4\n0 Celeb-synthesis/id2_id3_0000.mp4\n1 YouTube-real/00000.mp4\n"
        "0 Celeb-synthesis/id9_id1_0000.mp4\n0 Celeb-real/id4_0000.mp4\n\n"
    )
    return root


def test_celebdf_official_test_list_and_labels(celebdf):
    res = index_celebdf(celebdf)
    v, s = res.videos, by_id(res.videos, "split")
    assert by_id(v, "label")["Celeb-synthesis/id0_id1_0000"] == 1 and by_id(v, "label")["YouTube-real/00001"] == 0
    # 1 means REAL in the list; the folder label wins on disagreement, which is reported
    assert by_id(v, "label")["Celeb-real/id4_0000"] == 0
    assert "folder says otherwise" in reasons(res.failures)["id4_0000.mp4"]
    assert "absent" in reasons(res.failures)["id9_id1_0000.mp4"]
    test = set(v.loc[v["split"] == "test", "video_id"])
    assert {"Celeb-real/id2_0000", "Celeb-synthesis/id2_id3_0000", "YouTube-real/00000", "Celeb-real/id4_0000"} <= test
    g = by_id(v, "group")
    assert g["Celeb-synthesis/id0_id1_0000"] == g["Celeb-real/id0_0001"] == "id0"
    assert g["Celeb-real/id3_0000"] == "id3"  # celebrity of the source clip only
    assert {s["Celeb-real/id0_0000"], s["YouTube-real/00001"]} <= {"train", "val"}
    check_group_splits(v)


def test_celebdf_leak_policies(celebdf):
    # id2_0001 and id4_id5_0000 are not listed but share a celebrity with listed test videos
    dropped = index_celebdf(celebdf)  # leak="drop"
    assert "Celeb-real/id2_0001" not in set(dropped.videos["video_id"])
    assert "Celeb-synthesis/id4_id5_0000" not in set(dropped.videos["video_id"])
    assert "dropped" in reasons(dropped.failures)["id2_0001.mp4"]
    moved = index_celebdf(celebdf, leak="test").videos
    assert by_id(moved, "split")["Celeb-real/id2_0001"] == "test"
    with pytest.raises(SplitLeakError, match="group 'id2'|group 'id4'"):
        index_celebdf(celebdf, leak="error")
    # stricter grouping: both celebrities of a swap; id2_id3 pulls id3 into test's group
    strict = index_celebdf(celebdf, group_by="identity")
    assert "Celeb-real/id3_0000" not in set(strict.videos["video_id"])
    assert by_id(strict.videos, "group")["Celeb-real/id1_0000"] == "id0"
    loose = index_celebdf(celebdf, group_by="video")
    assert by_id(loose.videos, "group")["Celeb-synthesis/id0_id1_0000"] == "id0_0000"
    kept = set(loose.videos["video_id"])
    assert "Celeb-real/id2_0001" in kept and "Celeb-synthesis/id4_id5_0000" not in kept  # a fake of test clip id4_0000


def test_celebdf_without_test_list_and_bad_layout(celebdf, tmp_path):
    (celebdf / "List_of_testing_videos.txt").unlink()
    res = index_celebdf(celebdf, ratios={"train": 0.5, "val": 0.25, "test": 0.25})
    assert "not found" in reasons(res.failures)["List_of_testing_videos.txt"]
    assert set(res.videos["split"]) == {"train", "val", "test"}
    with pytest.raises(LayoutError, match="Celeb-real"):
        index_celebdf(tmp_path / "nothing")


# ---------------------------------------------------------------- DeeperForensics-1.0


@pytest.fixture
def deeper(tmp_path: Path) -> tuple[Path, Path]:
    root, ff = tmp_path / "DeeperForensics-1.0", tmp_path / "ffpp"
    names = ["000_M101", "001_M101", "002_W102", "003_W103"]
    touch(root, *(f"manipulated_videos/end_to_end/{n}.mp4" for n in names))
    touch(root, *(f"manipulated_videos/end_to_end_level_1/{n}.mp4" for n in names[:2]))
    (root / "manipulated_videos/reenact_postprocess").mkdir()
    touch(ff, *(f"original_sequences/youtube/c23/videos/{t}.mp4" for t in ("000", "001", "003")))
    lists = root / "lists/splits"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("000_M101.mp4\n003_W103.mp4\n")
    (lists / "val.txt").write_text("001_M101\n")
    (lists / "test.txt").write_text("002_W102.mp4\n")
    return root, ff


def test_deeperforensics_reals_from_ffpp_groups_and_lists(deeper):
    root, ff = deeper
    res = index_deeperforensics(root, ff)
    v, s, g = res.videos, by_id(res.videos, "split"), by_id(res.videos, "group")
    assert by_id(v, "label") == {
        **{vid: 1 for vid in v["video_id"] if not vid.startswith("original/")},
        "original/000": 0,
        "original/001": 0,
        "original/003": 0,
    }
    assert by_id(v, "path")["original/000"] == "../ffpp/original_sequences/youtube/c23/videos/000.mp4"
    assert (root / by_id(v, "path")["original/000"]).is_file()
    assert by_id(v, "method")["end_to_end_level_1/001_M101"] == "end_to_end_level_1"
    assert g["original/000"] == g["end_to_end/000_M101"] == g["end_to_end_level_1/000_M101"] == "t000"
    assert g["end_to_end/001_M101"] != g["end_to_end/000_M101"]  # actors are not linked by default
    assert s["original/000"] == s["end_to_end_level_1/000_M101"] == "train"
    assert s["original/001"] == "val" and s["end_to_end/002_W102"] == "test"
    r = reasons(res.failures)
    assert "absent" in r["002.mp4"] and r["reenact_postprocess"].startswith("empty folder")


def test_deeperforensics_leaks_and_missing_ffpp(deeper):
    root, ff = deeper
    with pytest.raises(SplitLeakError, match="group 'actorM101'"):
        index_deeperforensics(root, ff, link_actors=True)  # 000_M101 train, 001_M101 val
    (root / "lists/splits/test.txt").write_text("002_W102.mp4\n000_M101\n")
    with pytest.raises(SplitLeakError, match="'000_M101' is listed in both train and test"):
        index_deeperforensics(root, ff)
    (root / "empty_lists").mkdir()
    with pytest.raises(FileNotFoundError, match="empty_lists"):
        index_deeperforensics(root, ff, lists_dir=root / "empty_lists")
    (root / "lists/splits/test.txt").write_text("002_W102.mp4\n")
    fakes_only = index_deeperforensics(root, None, variants=["end_to_end"])
    assert set(fakes_only.videos["label"]) == {1} and len(fakes_only.videos) == 4
    assert any("ffpp_root" in r for _, r in fakes_only.failures)
    with pytest.raises(LayoutError, match="manipulated_videos"):
        index_deeperforensics(ff, ff)


# ---------------------------------------------------------------- DFDC


@pytest.fixture
def dfdc(tmp_path: Path) -> Path:
    root = tmp_path / "dfdc"
    part0, part1, test = root / "dfdc_train_part_0", root / "dfdc_train_part_1", root / "test"
    meta0 = {
        "a.mp4": {"label": "REAL", "split": "train"},
        "b.mp4": {"label": "FAKE", "split": "train", "original": "a.mp4"},
        "c.mp4": {"label": "FAKE", "split": "train", "original": "a.mp4"},
        "d.mp4": {"label": "REAL", "split": "train"},
        "e.mp4": {"label": "FAKE", "split": "train", "original": "zz.mp4"},
        "m.mp4": {"label": "FAKE", "split": "train", "original": "d.mp4"},
    }
    meta1 = {
        "f.mp4": {"label": "FAKE", "split": "train", "original": "d.mp4"},
        **{f"r{i}.mp4": {"label": "REAL", "split": "train"} for i in range(8)},
    }
    touch(root, *(f"dfdc_train_part_0/{n}" for n in meta0 if n != "m.mp4"), "dfdc_train_part_0/extra.mp4")
    touch(root, *(f"dfdc_train_part_1/{n}" for n in meta1))
    (part0 / "metadata.json").write_text(json.dumps(meta0))
    (part1 / "metadata.json").write_text(json.dumps(meta1))
    touch(test, "t1.mp4", "t2.mp4")
    (test / "labels.csv").write_text("filename,label\nt1.mp4,1\nt2.mp4,0\nt3.mp4,1\n")
    touch(root, "dfdc_train_part_9/readme.txt")
    (root / "dfdc_train_part_9/metadata.json").write_text("{}")
    # the preview release marks test videos in metadata.json
    touch(root, "preview/p1.mp4", "preview/p2.mp4")
    (root / "preview/metadata.json").write_text(
        json.dumps({"p1.mp4": {"label": "REAL", "split": "test"}, "p2.mp4": {"label": "FAKE", "original": "p1.mp4"}})
    )
    del part1
    return root


def test_dfdc_groups_splits_and_failures(dfdc):
    res = index_dfdc(dfdc)
    v, g, s = res.videos, by_id(res.videos, "group"), by_id(res.videos, "split")
    assert by_id(v, "label") == {
        "a": 0,
        "b": 1,
        "c": 1,
        "d": 0,
        "e": 1,
        "f": 1,
        "t1": 1,
        "t2": 0,
        "p1": 0,
        "p2": 1,
        **{f"r{i}": 0 for i in range(8)},
    }
    assert g["a"] == g["b"] == g["c"] == "a"
    assert g["d"] == g["f"] == "d"  # across parts
    assert g["e"] == "zz"  # named after its (absent) original
    assert s["t1"] == s["t2"] == "test"
    assert s["p1"] == s["p2"] == "test" and g["p2"] == "p1"  # an unlisted fake follows its original into test
    assert {s[k] for k in "abcdef"} <= {"train", "val"} and s["a"] == s["b"] == s["c"]
    assert set(v.loc[v["split"] != "test", "split"]) == {"train", "val"}
    r = reasons(res.failures)
    assert r["m.mp4"] == "listed in metadata.json but absent"
    assert r["t3.mp4"] == "listed in labels.csv but absent"
    assert "not listed" in r["extra.mp4"]
    assert r["dfdc_train_part_9"].startswith("empty folder")
    check_group_splits(v)
    with pytest.raises(LayoutError, match="metadata.json"):
        index_dfdc(dfdc / "dfdc_train_part_0" / "nothing")


def test_dfdc_on_samples(samples_dir):
    res = index_dfdc(samples_dir / "dfdc")
    assert by_id(res.videos, "group") == {"brtujopkby": "gnmmhlbzge"}
    assert by_id(res.videos, "label") == {"brtujopkby": 1}
    assert res.failures == [
        (str(samples_dir / "dfdc/dfdc_train_part_0/awnfpubqmo.mp4"), "listed in metadata.json but absent")
    ]


# ---------------------------------------------------------------- plain folder


def test_folder_layout(tmp_path):
    root = tmp_path / "mine"
    touch(
        root,
        "real/a.mp4",
        "Fake/deepfakes/b.MP4",
        "batch2/FAKE/c.avi",
        "batch2/real/d.mov",
        "other/e.mp4",
        "real/notes.txt",
    )
    (root / "batch3/fake").mkdir(parents=True)
    res = index_folder(root, seed=0)
    v = res.videos
    assert by_id(v, "label") == {"real/a": 0, "Fake/deepfakes/b": 1, "batch2/FAKE/c": 1, "batch2/real/d": 0}
    assert by_id(v, "method") == {
        "real/a": "original",
        "Fake/deepfakes/b": "deepfakes",
        "batch2/FAKE/c": "fake",
        "batch2/real/d": "original",
    }
    assert by_id(v, "group")["batch2/FAKE/c"] == "batch2/FAKE/c"
    r = reasons(res.failures)
    assert "skipped" in r["e.mp4"] and r["fake"].startswith("empty folder")
    with pytest.raises(LayoutError, match="real/ and fake/"):
        index_folder(root / "other")


def test_folder_csv(tmp_path):
    root = tmp_path / "csvset"
    touch(root, "x/1.mp4", "x/2.mp4", "y/3.mp4", "y/4.mp4")
    (root / "labels.csv").write_text(
        "path,label,group\nx/1.mp4,real,p\nx/2.mp4,FAKE,p\ny/3.mp4,1,q\ny/4.mp4,0,r\ny/5.mp4,1,r\ny/4.mp4,maybe,r\n"
    )
    res = index_folder(root / "labels.csv")  # ROOT may be the CSV itself
    v = res.videos
    assert by_id(v, "label") == {"x/1": 0, "x/2": 1, "y/3": 1, "y/4": 0}
    assert by_id(v, "split")["x/1"] == by_id(v, "split")["x/2"]
    r = reasons(res.failures)
    assert "absent" in r["5.mp4"] and "unknown label" in r["4.mp4"]
    (root / "split.csv").write_text("path,label,group,split\nx/1.mp4,0,p,train\nx/2.mp4,1,p,test\n")
    with pytest.raises(SplitLeakError, match="group 'p'"):
        index_folder(root, labels_csv=root / "split.csv")
    (root / "bad.csv").write_text("file,label\nx/1.mp4,0\n")
    with pytest.raises(ValueError, match=r"bad.csv: missing columns \['path'\]"):
        index_folder(root, labels_csv=root / "bad.csv")


def test_index_dataset_dispatch(tmp_path):
    touch(tmp_path, "real/a.mp4", "fake/b.mp4")
    assert len(index_dataset(tmp_path, "folder").videos) == 2
    with pytest.raises(ValueError, match="unknown dataset 'ffhq'"):
        index_dataset(tmp_path, "ffhq")


# ---------------------------------------------------------------- dff index


def test_cli_index_writes_table_and_fresh_failures(ffpp, tmp_path, capsys):
    (ffpp / "manipulated_sequences/NeuralTextures/c23/videos").mkdir(parents=True)
    out = tmp_path / "labels" / "ff.csv"
    failures_csv = tmp_path / "labels" / "ff_failures.csv"
    failures_csv.parent.mkdir()
    failures_csv.write_text("path,reason\nstale,from an older run\n")
    assert (
        main(
            [
                "index",
                str(ffpp),
                "--dataset",
                "ffpp",
                "--out",
                str(out),
                "--compressions",
                "c23",
                "--ratios",
                "0.5",
                "0.25",
                "0.25",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    table = load_table(out)
    assert table.attrs["root"] == str(ffpp.resolve())
    assert set(table["compression"]) == {"c23"} and table["video_id"].is_unique
    direct = index_ffpp(ffpp, compressions=["c23"], ratios={"train": 0.5, "val": 0.25, "test": 0.25}, seed=3).videos
    assert by_id(table, "split") == by_id(direct, "split")
    fails = pd.read_csv(failures_csv)
    assert "stale" not in set(fails["path"]) and fails["reason"].str.startswith("empty folder").any()
    printed = capsys.readouterr().out
    assert "train" in printed and "1 failures" in printed
    assert main(["index", str(ffpp), "--dataset", "ffpp", "--out", str(out), "--leak", "drop"]) == 2
    assert main(["index", str(ffpp), "--dataset", "deeperforensics", "--out", str(out)]) == 2
    assert "--ffpp-root is required" in capsys.readouterr().out


def test_cli_index_dfdc_samples(samples_dir, tmp_path):
    out = tmp_path / "dfdc.csv"
    assert main(["index", str(samples_dir / "dfdc"), "--dataset", "dfdc", "--out", str(out)]) == 0
    table = load_table(out)
    assert list(table["video_id"]) == ["brtujopkby"]
    assert (Path(table.attrs["root"]) / table["path"][0]).is_file()
    assert "awnfpubqmo.mp4" in pd.read_csv(tmp_path / "dfdc_failures.csv")["path"][0]
