"""A detector as a package anyone can load: `export_package` writes one from a run, `read_package` reads one back.

A package is a folder (``dff export RUN --out DIR``; ``--push owner/name`` uploads it to the Hugging Face hub):

- ``model.safetensors``: the model's state dict (no pickle: loading it runs no code);
- ``config.json``: everything `runs.RunInfo.load` needs to use it as its run was used: the registered model and its
  arguments, the input size and normalisation, the crop profile and alignment, a temporal model's windows, the
  threshold chosen on validation (rule, split, epoch, for every aggregation the run recorded), the aggregation, the
  released detector it comes from, and the versions of the toolkit, torch and timm that wrote it
  (``_package_format`` documents the fields);
- ``README.md``: a Hugging Face model card generated from the run (training data and its fingerprint, settings,
  validation figures, cross-dataset results of ``dff evaluate``, the protocol of every figure, intended use and limits;
  ``package_card`` writes it).

``RunInfo.load(DIR)`` (so ``dff predict/evaluate/serve --weights DIR`` and the notebooks) loads a package with the
threshold, windows, crops and aggregation of the run it was exported from; ``hf://owner/name[@revision]`` downloads it.

Example:
    >>> export_package("checkpoints/meso", "packages/meso")  # doctest: +SKIP
    >>> RunInfo.load("packages/meso").threshold.value == RunInfo.load("checkpoints/meso").threshold.value  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors.torch import save_file

from deepfakeforensics._io import atomic_path, write_text_atomic
from deepfakeforensics._package import (
    PackageConfig,
    file_sha256,
    is_package_dir,
    load_package_model,
    parse_hub_uri,
    read_package,
    versions,
)
from deepfakeforensics._package_format import (
    CARD_FILE,
    CONFIG_FILE,
    PACKAGE_FORMAT,
    PACKAGE_VERSION,
    WEIGHTS_FILE,
    PackageError,
    sampling_record,
)
from deepfakeforensics.models._weights import unwrap
from deepfakeforensics.package_card import model_card
from deepfakeforensics.runs import NO_THRESHOLD, RunInfo
from deepfakeforensics.scoring.aggregation import AGGREGATIONS
from deepfakeforensics.scoring.thresholds import read_thresholds, recorded_threshold

__all__ = ["PackageConfig", "PackageError", "export_package", "model_card", "push_package", "read_package"]

log = logging.getLogger(__name__)


def export_package(
    run_or_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    model: str | None = None,
    metrics_csv: str | os.PathLike | None = None,
    license: str = "other",
) -> Path:
    """Write the package of a run (or checkpoint, Keras or released file, or package) into `out_dir`.

    The package is read back and its model rebuilt before this returns: it must score a fixed input exactly as the
    run's model does, or nothing is left claiming otherwise.

    Args:
        run_or_file: anything `RunInfo.load` takes but several files (an ensemble is several packages).
        out_dir: the package folder (created; a folder holding a run or anything but a package is refused).
        model: the registered name, for a Keras file.
        metrics_csv: a ``dff evaluate`` metrics.csv with rows of this run: its results go into the model card.
        license: the licence of the model card's header (a Hugging Face licence id; ``other`` by default).

    Returns:
        `out_dir`.

    Raises:
        PackageError: an ensemble, model arguments that JSON cannot hold, an `out_dir` that is not a package, or a
            package that does not score as the run does.
    """
    out = Path(out_dir)
    _check_out_dir(out)
    info = RunInfo.load(run_or_file, model)
    if info.kind == "ensemble":
        raise PackageError(f"{run_or_file}: an ensemble is not one package; export each member")
    config = package_config(info)
    metrics = _metrics_rows(metrics_csv, info.name) if metrics_csv is not None else None
    detector = unwrap(info.model)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in detector.state_dict().items()}
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "model": detector.name})
    config["weights"]["sha256"] = file_sha256(out / WEIGHTS_FILE)
    write_text_atomic(out / CONFIG_FILE, json.dumps(config, indent=2, allow_nan=False) + "\n")
    _verify(out, info)
    write_text_atomic(out / CARD_FILE, model_card(info, read_package(out), metrics, license))
    log.info("%s -> package %s", run_or_file, out)
    return out


def _check_out_dir(out: Path) -> None:
    if out.is_file():
        raise PackageError(f"{out}: a file, not a package folder")
    if not out.is_dir() or is_package_dir(out):
        return
    others = sorted(p.name for p in out.iterdir() if p.name not in (WEIGHTS_FILE, CARD_FILE, ".git", ".gitattributes"))
    if others:
        raise PackageError(f"{out}: holds {', '.join(others[:3])}, not a package: choose an empty or new --out folder")


def package_config(info: RunInfo) -> dict[str, Any]:
    """The ``config.json`` of the package of `info` (its ``weights.sha256`` is filled in once the weights are written)."""
    detector = unwrap(info.model)
    cfg = detector.default_cfg
    kwargs = dict(getattr(detector, "init_kwargs", {}))
    try:
        json.dumps(kwargs, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise PackageError(f"{info.checkpoint}: model arguments {kwargs!r} cannot be written as JSON ({e})") from e
    released = None
    if info.released is not None:
        released = {"name": info.released.name, "title": info.released.title, "repo": info.released.repo}
    return {
        "format": PACKAGE_FORMAT,
        "format_version": PACKAGE_VERSION,
        "name": info.name,
        "kind": info.kind,
        "written_by": versions(),
        "model": {
            "name": detector.name,
            "kwargs": kwargs,
            "temporal": bool(cfg.temporal),
            "parameters": sum(p.numel() for p in detector.parameters()),
        },
        "weights": {"file": WEIGHTS_FILE, "sha256": "0" * 64},
        "preprocessing": {
            "input_size": list(cfg.input_size),
            "mean": [float(v) for v in cfg.mean],
            "std": [float(v) for v in cfg.std],
            "crop_profile": info.crops.profile,
            "aligned": info.crops.align,
            "crops_source": info.crops.source,
        },
        "windows": info.windows.to_dict() if cfg.temporal else None,
        "threshold": _threshold_record(info),
        "aggregation": info.aggregation,
        "released": released,
        **sampling_record(info.sampling),
    }


def _threshold_record(info: RunInfo) -> dict[str, Any] | None:
    """The validation threshold of `info` for every aggregation its run recorded one for; None when there is none."""
    if info.threshold.source.startswith(NO_THRESHOLD):
        return None
    if info.kind == "package":
        t = read_package(info.checkpoint.parent).threshold
        if t is None:
            return None
        rule, split, epoch, by = t.rule, t.split, t.epoch, dict(t.by_aggregation)
    else:
        record = read_thresholds(info.checkpoint) or {}
        rule, split, epoch = record.get("rule", "eer"), record.get("split", "val"), record.get("epoch")
        by = {}
        for how in AGGREGATIONS:
            recorded = recorded_threshold(info.checkpoint, how)
            if recorded is not None:
                by[how] = recorded[0]
    return {
        "value": info.threshold.value,
        "rule": rule,
        "split": split,
        "epoch": epoch,
        "level": "file",
        "aggregation": info.aggregation,
        "by_aggregation": by,
        "source": info.threshold.source,
    }


def _verify(out: Path, info: RunInfo) -> None:
    """The package's model must give the run's logits exactly on a fixed input; otherwise its files are removed."""
    try:
        package = read_package(out)
        rebuilt = load_package_model(package)
        cfg = info.model.default_cfg
        shape = (1, info.windows.window, *cfg.input_size) if cfg.temporal else (1, *cfg.input_size)
        x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            same = torch.equal(info.model.eval()(x), rebuilt(x))
        if not same:
            raise PackageError(f"{out}: the package's model does not score as {info.name} does; not exported")
    except Exception:
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            (out / name).unlink(missing_ok=True)
        raise


def _metrics_rows(metrics_csv: str | os.PathLike, name: str) -> pd.DataFrame:
    table = pd.read_csv(metrics_csv)
    missing = {"run", "level", "auc"} - set(table.columns)
    if missing:
        raise ValueError(f"{metrics_csv}: not a metrics.csv of dff evaluate (no column {sorted(missing)})")
    rows = table[table["run"].astype(str) == name]
    if rows.empty:
        raise ValueError(f"{metrics_csv}: no rows of run {name!r} (runs: {sorted(set(table['run'].astype(str)))})")
    rows = rows.copy()
    rows.attrs["source"] = str(metrics_csv)
    return rows


def push_package(folder: str | os.PathLike, repo_id: str, *, private: bool = False) -> str:
    """Upload a package folder to the Hugging Face model repository `repo_id` (created if need be).

    Returns:
        What the hub answers (the commit's URL).

    Raises:
        PackageError: not a valid package (read back first), a malformed repository name, huggingface_hub missing,
            or the upload failing (not logged in, no access, offline: the message says which).
    """
    folder = Path(folder)
    package = read_package(folder)
    load_package_model(package)  # nothing is published that this toolkit would refuse
    repo_id, revision = parse_hub_uri(repo_id)
    if revision is not None:
        raise PackageError(f"{repo_id}@{revision}: push to a repository, owner/name, without a revision")
    try:
        import huggingface_hub
    except ImportError as e:
        raise PackageError("--push needs huggingface_hub (pip install it)") from e
    try:
        huggingface_hub.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
        commit = huggingface_hub.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="model",
            allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE],
            commit_message=f"deepfakeforensics package of {package.name} ({package.model})",
        )
    except Exception as e:  # not logged in, no rights, offline: the hub client's own message, and what to do
        raise PackageError(
            f"cannot push {folder} to {repo_id} ({type(e).__name__}: {e}); log in (`hf auth login` or HF_TOKEN) and "
            "check your rights on the repository"
        ) from e
    return str(getattr(commit, "commit_url", commit))
