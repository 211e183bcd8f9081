"""predict_folder on test-made videos (one face, two faces, no face, empty, unreadable), images, resume, dff predict."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from synth_videos import face_photo, write_face_video

from deepfakeforensics.data.transforms import to_tensor
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.data.windows import WindowConfig, make_windows
from deepfakeforensics.faces import ExtractionConfig, iter_face_crops
from deepfakeforensics.inference.media import list_media
from deepfakeforensics.inference.predict import (
    PREDICTION_COLUMNS,
    STOPPED,
    PredictConfig,
    StreamScorer,
    predict_file,
    predict_folder,
)
from deepfakeforensics.models import ModelCfg, create_model, save_checkpoint
from deepfakeforensics.scoring.thresholds import write_thresholds

CONFIG = ExtractionConfig(sampling=SamplingConfig(strategy="uniform", n_frames=6), detect_size=320)


def write_still_faces(path, n_faces: int, n_frames: int = 12, size: tuple[int, int] = (360, 640)) -> None:
    """An mp4 of `n_faces` copies of the photo drifting 1 px per frame: one stable face track each.

    (``write_face_video`` moves faces fast; with sparse sampling a tracker may rightly split them.)
    """
    h, w = size
    photo = face_photo(140)
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    slot = w // max(n_faces, 1)
    for t in range(n_frames):
        frame = background.copy()
        for k in range(n_faces):
            x0, y0 = k * slot + (slot - 140) // 2 + t, (h - 140) // 2
            frame[y0 : y0 + 140, x0 : x0 + 140] = photo
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    (root / "a").mkdir()
    (root / "b" / "deep").mkdir(parents=True)
    write_still_faces(root / "a" / "one_face.mp4", n_faces=1)
    write_still_faces(root / "b" / "deep" / "two_faces.MP4", n_faces=2)
    write_face_video(root / "no_face.mp4", n_faces=0, n_frames=8)
    (root / "empty.mp4").write_bytes(b"")
    (root / "b" / "broken.avi").write_bytes(np.random.default_rng(0).bytes(4096))
    canvas = np.full((300, 300, 3), 120, np.uint8)
    canvas[60:220, 70:230] = face_photo(160)
    cv2.imwrite(str(root / "a" / "portrait.jpg"), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    (root / "notes.txt").write_text("not media")
    return root


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("mesonet4").eval()


@pytest.fixture(scope="module")
def finder():
    return CONFIG.make_finder()


@pytest.fixture(scope="module")
def result(folder, model, finder):
    return predict_folder(folder, model, threshold=0.5, extraction_config=CONFIG, finder=finder, progress=False)


def test_every_media_file_gets_one_row(result, folder):
    preds, _ = result
    assert list(preds["path"]) == [
        "a/one_face.mp4",
        "a/portrait.jpg",
        "b/broken.avi",
        "b/deep/two_faces.MP4",
        "empty.mp4",
        "no_face.mp4",
    ]
    assert [p.name for p in list_media(folder)] == [
        "one_face.mp4",
        "portrait.jpg",
        "broken.avi",
        "two_faces.MP4",
        "empty.mp4",
        "no_face.mp4",
    ]


def test_failures_are_named_and_the_run_goes_on(result):
    preds, failures = result
    failed = dict(failures)
    assert set(failed) == {"b/broken.avi", "empty.mp4", "no_face.mp4"}
    assert "empty" in failed["empty.mp4"]
    assert "no face" in failed["no_face.mp4"]
    assert failed["b/broken.avi"]  # OpenCV cannot open it: a reason, not a crash
    bad = preds.set_index("path").loc[list(failed)]
    assert bad["score"].isna().all() and bad["label"].isna().all() and (bad["error"] != "").all()


def test_faces_tracks_and_scores(result):
    preds = result.predictions.set_index("path")
    one, two, img = preds.loc["a/one_face.mp4"], preds.loc["b/deep/two_faces.MP4"], preds.loc["a/portrait.jpg"]
    assert (one["faces_found"], two["faces_found"], img["faces_found"]) == (1, 2, 1)
    assert 1 <= one["frames_used"] <= 6 and img["frames_used"] == 1
    for row in (one, two, img):
        tracks = json.loads(row["track_scores"])
        assert len(tracks) == row["faces_found"]
        assert 0 <= row["score"] <= 1 and row["label"] == int(row["score"] >= 0.5) and row["error"] == ""
    # mean aggregation with tracks of equal length: the file score is the mean of the track scores
    assert two["score"] == pytest.approx(np.mean(list(json.loads(two["track_scores"]).values())), abs=1e-5)


def test_streamed_scores_equal_scoring_all_crops_at_once(result, folder, model, finder):
    crops = list(iter_face_crops(folder / "a" / "one_face.mp4", CONFIG, finder))
    with torch.no_grad():
        p = torch.sigmoid(model(to_tensor([c.image for c in crops], model.default_cfg))).numpy()
    assert result.predictions.set_index("path").loc["a/one_face.mp4", "score"] == pytest.approx(p.mean(), abs=1e-5)


def test_method_head_probabilities_are_reported_per_file(folder, finder, tmp_path):
    torch.manual_seed(0)
    methods = ["real", "Deepfakes", "FaceSwap"]
    multi = create_model("mesonet4", methods=methods).eval()
    out = tmp_path / "methods.csv"
    preds, _ = predict_folder(folder / "a", multi, extraction_config=CONFIG, finder=finder, progress=False, out_csv=out)
    assert list(preds.columns) == [*PREDICTION_COLUMNS[:-1], "p_real", "p_Deepfakes", "p_FaceSwap", "error"]
    video = preds.set_index("path").loc["one_face.mp4"]
    crops = list(iter_face_crops(folder / "a" / "one_face.mp4", CONFIG, finder))
    probs = multi.method_probabilities(to_tensor([c.image for c in crops], multi.default_cfg)).numpy()
    for k, m in enumerate(methods):  # the mean over the file's crops, as the fake score
        assert video[f"p_{m}"] == pytest.approx(probs[:, k].mean(), abs=1e-5)
    assert video[["p_real", "p_Deepfakes", "p_FaceSwap"]].sum() == pytest.approx(1.0, abs=1e-5)
    assert list(pd.read_csv(out).columns) == list(preds.columns)  # the CSV too (and resume reads it back)
    again, _ = predict_folder(folder / "a", multi, extraction_config=CONFIG, finder=finder, progress=False, out_csv=out)
    pd.testing.assert_frame_equal(again, preds, check_dtype=False)


def test_a_stopped_video_ends_early_with_its_reason(folder, model, finder):
    video = folder / "b" / "deep" / "two_faces.MP4"
    asked = []

    def stop_after_three() -> bool:
        asked.append(1)
        return len(asked) > 3

    scorer = StreamScorer(model, 8, WindowConfig(), torch.device("cpu"))
    row = predict_file(video, "two_faces.MP4", scorer, PredictConfig(), CONFIG, finder, stop=stop_after_three)
    assert row["error"] == STOPPED and np.isnan(row["score"]) and len(asked) == 4  # asked before each crop
    never = predict_file(video, "two_faces.MP4", scorer, PredictConfig(), CONFIG, finder, stop=lambda: False)
    assert never["error"] == "" and never["faces_found"] == 2  # the scorer was reset: nothing half-scored left


def test_track_max_and_threshold(folder, model, finder):
    preds, _ = predict_folder(
        folder / "b",
        model,
        threshold=0.0,
        aggregation="track_max",
        extraction_config=CONFIG,
        finder=finder,
        progress=False,
    )
    two = preds.set_index("path").loc["deep/two_faces.MP4"]
    assert two["score"] == pytest.approx(max(json.loads(two["track_scores"]).values()), abs=1e-5)
    assert two["label"] == 1


def test_stream_scorer_windows_match_window_dataset_rules():
    torch.manual_seed(0)
    model = create_model("mesonet4_lstm").eval()
    scorer = StreamScorer(model, batch_size=2, windows=WindowConfig(window=3, stride=2))
    rng = np.random.default_rng(0)
    crops = {t: [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(n)] for t, n in [(0, 7), (1, 2)]}
    for f in range(7):  # tracks interleave, as from iter_face_crops
        for t, imgs in crops.items():
            if f < len(imgs):
                scorer.add(t, f * 10, imgs[f])
    df = scorer.finish()
    # track 0: windows start at rows 0, 2, 4 (7 rows, window 3, stride 2); track 1 is padded to one window
    assert sorted(zip(df["track"], df["start_frame"], strict=True)) == [(0, 0), (0, 20), (0, 40), (1, 0)]
    with torch.no_grad():
        expected = model(to_tensor(crops[0][2:5], model.default_cfg)[None]).item()
        padded = model(to_tensor(crops[1] + [crops[1][-1]], model.default_cfg)[None]).item()
    got = df.set_index(["track", "start_frame"])["logit"]
    assert got[(0, 20)] == pytest.approx(expected, abs=1e-4)
    assert got[(1, 0)] == pytest.approx(padded, abs=1e-4)


class _Recording(torch.nn.Module):
    """A temporal 'model' that records which crops (encoded in their pixel value) each window it scores holds."""

    default_cfg = ModelCfg(input_size=(3, 4, 4), temporal=True, channels_last=False)

    def __init__(self):
        super().__init__()
        self.windows: list[list[int]] = []

    def forward(self, x):
        self.windows += (x[:, :, 0, 0, 0] * 255 / 10).round().long().tolist()
        return torch.zeros(len(x))


@pytest.mark.parametrize(
    "cfg",
    [
        WindowConfig(window=3, stride=2),
        WindowConfig(window=4),
        WindowConfig(window=2, stride=1),
        WindowConfig(window=5, stride=3, pad_mode="loop"),
        WindowConfig(window=4, short="drop"),
    ],
)
def test_stream_scorer_cuts_the_windows_of_make_windows(cfg):
    for n in (1, 2, 3, 4, 5, 7, 10):
        model = _Recording()
        scorer = StreamScorer(model, batch_size=3, windows=cfg)
        for k in range(n):  # crop k of the track has pixel value 10 * k
            scorer.add(0, 100 + k, np.full((4, 4, 3), 10 * k, np.uint8))
        scores = scorer.finish()
        expected = make_windows(n, cfg)[0]
        assert sorted(model.windows) == sorted(expected.tolist()), (n, cfg)
        assert sorted(scores["start_frame"]) == sorted(100 + expected[:, 0]) if len(expected) else scores.empty


class _Counting(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.default_cfg, self.calls = inner, inner.default_cfg, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_resume_skips_files_already_predicted(folder, model, finder, tmp_path):
    out = tmp_path / "preds.csv"
    first = predict_folder(folder / "a", model, extraction_config=CONFIG, finder=finder, out_csv=out, progress=False)
    counting = _Counting(model)
    again = predict_folder(folder / "a", counting, extraction_config=CONFIG, finder=finder, out_csv=out, progress=False)
    assert counting.calls == 0
    pd.testing.assert_series_equal(first.predictions["score"], again.predictions["score"], atol=1e-6)


def test_dff_predict_cli(folder, model, tmp_path):
    from deepfakeforensics.cli import main

    ckpt = tmp_path / "run" / "best.pt"
    save_checkpoint(ckpt, model)
    out = tmp_path / "out" / "predictions.csv"
    code = main(
        [
            "predict",
            str(folder / "b"),
            "--weights",
            str(ckpt),
            "--out",
            str(out),
            "--frames",
            "4",
            "--detect-size",
            "320",
            "--threshold",
            "0.4",
        ]
    )
    assert code == 0
    preds = pd.read_csv(out, keep_default_na=False)
    assert list(preds["path"]) == ["broken.avi", "deep/two_faces.MP4"]
    fails = pd.read_csv(tmp_path / "out" / "predictions_failures.csv")
    assert list(fails["path"]) == ["broken.avi"]


def test_dff_predict_uses_the_threshold_training_chose_on_validation(folder, model, tmp_path, capsys):
    from deepfakeforensics.cli import main

    ckpt = tmp_path / "run" / "best.pt"
    save_checkpoint(ckpt, model)
    levels = {"frame": {"threshold": 0.3, "aggregation": None}, "file": {"threshold": 1e-9, "aggregation": "mean"}}
    write_thresholds(
        ckpt.parent, {"epoch": 2, "split": "val", "rule": "eer", "checkpoint": "best.pt", "levels": levels}
    )
    out = tmp_path / "p.csv"
    common = ["predict", str(folder / "a"), "--weights", str(ckpt), "--frames", "2", "--detect-size", "320"]
    assert main([*common, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "threshold 1e-09: chosen on validation (split 'val', epoch 2 = best.pt)" in printed
    assert "run/thresholds.json" in printed
    preds = pd.read_csv(out, keep_default_na=False)
    assert (preds.loc[preds["faces_found"] > 0, "label"] == 1).all()  # every scored file is over a tiny threshold
    assert main([*common, "--out", str(out), "--restart", "--threshold", "1.0"]) == 0  # --threshold wins
    assert "threshold 1: given (--threshold)" in capsys.readouterr().out
    assert (pd.read_csv(out)["label"] == 0).all()
    assert main([*common, "--out", str(out), "--restart", "--aggregation", "track_max"]) == 0  # chosen for mean only
    assert (
        "threshold 0.5: 0.5 (no validation threshold recorded for aggregation 'track_max')" in capsys.readouterr().out
    )


def test_dff_predict_defaults_are_the_config_defaults_and_windows_come_from_the_run(tmp_path):
    import json

    from deepfakeforensics.cli import build_parser
    from deepfakeforensics.commands.options import dataclass_defaults
    from deepfakeforensics.commands.predict import load_run
    from deepfakeforensics.models import create_model, save_checkpoint

    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "best.pt", create_model("mesonet4_lstm"))
    args = build_parser().parse_args(["predict", "folder", "--weights", str(tmp_path / "run" / "best.pt")])
    expected = {k: v for k, v in dataclass_defaults(PredictConfig).items() if k != "windows"}
    expected["threshold"] = None  # the run's validation threshold, else PredictConfig's 0.5
    expected["aggregation"] = None  # the evaluation's (--metrics-csv), a released detector's rule, else mean
    assert {k: getattr(args, k) for k in expected} == expected
    assert PredictConfig().device == "auto"
    info = load_run(args)
    assert info.windows == WindowConfig() and info.aggregation == "mean"  # no config.json beside the checkpoint
    saved = {"train": {}, "val_data": {"window": 4, "pad_mode": "loop"}}  # a run saved before the "data" section
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    assert load_run(args).windows == WindowConfig(window=4, pad_mode="loop")
    args = build_parser().parse_args(["predict", "f", "--weights", str(tmp_path / "run" / "best.pt"), "--stride", "2"])
    assert load_run(args).windows == WindowConfig(window=4, stride=2, pad_mode="loop")


@pytest.mark.slow
def test_dff_predict_on_shared_samples_with_authors_h5_weights(samples_dir, mesonet_dir, tmp_path):
    from deepfakeforensics.cli import main

    out = tmp_path / "samples.csv"
    code = main(
        [
            "predict",
            str(samples_dir),
            "--model",
            "mesonet4",
            "--weights",
            str(mesonet_dir / "weights" / "Meso4_DF.h5"),
            "--out",
            str(out),
            "--frames",
            "4",
        ]
    )
    assert code == 0
    rows = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert {
        "ffpp/original_sequences/youtube/c23/videos/519.mp4",
        "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
        "dfdc/dfdc_train_part_0/brtujopkby.mp4",
    } <= set(rows.index)
    assert (rows["error"] == "").all() and (rows["faces_found"] >= 1).all()
    assert rows["score"].astype(float).between(0, 1).all()
    assert pd.read_csv(tmp_path / "samples_failures.csv").empty


def test_weights_and_model_name_must_agree(mesonet_dir, model, tmp_path, capsys):
    from deepfakeforensics.cli import main

    assert main(["predict", str(tmp_path), "--weights", str(mesonet_dir / "weights" / "Meso4_DF.h5")]) == 1
    assert "Meso4_DF.h5: a Keras .h5 file does not say its architecture; pass --model" in capsys.readouterr().err
    save_checkpoint(tmp_path / "m.pt", model)
    assert main(["predict", str(tmp_path), "--model", "mesoinception4", "--weights", str(tmp_path / "m.pt")]) == 1
    assert "m.pt: checkpoint is of model 'mesonet4', not --model 'mesoinception4'" in capsys.readouterr().err
