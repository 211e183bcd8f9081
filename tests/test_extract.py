"""`extract_faces` and `dff extract`: manifest, crops on disk, failures, resume after interruption, shards."""

from __future__ import annotations

import argparse
import shutil

import numpy as np
import pandas as pd
import pytest
from extract_data import BAD, CONFIG, GOOD, comparable, copy_index, write_dataset

from deepfakeforensics import _io, cli
from deepfakeforensics.commands import extract as extract_command
from deepfakeforensics.commands.options import dataclass_defaults
from deepfakeforensics.data.video import SamplingConfig, iter_frames
from deepfakeforensics.faces import (
    ExtractionConfig,
    FaceFinder,
    MixedExtractionError,
    crop_face,
    crops_aligned,
    extract_faces,
    read_rgb,
    shard_of,
)
from deepfakeforensics.faces import extract as extract_module
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    return CONFIG.make_finder()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A folder of small videos (three with faces, four bad ones) and its index CSV."""
    root = tmp_path_factory.mktemp("data")
    index_csv = write_dataset(root)
    videos = _io.load_table(index_csv)
    videos["scenario"] = "FaceSwap"  # an index column a dataset adds (Celeb-DF++): carried into the faces manifest
    _io.save_table(videos, index_csv, root=root)
    return root, index_csv


@pytest.fixture(scope="module")
def reference(dataset, finder, tmp_path_factory):
    """One uninterrupted run (into its own folders)."""
    root, index_csv = dataset
    work = tmp_path_factory.mktemp("reference")
    shutil.copy(index_csv, work / "synth.csv")
    shutil.copy(_io.meta_path(index_csv), work / "synth.meta.json")
    _io.save_table(_io.load_table(index_csv), work / "synth.csv", root=root)
    faces = extract_faces(work / "synth.csv", work / "extracted", CONFIG, finder=finder, progress=False)
    return work, faces


def test_manifest_crops_and_failures(reference):
    work, faces = reference
    expected = [
        "video_id",
        "track",
        "frame",
        "path",
        "x0",
        "y0",
        "x1",
        "y1",
        "prob",
        "detected",
        *LANDMARK_COLUMNS,
        "label",
        "split",
        "group",
        "method",
        "dataset",
        "compression",
        "scenario",
    ]
    assert list(faces.columns) == expected
    assert sorted(faces["video_id"].unique()) == sorted(GOOD)
    per_video = faces.groupby("video_id")["track"].nunique().to_dict()
    assert per_video == {"two": 2, "one": 1, "one_b": 1}
    assert faces.groupby("video_id").size().to_dict() == {"two": 10, "one": 5, "one_b": 5}  # 5 frames x tracks
    assert set(faces["method"]) <= {"Deepfakes", "real"} and set(faces["split"]) == {"train"}
    # saved beside the index, paths relative to the crops folder
    saved = _io.load_table(work / "synth_faces.csv")
    pd.testing.assert_frame_equal(comparable(saved), comparable(faces), check_dtype=False)
    assert saved.attrs["root"] == str((work / "extracted").resolve())
    assert saved.attrs["extraction"]["crop_size"] == 256
    files = _io.absolute_paths(saved)
    assert all(p.is_file() for p in files)
    assert {p.relative_to(work / "extracted").parts[:2] for p in files} == {("synth", v) for v in GOOD}
    assert {p.name for p in (work / "extracted" / "synth" / "two").iterdir()} == {
        f"{t}_{f}.jpg"
        for t, f in zip(
            saved.query("video_id == 'two'")["track"], saved.query("video_id == 'two'")["frame"], strict=True
        )
    }
    failures = pd.read_csv(work / "synth_faces_failures.csv", dtype=str)
    assert list(failures.columns) == ["path", "reason"]
    reasons = {
        p.split("/")[-1].removesuffix(".mp4"): r for p, r in zip(failures["path"], failures["reason"], strict=True)
    }
    assert set(reasons) == set(BAD)
    for name, reason in BAD.items():
        assert reason in reasons[name]
    assert not list(work.rglob("*.tmp")) and not list((work / "extracted").rglob(".*"))


def test_crop_files_have_source_colours(reference, dataset):
    work, faces = reference
    root, _ = dataset
    row = faces.query("video_id == 'one'").iloc[0]
    [(_, frame)] = list(iter_frames(root / "videos" / "one.mp4", [int(row["frame"])]))
    expected = crop_face(frame, (row["x0"], row["y0"], row["x1"], row["y1"]), 1.3, 256).astype(float)
    written = read_rgb(work / "extracted" / row["path"]).astype(float)
    same = np.abs(written - expected).mean()
    swapped = np.abs(written - expected[..., ::-1]).mean()
    assert same < 4 and swapped > 3 * same


def test_resume_after_interruption(dataset, reference, finder, tmp_path, monkeypatch):
    _, index_csv = dataset
    ref_work, ref_faces = reference
    index = copy_index(index_csv, tmp_path)
    out = tmp_path / "extracted"
    real = extract_module.iter_face_crops
    calls = []

    def killed_on_second_video(path, *args, **kwargs):
        calls.append(path.stem)
        for n, crop in enumerate(real(path, *args, **kwargs)):
            if len([c for c in calls if c in GOOD]) == 2 and n == 1:
                raise KeyboardInterrupt  # killed in the middle of writing the second video's crops
            yield crop

    monkeypatch.setattr(extract_module, "iter_face_crops", killed_on_second_video)
    with pytest.raises(KeyboardInterrupt):
        extract_faces(index, out, CONFIG, finder=finder, progress=False)
    first_done = calls[0]
    assert [p.name for p in (out / "synth").iterdir()] == [first_done]  # the half-done video left nothing
    assert not (tmp_path / "synth_faces.csv").exists()
    # a hard kill (no cleanup) would leave a temporary folder: the rerun must clear and redo it
    stale = out / "synth" / f".{calls[1]}.tmp"
    stale.mkdir()
    (stale / "0_0.jpg").write_bytes(b"half")

    calls.clear()
    monkeypatch.setattr(
        extract_module, "iter_face_crops", lambda p, *a, **k: (calls.append(p.stem), real(p, *a, **k))[1]
    )
    faces = extract_faces(index, out, CONFIG, finder=finder, progress=False)
    assert first_done not in calls and sorted(calls) == sorted(set(GOOD + list(BAD)) - {first_done})
    pd.testing.assert_frame_equal(comparable(faces), comparable(ref_faces))
    assert not list(out.rglob("*.tmp"))
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "synth_faces_failures.csv"), pd.read_csv(ref_work / "synth_faces_failures.csv")
    )

    calls.clear()  # a third run has nothing left to do
    again = extract_faces(index, out, CONFIG, finder=finder, progress=False)
    assert calls == [] and len(again) == len(faces)


def test_shards_cover_every_video_once_and_merge(dataset, reference, finder, tmp_path, monkeypatch):
    _, index_csv = dataset
    _, ref_faces = reference
    index = copy_index(index_csv, tmp_path)
    real = extract_module.iter_face_crops
    seen: dict[int, list[str]] = {0: [], 1: []}
    current = [0]
    monkeypatch.setattr(
        extract_module, "iter_face_crops", lambda p, *a, **k: (seen[current[0]].append(p.stem), real(p, *a, **k))[1]
    )
    for i in (0, 1):
        current[0] = i
        extract_faces(index, tmp_path / "extracted", CONFIG, shard=(i, 2), finder=finder, progress=False)
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted(GOOD + list(BAD))
    assert all(shard_of(f"synth/{v}", 2) == i for i in (0, 1) for v in seen[i])
    merged = _io.load_table(tmp_path / "synth_faces.csv")
    pd.testing.assert_frame_equal(comparable(merged), comparable(ref_faces), check_dtype=False)
    assert len(pd.read_csv(tmp_path / "synth_faces_failures.csv")) == len(BAD)


def test_merge_only_keeps_the_shards_settings(dataset, reference, finder, tmp_path, caplog):
    """Shards, then a ``--merge-only`` merge: the manifest records the same settings as one uninterrupted run."""
    _, index_csv = dataset
    ref_work, _ = reference
    index = copy_index(index_csv, tmp_path)
    out = tmp_path / "extracted"
    for i in (0, 1):
        extract_faces(index, out, CONFIG, shard=(i, 2), finder=finder, progress=False)
    faces_csv = tmp_path / "synth_faces.csv"
    faces_csv.unlink()
    assert cli.main(["extract", str(index), "--out", str(out), "--merge-only", "--margin", "2.0"]) == 0
    merged, single = _io.load_table(faces_csv), _io.load_table(ref_work / "synth_faces.csv")
    assert merged.attrs["extraction"] == single.attrs["extraction"]
    assert merged.attrs["extraction"]["margin"] == 1.3 and "extraction_varies" not in merged.attrs
    assert crops_aligned(merged) is False
    # a part without a record (written by an older version) is assumed to match, with a warning
    next((tmp_path / "synth_faces.parts").glob("*.settings.json")).unlink()
    with caplog.at_level("WARNING", logger="deepfakeforensics.faces.extract"):
        again = extract_module.merge_parts(faces_csv, out)
    assert again.attrs["extraction"] == single.attrs["extraction"]
    assert "1 finished videos have no recorded extraction settings" in caplog.text


def test_shards_with_different_margins_refuse_to_merge(dataset, finder, tmp_path, monkeypatch, capsys):
    _, index_csv = dataset
    index = copy_index(index_csv, tmp_path)
    out = tmp_path / "extracted"
    monkeypatch.setattr(extract_module, "iter_face_crops", _only_two(extract_module.iter_face_crops))
    first = extract_module.plan_videos(_io.load_table(index), out, tmp_path / "p", (0, 1), False)[0]
    shard = shard_of(first.key, 2)  # extract the shard holding the first video, then pretend the other had 1.5
    extract_faces(index, out, CONFIG, shard=(shard, 2), finder=finder, progress=False)
    parts = tmp_path / "synth_faces.parts"
    record = next(parts.glob("*.settings.json"))
    other = parts / "synth%2Fother.settings.json"
    shutil.copy(parts / record.name.replace(".settings.json", ".csv"), parts / "synth%2Fother.csv")
    other.write_text(record.read_text().replace('"margin": 1.3', '"margin": 1.5'))
    with pytest.raises(MixedExtractionError, match="different crop settings: margin") as refused:
        extract_module.merge_parts(tmp_path / "synth_faces.csv", out)
    assert "1.3 (1 video, e.g. synth/two)" in str(refused.value) and "1.5 (1 video, e.g. synth/other)" in str(
        refused.value
    )
    assert "crop_size" not in str(refused.value) and "sampling" not in str(refused.value)
    assert cli.main(["extract", str(index), "--out", str(out), "--merge-only"]) == 1
    assert "different crop settings: margin" in capsys.readouterr().err
    # a run asked for another margin than the finished videos refuses before working
    calls = []
    monkeypatch.setattr(extract_module, "iter_face_crops", lambda *a, **k: calls.append(a) or iter(()))
    other.unlink()
    (parts / "synth%2Fother.csv").unlink()
    config = ExtractionConfig(**{**CONFIG.__dict__, "margin": 1.5, "align": True})
    with pytest.raises(
        MixedExtractionError,
        match=r"finished there: margin 1\.5 in this run vs 1\.3 \(1 video, e\.g\. synth/two\); align true in this run vs false",
    ):
        extract_faces(index, out, config, shard=(1 - shard, 2), finder=finder, progress=False)
    assert calls == []


def test_dff_extract_command(dataset, tmp_path, monkeypatch, capsys):
    _, index_csv = dataset
    index = copy_index(index_csv, tmp_path)
    out = tmp_path / "crops"
    faces_csv = tmp_path / "out" / "faces.csv"
    monkeypatch.setattr(extract_module, "iter_face_crops", _only_two(extract_module.iter_face_crops))
    args = [
        "extract",
        str(index),
        "--out",
        str(out),
        "--faces-out",
        str(faces_csv),
        "--n-frames",
        "2",
        "--min-face-size",
        "30",
        "--crop-size",
        "64",
        "--no-progress",
        "--shard",
        "0/1",
        "--mtcnn",
        "facenet",
    ]
    assert cli.main(args) == 0
    faces = _io.load_table(faces_csv)
    assert set(faces["video_id"]) == {"two"} and len(faces) == 4
    assert faces.attrs["extraction"]["mtcnn_engine"] == "facenet"
    assert read_rgb(_io.absolute_paths(faces)[0]).shape == (64, 64, 3)
    assert (tmp_path / "out" / "faces_failures.csv").is_file()
    faces_csv.unlink()
    assert cli.main(["extract", str(index), "--out", str(out), "--faces-out", str(faces_csv), "--merge-only"]) == 0
    assert len(_io.load_table(faces_csv)) == 4
    assert "4 crops" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["extract", str(index), "--shard", "2/2"])


def _only_two(real):
    """Speed: only the two-face video is really processed; the others raise as an unreadable video would."""
    from deepfakeforensics.data.video import VideoError

    def wrapper(path, *args, **kwargs):
        if path.stem != "two":
            raise VideoError(path, "skipped in this test")
        return real(path, *args, **kwargs)

    return wrapper


@pytest.mark.slow
def test_extract_real_sample_videos(samples_dir, tmp_path):
    """End to end on the real FaceForensics++ and DFDC clips: one face tracked through every sampled frame."""
    rows = [
        ("519", "ffpp/original_sequences/youtube/c23/videos/519.mp4", 0, "ffpp", "real"),
        ("519_515", "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4", 1, "ffpp", "Deepfakes"),
        ("brtujopkby", "dfdc/dfdc_train_part_0/brtujopkby.mp4", 1, "dfdc", "FAKE"),
    ]
    index = pd.DataFrame(rows, columns=["video_id", "path", "label", "dataset", "method"]).assign(
        compression="c23", group=["519", "519", "brtujopkby"], split="test"
    )
    _io.save_table(index, tmp_path / "labels" / "samples.csv", root=samples_dir)
    config = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=4), crop_size=128)
    faces = extract_faces(tmp_path / "labels" / "samples.csv", tmp_path / "extracted", config, progress=False)
    assert pd.read_csv(tmp_path / "labels" / "samples_faces_failures.csv").empty
    for video_id, frames in [("519", [0, 250, 500, 750]), ("519_515", None), ("brtujopkby", [0, 100, 199, 299])]:
        mine = faces[faces["video_id"] == video_id]
        main = mine[mine["track"] == 0]
        assert len(main) == 4 and (main["prob"] >= 0.95).all()
        if frames:
            assert main["frame"].tolist() == frames
        side = np.maximum(main["x1"] - main["x0"], main["y1"] - main["y0"])
        assert side.between(50, 400).all()
    assert (tmp_path / "extracted" / "dfdc" / "brtujopkby").is_dir()
    image = read_rgb(_io.absolute_paths(faces)[0])
    assert image.shape == (128, 128, 3)


def test_dff_extract_defaults_are_the_configs():
    """`dff extract`'s options are generated from ExtractionConfig and SamplingConfig: same defaults, old aliases."""
    parser = argparse.ArgumentParser()
    extract_command.add_arguments(parser)
    args = parser.parse_args(["labels/x.csv"])
    for cls in (ExtractionConfig, SamplingConfig):
        for name, default in dataclass_defaults(cls).items():
            if name != "sampling":
                assert getattr(args, name) == default, name
    assert extract_command.config_from_args(args) == ExtractionConfig()
    assert args.device == "auto"
    aliased = parser.parse_args(["x.csv", "--sampling", "scene", "--mtcnn", "facenet", "--detect-size", "0"])
    config = extract_command.config_from_args(aliased)
    assert (config.sampling.strategy, config.mtcnn_engine, config.detect_size) == ("scene", "facenet", 0)
    assert config.make_finder().detect_size is None  # 0: full resolution
    helped = parser.format_help()
    assert helped.count("--sampling") == 1 and helped.count("--mtcnn ") == 1  # an alias is listed with its option
    assert "--strategy {uniform,every_k,all,scene,clips}, --sampling" in helped
    assert "--clip-length" in helped and "--clip-stride" in helped and "--clips " in helped
