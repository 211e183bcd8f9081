"""train(): files of a run, loss going down, exact resume, early stopping, temporal models, and `dff train`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_data import TinyDetector, TinyTemporal, make_manifest, standard_manifest

from deepfakeforensics import cli
from deepfakeforensics._io import load_table
from deepfakeforensics.commands.options import dataclass_defaults
from deepfakeforensics.data.crops import CropReadError
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset, build_dataset
from deepfakeforensics.data.transforms import AugmentConfig
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.models import create_model, list_models, load_model, save_checkpoint
from deepfakeforensics.scoring.aggregation import AGGREGATIONS, aggregate
from deepfakeforensics.scoring.thresholds import choose_threshold, recorded_threshold
from deepfakeforensics.training import (
    HISTORY_COLUMNS,
    Callback,
    DataConfig,
    TrainConfig,
    make_scheduler,
    read_run_config,
    train,
)
from deepfakeforensics.training.epoch import pass_epoch
from deepfakeforensics.training.state import is_better

FAST = {"batch_size": 8, "num_workers": 0, "lr": 3e-3, "warmup_epochs": 0.5}


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return standard_manifest(tmp_path_factory.mktemp("train_faces"), n_videos=24, frames=5, size=32)


def _datasets(faces, model, **kw):
    return (
        build_dataset(faces, "train", model, train=True, **kw),
        build_dataset(faces, "val", model, train=False, **kw),
    )


def _model(seed: int = 0) -> TinyDetector:
    torch.manual_seed(seed)
    return create_model("tiny_test_detector")


def test_two_epochs_lower_loss_and_write_every_file(faces, tmp_path):
    model = _model()
    train_ds, val_ds = _datasets(faces, model)
    cfg = TrainConfig(run="r", checkpoints_dir=str(tmp_path), epochs=2, **FAST)
    history = train(model, train_ds, val_ds, cfg, callbacks=[])
    run = tmp_path / "r"
    assert list(history.columns) == HISTORY_COLUMNS and list(history["epoch"]) == [1, 2]
    assert history["train_loss"][1] < history["train_loss"][0]
    for name in ("epoch_001.pt", "epoch_002.pt", "best.pt", "last.pt", "history.csv", "config.json"):
        assert (run / name).is_file(), name
    on_disk = pd.read_csv(run / "history.csv")
    assert list(on_disk.columns) == HISTORY_COLUMNS and len(on_disk) == 2
    assert np.allclose(on_disk["val_auc"], history["val_auc"]) and (on_disk["seconds"] > 0).all()
    assert ((on_disk["val_acc"] >= 0) & (on_disk["val_acc"] <= 1)).all() and (on_disk["lr"] > 0).all()
    # every checkpoint holds tensors and plain data only
    for name in ("epoch_001.pt", "best.pt", "last.pt"):
        torch.load(run / name, map_location="cpu", weights_only=True)
    last = torch.load(run / "last.pt", weights_only=True)
    assert {"optimizer", "scheduler", "scaler", "rng", "progress", "early_stopping", "history", "sampler"} <= set(last)
    assert last["progress"] == {"epoch": 2, "step": 2 * (len(train_ds) // 8)}
    # best.pt: highest validation AUC, and on equal AUC the lower validation loss
    best_epoch = int(history.sort_values(["val_auc", "val_loss"], ascending=[False, True]).iloc[0]["epoch"])
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["epoch"] == best_epoch and best["metrics"]["val_auc"] == pytest.approx(history["val_auc"].max())
    # last.pt carries the final weights and load_model rebuilds the model from it
    rebuilt = load_model(run / "last.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[k], v), k
    conf = json.loads((run / "config.json").read_text())
    assert conf["train"]["epochs"] == 2 and conf["model"]["name"] == "tiny_test_detector"
    assert conf["train_data"]["split"] == "train" and conf["val_data"]["split"] == "val"
    assert conf["train_data"]["augment"] is not None and conf["val_data"]["augment"] is None
    # the typed configs come back from config.json
    saved_train, saved_data = read_run_config(run)
    assert saved_train == cfg and saved_data.window is None  # a frame model has no windows
    assert (saved_data.train_split, saved_data.val_split, saved_data.faces) == ("train", "val", str(faces))
    assert saved_data.augment == AugmentConfig()
    # starting again into the same run without resume is refused (never overwrite a run silently)
    with pytest.raises(FileExistsError, match="resume"):
        train(_model(), train_ds, val_ds, cfg, callbacks=[])


class StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, state, row) -> None:
        if row["epoch"] == self.epoch:
            raise KeyboardInterrupt("simulated interruption")


@pytest.mark.slow
def test_resume_equals_uninterrupted(faces, tmp_path):
    """Balanced sampling, augmentation, dropout, warm-up and accumulation: resumed == uninterrupted, bit for bit."""
    cfg = TrainConfig(checkpoints_dir=str(tmp_path), epochs=3, balanced=True, accumulate=2, patience=0, **FAST)
    aug = AugmentConfig(p_noise=0.5, p_jpeg=0.5)

    def run(name, callbacks, resume=False):
        model = _model(seed=1)
        train_ds, val_ds = _datasets(faces, model, augment=aug)
        history = train(model, train_ds, val_ds, cfg.replace(run=name, resume=resume), callbacks=callbacks)
        return model, history

    full, full_history = run("full", [])
    with pytest.raises(KeyboardInterrupt):
        run("cut", [StopAfter(2)])
    assert len(pd.read_csv(tmp_path / "cut" / "history.csv")) == 2
    resumed, resumed_history = run("cut", [], resume=True)
    for k, v in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k
    pd.testing.assert_frame_equal(
        full_history.drop(columns="seconds"), resumed_history.drop(columns="seconds"), check_exact=True
    )
    # and the run really learnt something different from its start (not a trivially equal pair)
    assert not torch.equal(_model(seed=1).state_dict()["head.1.weight"], full.state_dict()["head.1.weight"])


def test_early_stopping_and_best_selection(faces, tmp_path):
    """lr = 0: nothing improves after epoch 1, so patience 1 stops after epoch 2 and best.pt is epoch 1."""
    model = _model()
    train_ds, val_ds = _datasets(faces, model)
    cfg = TrainConfig(run="es", checkpoints_dir=str(tmp_path), epochs=5, patience=1, **{**FAST, "lr": 0.0})
    history = train(model, train_ds, val_ds, cfg, callbacks=[])
    assert list(history["epoch"]) == [1, 2]
    assert torch.load(tmp_path / "es" / "best.pt", weights_only=True)["epoch"] == 1
    assert torch.load(tmp_path / "es" / "last.pt", weights_only=True)["early_stopping"]["stopped_early"]


def test_single_class_validation_falls_back_to_loss(tmp_path):
    csv = make_manifest(
        tmp_path,
        {("t0", 0): 4, ("t1", 0): 4, ("v0", 0): 4},
        {"t0": 0, "t1": 1, "v0": 1},
        {"t0": "train", "t1": "train", "v0": "val"},
        size=32,
    )
    model = _model()
    train_ds, val_ds = _datasets(csv, model)
    cfg = TrainConfig(run="one", checkpoints_dir=str(tmp_path), epochs=2, patience=0, **FAST)
    history = train(model, train_ds, val_ds, cfg, callbacks=[])
    assert history["val_auc"].isna().all()
    best = torch.load(tmp_path / "one" / "best.pt", weights_only=True)
    assert best["metrics"]["val_loss"] == pytest.approx(history["val_loss"].min())
    recorded = json.loads((tmp_path / "one" / "thresholds.json").read_text())
    assert recorded["epoch"] == best["epoch"] and recorded["levels"]["file"]["threshold"] is None
    assert "one class" in recorded["levels"]["frame"]["note"]


def test_thresholds_of_best_epoch_are_recorded_beside_best_pt(faces, tmp_path):
    model = _model()
    train_ds, val_ds = _datasets(faces, model)
    cfg = TrainConfig(run="th", checkpoints_dir=str(tmp_path), epochs=2, patience=0, **FAST)
    train(model, train_ds, val_ds, cfg, callbacks=[])
    best = torch.load(tmp_path / "th" / "best.pt", weights_only=True)
    recorded = json.loads((tmp_path / "th" / "thresholds.json").read_text())
    assert (recorded["epoch"], recorded["split"], recorded["rule"]) == (best["epoch"], "val", "eer")
    # the same thresholds again from best.pt's own validation scores, by the evaluation's rule
    loader = torch.utils.data.DataLoader(val_ds, batch_size=16)
    res = pass_epoch(load_model(tmp_path / "th" / "best.pt"), loader, torch.nn.BCEWithLogitsLoss())
    frame = recorded["levels"]["frame"]
    assert frame["n"] == len(val_ds) and frame["aggregation"] is None
    assert frame["threshold"] == pytest.approx(choose_threshold(res["labels"], res["scores"], "eer"))
    files = val_ds.meta.assign(score=res["scores"]).groupby("video_id").agg(s=("score", "mean"), y=("label", "first"))
    file = recorded["levels"]["file"]
    assert (file["aggregation"], file["n"]) == ("mean", len(files))
    assert file["threshold"] == pytest.approx(choose_threshold(files["y"], files["s"], "eer"))
    by_rule = recorded["file_by_aggregation"]
    assert sorted(by_rule) == sorted(AGGREGATIONS) and by_rule["mean"] == file
    for how in AGGREGATIONS:  # every rule's file threshold, from the same scores aggregated by that rule
        agg = aggregate(val_ds.meta.assign(score=res["scores"]), how=how)
        assert by_rule[how]["aggregation"] == how and by_rule[how]["n"] == len(agg)
        assert by_rule[how]["threshold"] == pytest.approx(choose_threshold(agg["label"], agg["score"], "eer"))
        value, source = recorded_threshold(tmp_path / "th" / "best.pt", how)
        assert value == pytest.approx(by_rule[how]["threshold"]) and f"aggregation {how!r}" in source


def test_callbacks_see_every_batch_and_epoch(faces, tmp_path):
    class Recorder(Callback):
        def __init__(self):
            self.events = []

        def on_train_start(self, state):
            self.events.append("start")

        def on_batch_end(self, state, batch, loss):
            self.events.append(("batch", state.epoch, batch, math.isfinite(loss)))

        def on_epoch_end(self, state, row):
            self.events.append(("epoch", row["epoch"]))

        def on_train_end(self, state):
            self.events.append("end")

    rec = Recorder()
    model = _model()
    train_ds, val_ds = _datasets(faces, model)
    train(model, train_ds, val_ds, TrainConfig(run="cb", checkpoints_dir=str(tmp_path), epochs=1, **FAST), [rec])
    batches = [e for e in rec.events if isinstance(e, tuple) and e[0] == "batch"]
    assert rec.events[0] == "start" and rec.events[-2:] == [("epoch", 1), "end"]
    assert len(batches) == len(train_ds) // 8 and all(b[3] for b in batches)


def _lrs(config: TrainConfig, steps_per_epoch: int) -> list[float]:
    """The learning rate of every optimiser step of a run, and the one after its last step."""
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=config.lr)
    sched = make_scheduler(opt, config, steps_per_epoch)
    lrs = []
    for _ in range(config.epochs * steps_per_epoch + 1):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_warmup_cosine_schedule():
    """torch's LinearLR + CosineAnnealingLR: warm-up over a fractional number of epochs, then down to lr * ratio."""
    lrs = _lrs(TrainConfig(lr=2.0, epochs=5, warmup_epochs=0.5, min_lr_ratio=0.1), steps_per_epoch=8)
    assert lrs[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])  # 0.5 epoch = 4 steps
    decay = lrs[4:]
    assert decay[0] == pytest.approx(2.0) and all(a > b for a, b in zip(decay, decay[1:], strict=False))
    assert decay[-1] == pytest.approx(0.2)
    no_warmup = _lrs(TrainConfig(lr=1.0, epochs=2, warmup_epochs=0, min_lr_ratio=0.0), steps_per_epoch=5)
    assert no_warmup[0] == pytest.approx(1.0) and no_warmup[5] == pytest.approx(0.5) and no_warmup[-1] < 1e-12


def test_temporal_model_trains_on_windows(faces, tmp_path):
    torch.manual_seed(0)
    model = create_model("tiny_test_temporal")
    train_ds, val_ds = _datasets(faces, model, window=3, stride=2)
    assert isinstance(train_ds, WindowDataset) and train_ds.n_padded > 0  # the 2-frame second tracks
    history = train(
        model, train_ds, val_ds, TrainConfig(run="tmp", checkpoints_dir=str(tmp_path), epochs=1, **FAST), []
    )
    assert len(history) == 1 and math.isfinite(history["train_loss"][0])
    conf = json.loads((tmp_path / "tmp" / "config.json").read_text())
    assert conf["train_data"]["window"] == 3 and conf["train_data"]["n_padded"] == train_ds.n_padded
    assert read_run_config(tmp_path / "tmp")[1].window == WindowConfig(window=3, stride=2)


def test_init_backbone_from_frame_checkpoint(faces, tmp_path):
    frame = _model(seed=3)
    save_checkpoint(tmp_path / "frame.pt", frame)
    torch.manual_seed(0)
    temporal = create_model("tiny_test_temporal")
    train_ds, val_ds = _datasets(faces, temporal, window=3)
    cfg = TrainConfig(run="init", checkpoints_dir=str(tmp_path), epochs=1, init=str(tmp_path / "frame.pt"), **FAST)
    # check the backbone is the frame model's right before training starts
    seen = {}

    class Peek(Callback):
        def on_train_start(self, state):
            seen.update({k: v.clone() for k, v in temporal.backbone.state_dict().items()})

    train(temporal, train_ds, val_ds, cfg, [Peek()])
    for k, v in frame.state_dict().items():
        assert torch.equal(seen[k], v), k


def test_test_split_is_never_read(tmp_path, capsys):
    """Delete every test-split crop: training (missing='error') still runs, so it never touched them."""
    csv = standard_manifest(tmp_path, n_videos=12, frames=3, size=32)
    df = load_table(csv)
    for rel in df.loc[df["split"] == "test", "path"]:
        (tmp_path / rel).unlink()
    args = ["train", "--model", "tiny_test_detector", "--faces", str(csv), "--run", "cli"]
    args += ["--checkpoints-dir", str(tmp_path / "ck"), "--batch-size", "4", "--num-workers", "0"]
    args += ["--model-arg", "width=4"]
    code = cli.main([*args, "--epochs", "1", "--aug-p-noise", "1.0"])
    assert code == 0
    conf = json.loads((tmp_path / "ck" / "cli" / "config.json").read_text())
    assert conf["model"]["kwargs"] == {"width": 4} and conf["train_data"]["augment"]["p_noise"] == 1.0
    assert conf["command"]["faces"] == str(csv)
    data = read_run_config(tmp_path / "ck" / "cli")[1]
    assert data.faces == str(csv) and data.augment.p_noise == 1.0 and data.window is None and data.missing == "error"
    assert len(pd.read_csv(tmp_path / "ck" / "cli" / "history.csv")) == 1
    # --resume with more epochs continues the same run
    code = cli.main([*args, "--epochs", "2", "--resume"])
    assert code == 0 and list(pd.read_csv(tmp_path / "ck" / "cli" / "history.csv")["epoch"]) == [1, 2]
    assert (
        cli.main(["train", "--model", "tiny_test_detector", "--faces", str(csv), "--run", "x", "--val-split", "test"])
        == 1
    )
    assert "never on the test split" in capsys.readouterr().err


def test_frame_dataset_with_loader_workers(faces):
    """Two workers give the same batches as the main process (augmentation draws do not depend on workers)."""
    from torch.utils.data import DataLoader

    ds = FrameDataset(faces, "train", TinyDetector.default_cfg, train=True)
    ds.set_epoch(4)
    a = torch.cat([x for x, _ in DataLoader(ds, batch_size=16, num_workers=0)])
    b = torch.cat([x for x, _ in DataLoader(ds, batch_size=16, num_workers=2)])
    assert torch.equal(a, b)


@pytest.mark.slow
@pytest.mark.skipif("mesonet4" not in list_models(), reason="mesonet4 not registered yet")
def test_mesonet4_one_epoch(tmp_path):
    csv = standard_manifest(tmp_path, n_videos=6, frames=2, size=256)
    torch.manual_seed(0)
    model = create_model("mesonet4")
    train_ds, val_ds = _datasets(csv, model)
    assert train_ds[0][0].shape == (3, 256, 256)
    history = train(model, train_ds, val_ds, TrainConfig(run="m", checkpoints_dir=str(tmp_path), epochs=1, **FAST), [])
    assert math.isfinite(history["train_loss"][0])
    assert load_model(tmp_path / "m" / "best.pt").name == "mesonet4"


def test_tiny_temporal_is_temporal():
    assert TinyTemporal.default_cfg.temporal and not TinyDetector.default_cfg.temporal


def test_best_epoch_rule_breaks_auc_ties_by_validation_loss() -> None:
    assert is_better(0.9, 0.5, 0.8, 0.1)  # higher AUC wins whatever the loss
    assert not is_better(0.8, 0.1, 0.9, 0.5)
    assert is_better(1.0, 0.01, 1.0, 0.4)  # saturated AUC: the better-calibrated epoch wins
    assert not is_better(1.0, 0.4, 1.0, 0.4)  # an exact repeat is no improvement (early stopping counts it)
    assert is_better(0.5, 0.7, float("-inf"), float("inf"))  # the first epoch always sets best.pt


def test_dff_train_defaults_are_the_dataclasses_defaults():
    """One source for every option: the parsed defaults of `dff train` are the config dataclasses' defaults."""
    args = cli.build_parser().parse_args(["train", "--model", "m", "--faces", "f.csv", "--run", "r"])
    expected = {
        **{k: v for k, v in dataclass_defaults(TrainConfig).items() if k != "run"},
        **dataclass_defaults(WindowConfig),
        **{f"aug_{k}": v for k, v in dataclass_defaults(AugmentConfig).items()},
        **{k: v for k, v in dataclass_defaults(DataConfig).items() if k not in ("faces", "window", "augment")},
    }
    assert {k: getattr(args, k) for k in expected} == expected
    assert len(expected) > 40


def test_unreadable_crop_stops_the_run_before_the_first_step(tmp_path):
    """A corrupt validation crop is reported when the run is set up, naming the file, not after an epoch."""
    csv = standard_manifest(tmp_path, n_videos=8, frames=3, size=32)
    model = _model()
    train_ds, val_ds = _datasets(csv, model)
    bad = val_ds.root / val_ds.meta["path"].iloc[0]
    bad.write_bytes(bytes(range(256)) * (bad.stat().st_size // 256 + 1))
    started = []

    class Started(Callback):
        def on_train_start(self, state):
            started.append(state.epoch)

    cfg = TrainConfig(run="bad", checkpoints_dir=str(tmp_path / "ck"), epochs=1, **FAST)
    with pytest.raises(CropReadError, match=bad.name):
        train(model, train_ds, val_ds, cfg, [Started()])
    assert not started and not (tmp_path / "ck" / "bad").exists()


def test_resume_with_more_epochs_follows_the_longer_schedule(faces, tmp_path):
    """Resuming a finished 1-epoch run for 3 epochs gives epochs 2-3 the learning rates of a run planned for 3."""
    cfg = TrainConfig(checkpoints_dir=str(tmp_path), patience=0, **FAST)

    def run(name, epochs, resume=False):
        model = _model()
        train_ds, val_ds = _datasets(faces, model)
        return train(model, train_ds, val_ds, cfg.replace(run=name, epochs=epochs, resume=resume), callbacks=[])

    planned = run("planned", 3)
    run("extended", 1)
    extended = run("extended", 3, resume=True)
    assert list(extended["epoch"]) == [1, 2, 3]
    assert extended["lr"][1:].tolist() == pytest.approx(planned["lr"][1:].tolist())
    assert extended["lr"][2] < extended["lr"][1]  # still decaying, not restarted or stuck at the end of the short plan


def test_read_run_config_of_older_runs_and_of_folders_that_are_not_runs(tmp_path):
    """A config.json written before its "data" section still gives typed settings; other folders are refused."""
    window = {"window": 4, "stride": 2, "short": "drop", "pad_mode": "loop"}
    legacy = {
        "train": {**TrainConfig(epochs=3).to_dict(), "removed_option": 1},
        "train_data": {"split": "train", "faces": "labels/x_faces.csv", "augment": {"p_flip": 0.0}, **window},
        "val_data": {"split": "dev", "faces": "labels/x_faces.csv", "augment": None, **window},
    }
    (tmp_path / "config.json").write_text(json.dumps(legacy))
    train_cfg, data = read_run_config(tmp_path)
    assert train_cfg == TrainConfig(epochs=3)
    assert data == DataConfig(
        faces="labels/x_faces.csv",
        train_split="train",
        val_split="dev",
        window=WindowConfig(**window),
        augment=AugmentConfig(p_flip=0.0),
    )
    assert DataConfig.from_dict(json.loads(json.dumps(data.to_dict()))) == data
    with pytest.raises(FileNotFoundError, match="config.json"):
        read_run_config(tmp_path / "nothing")
    (tmp_path / "config.json").write_text(json.dumps({"model": "mesonet4"}))
    with pytest.raises(ValueError, match="not a training run"):
        read_run_config(tmp_path)
    with pytest.raises(ValueError, match="never on the test split"):
        DataConfig(val_split="test")


def test_a_flag_nothing_threshold_stays_a_probability():
    from deepfakeforensics.scoring.thresholds import choose_threshold

    # vote shares reach 1.0: the "flag nothing" point must not become 1.0000000000000002
    labels, scores = np.array([0, 0, 1, 1]), np.array([1.0, 1.0, 1.0, 0.0])
    for rule in ("eer", "fpr"):
        assert 0.0 <= choose_threshold(labels, scores, rule) <= 1.0
