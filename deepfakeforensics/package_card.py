"""The model card of a package: a Hugging Face ``README.md`` (YAML header, then markdown) generated from its run.

It tells the training data and its fingerprint, the settings, the validation figures, the cross-dataset results of
``dff evaluate`` (when given), the protocol of every figure, the intended use and the limits (`model_card`).
``packages.export_package`` writes it beside the package's ``config.json`` and weights.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from deepfakeforensics._io import load_table
from deepfakeforensics._package import PackageConfig, file_sha256
from deepfakeforensics.run_records import describe_sampling
from deepfakeforensics.runs import RunInfo
from deepfakeforensics.training.config import DataConfig, TrainConfig, read_run_config

__all__ = ["model_card"]

#: TrainConfig fields a model card leaves out: where files went and how the machine ran, not how the model learnt.
_MACHINE_FIELDS = ("run", "checkpoints_dir", "device", "num_workers", "resume", "keep_epochs", "val_batch_size")


def _yaml_list(key: str, values: Sequence[str]) -> list[str]:
    return [f"{key}:", *(f"- {json.dumps(v)}" for v in values)] if values else []


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _with_interval(row: pd.Series, metric: str) -> str:
    value = _fmt(row.get(metric))
    lo, hi = row.get(f"{metric}_lo"), row.get(f"{metric}_hi")
    if value and lo is not None and hi is not None and not (pd.isna(lo) or pd.isna(hi)):
        return f"{value} [{_fmt(lo)}, {_fmt(hi)}]"
    return value


def _training(run_dir: Path | None) -> tuple[TrainConfig | None, DataConfig | None, str]:
    """The run's settings, or why they cannot be told."""
    if run_dir is None:
        return None, None, "not recorded (the package was not exported from a training run folder)"
    try:
        train, data = read_run_config(run_dir)
    except (FileNotFoundError, ValueError) as e:
        return None, None, f"not recorded ({e})"
    return train, data, ""


def _data_section(data: DataConfig | None, why: str) -> tuple[list[str], list[str]]:
    """The model card's training data lines, and the dataset names of its header."""
    if data is None or not data.faces:
        return [why or "The training manifest was not recorded (a DataFrame was given to training)."], []
    path = Path(data.faces)
    stem = path.stem.removesuffix("_faces") or path.stem
    lines = [f"- Manifest: `{path.name}` (faces manifest of `dff extract`), trained on split `{data.train_split}`, "]
    lines[0] += f"validated on split `{data.val_split}`."
    if not path.is_file():
        lines.append("- Fingerprint: unavailable (the manifest was not found where the run recorded it at export).")
        return lines, [stem]
    lines.append(f"- Fingerprint: sha256 `{file_sha256(path)}` of the manifest file.")
    try:
        faces = load_table(path)
    except (OSError, ValueError) as e:
        lines.append(f"- Contents: unreadable at export ({e}).")
        return lines, [stem]
    if {"split", "label", "video_id"} <= set(faces.columns):
        counts = faces.groupby(["split", "label"])["video_id"].nunique().unstack(fill_value=0)
        lines += ["", "| split | real videos | fake videos | face crops |", "| --- | --- | --- | --- |"]
        crops = faces.groupby("split").size()
        for split, row in counts.iterrows():
            lines.append(f"| {split} | {int(row.get(0, 0))} | {int(row.get(1, 0))} | {int(crops[split])} |")
    if "method" in faces.columns:
        methods = sorted(str(m) for m in faces["method"].dropna().unique())
        lines.append(f"\nManipulation methods: {', '.join(methods)}.")
    extraction = faces.attrs.get("extraction") or {}
    if extraction:
        shown = {k: extraction[k] for k in ("profile", "align", "size", "margin") if k in extraction}
        lines.append(f"\nFace extraction settings recorded in the manifest: {shown or extraction}.")
    return lines, [stem]


def _validation_lines(run_dir: Path | None, package: PackageConfig) -> list[str]:
    t = package.threshold
    lines = []
    history = run_dir / "history.csv" if run_dir is not None else None
    if history is not None and history.is_file():
        table = pd.read_csv(history)
        epoch = t.epoch if t is not None and t.epoch is not None else None
        rows = table[table["epoch"] == epoch] if epoch is not None else table.iloc[0:0]
        if rows.empty and "val_auc" in table and table["val_auc"].notna().any():
            rows = table.loc[[table["val_auc"].idxmax()]]
        if not rows.empty:
            row = rows.iloc[0]
            lines += [
                "| epoch | validation AUC (item level) | validation accuracy | validation loss |",
                "| --- | --- | --- | --- |",
                f"| {int(row['epoch'])} | {_fmt(row.get('val_auc'))} | {_fmt(row.get('val_acc'))} | "
                f"{_fmt(row.get('val_loss'))} |",
                "",
                "Training records point estimates at each epoch, without an interval; the evaluation below (when "
                "given) has 95 % bootstrap intervals.",
            ]
    if not lines:
        lines.append("No validation history was recorded with this detector.")
    if t is not None:
        by = ", ".join(f"{k} {v:.4f}" for k, v in t.by_aggregation.items())
        lines.append(
            f"\nDecision threshold: **{t.value:.4f}** for file scores aggregated by `{t.aggregation}`, chosen on "
            f"split `{t.split}`{f' at epoch {t.epoch}' if t.epoch is not None else ''} by rule `{t.rule}` "
            f"(thresholds per aggregation: {by})."
        )
    else:
        lines.append("\nNo validation threshold was recorded: 0.5 is used unless one is given.")
    return lines


def _evaluation_lines(metrics: pd.DataFrame | None) -> tuple[list[str], list[str]]:
    """The evaluation table and the protocol of its figures (empty without a metrics table)."""
    if metrics is None:
        return ["No evaluation was given at export (`dff export --metrics-csv` of a `dff evaluate` run)."], []
    lines = [
        "| dataset | split | level | aggregation | protocol | n | AUC [95 % CI] | EER [95 % CI] | accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    protocol = []
    for _, row in metrics.iterrows():
        cells = [row.get(c, "") for c in ("dataset", "split", "level", "aggregation", "protocol")]
        n = row.get("n")
        cells.append(_fmt(int(n)) if n is not None and not pd.isna(n) else "")
        cells += [_with_interval(row, "auc"), _with_interval(row, "eer"), _fmt(row.get("accuracy"))]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
        level = row.get("level", "")
        unit = "videos (file scores)" if level == "file" else f"{level}s"
        boot = row.get("n_boot")
        interval = (
            f"95 % percentile bootstrap intervals over {int(boot)} resamples of the videos (seed {_fmt(row.get('boot_seed'))})"
            if boot is not None and not pd.isna(boot)
            else "no interval"
        )
        aggregation = (
            f", faces and frames of a video aggregated by `{row.get('aggregation')}`" if level == "file" else ""
        )
        protocol.append(
            f"- {_fmt(row.get('dataset'))}, {level} level: split `{_fmt(row.get('split'))}`, n = {_fmt(n)} {unit}"
            f"{aggregation}; protocol `{_fmt(row.get('protocol'))}`; {interval}; accuracy at the threshold chosen by "
            f"rule `{_fmt(row.get('threshold_rule'))}` on `{_fmt(row.get('threshold_on'))}`."
        )
    lines.append(f"\nFrom `{Path(metrics.attrs.get('source', 'metrics.csv')).name}` of `dff evaluate`.")
    return lines, protocol


def model_card(
    info: RunInfo, package: PackageConfig, metrics: pd.DataFrame | None = None, license: str = "other"
) -> str:
    """A Hugging Face model card (``README.md`` with a YAML header) of the package of `info`."""
    run_dir = info.checkpoint.parent if info.kind == "run" else None
    train, data, why = _training(run_dir)
    data_lines, datasets = _data_section(data, why)
    eval_lines, eval_protocol = _evaluation_lines(metrics)
    body = [*_card_intro(info, package), *_USAGE, *_detector_table(info, package)]
    body += [
        "",
        "## Training data",
        "",
        *data_lines,
        "",
        "## Training settings",
        "",
        *_settings_lines(train, data, why),
    ]
    body += ["", "## Validation", "", *_validation_lines(run_dir, package), "", "## Evaluation", "", *eval_lines]
    body += _protocol_and_limits(data, eval_protocol)
    return "\n".join(_card_header(package, metrics, datasets, license) + [""] + body)


def _card_header(package: PackageConfig, metrics: pd.DataFrame | None, datasets: list[str], license: str) -> list[str]:
    """The card's YAML header: library, licence, tags, datasets, metrics."""
    metric_names = ["roc_auc", "accuracy"] + (["eer"] if metrics is not None else [])
    return [
        "---",
        "library_name: deepfakeforensics",
        f"license: {json.dumps(license)}",
        *_yaml_list("tags", ["deepfake-detection", "video-forensics", "image-classification", package.model]),
        *_yaml_list("datasets", datasets),
        *_yaml_list("metrics", metric_names),
        "pipeline_tag: image-classification",
        "---",
    ]


def _card_intro(info: RunInfo, package: PackageConfig) -> list[str]:
    """Title, what it scores, and for a released detector whose weights these are."""
    lines = [
        f"# {package.name}: a deepfake detector ({package.model})",
        "",
        f"Scores face crops for P(fake) (label 1 = fake, 0 = real) with `{package.model}` "
        f"({_fmt(package.raw['model'].get('parameters'))} parameters), exported by deepfakeforensics from "
        f"{'the training run' if info.kind == 'run' else 'the ' + info.kind} `{package.name}`.",
    ]
    if package.released is not None:
        spec = info.released
        lines.append(
            f"\nThese are the weights its authors released: {package.released.get('title', package.released['name'])} "
            f"({package.released['repo']})"
            + (f"; code licence {spec.code_licence}, weights licence {spec.weights_licence}." if spec else ".")
        )
    return lines


_USAGE = [
    "",
    "## How to use",
    "",
    "With deepfakeforensics installed:",
    "",
    "```bash",
    "dff predict VIDEO_FOLDER --weights PACKAGE_FOLDER   # or --weights hf://OWNER/NAME[@REVISION]",
    "```",
    "",
    "```python",
    "from deepfakeforensics.runs import RunInfo",
    'info = RunInfo.load("PACKAGE_FOLDER")  # model, crops, windows, threshold and aggregation, as trained',
    "```",
]


def _detector_table(info: RunInfo, package: PackageConfig) -> list[str]:
    """Model, input, crops, file score, threshold and versions, as a table."""
    cfg = info.model.default_cfg
    windows = f"windows of {package.windows}" if package.windows is not None else "one face crop at a time"
    if package.sampling is not None:
        windows += f" of {describe_sampling(package.sampling)} per video (as the run trained)"
    threshold = info.threshold
    return [
        "",
        "## Detector",
        "",
        "| | |",
        "| --- | --- |",
        f"| model | `{package.model}`, arguments `{json.dumps(package.model_kwargs)}` |",
        f"| input | {cfg.input_size[1]} x {cfg.input_size[2]} RGB, mean {list(package.mean)}, std {list(package.std)}, "
        f"{windows} |",
        f"| face crops | profile `{package.crop_profile}`{', aligned' if package.aligned else ''}: {info.crops.source} |",
        f"| file score | `{package.aggregation}` of the crop scores of a video |",
        f"| threshold | {threshold.value:.4f}: {threshold.source} |",
        f"| written by | {', '.join(f'{k} {v}' for k, v in package.written_by.items())} |",
    ]


def _settings_lines(train: TrainConfig | None, data: DataConfig | None, why: str) -> list[str]:
    """The training settings table (machine-specific fields left out), or why there is none."""
    if train is None:
        return [f"Training settings: {why}."]
    shown = {f.name: getattr(train, f.name) for f in fields(train) if f.name not in _MACHINE_FIELDS}
    lines = ["| setting | value |", "| --- | --- |", *(f"| {k} | `{v!r}` |" for k, v in shown.items())]
    if data is not None:
        lines += [f"| pseudo_fakes | `{data.pseudo_fakes}` |", f"| augment | `{data.augment}` |"]
    return lines


def _protocol_and_limits(data: DataConfig | None, eval_protocol: list[str]) -> list[str]:
    """How every figure was measured, then the intended use and the limits."""
    return [
        "",
        "## Protocol of every figure",
        "",
        f"- Validation AUC, accuracy and loss: split `{data.val_split if data else 'val'}` of the training manifest, "
        "item level (one score per face crop, or per window of a temporal model), at the end of each epoch; the "
        "epoch shown is the one whose weights are packaged (best validation score).",
        "- Decision threshold: file level, chosen on the validation split by the stated rule, never on test.",
        *eval_protocol,
        "",
        "## Intended use and limits",
        "",
        "- For research and for triage by people who check what it flags: a detector's score is evidence, not "
        "proof. Do not decide anything about a person on this score alone.",
        "- It was trained and validated on the data above; on other generators, compressions, resolutions or "
        "populations it is usually less accurate (cross-dataset rows above, when given, show by how much). Choose a "
        "threshold on validation data like the videos you score if you can.",
        "- It sees face crops only, cut as stated above (profile, alignment, size): other crops change its scores. "
        "Videos without a detected face get no score.",
        "- Scores are not calibrated probabilities unless stated, and a determined adversary can evade a detector.",
        "",
    ]
