"""Issue 22, items 8-18: files the toolkit reads back, odd names and folders, the DeeperForensics differences.

Each test reproduces one hostile input (a hand-edited sidecar, a non-UTF-8 name, a FIFO ...) and checks the toolkit
refuses it naming the file and the field, or reports it and goes on; never a traceback, a crash or a wrong verdict.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepfakeforensics.errors import is_expected
from deepfakeforensics.models import create_model, save_checkpoint
from deepfakeforensics.runs import resolve_threshold, run_window_config, training_crops_aligned
from deepfakeforensics.thresholds import (
    ThresholdsError,
    read_thresholds,
    recorded_threshold,
    validation_thresholds,
    write_thresholds,
)
from deepfakeforensics.training.config import DataConfig, RunConfigError, TrainConfig, read_run_config
from deepfakeforensics.windows import WindowConfig

# --- 8. thresholds.json ------------------------------------------------------------------------------------------


@pytest.fixture()
def thresholds_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"")  # read_thresholds needs only the file's name
    scores, labels = np.array([0.1, 0.3, 0.35, 0.8, 0.6, 0.9]), np.array([0, 0, 1, 1, 1, 1])
    write_thresholds(run, validation_thresholds(scores, labels, ["a", "a", "b", "b", "c", "c"], epoch=3))
    return run


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "5", "-3", "true", '"0.5"', "[0.5]"])
def test_thresholds_json_with_a_bad_threshold_is_refused_naming_file_and_field(thresholds_run, bad):
    file = thresholds_run / "thresholds.json"
    text = file.read_text()
    record = json.loads(text)
    good = record["file_by_aggregation"]["mean"]["threshold"]
    record["file_by_aggregation"]["mean"]["threshold"] = "@@"
    file.write_text(json.dumps(record).replace('"@@"', bad))
    with pytest.raises(ThresholdsError, match=r"thresholds\.json: field 'file_by_aggregation\.mean\.threshold'") as e:
        recorded_threshold(thresholds_run / "best.pt")
    assert is_expected(e.value)  # dff prints one line, exit 1: never labels with a NaN threshold
    with pytest.raises(ThresholdsError):
        resolve_threshold("run", thresholds_run / "best.pt")
    assert 0 < good < 1


@pytest.mark.parametrize("content", [b'{"epoch": 3, "levels": {"fi', b"", b'{"split": "\xff\xfe"}', b"[1, 2]"])
def test_truncated_or_non_utf8_thresholds_json_names_the_file(thresholds_run, content):
    (thresholds_run / "thresholds.json").write_bytes(content)
    with pytest.raises(ThresholdsError, match=str(thresholds_run / "thresholds.json")):
        read_thresholds(thresholds_run)


def test_thresholds_json_with_mistyped_fields_is_refused(thresholds_run):
    file = thresholds_run / "thresholds.json"
    record = json.loads(file.read_text())
    for field, value in [("epoch", "3"), ("levels", [1]), ("rule", 1), ("file_by_aggregation", {"mean": 0.5})]:
        file.write_text(json.dumps({**record, field: value}))
        with pytest.raises(ThresholdsError, match=f"field '{field}"):
            read_thresholds(thresholds_run)
    file.write_text(json.dumps(record))
    assert recorded_threshold(thresholds_run)[0] == record["file_by_aggregation"]["mean"]["threshold"]


@pytest.mark.parametrize("given", [float("nan"), float("inf"), 5.0, -3.0])
def test_given_threshold_must_be_a_probability(given):
    with pytest.raises(ValueError, match="--threshold"):
        resolve_threshold("run", None, threshold=given)


# --- 9. run config.json ------------------------------------------------------------------------------------------


def _config(run, data: DataConfig | None = None, **train):
    data = data or DataConfig(faces=None, window=WindowConfig(window=4, stride=2))
    saved = {"train": TrainConfig(**train).to_dict(), "data": data.to_dict()}
    (run / "config.json").write_text(json.dumps(saved))
    return saved


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda s: s["data"]["window"].update(window="eight"), "data.window.window"),
        (lambda s: s["data"]["window"].update(stride=[2]), "data.window.stride"),
        (lambda s: s["data"]["window"].update(pad_mode="mirror"), "data.window.pad_mode"),
        (lambda s: s["data"].update(window=8), "data.window"),
        (lambda s: s["data"].update(faces=3), "data.faces"),
        (lambda s: s["train"].update(epochs="10"), "train.epochs"),
        (lambda s: s["train"].update(lr=None), "train.lr"),
    ],
)
def test_mistyped_run_config_is_refused_naming_file_and_field(tmp_path, edit, field):
    saved = _config(tmp_path)
    edit(saved)
    (tmp_path / "config.json").write_text(json.dumps(saved))
    for read in (read_run_config, run_window_config, lambda d: training_crops_aligned(d / "best.pt")):
        with pytest.raises(RunConfigError, match=rf"config\.json: field '{field}'") as e:
            read(tmp_path)
        assert is_expected(e.value)


def test_truncated_run_config_is_refused_not_replaced_by_window_8(tmp_path):
    text = (tmp_path / "config.json").write_text("") or json.dumps(_config(tmp_path))
    for content in (text[: len(text) // 2].encode(), b"", b'{"train": {"run": "\xff"}}'):
        (tmp_path / "config.json").write_bytes(content)
        with pytest.raises(RunConfigError, match=str(tmp_path / "config.json")):
            run_window_config(tmp_path)
        with pytest.raises(RunConfigError, match=str(tmp_path / "config.json")):
            training_crops_aligned(tmp_path / "best.pt")
    (tmp_path / "config.json").write_text(json.dumps({"train": {}, "data": {"window": {"window": 0}}}))
    with pytest.raises(RunConfigError, match="config.json: window must be >= 1"):
        run_window_config(tmp_path)
    # a legacy config (windows in the validation summary) is checked too
    (tmp_path / "config.json").write_text(json.dumps({"train": {}, "val_data": {"window": "4"}}))
    with pytest.raises(RunConfigError, match="field 'val_data.window'"):
        run_window_config(tmp_path)


def test_a_folder_without_config_json_keeps_the_defaults_with_a_warning(tmp_path, caplog):
    assert run_window_config(tmp_path) == WindowConfig()  # a checkpoint copied on its own
    assert "config.json" in caplog.text
    assert training_crops_aligned(tmp_path / "best.pt") is None
    _config(tmp_path)
    assert run_window_config(tmp_path) == WindowConfig(window=4, stride=2)


def test_a_temporal_run_with_a_damaged_config_is_not_loaded(tmp_path):
    from deepfakeforensics.runs import RunInfo

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "best.pt", create_model("mesonet4_lstm"))
    (tmp_path / "config.json").write_text('{"train": {}, "data": {"window": {"window": 4, "str')
    with pytest.raises(RunConfigError, match="config.json"):
        RunInfo.load(tmp_path)
