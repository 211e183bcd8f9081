"""FakeAVCeleb indexer (video track): meta_data.csv rows as the release writes them (header ending 'path,')."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepfakeforensics.indexing import COLUMNS, LayoutError, check_group_splits, index_fakeavceleb

HEADER = "source,target1,target2,method,category,type,race,gender,path,\n"
ROWS = [
    "id00076,-,-,real,A,RealVideo-RealAudio,African,men,00109.mp4,FakeAVCeleb/RealVideo-RealAudio/African/men/id00076",
    "id00476,-,-,real,A,RealVideo-RealAudio,African,men,00012.mp4,FakeAVCeleb/RealVideo-RealAudio/African/men/id00476",
    "id00166,-,-,real,A,RealVideo-RealAudio,Asian (East),women,00003.mp4,"
    "FakeAVCeleb/RealVideo-RealAudio/Asian (East)/women/id00166",
    "id00076,-,-,rtvc,B,RealVideo-FakeAudio,African,men,00109_fake.mp4,FakeAVCeleb/RealVideo-FakeAudio/African/men/id00076",
    "id00076,id00476,-,faceswap,C,FakeVideo-RealAudio,African,men,00109_id00476_fs.mp4,"
    "FakeAVCeleb/FakeVideo-RealAudio/African/men/id00076",
    "id00076,id00476,10,wav2lip,D,FakeVideo-FakeAudio,African,men,00109_10_id00476_wavtolip.mp4,"
    "FakeAVCeleb/FakeVideo-FakeAudio/African/men/id00076",
    "id00166,id00701,4,fsgan-wav2lip,D,FakeVideo-FakeAudio,Asian (East),women,00003_4_id00701_fsgan-wav2lip.mp4,"
    "FakeAVCeleb/FakeVideo-FakeAudio/Asian (East)/women/id00166",
]


def build(root: Path, rows: list[str], header: str = HEADER, skip: tuple[str, ...] = ()) -> Path:
    for line in rows:
        values = line.split(",")
        folder, name = values[-1].split("/", 1)[1], values[-2]
        if name not in skip:
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / name).touch()
    root.mkdir(parents=True, exist_ok=True)
    (root / "meta_data.csv").write_text(header + "\n".join(rows) + "\n")
    return root


def test_fakeavceleb_video_track_labels_methods_groups(tmp_path):
    res = index_fakeavceleb(build(tmp_path / "FakeAVCeleb_v1.2", ROWS))
    v = res.videos.set_index("video_id")
    assert list(res.videos.columns) == [*COLUMNS, "category"]
    fake = v.loc["FakeVideo-FakeAudio/African/men/id00076/00109_10_id00476_wavtolip"]
    assert (fake["label"], fake["method"], fake["category"]) == (1, "wav2lip", "D")
    assert fake["path"] == "FakeVideo-FakeAudio/African/men/id00076/00109_10_id00476_wavtolip.mp4"
    assert v.loc["FakeVideo-RealAudio/African/men/id00076/00109_id00476_fs", ["label", "method"]].tolist() == [
        1,
        "faceswap",
    ]
    assert v.loc["RealVideo-RealAudio/Asian (East)/women/id00166/00003", ["label", "method"]].tolist() == [
        0,
        "original",
    ]
    assert not (v["category"] == "B").any()  # audio-only fakes are out of the video track
    # identities: the swap joins id00076 and id00476, and their real videos
    assert v.loc["RealVideo-RealAudio/African/men/id00476/00012", "group"] == fake["group"] == "id00076"
    assert set(v["split"]) == {"test"}
    assert any("1 category B videos left out" in r for _, r in res.failures) and len(res.failures) == 1
    assert "header ends 'path,'" in res.videos.attrs["layout"]


def test_fakeavceleb_category_b_split_and_filename_header(tmp_path):
    root = build(tmp_path / "f", ROWS)
    with_b = index_fakeavceleb(root, fake_audio_reals=True).videos.set_index("video_id")
    assert with_b.loc["RealVideo-FakeAudio/African/men/id00076/00109_fake", ["label", "method"]].tolist() == [0, "rtvc"]
    split = index_fakeavceleb(root, ratios={"train": 0.5, "test": 0.5}).videos
    check_group_splits(split)
    named = "source,target1,target2,method,category,type,race,gender,filename,path\n"
    res = index_fakeavceleb(build(tmp_path / "g", ROWS, header=named))
    assert len(res.videos) == 6 and res.videos.attrs["layout"] == "header names 'filename' and 'path'"


def test_fakeavceleb_bad_rows_missing_and_unlisted_files(tmp_path):
    rows = [
        *ROWS,
        "id00999,-,-,real,E,RealVideo-RealAudio,African,men,00001.mp4,FakeAVCeleb/RealVideo-RealAudio/African/men/id00999",
        "id00998,-,-,real,C,RealVideo-RealAudio,African,men,00002.mp4,FakeAVCeleb/RealVideo-RealAudio/African/men/id00998",
    ]
    root = build(tmp_path / "h", rows, skip=("00012.mp4",))
    (root / "FakeVideo-RealAudio/African/men/id00076/extra.mp4").touch()
    res = index_fakeavceleb(root)
    why = {Path(p).name: r for p, r in res.failures}
    assert why["00012.mp4"] == "listed in meta_data.csv (line 3) but absent"
    assert why["00001.mp4"] == "meta_data.csv line 9: unknown category 'E' (expected A, B, C or D)"
    assert "category C is FakeVideo-RealAudio" in why["00002.mp4"]
    assert why["extra.mp4"] == "not listed in meta_data.csv: skipped"
    (root / "meta_data.csv").write_text("source,method,category\nid00076,real,A\n")
    with pytest.raises(ValueError, match=r"meta_data.csv: missing columns \['target1', 'type', 'path'\]"):
        index_fakeavceleb(root)
    with pytest.raises(LayoutError, match="meta_data.csv"):
        index_fakeavceleb(tmp_path / "nothing")
