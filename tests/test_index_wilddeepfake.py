"""WildDeepfake indexer on trees laid out as the release's archives extract (face sequences as frame folders)."""

from __future__ import annotations

import pytest

from deepfakeforensics.indexing import LayoutError
from deepfakeforensics.indexing.wilddeepfake import index_wilddeepfake


def tiny_png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n")  # only listed here, never decoded


def build_tree(root):
    """Real names: archives ``<N>`` holding ``real``/``fake`` then one folder per sequence of ``<frame>.png``."""
    for rel in [
        "real_train/0/real/0/0.png",
        "real_train/0/real/0/8.png",
        "real_train/0/real/1/4.png",
        "real_train/7/real/2/3.png",
        "fake_train/12/fake/0/0.png",
        "fake_train/13/fake/0/1.png",
        "real test/extracted/3/real/0/10.png",  # the README's name with a space, under an extracted/ level
        "fake_test/4/0/5.png",  # an archive without the real/fake level
    ]:
        tiny_png(root / rel)
    (root / "fake_train" / "14.tar.gz").write_bytes(b"not extracted")
    (root / "fake_train" / "12.tar.gz").write_bytes(b"extracted beside: fine")


def test_sequences_are_videos_with_official_test_and_archive_groups(tmp_path):
    build_tree(tmp_path)
    result = index_wilddeepfake(tmp_path, seed=1)
    v = result.videos.set_index("video_id")
    assert sorted(v.index) == [
        "fake_test/4/0",
        "fake_train/12/fake/0",
        "fake_train/13/fake/0",
        "real_test/3/real/0",
        "real_train/0/real/0",
        "real_train/0/real/1",
        "real_train/7/real/2",
    ]
    assert v.loc["real_test/3/real/0", "path"] == "real test/extracted/3/real/0"  # paths as on disk
    assert v.loc["fake_test/4/0", "label"] == 1 and v.loc["real_train/7/real/2", "label"] == 0
    assert set(v["method"]) == {"wilddeepfake", "original"}
    assert set(v.loc[["fake_test/4/0", "real_test/3/real/0"], "split"]) == {"test"}
    assert set(v.loc[v.index.str.contains("_train/"), "split"]) <= {"train", "val"}
    # the two sequences of archive 0 share a group, hence a split
    assert v.loc["real_train/0/real/0", "group"] == v.loc["real_train/0/real/1", "group"] == "real_train/0"
    assert v.loc["real_train/0/real/0", "split"] == v.loc["real_train/0/real/1", "split"]
    layout = result.videos.attrs["layout"]  # which variants of the tree were found, as dff index prints it
    assert "real test/extracted/<archive>/real/<sequence> (1 sequences)" in layout
    assert "real_train/<archive>/real/<sequence> (3 sequences)" in layout and "fake_test/<archive>/<sequence>" in layout
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in result.failures}
    assert "archive not extracted" in reasons["14.tar.gz"] and "12.tar.gz" not in reasons


def test_not_a_wilddeepfake_root(tmp_path):
    (tmp_path / "videos").mkdir()
    with pytest.raises(LayoutError, match="real_train, fake_train, real_test, fake_test"):
        index_wilddeepfake(tmp_path)


def test_dff_index_wilddeepfake_writes_the_index(tmp_path, capsys):
    from deepfakeforensics._io import load_table
    from deepfakeforensics.cli import main

    build_tree(tmp_path / "wdf")
    out = tmp_path / "labels" / "wilddeepfake.csv"
    assert main(["index", str(tmp_path / "wdf"), "--dataset", "wilddeepfake", "--out", str(out), "--seed", "3"]) == 0
    videos = load_table(out)
    assert len(videos) == 7 and (videos["split"] == "test").sum() == 2
    assert "14.tar.gz" in capsys.readouterr().out  # the failure is reported


def test_dff_extract_frames_are_crops_lists_the_frames(tmp_path, capsys):
    """The face sequences are crops already: the manifest lists their frames, nothing is detected."""
    from deepfakeforensics.cli import main
    from deepfakeforensics.data.manifest import read_manifest

    build_tree(tmp_path / "wdf")
    index = tmp_path / "labels" / "wilddeepfake.csv"
    assert main(["index", str(tmp_path / "wdf"), "--dataset", "wilddeepfake", "--out", str(index)]) == 0
    assert main(["extract", str(index), "--frames-are-crops", "--n-frames", "1"]) == 0
    faces = read_manifest(tmp_path / "labels" / "wilddeepfake_faces.csv")
    assert len(faces) == 7 and faces.attrs["extraction"]["frames_are_crops"] is True
    first = faces.set_index("video_id").loc["real_train/0/real/0"]
    assert (first["frame"], first["path"]) == (0, "real_train/0/real/0/0.png")  # of 0.png and 8.png, the first
    assert (faces["detected"] == 0).all() and faces.set_index("video_id").loc["fake_test/4/0", "split"] == "test"
    assert main(["extract", str(index), "--frames-are-crops", "--sampling", "scene"]) == 2
