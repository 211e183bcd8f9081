"""DeepfakeBench dataset JSON: import as a faces manifest (frames = crops), export back, bad files named, CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
from synth_videos import face_photo

from deepfakeforensics.cli import main
from deepfakeforensics.data.manifest import read_manifest, write_manifest
from deepfakeforensics.evaluation.protocols import apply_protocol
from deepfakeforensics.interop.deepfakebench import (
    DeepfakeBenchJSONError,
    export_deepfakebench,
    import_deepfakebench,
    label_value,
)

FF = "FaceForensics++"
FRAMES = {  # video folder -> frame numbers, as DeepfakeBench's preprocessing names them
    f"{FF}/original_sequences/youtube/c23/frames/000": [0, 10, 20, 30],
    f"{FF}/original_sequences/youtube/c23/frames/001": [0, 15],
    f"{FF}/manipulated_sequences/Deepfakes/c23/frames/000_003": [0, 10, 20],
    f"{FF}/manipulated_sequences/Deepfakes/c23/frames/001_002": [0, 15],
    f"{FF}/original_sequences/actors/c23/frames/01__walking": [0, 5],
    f"{FF}/manipulated_sequences/DeepFakeDetection/c23/frames/01_02__walking__ABC": [0, 5],
}


def write_crops(root):
    photo = face_photo(64)
    for folder, numbers in FRAMES.items():
        (root / folder).mkdir(parents=True)
        fake = "manipulated" in folder
        for n in numbers:
            img = photo.copy()
            if fake:
                img[32:, :, 0] = np.clip(img[32:, :, 0].astype(int) + 60, 0, 255)
            cv2.imwrite(str(root / folder / f"{n:03d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def record(label, folder, style="windows", masks=False):
    """A record as rearrange.py writes it: frame paths absolute on another machine, or ./datasets\\rgb\\... ones."""
    numbers = FRAMES[folder][::-1]  # listed in os.scandir order, not sorted
    if style == "windows":
        frames = [".\\datasets\\rgb\\" + f"{folder}/{n:03d}.png".replace("/", "\\") for n in numbers]
    else:
        frames = [f"/home/someone/DeepfakeBench/datasets/rgb/{folder}/{n:03d}.png" for n in numbers]
    rec = {"label": label, "frames": frames}
    if masks:
        rec["masks"] = [f.replace("frames", "masks") for f in frames]
    return rec


def ff_df_json():
    """FF-DF.json as rearrange.py writes it: {dataset: {label: {split: {comp: {video: record}}}}}."""
    real, fake = f"{FF}/original_sequences/youtube/c23/frames", f"{FF}/manipulated_sequences/Deepfakes/c23/frames"
    return {
        "FF-DF": {
            "FF-real": {
                "train": {"c23": {"001": record("FF-real", f"{real}/001")}, "c40": {}},
                "val": {"c23": {}, "c40": {}},
                "test": {"c23": {"000": record("FF-real", f"{real}/000", "posix")}, "c40": {}},
            },
            "FF-DF": {
                "train": {"c23": {"001_002": record("FF-DF", f"{fake}/001_002", masks=True)}, "c40": {}},
                "val": {"c23": {}, "c40": {}},
                "test": {"c23": {"000_003": record("FF-DF", f"{fake}/000_003", masks=True)}, "c40": {}},
            },
        }
    }


def dfd_json():
    """DeepFakeDetection.json: every video listed in train, val and test (rearrange.py)."""
    real = record("DFD_real", f"{FF}/original_sequences/actors/c23/frames/01__walking")
    fake = record("DFD_fake", f"{FF}/manipulated_sequences/DeepFakeDetection/c23/frames/01_02__walking__ABC")
    splits = ("train", "val", "test")
    return {
        "DeepFakeDetection": {
            "DFD_real": {s: {"c23": {"01__walking": real}} for s in splits},
            "DFD_fake": {s: {"c23": {"01_02__walking__ABC": fake}} for s in splits},
        }
    }


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "rgb"
    write_crops(root)
    for name, content in [("FF-DF", ff_df_json()), ("DeepFakeDetection", dfd_json())]:
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    return tmp_path


def test_import_test_split_frames_sorted_labels_groups(data):
    result = import_deepfakebench(data / "FF-DF.json", data / "rgb", split="test")
    faces = result.faces
    assert sorted(faces["video_id"].unique()) == ["FF-DF/000_003", "FF-real/000"]
    real = faces[faces["video_id"] == "FF-real/000"]
    assert list(real["frame"]) == [0, 10, 20, 30]  # sorted by the number in the name, from a reversed list
    assert real["path"].iloc[0] == f"{FF}/original_sequences/youtube/c23/frames/000/000.png"  # under the root
    assert set(faces["label"]) == {0, 1} and set(faces["split"]) == {"test"} and set(faces["compression"]) == {"c23"}
    assert set(faces["group"]) == {"000"}  # the fake 000_003 and the real 000 show FF++ id 000
    assert set(faces.loc[faces["label"] == 1, "method"]) == {"FF-DF"}
    assert result.failures == [] and result.dropped_listings == 0
    _, notes = apply_protocol(faces, "deepfakebench")
    assert notes == []  # DeepfakeBench's own crops: margin 1.3, 32 uniform frames recorded


def test_a_video_listed_in_several_splits_is_kept_in_one(data):
    result = import_deepfakebench(data / "DeepFakeDetection.json", data / "rgb", split="test")
    assert result.faces["video_id"].nunique() == 2 and result.dropped_listings == 4  # 2 videos x (train, val)
    assert set(result.faces["group"]) == {"actor01"}  # real 01__walking and fake 01_02__... share actor 01
    every = import_deepfakebench(data / "DeepFakeDetection.json", data / "rgb", split=None)
    assert set(every.faces["split"]) == {"test"} and every.dropped_listings == 4


def test_every_split_keeps_groups_in_one_split(data):
    result = import_deepfakebench(data / "FF-DF.json", data / "rgb", split=None)
    by_group = result.faces.groupby("group")["split"].agg(set).to_dict()
    assert by_group == {"000": {"test"}, "001": {"train"}}


def test_missing_frames_are_failures_not_rows(data):
    (data / "rgb" / FF / "original_sequences/youtube/c23/frames/000/020.png").unlink()
    result = import_deepfakebench(data / "FF-DF.json", data / "rgb")
    assert list(result.faces.query("video_id == 'FF-real/000'")["frame"]) == [0, 10, 30]
    assert len(result.failures) == 1 and "020.png" in result.failures[0][0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([1, 2], "expected DeepfakeBench's {dataset: {label: {split:"),
        ({"X": {"mystery": {"test": {"v1": {"label": "mystery", "frames": ["a/0.png"]}}}}}, "label names ['mystery']"),
        ({"X": {"X_Real": {"test": {"v1": {"label": "X_Real"}}}}}, "X/X_Real/test/v1: no 'frames' list"),
        ({"X": {"X_Real": {"test": {"v1": {"label": "X_Real", "frames": []}}}}}, "v1: no 'frames' list"),
        ({"X": {"X_Real": {"testing": {}}}}, "X/X_Real: expected splits"),
        (
            {"X": {"X_Real": {"test": {"v1": {"label": "X_Real", "frames": ["cover.png"]}}}}},
            "'cover.png' has no number",
        ),
    ],
)
def test_bad_json_is_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DeepfakeBenchJSONError) as err:
        import_deepfakebench(path, tmp_path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_label_names_and_the_dfdc_val_quirk(tmp_path):
    assert (label_value("CelebDFv2_fake"), label_value("FF-real"), label_value("simswap_Real")) == (1, 0, 0)
    assert label_value("e4e_Fake") == 1 and label_value("mystery") is None and label_value("mystery", {"mystery": 1})
    (tmp_path / "v" / "t1").mkdir(parents=True)
    (tmp_path / "v" / "t1" / "0.png").write_bytes(b"png")
    rec = {"label": "DFDC_Fake", "frames": ["v/t1/0.png"]}
    path = tmp_path / "DFDC.json"
    path.write_text(json.dumps({"DFDC": {"DFDC_Fake": {"train": {}, "test": {"t1": rec}, "val": rec}}}))
    result = import_deepfakebench(path, tmp_path, split="test")
    assert len(result.faces) == 1 and "DFDC/DFDC_Fake/val: skipped" in result.notes[0]
    with pytest.raises(DeepfakeBenchJSONError, match="val split"):
        import_deepfakebench(path, tmp_path, split="val")


def test_export_round_trips_an_import(data):
    faces = import_deepfakebench(data / "FF-DF.json", data / "rgb", split=None).faces
    names = export_deepfakebench(faces, data / "out.json", "FF-DF")
    written = json.loads((data / "out.json").read_text())
    frames = written["FF-DF"]["FF-real"]["test"]["c23"]["000"]["frames"]
    assert frames[0] == f"./datasets/rgb/{FF}/original_sequences/youtube/c23/frames/000/000.png"
    assert names == {"FF-real": 0, "FF-DF": 1}
    again = import_deepfakebench(data / "out.json", data / "rgb", split=None).faces
    cols = ["video_id", "frame", "path", "label", "split", "group", "method"]
    pd.testing.assert_frame_equal(again[cols].reset_index(drop=True), faces[cols].reset_index(drop=True))


def test_export_links_crops_not_named_by_a_number(tmp_path):
    (tmp_path / "crops" / "ds" / "v1").mkdir(parents=True)
    for name in ("0_3.jpg", "0_12.jpg", "1_3.jpg"):
        (tmp_path / "crops" / "ds" / "v1" / name).write_bytes(name.encode())
    rows = [("v1", 0, 3, "ds/v1/0_3.jpg"), ("v1", 0, 12, "ds/v1/0_12.jpg"), ("v1", 1, 3, "ds/v1/1_3.jpg")]
    faces = pd.DataFrame(rows, columns=["video_id", "track", "frame", "path"]).assign(label=1, split="test")
    faces.attrs["root"] = str(tmp_path / "crops")
    with pytest.raises(ValueError, match="not named by a number"):
        export_deepfakebench(faces, tmp_path / "mine.json", "mine")
    export_deepfakebench(faces, tmp_path / "mine.json", "mine", frames_dir=tmp_path / "dfb_frames")
    videos = json.loads((tmp_path / "mine.json").read_text())["mine"]["mine_Fake"]["test"]
    assert sorted(videos) == ["v1_track0", "v1_track1"]
    assert videos["v1_track0"]["frames"] == [
        "./datasets/rgb/dfb_frames/v1_track0/3.jpg",
        "./datasets/rgb/dfb_frames/v1_track0/12.jpg",
    ]
    assert (tmp_path / "dfb_frames" / "v1_track0" / "12.jpg").read_bytes() == b"0_12.jpg"


def test_cli_import_evaluate_and_export(data, tmp_path, capsys):
    """dff import-deepfakebench -> a manifest dff evaluate --protocol deepfakebench scores -> dff export-deepfakebench."""
    import torch

    from deepfakeforensics.evaluation import evaluate
    from deepfakeforensics.models import create_model, save_checkpoint

    out = tmp_path / "labels" / "ffdf_faces.csv"
    argv = ["import-deepfakebench", str(data / "FF-DF.json"), "--root", str(data / "rgb"), "--out", str(out)]
    assert main([*argv, "--split", "all"]) == 0
    printed = capsys.readouterr().out
    assert "11 frames of 4 videos" in printed and "0 listings" in printed
    faces = read_manifest(out)
    assert faces.attrs["extraction"]["profile"] == "deepfakebench" and set(faces["split"]) == {"train", "test"}

    run = tmp_path / "run"
    run.mkdir()
    torch.manual_seed(0)
    save_checkpoint(run / "best.pt", create_model("mesonet4"))
    (run / "config.json").write_text(json.dumps({"model": "mesonet4"}))
    res = evaluate([str(run)], out, tmp_path / "eval", protocol="deepfakebench", plots=False, bootstrap=0)
    frame = res.metrics.query("level == 'frame'")
    assert (res.metrics["protocol"] == "deepfakebench").all() and frame["n"].item() == 7  # the test split's frames

    assert main(["export-deepfakebench", str(out), "--out", str(tmp_path / "x.json"), "--dataset", "FF-DF"]) == 0
    assert set(json.loads((tmp_path / "x.json").read_text())["FF-DF"]) == {"FF-real", "FF-DF"}
    write_manifest(faces.assign(bench_label=None), tmp_path / "plain.csv", faces.attrs["root"])
    assert (
        main(
            [
                "export-deepfakebench",
                str(tmp_path / "plain.csv"),
                "--out",
                str(tmp_path / "y.json"),
                "--dataset",
                "mine",
            ]
        )
        == 0
    )
    assert "mine_Fake: 1" in capsys.readouterr().out  # label_dict lines DeepfakeBench needs
    with pytest.raises(SystemExit) as exit_info:  # argument errors exit through argparse
        main([*argv, "--label", "x"])
    assert exit_info.value.code == 2
    (data / "bad.json").write_text(json.dumps({"X": {"odd": {"test": {"v": {"label": "odd", "frames": ["0.png"]}}}}}))
    assert main(["import-deepfakebench", str(data / "bad.json"), "--root", str(data), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "bad.json" in captured.err + captured.out and "label names ['odd']" in captured.err + captured.out


def test_a_wrong_root_or_an_empty_split_is_an_error_not_an_empty_manifest(data):
    with pytest.raises(DeepfakeBenchJSONError, match=r"none of the 2 videos' frames is under .* \(wrong --root\?\)"):
        import_deepfakebench(data / "FF-DF.json", data / "elsewhere")
    with pytest.raises(DeepfakeBenchJSONError, match="no video in the val split"):
        import_deepfakebench(data / "FF-DF.json", data / "rgb", split="val")
