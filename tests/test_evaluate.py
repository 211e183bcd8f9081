"""evaluate() end to end on a tiny hand-made faces manifest and checkpoints; Grad-CAM; robustness; dff evaluate."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm
from synth_videos import face_photo
from torch import nn

from deepfakeforensics import run_records
from deepfakeforensics import runs as runs_mod
from deepfakeforensics._io import load_table, save_table
from deepfakeforensics.evaluation import compute_metrics, evaluate
from deepfakeforensics.evaluation import run_scores as run_scores_mod
from deepfakeforensics.evaluation.crossdataset import PAIRED_COLUMNS
from deepfakeforensics.evaluation.gradcam import GradCAM, overlay
from deepfakeforensics.evaluation.robustness import PerturbedDataset, RobustnessConfig, perturb
from deepfakeforensics.models import Detector, ModelCfg, create_model, save_checkpoint
from deepfakeforensics.scoring import aggregate, choose_threshold

N_FRAMES = 2


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> tuple:
    """Faces manifest: 4 videos per split (val, test), 2 real + 2 fake; video 'x3' has two tracks."""
    root = tmp_path_factory.mktemp("crops")
    photo = face_photo(64)
    rows = []
    methods = ["original", "original", "Deepfakes", "FaceSwap"]
    rng = np.random.default_rng(0)
    for split in ("val", "test"):
        for k in range(4):
            vid = f"{split[0]}{k}"
            label = int(k >= 2)
            for track in range(2 if k == 3 else 1):
                for frame in range(N_FRAMES):
                    img = photo.copy()
                    if label:  # a visible "manipulation": a warm colour cast over the lower face
                        img[32:, :, 0] = np.clip(img[32:, :, 0].astype(int) + 60, 0, 255)
                    img = np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
                    rel = f"ds/{vid}/{track}_{frame}.jpg"
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(root / rel), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                    rows.append(
                        {
                            "video_id": vid,
                            "track": track,
                            "frame": frame * 10,
                            "path": rel,
                            "label": label,
                            "split": split,
                            "group": vid,
                            "method": methods[k],
                        }
                    )
    csv = root / "faces.csv"
    save_table(pd.DataFrame(rows), csv, root=root)
    return csv, rows


def _run(tmp_path_factory, name: str, seed: int) -> str:
    run = tmp_path_factory.mktemp("ckpt") / name
    run.mkdir()
    torch.manual_seed(seed)
    save_checkpoint(run / "best.pt", create_model("mesonet4"))
    pd.DataFrame(
        {
            "epoch": [1, 2],
            "train_loss": [0.7, 0.6],
            "val_loss": [0.69, 0.65],
            "val_auc": [0.55, 0.6],
            "val_acc": [0.5, 0.6],
        }
    ).to_csv(run / "history.csv", index=False)
    (run / "config.json").write_text(json.dumps({"model": "mesonet4"}))
    return str(run)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[str]:
    return [_run(tmp_path_factory, "meso_a", 0), _run(tmp_path_factory, "meso_b", 1)]


@pytest.fixture(scope="module")
def result(manifest, runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    robust = RobustnessConfig(strengths={"jpeg": (30,), "blur": (2.0,)})
    return evaluate(runs, manifest[0], out, split="test", robustness=robust, gradcam=2, batch_size=8, progress=False)


def test_metrics_table_one_row_per_run_and_level(result):
    m = result.metrics
    assert sorted(zip(m["run"], m["level"], strict=True)) == [
        ("meso_a", "file"),
        ("meso_a", "frame"),
        ("meso_b", "file"),
        ("meso_b", "frame"),
    ]
    frame_rows = m[m["level"] == "frame"]
    assert (frame_rows["n"] == 10).all()  # 5 face tracks x 2 frames in test
    assert (m.loc[m["level"] == "file", "n"] == 4).all()
    on_disk = pd.read_csv(result.out_dir / "metrics.csv")
    assert len(on_disk) == 4 and {"auc", "eer", "tpr_at_fpr_1", "threshold", "val_auc"} <= set(on_disk.columns)


def test_file_level_is_aggregate_of_frames_with_val_threshold(result):
    frames = result.scores[("meso_a", "frame")]
    files = aggregate(frames, "mean")
    val_frames = load_table(result.out_dir / "scores" / "meso_a_val_frame.csv")
    t = choose_threshold(aggregate(val_frames)["label"], aggregate(val_frames)["score"], "eer")
    expected = compute_metrics(files["label"], files["score"], t)
    row = result.metrics.query("run == 'meso_a' and level == 'file'").iloc[0]
    assert row["threshold"] == pytest.approx(t)
    for k in ("auc", "ap", "accuracy", "f1", "log_loss", "eer"):
        assert row[k] == pytest.approx(expected[k], nan_ok=True)


def test_scores_match_a_direct_forward_pass(result, manifest, runs):
    from deepfakeforensics.data.crops import read_crop
    from deepfakeforensics.data.transforms import to_tensor
    from deepfakeforensics.models import load_model

    frames = result.scores[("meso_b", "frame")]
    model = load_model(f"{runs[1]}/best.pt").eval()
    row = frames.iloc[3]
    img = read_crop(load_table(manifest[0]).attrs["root"] + "/" + row["path"])
    with torch.no_grad():
        p = torch.sigmoid(model(to_tensor([img], model.default_cfg))).item()
    assert row["score"] == pytest.approx(p, abs=1e-5)


def test_per_method_and_files_written(result):
    pm = result.per_method
    assert set(pm["method"]) == {"Deepfakes", "FaceSwap"} and set(pm["run"]) == {"meso_a", "meso_b"}
    one = pm.query("run == 'meso_a' and level == 'file' and method == 'Deepfakes'").iloc[0]
    files = result.scores[("meso_a", "file")]
    sub = files[files["method"].isin(["original", "Deepfakes"])]
    assert one["auc"] == pytest.approx(skm.roc_auc_score(sub["label"], sub["score"]))
    for name in ("meso_a_test_frame.csv", "meso_a_test_file.csv", "meso_b_val_frame.csv"):
        assert (result.out_dir / "scores" / name).is_file()


def test_every_plot_written_and_non_empty(result):
    expected = {
        "roc_frame",
        "roc_file",
        "score_distributions",
        "training_curves",
        "metrics_bars",
        "per_method_auc",
        "robustness",
        "gradcam_meso_a",
        "gradcam_meso_b",
    }
    assert expected <= set(result.plots)
    for p in result.plots.values():
        assert p.is_file() and p.stat().st_size > 5000


def test_error_analysis_lists_the_worst_videos_of_each_class(result, manifest):
    files = result.scores[("meso_a", "file")]
    frames = result.scores[("meso_a", "frame")]
    t = result.metrics.query("run == 'meso_a' and level == 'file'")["threshold"].item()
    table = pd.read_csv(result.out_dir / "errors_meso_a.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(table.drop(columns=["run", "dataset"]), result.errors["meso_a"], check_dtype=False)
    assert set(table["run"]) == {"meso_a"}
    for label, worst in (
        (0, files.loc[files["label"] == 0, "score"].max()),
        (1, files.loc[files["label"] == 1].score.min()),
    ):
        first = table[(table["label"] == label) & (table["rank"] == 1)].iloc[0]
        assert first["score"] == pytest.approx(worst)  # the real video scored most fake, the fake scored least
        assert first["error"] == ((first["score"] >= t) if label == 0 else (first["score"] < t))
        wrong, right = ("false_positive", "hardest_real") if label == 0 else ("false_negative", "hardest_fake")
        assert first["kind"] == (wrong if first["error"] else right)
        video = frames[frames["video_id"] == first["video_id"]]
        key = video["score"].max() if label == 0 else video["score"].min()  # its most / least suspicious frame
        assert first["frame_score"] == pytest.approx(key)
        crop = video[(video["track"] == first["track"]) & (video["frame"] == first["frame"])]
        assert crop["path"].item() == first["path"] and crop["score"].item() == pytest.approx(key)
        tracks = video.groupby("track")["score"].mean()
        assert json.loads(first["track_scores"]) == pytest.approx({str(k): v for k, v in tracks.items()}, abs=1e-6)
    assert (table.groupby("label")["rank"].max() <= 3).all() and len(table) == sum(
        min(3, n) for n in files["label"].value_counts()
    )
    png = result.plots["errors_meso_a"]
    assert png == result.out_dir / "errors_meso_a.png" and png.stat().st_size > 5000


def test_robustness_table(result):
    r = result.robustness
    assert set(r["perturbation"]) == {"none", "jpeg", "blur"}
    clean = r.query("run == 'meso_a' and perturbation == 'none' and level == 'file'").iloc[0]
    ref = result.metrics.query("run == 'meso_a' and level == 'file'").iloc[0]
    assert clean["auc"] == pytest.approx(ref["auc"], nan_ok=True)
    assert (result.out_dir / "robustness.csv").is_file()


def test_perturbed_dataset_changes_pixels_not_identity(manifest):
    from deepfakeforensics.data.datasets import FrameDataset

    ds = FrameDataset(manifest[0], "test", create_model("mesonet4").default_cfg)
    blurred = PerturbedDataset(ds, "blur", 3.0)
    x0, y0 = ds[0]
    x1, y1 = blurred[0]
    assert x0.shape == x1.shape and y0 == y1 and len(blurred) == len(ds)
    assert (x0 - x1).abs().mean() > 0.005
    assert x1.std() < x0.std()  # blur removes detail
    img = face_photo(64)
    assert np.abs(perturb(img, "jpeg", 10).astype(int) - img).mean() > 1
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb(img, "rain", 1)


def test_calibration_and_resume(manifest, runs, tmp_path, monkeypatch, result):
    # Scores of the first evaluation are reused: scoring again would fail.
    import shutil

    shutil.copytree(result.out_dir / "scores", tmp_path / "scores")
    monkeypatch.setattr(run_scores_mod, "predict_scores", lambda *a, **k: pytest.fail("scores were not reused"))
    cal = evaluate(runs[:1], manifest[0], tmp_path, split="test", calibrate=True, plots=False, progress=False)
    row = cal.metrics.query("level == 'frame'").iloc[0]
    ref = result.metrics.query("run == 'meso_a' and level == 'frame'").iloc[0]
    assert row["temperature"] > 0 and row["temperature"] != 1.0
    assert row["auc"] == pytest.approx(ref["auc"])  # a temperature does not change the ranking of frames
    val = load_table(tmp_path / "scores" / "meso_a_val_frame.csv")
    assert compute_metrics(val["label"], 1 / (1 + np.exp(-val["logit"] / row["temperature"])))["log_loss"] <= (
        compute_metrics(val["label"], val["score"])["log_loss"] + 1e-9
    )


def test_a_bad_score_cache_is_named_in_a_warning_and_scored_again(manifest, runs, tmp_path, caplog, result):
    import shutil

    shutil.copytree(result.out_dir / "scores", tmp_path / "scores")
    bad = tmp_path / "scores" / "meso_a_test_frame.csv"
    load_table(bad).drop(columns="score").to_csv(bad, index=False)  # its stamp still matches; not a score table
    with caplog.at_level("WARNING"):
        res = evaluate(runs[:1], manifest[0], tmp_path, split="test", plots=False, progress=False, bootstrap=0)
    assert f"{bad}: cached scores unreadable (no column score); scoring again" in caplog.text
    ref = result.metrics.query("run == 'meso_a' and level == 'frame'").iloc[0]
    assert res.metrics.query("level == 'frame'")["auc"].item() == pytest.approx(ref["auc"])
    assert "score" in load_table(bad)  # written again
    # one run: no pair to test, and paired.csv still a readable CSV with its header
    paired = pd.read_csv(tmp_path / "paired.csv")
    assert paired.empty and paired.columns.tolist() == PAIRED_COLUMNS


def test_missing_crops_are_reported_not_fatal(manifest, runs, tmp_path):
    import shutil

    root = tmp_path / "crops"
    shutil.copytree(load_table(manifest[0]).attrs["root"], root)
    faces = pd.DataFrame(manifest[1])
    (root / faces.query("split == 'test'")["path"].iloc[0]).unlink()
    save_table(faces, root / "faces.csv", root=root)
    res = evaluate(runs[:1], root / "faces.csv", tmp_path / "out", split="test", plots=False, progress=False)
    assert res.metrics.query("level == 'frame'")["n"].item() == 9
    fails = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert len(fails) == 1 and "missing" in fails["reason"].iloc[0]


def test_unreadable_crop_is_dropped_and_named_not_scored_as_its_neighbour(manifest, runs, tmp_path):
    import shutil

    root = tmp_path / "crops"
    shutil.copytree(load_table(manifest[0]).attrs["root"], root)
    faces = pd.DataFrame(manifest[1])
    bad = faces.query("split == 'test'")["path"].iloc[2]
    size = (root / bad).stat().st_size
    (root / bad).write_bytes(b"\x00" * size)  # same size, not an image: passes the existence check, fails to decode
    save_table(faces, root / "faces.csv", root=root)
    res = evaluate(runs[:1], root / "faces.csv", tmp_path / "out", split="test", plots=False, progress=False)
    frames = res.scores[("meso_a", "frame")]
    assert bad not in set(frames["path"]) and len(frames) == 9
    assert res.metrics.query("level == 'frame'")["n"].item() == 9
    fails = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert len(fails) == 1 and fails["path"].iloc[0].endswith(bad) and fails["run"].iloc[0] == "meso_a"
    # every remaining row carries the score of its own crop
    ref = evaluate(runs[:1], manifest[0], tmp_path / "ref", split="test", plots=False, progress=False)
    clean = ref.scores[("meso_a", "frame")].set_index("path")["score"]
    np.testing.assert_allclose(frames.set_index("path")["score"], clean.loc[frames["path"]], atol=1e-6)
    # the scores are reused from the cache though an item was dropped, and the failure is reported again
    again = evaluate(runs[:1], root / "faces.csv", tmp_path / "out", split="test", plots=False, progress=False)
    assert len(again.failures) == 1 and len(pd.read_csv(tmp_path / "out" / "failures.csv")) == 1


def test_run_window_config_reads_the_run_windows(tmp_path):
    from deepfakeforensics.data.windows import WindowConfig
    from deepfakeforensics.training import DataConfig, TrainConfig

    assert run_records.run_window_config(tmp_path) == WindowConfig()  # not a run folder: the defaults
    windows = WindowConfig(window=2, short="drop", pad_mode="loop")
    saved = {"train": TrainConfig().to_dict(), "data": DataConfig(window=windows).to_dict()}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert run_records.run_window_config(tmp_path) == windows
    # a run saved before config.json had its "data" section: the validation dataset's summary
    old = {"train": {}, "train_data": {"window": 4, "stride": 4}, "val_data": {"window": 3, "stride": 1, "items": 7}}
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert run_records.run_window_config(tmp_path) == WindowConfig(window=3, stride=1)


def test_dff_evaluate_defaults_are_the_config_defaults():
    from deepfakeforensics.cli import build_parser
    from deepfakeforensics.commands.options import dataclass_defaults
    from deepfakeforensics.evaluation import EvaluateConfig

    args = build_parser().parse_args(["evaluate", "--runs", "r", "--faces", "f.csv", "--out", "o"])
    assert {k: getattr(args, k) for k in dataclass_defaults(EvaluateConfig)} == dataclass_defaults(EvaluateConfig)
    assert EvaluateConfig().device == "auto" and EvaluateConfig().gradcam == 4
    with pytest.raises(ValueError, match="unknown aggregation"):
        EvaluateConfig(aggregation="max")


def test_resolve_runs_names_and_errors(runs, tmp_path):
    specs = runs_mod.resolve_runs([runs[0], f"{runs[0]}/best.pt"])
    assert [s.name for s in specs] == ["meso_a", "meso_a#2"]
    with pytest.raises(FileNotFoundError, match="no such run"):
        runs_mod.resolve_runs([tmp_path / "nope"])


class _RedDetector(Detector):
    """Channel 0 of its 1x1 conv sees red, channel 1 blue; the logit is the mean of channel 0 (red is the evidence)."""

    def __init__(self) -> None:
        super().__init__()
        self.default_cfg = ModelCfg(input_size=(3, 32, 32), channels_last=False)
        self.conv = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.zero_()
            self.conv.weight[0, 0] = 1.0  # red
            self.conv.weight[1, 2] = 1.0  # blue

    def forward_features(self, x):
        return torch.relu(self.conv(x))

    def forward_head(self, f):
        return f[:, 0].mean(dim=(1, 2)) * 4.0

    def gradcam_layer(self):
        return self.conv


def test_gradcam_localises_the_evidence():
    left_red = np.zeros((48, 48, 3), np.uint8)
    left_red[:, :24, 0] = 255
    left_red[:, 24:, 2] = 255
    right_red = left_red[:, ::-1].copy()
    heat, probs = GradCAM(_RedDetector())([left_red, right_red])
    for h in heat:
        assert h.shape == (48, 48) and 0 <= h.min() and h.max() <= 1
    assert heat[0][:, :20].mean() > 0.9 and heat[0][:, 28:].max() < 0.1
    assert heat[1][:, 28:].mean() > 0.9 and heat[1][:, :20].max() < 0.1
    assert probs == pytest.approx([1 / (1 + np.exp(-2.0))] * 2, abs=1e-4)
    assert overlay(left_red, heat[0]).shape == (48, 48, 3)


def test_dff_evaluate_cli(manifest, runs, tmp_path):
    from deepfakeforensics.cli import main

    out = tmp_path / "cli"
    code = main(
        [
            "evaluate",
            "--runs",
            runs[0],
            "--faces",
            str(manifest[0]),
            "--split",
            "test",
            "--out",
            str(out),
            "--aggregation",
            "track_max",
            "--gradcam",
            "0",
            "--batch-size",
            "8",
        ]
    )
    assert code == 0
    m = pd.read_csv(out / "metrics.csv")
    assert set(m["level"]) == {"frame", "file"} and (m["aggregation"] == "track_max").all()
    assert (out / "roc_file.png").is_file()


def test_temporal_run_is_scored_per_window(manifest, tmp_path):
    run = tmp_path / "lstm"
    run.mkdir()
    torch.manual_seed(0)
    save_checkpoint(run / "best.pt", create_model("mesonet4_lstm"))
    (run / "config.json").write_text(
        json.dumps({"train": {}, "train_data": {"window": 4, "stride": 4}, "val_data": {"window": 1, "stride": 1}})
    )
    res = evaluate([run], manifest[0], tmp_path / "out", split="test", gradcam=2, batch_size=4, progress=False)
    assert set(res.metrics["level"]) == {"window", "file"}
    windows = res.scores[("lstm", "window")]
    # the run's validation windows (1 frame, stride 1): two per face track of 2 frames, not one padded 8-frame window
    assert len(windows) == 10 and "start_frame" in windows and (windows["n_frames"] == 1).all()
    assert res.metrics.query("level == 'file'")["n"].item() == 4
    assert "gradcam_lstm" not in res.plots and (tmp_path / "out" / "roc_window.png").is_file()
    errors = res.errors["lstm"]  # window runs: the key crop is the first frame of the window
    assert (errors["path"] != "").all() and res.plots["errors_lstm"].is_file()


@pytest.mark.slow
def test_evaluate_a_run_written_by_train(manifest, tmp_path):
    from deepfakeforensics.data.datasets import build_dataset
    from deepfakeforensics.training import TrainConfig, train

    faces = load_table(manifest[0])
    faces["split"] = faces["split"].map({"val": "train", "test": "val"})  # checkpoints are never chosen on test
    torch.manual_seed(0)
    model = create_model("mesonet4")
    cfg = TrainConfig(run="tiny", checkpoints_dir=str(tmp_path), epochs=1, batch_size=4, num_workers=0, patience=0)
    train_ds, val_ds = build_dataset(faces, "train", model, train=True), build_dataset(faces, "val", model)
    train(model, train_ds, val_ds, cfg, callbacks=[])
    res = evaluate([tmp_path / "tiny"], faces, tmp_path / "out", split="val", val_split=None, progress=False)
    assert "training_curves" in res.plots
    assert len(res.metrics) == 2


def test_intervals_and_paired_tests_in_the_tables(result):
    m = result.metrics
    assert (m["auc_lo"] <= m["auc"] + 1e-12).all() and (m["auc"] <= m["auc_hi"] + 1e-12).all()
    assert (m["n_boot"] == 1000).all() and (m["boot_seed"] == 0).all() and (m["protocol"] == "own").all()
    p = result.paired
    assert set(p["level"]) == {"frame", "file"} and set(zip(p["run_a"], p["run_b"], strict=True)) == {
        ("meso_a", "meso_b")
    }
    file_row = p[p["level"] == "file"].iloc[0]
    assert 0 <= file_row["p_delong"] <= 1 and 0 <= file_row["p_bootstrap"] <= 1 and file_row["n_videos"] == 4
    assert (result.out_dir / "paired.csv").is_file() and "auc_ci" in result.plots


def test_cross_dataset_thresholds_come_from_the_training_validation_split(manifest, runs, tmp_path):
    import shutil

    from deepfakeforensics.training import DataConfig, TrainConfig

    other = tmp_path / "other_faces.csv"
    faces = load_table(manifest[0])
    save_table(faces, other, root=faces.attrs["root"])
    run = tmp_path / "trained_on_other"
    shutil.copytree(runs[0], run)
    saved = {"train": TrainConfig().to_dict(), "data": DataConfig(faces=str(other), val_split="val").to_dict()}
    (run / "config.json").write_text(json.dumps(saved))
    res = evaluate(
        [run, runs[1]], [manifest[0], other], tmp_path / "out", gradcam=0, bootstrap=50, batch_size=8, progress=False
    )
    c = res.cross_dataset
    assert set(c["dataset"]) == {"faces", "other"} and len(c) == 2 * 2 * 2  # runs x datasets x levels
    assert set(c.loc[c["run"] == "trained_on_other", "threshold_on"]) == {"other:val"}
    assert set(c.loc[c["run"] == "meso_b", "threshold_on"]) == {"faces:val"}  # no training manifest recorded
    # the same crops under two names: the same metrics on both
    a = c.query("run == 'meso_b' and level == 'file'").set_index("dataset")
    assert a.loc["faces", "auc"] == pytest.approx(a.loc["other", "auc"])
    assert (tmp_path / "out" / "cross_dataset.csv").is_file() and "cross_dataset_auc" in res.plots
    assert (tmp_path / "out" / "scores" / "other" / "trained_on_other_test_frame.csv").is_file()
    assert set(res.scores) == {(r, lv) for r in ("trained_on_other", "meso_b") for lv in ("frame", "file")}
    # every dataset's scores are kept: the first dataset's are `scores`, the other's only in `dataset_scores`
    runs_levels = [(r, lv) for r in ("trained_on_other", "meso_b") for lv in ("frame", "file")]
    assert set(res.dataset_scores) == {(r, d, lv) for r, lv in runs_levels for d in ("faces", "other")}
    assert all(res.dataset_scores[(r, "faces", lv)] is res.scores[(r, lv)] for r, lv in runs_levels)
    other_file = res.dataset_scores[("meso_b", "other", "file")]
    assert compute_metrics(other_file["label"], other_file["score"])["auc"] == pytest.approx(a.loc["other", "auc"])


def test_deepfakebench_protocol_is_stated_and_forces_the_mean(manifest, runs, tmp_path):
    res = evaluate(
        runs[:1], manifest[0], tmp_path, aggregation="track_max", protocol="deepfakebench", plots=False, bootstrap=0
    )
    m = res.metrics
    assert (m["protocol"] == "deepfakebench").all() and (m["aggregation"] == "mean").all()
    # one face per frame: video x3's second track is dropped
    assert m.query("level == 'frame'")["n"].item() == 8
    assert m["auc_lo"].isna().all() and (m["n_boot"] == 0).all()


def test_paired_table_of_a_single_run_is_a_readable_csv(tmp_path):
    from deepfakeforensics._io import write_csv_atomic
    from deepfakeforensics.evaluation.crossdataset import PAIRED_COLUMNS, paired_tests

    scores = {("only", "ds", "file"): pd.DataFrame({"video_id": ["a", "b"], "label": [0, 1], "score": [0.2, 0.9]})}
    table = paired_tests(scores, n_resamples=10, seed=0, protocol="own")
    write_csv_atomic(table, tmp_path / "paired.csv")
    assert pd.read_csv(tmp_path / "paired.csv").columns.tolist() == PAIRED_COLUMNS
