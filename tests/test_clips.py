"""Clips of consecutive frames: sampling, extraction (a clip column, tracks that stay on one person inside a clip),
`ClipDataset` (windows inside one clip and one track, never across a gap) and training/evaluation on a clips manifest."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import cv2
import httpx
import numpy as np
import pandas as pd
import pytest
import torch
from synth_videos import write_face_video
from tiny_data import TINY_CFG, TinyDetector, TinyTemporal, crop_image
from torch.utils.data import DataLoader

from deepfakeforensics import _io, cli
from deepfakeforensics._package_format import PackageError
from deepfakeforensics.data import face_dataset as face_dataset_module
from deepfakeforensics.data.clips import ClipDataset, has_clips, split_at_gaps
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset, build_dataset
from deepfakeforensics.data.manifest import read_manifest
from deepfakeforensics.data.transforms import AugmentConfig
from deepfakeforensics.data.video import SamplingConfig, sample_clips, sample_frame_indices
from deepfakeforensics.packages import export_package
from deepfakeforensics.run_records import run_sampling
from deepfakeforensics.runs import RunInfo
from deepfakeforensics.serve import Engine, ServeConfig, create_app, running_server
from deepfakeforensics.training.config import RunConfigError

#: augmentation that only flips (every frame), to see that a window's frames share one draw
FLIP_ONLY = AugmentConfig(
    **{f: (1.0 if f == "p_flip" else 0.0) for f in AugmentConfig.__dataclass_fields__ if f.startswith("p_")}
)
CLIPS = SamplingConfig("clips", clip_length=5, clips=3, clip_stride=2)


# --- sampling ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 3])
def test_clips_spread_over_the_whole_video_without_overlap(stride):
    cfg = SamplingConfig("clips", clip_length=16, clips=4, clip_stride=stride)
    n = 1000
    clips = sample_clips(n, cfg)
    assert len(clips) == 4 and all(len(c) == 16 for c in clips)
    assert all(np.all(np.diff(c) == stride) for c in clips)  # consecutive (or every k-th) decoded frames
    assert clips[0][0] == 0 and clips[-1][-1] == n - 1  # first frame to last: the whole video
    starts = [c[0] for c in clips]
    assert max(np.diff(starts)) - min(np.diff(starts)) <= 1  # evenly spread
    assert sample_frame_indices(n, cfg) == [i for c in clips for i in c]


def test_short_videos_get_fewer_clips_then_one_shorter_clip():
    cfg = SamplingConfig("clips", clip_length=4, clips=3, clip_stride=2)  # a clip spans 7 frames
    assert sample_clips(15, cfg) == [[0, 2, 4, 6], [8, 10, 12, 14]]  # room for two whole clips, not three
    assert sample_clips(7, cfg) == [[0, 2, 4, 6]]
    assert sample_clips(5, cfg) == [[0, 2, 4]]  # shorter than a clip: one clip of the frames it has
    assert sample_clips(0, cfg) == []
    for n in range(1, 60):  # never a frame in two clips
        flat = sample_frame_indices(n, cfg)
        assert flat == sorted(set(flat)) and flat[-1] < n
    with pytest.raises(ValueError, match="clip_length"):
        SamplingConfig("clips", clip_length=0)


# --- extraction -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Two synthetic videos (two faces side by side; one face) extracted as clips, through `dff extract`."""
    root = tmp_path_factory.mktemp("clips")
    (root / "videos").mkdir()
    rects = write_face_video(root / "videos" / "two.mp4", 2, n_frames=40, height=240, width=400, face_size=100, seed=0)
    write_face_video(root / "videos" / "short.mp4", 1, n_frames=6, height=240, width=200, face_size=100, seed=1)
    files = ["two", "short", "two", "short", "two", "short"]
    index = pd.DataFrame(
        {
            "video_id": [f"{f}{i}" for i, f in enumerate(files)],
            "path": [f"videos/{f}.mp4" for f in files],
            "label": [0, 0, 1, 1, 0, 1],
            "dataset": "synth",
            "method": ["real", "real", "Deepfakes", "Deepfakes", "real", "Deepfakes"],
            "group": [f"g{i}" for i in range(6)],
            "split": ["train", "train", "train", "train", "val", "val"],
        }
    )
    _io.save_table(index, root / "labels" / "synth.csv", root=root)
    args = ["extract", str(root / "labels" / "synth.csv"), "--out", str(root / "extracted"), "--no-progress"]
    args += ["--strategy", "clips", "--clip-length", "5", "--clips", "3", "--clip-stride", "2"]
    args += ["--detect-size", "480", "--min-face-size", "30"]
    assert cli.main(args) == 0
    return root, root / "labels" / "synth_faces.csv", rects


def test_extraction_writes_a_clip_column_and_the_clip_frames(extracted):
    _, csv, _ = extracted
    faces = read_manifest(csv)
    assert faces.attrs["extraction"]["sampling"]["strategy"] == "clips"
    two = faces[faces["video_id"] == "two0"]
    expected = sample_clips(40, CLIPS)
    assert sorted(two["clip"].unique()) == [0, 1, 2]
    for (clip, _track), rows in two.groupby(["clip", "track"]):
        assert rows["frame"].tolist() == expected[clip]  # one crop per face per frame of the clip
    assert two.groupby("clip")["track"].nunique().tolist() == [2, 2, 2]
    assert two.groupby("track")["clip"].nunique().max() == 1  # a track never spans two clips
    short = faces[faces["video_id"] == "short1"]  # 6 frames, a clip spans 9: one clip of its frames 0, 2, 4
    assert short["clip"].unique().tolist() == [0] and sorted(short["frame"]) == [0, 2, 4]


def test_tracks_stay_on_one_person_inside_a_clip(extracted):
    _, csv, rects = extracted
    faces = read_manifest(csv)
    two = faces[faces["video_id"] == "two0"]
    for _, rows in two.groupby(["clip", "track"]):
        people = set()
        for frame, x0, x1 in zip(rows["frame"], rows["x0"], rows["x1"], strict=True):
            centre = (x0 + x1) / 2
            inside = [k for k, (a, _, b, _) in enumerate(rects[frame]) if a <= centre <= b]
            assert len(inside) == 1
            people.add(inside[0])
        assert len(people) == 1  # the same face in every frame of the track


# --- ClipDataset ------------------------------------------------------------------------------------------------------


def clip_manifest(root: Path, rows: list[tuple[str, int, int, int]], labels: dict, splits: dict) -> Path:
    """Crops and a manifest with a clip column; rows are (video_id, clip, track, frame)."""
    table = []
    for video, clip, track, frame in rows:
        rel = f"crops/{video}/{track}_{frame}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        img = crop_image(labels[video], zlib.crc32(rel.encode()), 40)
        cv2.imwrite(str(root / rel), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        table.append(
            {
                "video_id": video,
                "track": track,
                "frame": frame,
                "clip": clip,
                "path": rel,
                "label": labels[video],
                "split": splits[video],
                "group": video,
                "method": "Fake" if labels[video] else "real",
            }
        )
    csv = root / "labels" / "clips_faces.csv"
    _io.save_table(pd.DataFrame(table).sample(frac=1.0, random_state=0), csv, root=root)
    return csv


@pytest.fixture
def gappy(tmp_path):
    """Video a: clip 0 (frames 0..14 step 2, frame 8 missing), clip 1 (frames 100..114 step 2) of one face followed
    as track 0 then 1, and a second face (track 2) in clip 1; video b: a clip shorter than the windows."""
    rows = [("a", 0, 0, f) for f in range(0, 16, 2) if f != 8]
    rows += [("a", 1, 1, f) for f in range(100, 116, 2)] + [("a", 1, 2, f) for f in range(100, 108, 2)]
    rows += [("b", 0, 0, f) for f in (0, 2, 4)]
    return clip_manifest(tmp_path, rows, {"a": 1, "b": 0}, {"a": "train", "b": "train"})


def test_windows_stay_inside_one_clip_one_track_and_never_cross_a_gap(gappy):
    ds = ClipDataset(gappy, "train", TINY_CFG, window=4, short="drop")
    spans = ds.meta[list(SPAN)].values.tolist()
    assert spans == [
        ["a", 0, 0, 0, 6],  # frames 10..14 after the gap at 8 are too few for a window: dropped
        ["a", 1, 1, 100, 106],
        ["a", 1, 1, 108, 114],
        ["a", 1, 2, 100, 106],
    ]
    assert ds.n_gaps == 1 and ds.n_dropped == 2  # the piece after the gap, and video b's short clip
    assert ds.faces.attrs.get("extraction") is None  # no recorded stride: the clip's own step (2) is used
    x, y = ds[0]
    assert x.shape == (4, *TINY_CFG.input_size) and float(y) == 1.0
    xb, yb = next(iter(DataLoader(ds, batch_size=3)))
    assert xb.shape == (3, 4, *TINY_CFG.input_size)
    with pytest.raises(ValueError, match="clip_stride"):
        ClipDataset(gappy, "train", TINY_CFG, window=4, clip_stride=0)
    every = ClipDataset(gappy, "train", TINY_CFG, window=4, stride=1, short="drop")
    assert every.meta["start_frame"].tolist()[:2] == [0, 100]  # no window spans frames 6 and 10
    wide = ClipDataset(
        gappy, "train", TINY_CFG, window=4, stride=1, short="drop", clip_stride=4
    )  # a step of 4 is no gap
    assert wide.n_gaps == 0 and ["a", 0, 0, 4, 12] in wide.meta[list(SPAN)].values.tolist()


SPAN = ("video_id", "clip", "track", "start_frame", "end_frame")


def test_short_clips_are_padded_like_short_tracks(gappy):
    ds = ClipDataset(gappy, "train", TINY_CFG, window=4, stride=2)  # short="pad": repeat the last frame
    b = ds.meta[ds.meta["video_id"] == "b"]
    assert len(b) == 1 and b["n_frames"].tolist() == [3] and b["end_frame"].tolist() == [4]
    x, _ = ds[int(b.index[0])]
    assert torch.equal(x[2], x[3])
    overlapping = ds.meta[(ds.meta["video_id"] == "a") & (ds.meta["clip"] == 1) & (ds.meta["track"] == 1)]
    assert overlapping["start_frame"].tolist() == [100, 104, 108]  # window stride 2 rows = 4 frames


def test_one_augmentation_draw_for_a_whole_clip_window(gappy, monkeypatch):
    calls = []
    real = face_dataset_module.augment_frames

    def spy(frames, cfg, seed):
        calls.append((len(frames), seed))
        return real(frames, cfg, seed)

    monkeypatch.setattr(face_dataset_module, "augment_frames", spy)
    ds = ClipDataset(gappy, "train", TINY_CFG, window=4, train=True, augment=FLIP_ONLY, seed=3)
    x, _ = ds[1]
    assert calls == [(4, (3, 0, 1))]  # one call, all four frames, seeded by (seed, epoch, index)
    plain = ClipDataset(gappy, "train", TINY_CFG, window=4)[1][0]
    assert torch.allclose(x, plain.flip(-1), atol=0.2)  # every frame flipped alike


def test_splits_are_the_manifests_and_build_dataset_chooses_clips(gappy, tmp_path):
    temporal, frame = TinyTemporal(), TinyDetector()
    assert has_clips(gappy) and not has_clips(tmp_path / "nothing.csv")
    assert type(build_dataset(gappy, "train", temporal, window=4)) is ClipDataset
    assert type(build_dataset(gappy, "train", temporal, window=4, clips=False)) is WindowDataset
    assert type(build_dataset(gappy, "train", frame, window=4)) is FrameDataset  # frame models: every crop
    plain = clip_manifest(tmp_path / "plain", [("c", 0, 0, 0), ("c", 0, 0, 1)], {"c": 0}, {"c": "train"})
    table = _io.load_table(plain).drop(columns="clip")
    assert type(build_dataset(table, "train", temporal, window=2)) is WindowDataset
    with pytest.raises(ValueError, match="no 'clip' column"):
        build_dataset(table, "train", temporal, window=2, clips=True)
    table = _io.load_table(gappy)
    table["split"] = np.where(table["video_id"] == "a", "train", "val")
    val = ClipDataset(table, "val", TINY_CFG, window=2)
    assert set(val.meta["video_id"]) == {"b"} and set(val.faces["video_id"]) == {"b"}
    table.loc[table["video_id"] == "b", "clip"] = np.nan
    with pytest.raises(ValueError, match="without a clip number"):
        ClipDataset(table, None, TINY_CFG, window=2)


def test_split_at_gaps():
    assert [r.tolist() for r in split_at_gaps(np.array([3, 4, 5, 9, 10, 20]), 1)] == [[0, 1, 2], [3, 4], [5]]
    assert split_at_gaps(np.array([], dtype=np.int64), 1) == []


# --- training and evaluation through the CLI ---------------------------------------------------------------------------


def test_dff_train_and_evaluate_on_an_extracted_clips_manifest(extracted, tmp_path, capsys):
    root, csv, _ = extracted
    faces = _io.load_table(csv)
    faces["split"] = faces["split"].where(~faces["video_id"].isin(["two4", "short5"]), "test")
    faces.loc[faces["video_id"].isin(["two0", "short3"]), "split"] = "val"
    manifest = tmp_path / "clips_faces.csv"
    _io.save_table(faces, manifest, root=faces.attrs["root"])
    ck = tmp_path / "ck"
    args = ["train", "--model", "mesonet4_lstm", "--faces", str(manifest), "--run", "clips", "--window", "3"]
    args += ["--checkpoints-dir", str(ck), "--batch-size", "4", "--num-workers", "0", "--epochs", "1"]
    assert cli.main(args) == 0
    config = json.loads((ck / "clips" / "config.json").read_text())
    assert config["train_data"]["class"] == "ClipDataset" and config["train_data"]["window"] == 3
    out = tmp_path / "eval"
    args = ["evaluate", "--runs", str(ck / "clips"), "--faces", str(manifest), "--out", str(out)]
    assert cli.main([*args, "--no-plots", "--bootstrap", "0"]) == 0
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics["level"]) >= {"window", "file"}
    capsys.readouterr()


# --- scoring a run trained on clips: dff predict and dff serve sample its clips ---------------------------------------


@pytest.fixture(scope="module")
def clips_run(extracted, tmp_path_factory):
    """A video model (ftcn_lite, 32 px) trained one epoch by `dff train` on the clips manifest."""
    _, csv, _ = extracted
    ck = tmp_path_factory.mktemp("clips_runs")
    args = ["train", "--model", "ftcn_lite", "--faces", str(csv), "--run", "ftcn", "--window", "4"]
    args += ["--model-arg", "img_size=32", "--model-arg", "widths=[8, 16]"]
    args += ["--checkpoints-dir", str(ck), "--batch-size", "4", "--num-workers", "0", "--epochs", "1"]
    assert cli.main(args) == 0
    return ck / "ftcn"


def test_a_run_records_its_clips_and_is_scored_on_them(extracted, clips_run, tmp_path):
    _, csv, _ = extracted
    recorded = json.loads((clips_run / "config.json").read_text())["sampling"]
    assert recorded == _io.load_table(csv).attrs["extraction"]["sampling"] and recorded["strategy"] == "clips"
    info = RunInfo.load(clips_run)
    assert info.sampling == CLIPS and info.describe()["sampling"] == "3 clips of 5 frames 2 apart (as the run trained)"
    # asked samplings win over the run's, one at a time
    assert info.prediction_sampling(frames=8)[0] == SamplingConfig("uniform", n_frames=8)
    assert info.prediction_sampling(clips=2)[0] == SamplingConfig("clips", clip_length=5, clips=2, clip_stride=2)
    with pytest.raises(ValueError, match="choose one sampling"):
        info.prediction_sampling(frames=8, clip_length=4)
    # a damaged record is named, never silently replaced by uniform frames
    config = json.loads((clips_run / "config.json").read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({**config, "sampling": {**recorded, "clips": 0}}))
    with pytest.raises(RunConfigError, match=r"config.json: field 'sampling'"):
        run_sampling(bad / "best.pt")
    (bad / "config.json").write_text(json.dumps({**config, "sampling": {**recorded, "clip_length": "5"}}))
    with pytest.raises(RunConfigError, match=r"'sampling.clip_length' is '5'"):
        run_sampling(bad / "best.pt")


def test_dff_predict_scores_the_clips_the_run_trained_on(extracted, clips_run, tmp_path, capsys):
    root, _, _ = extracted
    base = ["predict", str(root / "videos"), "--weights", str(clips_run), "--detect-size", "480"]
    frames_used = {}
    for name, extra in {"run": [], "asked": ["--clips", "2"], "uniform": ["--frames", "8"]}.items():
        out = tmp_path / f"{name}.csv"
        assert cli.main([*base, "--out", str(out), *extra]) == 0
        preds = pd.read_csv(out, keep_default_na=False).set_index("path")
        assert preds.loc["two.mp4", "error"] == "" and preds.loc["two.mp4", "faces_found"] == 2 * (
            3 if name == "run" else 2 if name == "asked" else 1
        ), preds.loc["two.mp4"]
        frames_used[name] = int(preds.loc["two.mp4", "frames_used"])
    printed = capsys.readouterr().out
    assert "frames: 3 clips of 5 frames 2 apart (as the run trained)" in printed
    assert "frames: 8 frames sampled uniformly (asked)" in printed
    # two.mp4 has 40 frames: 3 clips x 5 frames, 2 clips x 5, or 8 uniformly sampled frames
    assert frames_used == {"run": 15, "asked": 10, "uniform": 8}
    assert cli.main([*base, "--out", str(tmp_path / "x.csv"), "--clips", "2", "--frames", "8"]) == 1
    assert "choose one sampling" in capsys.readouterr().err


def test_dff_serve_scores_a_video_model_on_its_clips_as_dff_predict_does(extracted, clips_run, tmp_path):
    root, _, _ = extracted
    config = ServeConfig(detect_size=480, timeout_s=120, upload_dir=str(tmp_path))
    app = create_app(Engine.from_weights(clips_run, config), config)
    with running_server(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        model = client.get("/model").json()
        video = (root / "videos" / "two.mp4").read_bytes()
        r = client.post("/detect/video", files={"file": ("two.mp4", video, "video/mp4")})
    assert model["name"] == "ftcn_lite" and model["temporal"] and model["frames_per_video"] == 15
    assert model["sampling"] == "3 clips of 5 frames 2 apart (as the run trained)"
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["frames_sampled"] == 15 and body["frames_used"] == 15 and len(body["tracks"]) == 6
    out = tmp_path / "preds.csv"
    args = ["predict", str(root / "videos"), "--weights", str(clips_run), "--detect-size", "480", "--out", str(out)]
    assert cli.main(args) == 0
    expected = pd.read_csv(out).set_index("path").loc["two.mp4", "score"]
    assert body["score"] == pytest.approx(expected, abs=1e-6)


def test_a_package_of_a_clips_run_keeps_its_clips(clips_run, tmp_path):
    package = export_package(clips_run, tmp_path / "pkg")
    config = json.loads((package / "config.json").read_text())
    assert config["sampling"] == {"strategy": "clips", "clip_length": 5, "clips": 3, "clip_stride": 2}
    info = RunInfo.load(package)
    assert info.kind == "package" and info.sampling == CLIPS
    assert "3 clips of 5 frames 2 apart per video" in (package / "README.md").read_text()
    (package / "config.json").write_text(json.dumps({**config, "sampling": {**config["sampling"], "clips": 0}}))
    with pytest.raises(PackageError, match=r"config.json: field 'sampling.clips' is 0"):
        RunInfo.load(package)
