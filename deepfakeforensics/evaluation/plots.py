"""Comparison figures a paper would use, written as PNG files from score tables, metric tables and training histories
(figures of the extracted faces themselves are in `face_plots`).

Every ``figure_*`` function takes plain DataFrames and returns the ``matplotlib.figure.Figure`` it drew (a bare one: no
pyplot state, no GUI backend needed); its ``plot_*`` sibling takes the same arguments plus a path, writes that figure
as one PNG atomically and returns the path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from deepfakeforensics._io import atomic_path
from deepfakeforensics.evaluation.baselines import matching_baselines

DPI = 150


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write `fig` (tight layout, `DPI`) as one PNG at `path` atomically; returns `path`."""
    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return path


def _two_classes(labels: pd.Series) -> bool:
    return labels.nunique() == 2


def figure_roc_curves(scores: Mapping[str, pd.DataFrame], title: str = "ROC") -> Figure:
    """Overlaid ROC curves, one per run, with AUC in the legend; log-scale inset of the low-FPR region.

    Args:
        scores: run name -> table with ``label`` and ``score``.
        title: figure title (e.g. the level: "file-level ROC").
    """
    fig = Figure(figsize=(10, 4.5))
    ax, ax_log = fig.subplots(1, 2)
    for name, df in scores.items():
        if not _two_classes(df["label"]):
            continue
        fpr, tpr, _ = roc_curve(df["label"].astype(int), df["score"])
        auc = float(np.trapezoid(tpr, fpr))
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
        ax_log.plot(np.maximum(fpr, 1e-4), tpr, label=name)
    for a in (ax, ax_log):
        a.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
        a.set_xlabel("false positive rate (real flagged as fake)")
        a.set_ylabel("true positive rate (fakes caught)")
        a.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax_log.set_xscale("log")
    ax_log.set_xlim(1e-3, 1)
    ax_log.set_title(f"{title}, low-FPR region")
    return fig


def plot_roc_curves(scores: Mapping[str, pd.DataFrame], path: str | os.PathLike, title: str = "ROC") -> Path:
    """Draw `figure_roc_curves` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_roc_curves(scores, title=title), path)


def figure_score_distributions(
    scores: Mapping[str, pd.DataFrame], threshold: Mapping[str, float] | None = None
) -> Figure:
    """Histograms of P(fake) by class, one panel per run, with the chosen threshold as a vertical line."""
    n = max(len(scores), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(4.5 * cols, 3.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, df) in zip(axes, scores.items(), strict=False):
        d = df.assign(cls=np.where(df["label"].astype(int) == 1, "fake", "real"))
        sns.histplot(
            data=d,
            x="score",
            hue="cls",
            hue_order=["real", "fake"],
            bins=np.linspace(0, 1, 26),
            stat="density",
            common_norm=False,
            element="step",
            ax=ax,
            palette={"real": "tab:blue", "fake": "tab:red"},
        )
        if threshold and name in threshold:
            ax.axvline(threshold[name], c="k", ls="--", lw=1, label="threshold")
        ax.set_xlim(0, 1)
        ax.set_xlabel("P(fake)")
        ax.set_title(name, fontsize=10)
    for ax in axes[len(scores) :]:
        ax.set_visible(False)
    return fig


def plot_score_distributions(
    scores: Mapping[str, pd.DataFrame], path: str | os.PathLike, threshold: Mapping[str, float] | None = None
) -> Path:
    """Draw `figure_score_distributions` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_score_distributions(scores, threshold=threshold), path)


def figure_training_curves(histories: Mapping[str, pd.DataFrame]) -> Figure:
    """Loss (train solid, validation dashed) and validation AUC against epoch, one colour per run."""
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_auc = fig.subplots(1, 2)
    palette = sns.color_palette(n_colors=max(len(histories), 1))
    for color, (name, h) in zip(palette, histories.items(), strict=False):
        if "train_loss" in h:
            ax_loss.plot(h["epoch"], h["train_loss"], c=color, label=f"{name} train")
        if "val_loss" in h:
            ax_loss.plot(h["epoch"], h["val_loss"], c=color, ls="--", label=f"{name} val")
        if "val_auc" in h:
            ax_auc.plot(h["epoch"], h["val_auc"], c=color, marker="o", ms=3, label=name)
    ax_loss.set(xlabel="epoch", ylabel="BCE loss", title="loss")
    ax_auc.set(xlabel="epoch", ylabel="validation AUC", title="validation AUC")
    for a in (ax_loss, ax_auc):
        a.grid(alpha=0.3)
        if a.has_data():
            a.legend(fontsize=8)
    return fig


def plot_training_curves(histories: Mapping[str, pd.DataFrame], path: str | os.PathLike) -> Path:
    """Draw `figure_training_curves` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_training_curves(histories), path)


def figure_metric_bars(
    metrics: pd.DataFrame,
    columns: Sequence[str] = ("auc", "ap", "balanced_accuracy", "f1", "tpr_at_fpr_5"),
    level: str | None = "file",
) -> Figure:
    """Grouped bars: one group per metric, one bar per run (at one `level` of a metrics table from `evaluate`)."""
    df = metrics if level is None or "level" not in metrics else metrics[metrics["level"] == level]
    long = df.melt(id_vars=["run"], value_vars=[c for c in columns if c in df], var_name="metric", value_name="value")
    fig = Figure(figsize=(max(6, 1.6 * len(columns) + 0.4 * len(df)), 4))
    ax = fig.subplots()
    sns.barplot(data=long, x="metric", y="value", hue="run", ax=ax)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"metrics ({level} level)" if level else "metrics")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_metric_bars(
    metrics: pd.DataFrame,
    path: str | os.PathLike,
    columns: Sequence[str] = ("auc", "ap", "balanced_accuracy", "f1", "tpr_at_fpr_5"),
    level: str | None = "file",
) -> Path:
    """Draw `figure_metric_bars` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_metric_bars(metrics, columns=columns, level=level), path)


def figure_method_heatmap(
    per_method: pd.DataFrame,
    value: str = "auc",
    by: str = "method",
    level: str | None = "file",
) -> Figure:
    """Heatmap of a metric (default AUC) per run (rows) and manipulation method (columns)."""
    df = per_method if level is None or "level" not in per_method else per_method[per_method["level"] == level]
    table = df.pivot_table(index="run", columns=by, values=value, aggfunc="first")
    fig = Figure(figsize=(max(5, 1.3 * table.shape[1] + 3), max(2.5, 0.6 * table.shape[0] + 1.5)))
    ax = fig.subplots()
    sns.heatmap(table, annot=True, fmt=".3f", vmin=0.5 if value == "auc" else 0, vmax=1, cmap="viridis", ax=ax)
    ax.set_title(f"{value.upper()} per method ({level} level)" if level else f"{value.upper()} per method")
    return fig


def plot_method_heatmap(
    per_method: pd.DataFrame,
    path: str | os.PathLike,
    value: str = "auc",
    by: str = "method",
    level: str | None = "file",
) -> Path:
    """Draw `figure_method_heatmap` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_method_heatmap(per_method, value=value, by=by, level=level), path)


def figure_robustness(robustness: pd.DataFrame, value: str = "auc") -> Figure:
    """A metric against perturbation strength, one panel per perturbation, one line per run.

    Args:
        robustness: rows with ``run, perturbation, strength, <value>`` (from `robustness_sweep`); the unperturbed
            reference has ``perturbation == "none"`` and is drawn as a dotted line in every panel.
    """
    kinds = [k for k in robustness["perturbation"].unique() if k != "none"]
    fig = Figure(figsize=(4 * max(len(kinds), 1), 3.5))
    axes = np.atleast_1d(fig.subplots(1, max(len(kinds), 1), squeeze=False)).ravel()
    runs = list(robustness["run"].unique())
    palette = dict(zip(runs, sns.color_palette(n_colors=len(runs)), strict=False))
    clean = robustness[robustness["perturbation"] == "none"].set_index("run")[value]
    for ax, kind in zip(axes, kinds, strict=False):
        d = robustness[robustness["perturbation"] == kind]
        for run, g in d.groupby("run", sort=False):
            g = g.sort_values("strength")
            ax.plot(g["strength"], g[value], marker="o", c=palette[run], label=run)
            if run in clean:
                ax.axhline(clean[run], c=palette[run], ls=":", lw=1)
        if kind == "jpeg":
            ax.invert_xaxis()  # lower quality = stronger
        ax.set(xlabel=_STRENGTH_LABEL.get(kind, "strength"), ylabel=value.upper(), title=kind)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return fig


def plot_robustness(robustness: pd.DataFrame, path: str | os.PathLike, value: str = "auc") -> Path:
    """Draw `figure_robustness` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_robustness(robustness, value=value), path)


def _reference_marks(ax, baselines: pd.DataFrame | None, dataset: str, level: str) -> None:
    """Published figures of the same protocol, level and test data: grey dashed lines labelled with their source."""
    if baselines is None or baselines.empty:
        return
    for _, b in matching_baselines(baselines, str(baselines["protocol"].iloc[0]), level, dataset).iterrows():
        ax.axhline(b["value"], c="grey", ls="--", lw=0.8)
        ax.annotate(
            f"published {b['detector']} {b['value']:.3f}",
            (1.0, b["value"]),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=6,
            color="grey",
        )


def figure_auc_intervals(metrics: pd.DataFrame, baselines: pd.DataFrame | None = None) -> Figure:
    """AUC of each run with its 95 % bootstrap interval, one panel per dataset and level.

    Args:
        metrics: rows with ``run, level, auc, auc_lo, auc_hi`` (and ``dataset``), from `evaluate`.
        baselines: published figures measured under the SAME protocol as `metrics` (`matching_baselines`): drawn as
            grey dashed reference lines, apart from the runs' own points, never as runs.
    """
    m = metrics if "dataset" in metrics else metrics.assign(dataset="")
    panels = list(dict.fromkeys(zip(m["dataset"], m["level"], strict=True)))
    fig = Figure(figsize=(3.6 * len(panels) + 0.5, 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)).ravel()
    for ax, (dataset, level) in zip(axes, panels, strict=True):
        d = m[(m["dataset"] == dataset) & (m["level"] == level)].reset_index(drop=True)
        lo = (d["auc"] - d.get("auc_lo", d["auc"])).clip(lower=0).fillna(0)
        hi = (d.get("auc_hi", d["auc"]) - d["auc"]).clip(lower=0).fillna(0)
        ax.errorbar(range(len(d)), d["auc"], yerr=[lo, hi], fmt="o", capsize=4, c="tab:blue")
        ax.set_xticks(range(len(d)), d["run"], rotation=30, ha="right", fontsize=8)
        _reference_marks(ax, baselines, str(dataset), str(level))
        ax.set_ylim(0, 1.02)
        ax.set(ylabel="AUC (95 % CI over videos)", title=f"{dataset} {level}".strip())
        ax.grid(axis="y", alpha=0.3)
    return fig


def plot_auc_intervals(metrics: pd.DataFrame, path: str | os.PathLike, baselines: pd.DataFrame | None = None) -> Path:
    """Draw `figure_auc_intervals` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_auc_intervals(metrics, baselines=baselines), path)


def figure_cross_dataset_heatmap(cross: pd.DataFrame, level: str = "file") -> Figure:
    """Heatmap of AUC per run (rows) and test dataset (columns) at one level, annotated with the 95 % interval."""
    d = cross[cross["level"] == level]
    table = d.pivot_table(index="run", columns="dataset", values="auc", aggfunc="first", sort=False)
    labels = table.copy().astype(object)
    for _, r in d.iterrows():
        ci = f"\n[{r['auc_lo']:.2f}, {r['auc_hi']:.2f}]" if "auc_lo" in r and pd.notna(r.get("auc_lo")) else ""
        labels.loc[r["run"], r["dataset"]] = f"{r['auc']:.3f}{ci}"
    fig = Figure(figsize=(max(5, 1.8 * table.shape[1] + 3), max(2.5, 0.8 * table.shape[0] + 1.5)))
    ax = fig.subplots()
    sns.heatmap(table.astype(float), annot=labels.to_numpy(), fmt="", vmin=0.5, vmax=1, cmap="viridis", ax=ax)
    protocol = f", protocol {d['protocol'].iloc[0]}" if "protocol" in d and len(d) else ""
    ax.set_title(f"AUC across datasets ({level} level{protocol})")
    return fig


def plot_cross_dataset_heatmap(cross: pd.DataFrame, path: str | os.PathLike, level: str = "file") -> Path:
    """Draw `figure_cross_dataset_heatmap` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_cross_dataset_heatmap(cross, level=level), path)


def figure_video_robustness(table: pd.DataFrame) -> Figure:
    """DeeperForensics-1.0 sweep: one panel per distortion, AUC against level (0 = clean) per run, and the share of
    faces the detector lost at each level (grey bars, right axis).

    Args:
        table: rows of `video_robustness` (``run, distortion, level, auc, faces_lost``).
    """
    kinds = [d for d in dict.fromkeys(table["distortion"]) if d not in ("none", "mix")]
    fig = Figure(figsize=(3.2 * max(len(kinds), 1), 3.4))
    axes = np.atleast_1d(fig.subplots(1, max(len(kinds), 1), squeeze=False)).ravel()
    runs = list(dict.fromkeys(table["run"]))
    palette = dict(zip(runs, sns.color_palette(n_colors=len(runs)), strict=False))
    clean = table[table["distortion"] == "none"]
    for ax, kind in zip(axes, kinds, strict=False):
        d = pd.concat([clean, table[table["distortion"] == kind]]).sort_values("level")
        for run, g in d.groupby("run", sort=False):
            ax.plot(g["level"], g["auc"], marker="o", c=palette[run], label=run)
        lost = d.groupby("level")["faces_lost"].first().fillna(0).clip(lower=0)
        twin = ax.twinx()
        twin.bar(lost.index, lost.to_numpy(), color="grey", alpha=0.25, width=0.5)
        twin.set_ylim(0, 1)
        twin.set_ylabel("faces lost", fontsize=7)
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set(xlabel="level (0 = clean)", ylabel="video AUC", title=kind, ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return fig


def plot_video_robustness(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Draw `figure_video_robustness` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_video_robustness(table), path)


_STRENGTH_LABEL = {
    "jpeg": "JPEG quality",
    "blur": "Gaussian blur sigma (px)",
    "downscale": "downscale factor",
    "noise": "Gaussian noise sigma (0-255)",
}


def figure_predictions(predictions: pd.DataFrame, threshold: float = 0.5) -> Figure:
    """One bar per predicted file: its P(fake), the threshold line, coloured by the true label when a ``truth``
    column is present (else by the predicted label). Files that failed are left out."""
    rows = predictions.dropna(subset=["score"]).sort_values("score")
    colour_by = "truth" if "truth" in rows.columns else "label"
    colours = ["tab:red" if int(v) == 1 else "tab:blue" for v in rows[colour_by]]
    fig = Figure(figsize=(7, 0.25 * len(rows) + 1.2))
    ax = fig.subplots()
    ax.barh(range(len(rows)), rows["score"], color=colours)
    ax.set_yticks(range(len(rows)), [Path(p).name for p in rows["path"]], fontsize=7)
    ax.axvline(threshold, color="k", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(fake)")
    ax.set_title(f"colour: {'true' if colour_by == 'truth' else 'predicted'} label (red fake, blue real)", fontsize=9)
    return fig


def plot_predictions(predictions: pd.DataFrame, path: str | os.PathLike, threshold: float = 0.5) -> Path:
    """Draw `figure_predictions` and write it as a PNG at `path`; returns `path`."""
    return save_figure(figure_predictions(predictions, threshold=threshold), path)
