"""`runs.RunInfo`: one answer to "how is this detector used", the same through every path that uses one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from deepfakeforensics.cli import build_parser, main
from deepfakeforensics.commands.predict import extraction_from_args, load_run
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.models import create_model, save_checkpoint
from deepfakeforensics.models._weights import WeightsError
from deepfakeforensics.models.ensemble import EnsembleDetector
from deepfakeforensics.runs import NO_THRESHOLD, RunInfo, checkpoint_path, resolve_threshold
from deepfakeforensics.scoring.thresholds import validation_thresholds, write_thresholds
from deepfakeforensics.serve import Engine, ServeConfig
from deepfakeforensics.training.config import RunConfigError


@pytest.fixture()
def temporal_run(tmp_path):
    """A run folder of a temporal model with its windows (config.json) and validation thresholds."""
    torch.manual_seed(0)
    run = tmp_path / "lstm_run"
    run.mkdir()
    save_checkpoint(run / "best.pt", create_model("mesonet4_lstm"))
    saved = {"train": {}, "val_data": {"window": 4, "stride": 2, "pad_mode": "loop"}}
    (run / "config.json").write_text(json.dumps(saved))
    scores, labels = np.array([0.1, 0.3, 0.35, 0.8, 0.6, 0.9]), np.array([0, 0, 1, 1, 1, 1])
    write_thresholds(run, validation_thresholds(scores, labels, ["a", "a", "b", "b", "c", "c"], epoch=3))
    return run


def test_every_path_agrees_on_threshold_windows_and_crops(temporal_run, tmp_path):
    library = RunInfo.load(temporal_run)
    assert library.kind == "run" and library.name == "lstm_run"
    assert library.windows == WindowConfig(window=4, stride=2, pad_mode="loop")
    assert library.threshold.value == pytest.approx(0.575) and "epoch 3" in library.threshold.source
    # dff predict: a run folder, its best.pt, and no option
    for weights in (temporal_run, temporal_run / "best.pt"):
        args = build_parser().parse_args(["predict", "folder", "--weights", str(weights)])
        cli = load_run(args)
        assert (cli.threshold, cli.windows, cli.crops) == (library.threshold, library.windows, library.crops)
        assert extraction_from_args(args, cli).align == library.crops.align
    # dff serve (GET /model answers describe())
    engine = Engine.from_weights(temporal_run, ServeConfig(upload_dir=str(tmp_path)))
    served = engine.describe()
    assert (served["threshold"], served["threshold_source"]) == (library.threshold.value, library.threshold.source)
    assert engine.predict_config.windows == library.windows and served["crop_profile"] == library.crops.profile
    assert served["run"] == "lstm_run" and served["aggregation"] == "mean"


def test_threshold_order_given_then_metrics_then_recorded_then_half(temporal_run, tmp_path):
    metrics = tmp_path / "metrics.csv"
    row = {"run": "lstm_run", "level": "file", "aggregation": "median", "threshold_rule": "f1", "threshold": 0.3}
    pd.DataFrame([row]).to_csv(metrics, index=False)
    ckpt = temporal_run / "best.pt"
    assert resolve_threshold("lstm_run", ckpt, threshold=0.8, metrics_csv=metrics).value == 0.8
    from_metrics = resolve_threshold("lstm_run", ckpt, metrics_csv=metrics)
    assert (from_metrics.value, from_metrics.aggregation) == (0.3, "median") and "'f1'" in from_metrics.source
    assert resolve_threshold("lstm_run", ckpt).value == pytest.approx(0.575)
    assert resolve_threshold("other", None).source.startswith(NO_THRESHOLD)
    for bad in (float("nan"), float("inf"), 5.0, -3.0):
        with pytest.raises(ValueError, match="not a probability"):
            resolve_threshold("lstm_run", ckpt, threshold=bad)
    with pytest.raises(ValueError, match="unknown aggregation 'max'"):
        RunInfo.load(temporal_run, aggregation="max")


def test_an_ensemble_scores_the_mean_of_its_members_probabilities(tmp_path):
    paths = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"m{seed}.pt")
        save_checkpoint(paths[-1], create_model("mesonet4"))
    info = RunInfo.load(paths)
    assert info.kind == "ensemble" and isinstance(info.model, EnsembleDetector)
    assert "mean of the probabilities of 3 models" in info.describe()["ensemble"]
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        members = torch.stack([torch.sigmoid(RunInfo.load(p).model(x)) for p in paths]).mean(0)
        assert torch.allclose(torch.sigmoid(info.model(x)), members, atol=1e-6)


def test_ensemble_members_that_need_other_inputs_are_refused(tmp_path):
    save_checkpoint(tmp_path / "meso.pt", create_model("mesonet4"))
    save_checkpoint(tmp_path / "b0.pt", create_model("efficientnet_b0"))
    with pytest.raises(ValueError, match="expect different inputs"):
        RunInfo.load([tmp_path / "meso.pt", tmp_path / "b0.pt"])


def test_files_that_are_no_detector_are_named(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="nowhere.pt: no such run folder"):
        RunInfo.load(tmp_path / "nowhere.pt")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(FileNotFoundError, match="empty_run: a folder without best.pt"):
        RunInfo.load(tmp_path / "empty_run")
    hf = tmp_path / "GenD_like"  # a released model's Hugging Face folder: its model.safetensors, read by layout
    hf.mkdir()
    save_file({"something": torch.zeros(3)}, hf / "model.safetensors")
    (hf / "config.json").write_text('{"backbone": "x", "head": "linear"}')
    assert checkpoint_path(hf) == hf / "model.safetensors"
    with pytest.raises(WeightsError, match="model.safetensors: not a released detector this toolkit knows"):
        RunInfo.load(hf)
    junk = tmp_path / "junk.pth"
    torch.save({"something": torch.zeros(3)}, junk)
    with pytest.raises(WeightsError, match="junk.pth: not a released detector this toolkit knows; nearest layout"):
        RunInfo.load(junk)
    assert main(["predict", str(tmp_path), "--weights", str(junk)]) == 1
    assert "junk.pth: not a released detector" in capsys.readouterr().err


def test_a_run_trained_on_profile_crops_is_used_with_that_profile(tmp_path):
    from deepfakeforensics import _io
    from deepfakeforensics.training.config import DataConfig, TrainConfig

    faces = tmp_path / "faces.csv"
    table = pd.DataFrame({"video_id": ["a"], "track": [0], "frame": [0], "path": ["a/0.jpg"], "label": [0]})
    _io.save_table(table, faces, root=tmp_path, extraction={"profile": "sbi", "align": False})
    run = tmp_path / "sbi_trained"
    run.mkdir()
    save_checkpoint(run / "best.pt", create_model("mesonet4"))
    config = {"train": TrainConfig().to_dict(), "data": DataConfig(faces=str(faces)).to_dict()}
    (run / "config.json").write_text(json.dumps(config))
    info = RunInfo.load(run)
    assert info.crops.profile == "sbi" and "sbi_trained trained" in info.crops.source
    assert info.extraction_config().profile == "sbi"


def test_a_run_trained_on_a_dataframe_records_its_crops(tmp_path):
    """Notebook 02's plans train on a DataFrame (no manifest path in config.json): the run still says how its faces
    were cut, so prediction cuts them the same way."""
    from tiny_data import make_manifest

    from deepfakeforensics import _io
    from deepfakeforensics.training import DataConfig, TrainConfig
    from deepfakeforensics.training.run import train_model

    videos = {"r1": 0, "f1": 1, "r2": 0, "f2": 1}
    csv = make_manifest(
        tmp_path, {(v, 0): 2 for v in videos}, videos, {"r1": "train", "f1": "train", "r2": "val", "f2": "val"}
    )
    table = _io.load_table(csv)
    _io.save_table(table, csv, root=tmp_path, extraction={"profile": "default", "align": True})
    config = TrainConfig(run="df_run", checkpoints_dir=str(tmp_path / "ck"), epochs=1, batch_size=4, num_workers=0)
    train_model("tiny_test_detector", DataConfig(), config, faces=_io.load_table(csv), callbacks=[])
    run = tmp_path / "ck" / "df_run"
    assert json.loads((run / "config.json").read_text())["crops"] == {"profile": "default", "aligned": True}
    info = RunInfo.load(run)
    assert info.crops.align and info.extraction_config().align

    saved = json.loads((run / "config.json").read_text())
    saved["crops"] = {"profile": 3}
    (run / "config.json").write_text(json.dumps(saved))
    with pytest.raises(RunConfigError, match="config.json: field .crops."):
        RunInfo.load(run)
