"""DF40 indexer on a tree with the release's names: per-method ff/cdf subsets, train/test parts, reals from DeepfakeBench's
preprocessed FF++ and Celeb-DF, groups that agree with the FF++ index."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from deepfakeforensics.indexing import LayoutError, check_group_splits, index_ffpp
from deepfakeforensics.indexing.df40 import identity_keys, index_df40


def touch(path, data=b"\x89PNG\r\n\x1a\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


DF40_FILES = [
    "test/simswap/ff/frames/000_003/000.png",
    "test/simswap/ff/frames/000_003/010.png",
    "test/simswap/cdf/frames/id0_id16_0003/000.png",
    "test/fomm/ff/frames/071_054/000.png",
    "test/StyleGAN2/cdf/Fake_from_Celeb-real/id1_0001/000.png",  # entire-face synthesis: no frames/ level
    "test/blendface/blendface/cdf/frames/id2_id3_0000/000.png",  # a doubled method folder
    "test/deepfacelab/fake/frames/vid7/0.png",  # an unknown method with its own reals
    "test/deepfacelab/real/vid8/0.png",
    "test/stargan/fake/00931.jpg",  # whole images, flat: not frame folders
    "train/simswap/frames/001_002/000.png",  # the training part has no subset level
]
SPLITS = {"train": [["001", "002"]], "val": [["071", "054"]], "test": [["000", "003"]]}


@pytest.fixture
def trees(tmp_path):
    for rel in DF40_FILES:
        touch(tmp_path / "DF40" / rel)
    ffpp = tmp_path / "FaceForensics++"
    for vid in ["000", "003", "001", "002", "071", "054"]:
        touch(ffpp / "original_sequences" / "youtube" / "c23" / "frames" / vid / "000.png")
        touch(ffpp / "original_sequences" / "youtube" / "c23" / "videos" / f"{vid}.mp4", b"")
    touch(ffpp / "manipulated_sequences" / "Deepfakes" / "c23" / "videos" / "000_003.mp4", b"")
    for split, pairs in SPLITS.items():
        touch(ffpp / "splits" / f"{split}.json", json.dumps(pairs).encode())
    cdf = tmp_path / "Celeb-DF-v2"
    for rel in [
        "Celeb-real/frames/id0_0003/000.png",
        "Celeb-real/frames/id5_0001/000.png",
        "YouTube-real/frames/00012/0.png",
    ]:
        touch(cdf / rel)
    (cdf / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0003.mp4\n1 YouTube-real/00012.mp4\n0 Celeb-synthesis/id0_id16_0003.mp4\n"
    )
    return tmp_path


def test_identity_keys_follow_the_ffpp_and_celebdf_indexers():
    assert identity_keys("ff", "000_003") == ["000", "003"] and identity_keys("ff", "071") == ["071"]
    assert identity_keys("cdf", "id0_id16_0003") == ["id0"] and identity_keys("cdf", "id0_0003") == ["id0"]
    assert identity_keys("cdf", "00012") == ["yt00012"] and identity_keys("ff", "vid7") == []


def test_df40_methods_subsets_reals_groups_and_splits(trees):
    result = index_df40(trees / "DF40", ffpp_root=trees / "FaceForensics++", celebdf_root=trees / "Celeb-DF-v2")
    v = result.videos.set_index("video_id")
    assert v.loc["test/simswap/ff/000_003", "path"] == "test/simswap/ff/frames/000_003"
    assert v.loc["test/simswap/ff/000_003", "method"] == "simswap_ff"
    assert v.loc["test/simswap/cdf/id0_id16_0003", "method"] == "simswap_cdf"
    assert v.loc["test/StyleGAN2/cdf/Fake_from_Celeb-real/id1_0001", "group"] == "id1"
    assert v.loc["test/blendface/cdf/id2_id3_0000", "method"] == "blendface_cdf"
    assert (v.loc["test/deepfacelab/fake/vid7", "label"], v.loc["test/deepfacelab/real/vid8", "label"]) == (1, 0)
    assert v.loc["train/simswap/ff/001_002", "method"] == "simswap_ff"
    # FF++ domain: official FF++ splits by identity, groups named as the FF++ index names them
    assert v.loc["test/simswap/ff/000_003", ["group", "split"]].tolist() == ["000", "test"]
    assert v.loc["ffpp/c23/003", ["label", "group", "split"]].tolist() == [0, "000", "test"]
    assert v.loc["test/fomm/ff/071_054", "split"] == "val"  # FF++'s val ids, though downloaded with the test part
    assert v.loc["train/simswap/ff/001_002", "split"] == v.loc["ffpp/c23/001", "split"] == "train"
    # Celeb-DF domain: test, reals from the test list only
    assert v.loc["celebdf/Celeb-real/id0_0003", ["group", "split"]].tolist() == ["id0", "test"]
    assert v.loc["test/simswap/cdf/id0_id16_0003", "group"] == "id0"
    assert "celebdf/Celeb-real/id5_0001" not in v.index and "celebdf/YouTube-real/00012" in v.index
    assert set(v.loc[v.index.str.contains("/cdf/|deepfacelab"), "split"]) == {"test"}
    assert any("stargan/fake" in p and "whole-image" in r for p, r in result.failures)
    layout = result.videos.attrs["layout"]  # the variants of the tree found, as dff index prints it
    assert "test/<method>/<method>/cdf/frames/<video> (1 videos)" in layout
    assert "test/<method>/ff/frames/<video> (2 videos)" in layout and "train/<method>/frames/<video>" in layout


def test_mixed_with_the_ffpp_index_no_identity_crosses_splits(trees):
    df40 = index_df40(trees / "DF40", ffpp_root=trees / "FaceForensics++").videos
    ffpp = index_ffpp(trees / "FaceForensics++").videos
    mixed = pd.concat([df40, ffpp], ignore_index=True)
    check_group_splits(mixed)  # raises SplitLeakError naming a group in two splits
    both = mixed[mixed["group"] == "000"]
    assert set(both["dataset"]) == {"df40", "ffpp"} and set(both["split"]) == {"test"}


def test_not_a_df40_root(tmp_path):
    with pytest.raises(LayoutError, match="not a DF40 root"):
        index_df40(tmp_path)


def test_dff_index_df40(trees, capsys):
    from deepfakeforensics._io import load_table
    from deepfakeforensics.cli import main

    out = trees / "labels" / "df40.csv"
    argv = ["index", str(trees / "DF40"), "--dataset", "df40", "--out", str(out)]
    assert (
        main([*argv, "--ffpp-root", str(trees / "FaceForensics++"), "--celebdf-root", str(trees / "Celeb-DF-v2")]) == 0
    )
    videos = load_table(out)
    assert {"simswap_ff", "simswap_cdf", "original"} <= set(videos["method"]) and len(videos) == 16
    assert main([*argv, "--leak", "drop"]) == 2  # a Celeb-DF option that DF40 does not take
    assert "--leak does not apply to --dataset df40" in capsys.readouterr().out
