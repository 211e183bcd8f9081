"""Detector packages (``dff export``): a run's model, crops, windows and threshold, loadable anywhere, refused when
this toolkit cannot honour them; the hub client is always stubbed (no test reaches the network)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
import yaml  # a dependency of timm, which the toolkit requires
from tiny_data import standard_manifest

from deepfakeforensics._io import load_table
from deepfakeforensics.cli import build_parser, main
from deepfakeforensics.commands.predict import load_run
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.evaluation import evaluate
from deepfakeforensics.models import create_model, save_checkpoint
from deepfakeforensics.packages import PackageError, export_package, push_package, read_package
from deepfakeforensics.runs import RunInfo, resolve_runs
from deepfakeforensics.scoring.thresholds import validation_thresholds, write_thresholds
from deepfakeforensics.serve import Engine, ServeConfig
from deepfakeforensics.training.config import DataConfig, TrainConfig


def _make_run(folder, model: str, faces, window: WindowConfig | None = None, seed: int = 0):
    """A run folder as training leaves it: best.pt, config.json, thresholds.json (every aggregation), history.csv."""
    torch.manual_seed(seed)
    folder.mkdir(parents=True)
    save_checkpoint(folder / "best.pt", create_model(model))
    data = DataConfig(faces=str(faces), window=window)
    train = TrainConfig(run=folder.name, epochs=3, lr=3e-4, seed=seed)
    (folder / "config.json").write_text(json.dumps({"train": train.to_dict(), "data": data.to_dict()}))
    scores = np.array([0.1, 0.3, 0.35, 0.8, 0.6, 0.9, 0.2, 0.7])
    labels = np.array([0, 0, 1, 1, 1, 1, 0, 0])
    ids, tracks = ["a", "a", "b", "b", "c", "c", "d", "d"], [0, 1, 0, 0, 0, 1, 0, 0]
    write_thresholds(folder, validation_thresholds(scores, labels, ids, epoch=2, tracks=tracks))
    history = {"epoch": [1, 2, 3], "train_loss": [0.7, 0.6, 0.5], "val_loss": [0.69, 0.62, 0.66]}
    history |= {"val_auc": [0.55, 0.71, 0.68], "val_acc": [0.5, 0.66, 0.6], "lr": [3e-4] * 3, "seconds": [1.0] * 3}
    pd.DataFrame(history).to_csv(folder / "history.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return standard_manifest(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def run(tmp_path_factory, faces):
    return _make_run(tmp_path_factory.mktemp("runs") / "meso_run", "mesonet4", faces)


@pytest.fixture()
def package(run, tmp_path):
    return export_package(run, tmp_path / "meso_pkg")


def _same_usage(a: RunInfo, b: RunInfo) -> None:
    assert a.threshold.value == b.threshold.value and a.aggregation == b.aggregation
    assert a.windows == b.windows
    assert (a.crops.profile, a.crops.align) == (b.crops.profile, b.crops.align)


def test_a_package_loads_in_a_fresh_process_and_scores_exactly_as_its_run(run, package, tmp_path):
    x = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    torch.save(x, tmp_path / "x.pt")
    info = RunInfo.load(run)
    with torch.no_grad():
        expected = torch.sigmoid(info.model(x)).tolist()
    code = textwrap.dedent(
        f"""
        import json, torch
        from deepfakeforensics.runs import RunInfo, resolve_runs
        info = RunInfo.load({str(package)!r})
        x = torch.load({str(tmp_path / "x.pt")!r}, weights_only=True)
        with torch.no_grad():
            scores = torch.sigmoid(info.model(x)).tolist()
        print(json.dumps({{"kind": info.kind, "name": info.name, "scores": scores, "threshold": info.threshold.value,
            "aggregation": info.aggregation, "windows": info.windows.to_dict(), "profile": info.crops.profile,
            "align": info.crops.align, "source": info.threshold.source}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    fresh = json.loads(done.stdout.strip().splitlines()[-1])
    assert fresh["kind"] == "package" and fresh["name"] == "meso_pkg"
    assert fresh["scores"] == expected  # exactly
    assert fresh["threshold"] == info.threshold.value and fresh["aggregation"] == info.aggregation
    assert WindowConfig.from_dict(fresh["windows"]) == info.windows
    assert (fresh["profile"], fresh["align"]) == (info.crops.profile, info.crops.align)
    assert "epoch 2" in fresh["source"] and "'eer'" in fresh["source"] and "meso_pkg/config.json" in fresh["source"]


def test_every_aggregation_keeps_the_threshold_its_run_chose(run, package):
    for how in ("mean", "median", "track_max", "vote"):
        _same_usage(RunInfo.load(package, aggregation=how), RunInfo.load(run, aggregation=how))
    assert RunInfo.load(package, threshold=0.9).threshold.value == 0.9
    config = read_package(package)
    assert config.written_by["torch"] == torch.__version__ and "timm" in config.written_by
    assert config.model == "mesonet4" and config.threshold.epoch == 2 and config.threshold.rule == "eer"


def test_a_temporal_package_keeps_its_windows(tmp_path, faces):
    run = _make_run(tmp_path / "lstm", "mesonet4_lstm", faces, window=WindowConfig(window=4, stride=2, pad_mode="loop"))
    package = export_package(run, tmp_path / "lstm_pkg")
    info, from_run = RunInfo.load(package), RunInfo.load(run)
    _same_usage(info, from_run)
    assert info.windows == WindowConfig(window=4, stride=2, pad_mode="loop")
    assert RunInfo.load(package, windows={"stride": 1}).windows.stride == 1  # overridden field by field, as for a run
    x = torch.rand(1, 4, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(info.model(x), from_run.model(x))


def test_predict_serve_and_evaluate_take_a_package(run, package, faces, tmp_path):
    args = build_parser().parse_args(["predict", "folder", "--weights", str(package)])
    _same_usage(load_run(args), RunInfo.load(run))
    engine = Engine.from_weights(str(package), ServeConfig(upload_dir=str(tmp_path)))
    served = engine.describe()
    assert served["kind"] == "package" and served["threshold"] == RunInfo.load(run).threshold.value
    assert served["package"]["from"] == "meso_run"
    (spec,) = resolve_runs([package])  # a package folder is not mistaken for a run folder without best.pt
    assert spec.name == "meso_pkg" and spec.checkpoint.name == "model.safetensors"
    result = evaluate([run, package], faces, tmp_path / "eval", split="test", plots=False, bootstrap=0, progress=False)
    m = result.metrics.set_index(["run", "level"])
    for level in ("frame", "file"):
        assert m.loc[("meso_pkg", level), "auc"] == m.loc[("meso_run", level), "auc"]


def test_the_model_card_renders_from_the_run(run, faces, tmp_path):
    info = RunInfo.load(run)
    metrics = tmp_path / "metrics.csv"
    row = {"run": "meso_run", "dataset": "celebdf", "level": "file", "split": "test", "protocol": "own"}
    row |= {"aggregation": "mean", "n": 40, "auc": 0.71, "auc_lo": 0.6, "auc_hi": 0.8, "eer": 0.3, "eer_lo": 0.2}
    row |= {"eer_hi": 0.4, "accuracy": 0.65, "threshold_rule": "eer", "threshold_on": "ffpp:val", "n_boot": 1000}
    row |= {"boot_seed": 0}
    pd.DataFrame([row, {**row, "run": "other"}]).to_csv(metrics, index=False)
    assert main(["export", str(run), "--out", str(tmp_path / "pkg"), "--metrics-csv", str(metrics)]) == 0
    card = (tmp_path / "pkg" / "README.md").read_text()
    assert card.startswith("---\n")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["library_name"] == "deepfakeforensics" and header["license"] == "other"
    assert "deepfake-detection" in header["tags"] and "mesonet4" in header["tags"]
    assert header["datasets"] == [faces.stem.removesuffix("_faces")] and {"roc_auc", "eer"} <= set(header["metrics"])
    assert hashlib.sha256(faces.read_bytes()).hexdigest() in card  # the training manifest's fingerprint
    n_val = load_table(faces).query("split == 'val'")["video_id"].nunique()
    assert "| val |" in card and n_val > 0
    assert "0.710 [0.600, 0.800]" in card and "1000 resamples" in card  # cross-dataset row with its interval
    assert "| 2 | 0.710 |" in card  # validation figures of the packaged epoch
    assert "evidence, not proof" in card and "## Protocol of every figure" in card
    assert f"{info.threshold.value:.4f}" in card and "| lr | `0.0003` |" in card


def _tamper(package, change) -> None:
    config = json.loads((package / "config.json").read_text())
    change(config)
    (package / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c["model"].update(name="mesonet9000"), "model.name"),
        (lambda c: c["threshold"].update(value=float("nan")), "threshold.value"),
        (lambda c: c["threshold"].update(value=1.5), "threshold.value"),
        (lambda c: c["preprocessing"].update(input_size=[3, 128, 128]), "preprocessing.input_size"),
        (lambda c: c["preprocessing"].update(mean=[0.5, 0.5, 0.5]), "preprocessing.mean"),
        (lambda c: c.update(format_version=2), "format_version"),
        (lambda c: c.update(calibration={"temperature": 2.0}), "calibration"),
        (lambda c: c["preprocessing"].update(crop_profile="mystery"), "preprocessing.crop_profile"),
        (lambda c: c.update(aggregation="max"), "aggregation"),
        (lambda c: c["model"].update(kwargs={"depth": 3}), "model.kwargs"),
        (lambda c: c["weights"].update(sha256="0" * 64), "weights.sha256"),
        (lambda c: c.update(windows={"window": 0}), "windows.window"),
        (lambda c: c.pop("written_by"), "written_by"),
    ],
)
def test_a_config_it_cannot_honour_is_refused_naming_the_field(package, change, field):
    _tamper(package, change)
    with pytest.raises(PackageError, match=rf"config.json: field '{field}'"):
        RunInfo.load(package)


def test_damaged_packages_and_outputs_are_named(package, run, tmp_path, capsys):
    (package / "config.json").write_text('{"format": "deepfakeforensics-package", "format_v')
    with pytest.raises(PackageError, match="config.json: not valid JSON"):
        RunInfo.load(package)
    with pytest.raises(PackageError, match="not a package"):
        export_package(run, run)  # never over a run folder
    assert main(["export", str(run), "--out", str(run)]) == 1
    assert "not a package" in capsys.readouterr().err
    with pytest.raises(PackageError, match="ensemble"):
        export_package([run / "best.pt", run / "best.pt"], tmp_path / "ens")


class _Hub:
    """A stand-in for huggingface_hub's functions: records calls, serves a folder laid out as the hub's cache."""

    def __init__(self, package, cache, online: bool = True, cached: bool = True) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.package, self.cache, self.online, self.cached = package, cache, online, cached

    def snapshot_download(self, repo_id, revision=None, allow_patterns=None, local_files_only=False, **kw):
        self.calls.append(("snapshot_download", {"repo_id": repo_id, "revision": revision, "local": local_files_only}))
        if not self.online and not local_files_only:
            raise ConnectionError("no route to huggingface.co")
        if local_files_only and not self.cached:
            raise FileNotFoundError("not in the cache")
        snapshot = self.cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "0123abcd"
        if not snapshot.is_dir():
            shutil.copytree(self.package, snapshot)
        return str(snapshot)

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw))
        return "https://huggingface.co/me/meso/commit/1"


@pytest.fixture()
def hub(monkeypatch, package, tmp_path):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # should anything slip past the stubs, it stays off the network
    stub = _Hub(package, tmp_path / "hf_cache")
    for name in ("snapshot_download", "create_repo", "upload_folder"):
        monkeypatch.setattr(huggingface_hub, name, getattr(stub, name))
    return stub


def test_push_uploads_the_package(hub, run, tmp_path, capsys):
    out = tmp_path / "pushed"
    assert main(["export", str(run), "--out", str(out), "--push", "me/meso", "--private"]) == 0
    assert "load it with --weights hf://me/meso" in capsys.readouterr().out
    (create, upload) = hub.calls
    assert create == ("create_repo", {"repo_id": "me/meso", "repo_type": "model", "exist_ok": True, "private": True})
    assert upload[1]["repo_id"] == "me/meso" and upload[1]["folder_path"] == str(out)
    assert set(upload[1]["allow_patterns"]) == {"config.json", "model.safetensors", "README.md"}
    with pytest.raises(PackageError, match="owner/name"):
        push_package(out, "not a repo")


def test_hf_weights_download_or_come_from_the_cache(hub, run):
    info = RunInfo.load("hf://me/meso@v1")
    assert hub.calls[0] == ("snapshot_download", {"repo_id": "me/meso", "revision": "v1", "local": False})
    assert info.kind == "package" and info.name == "me/meso"
    _same_usage(info, RunInfo.load(run))
    hub.online = False  # offline: the cached copy, said so
    assert RunInfo.load("hf://me/meso@v1").name == "me/meso" and hub.calls[-1][1]["local"]
    hub.cached = False  # offline and never downloaded: what to fetch, and how
    with pytest.raises(PackageError, match=r"cannot download me/meso at v1 .*hf download me/meso --revision v1"):
        RunInfo.load("hf://me/meso@v1")
    with pytest.raises(PackageError, match="expected hf://owner/name"):
        RunInfo.load("hf://just-a-name")


def test_a_package_has_no_pickle(package):
    assert sorted(p.name for p in package.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    with open(package / "model.safetensors", "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len))
    assert header["__metadata__"]["model"] == "mesonet4"
    assert all(math.prod(v["shape"]) >= 0 for k, v in header.items() if k != "__metadata__")


@pytest.mark.slow  # EfficientNet-B4 at 380 px on CPU: about 20 s
def test_a_released_detector_exports_with_its_profile_rule_and_provenance(tmp_path):
    torch.manual_seed(0)
    state = create_model("sbi_efficientnet_b4").state_dict()  # laid out as SBI's FFraw.tar, with random weights
    w, b = state["net._fc.weight"], state["net._fc.bias"]
    state["net._fc.weight"], state["net._fc.bias"] = torch.cat([torch.zeros_like(w), w]), torch.cat([0 * b, b])
    torch.save({"model": state, "epoch": 3}, tmp_path / "FFraw.tar")
    package = export_package(tmp_path / "FFraw.tar", tmp_path / "sbi_pkg")
    info, original = RunInfo.load(package), RunInfo.load(tmp_path / "FFraw.tar")
    _same_usage(info, original)
    assert info.released is not None and info.released.name == "sbi_efficientnet_b4"
    assert info.crops.profile == "sbi" and info.aggregation == original.released.aggregation
    assert read_package(package).threshold is None and info.threshold.value == 0.5  # none recorded: 0.5, said so
    card = (package / "README.md").read_text()
    assert original.released.repo in card and original.released.weights_licence in card
    x = torch.rand(1, *info.model.default_cfg.input_size)
    with torch.no_grad():
        assert torch.equal(info.model(x), original.model(x))
