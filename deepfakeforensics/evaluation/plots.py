"""Comparison figures a paper would use, written as PNG files from score tables, metric tables and training histories.

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
from deepfakeforensics.data.sbi import self_blend
from deepfakeforensics.evaluation.baselines import matching_baselines
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, read_rgb

DPI = 150


def _save(fig: Figure, path: str | os.PathLike) -> Path:
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
    return _save(figure_roc_curves(scores, title=title), path)


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
    return _save(figure_score_distributions(scores, threshold=threshold), path)


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
    return _save(figure_training_curves(histories), path)


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
    return _save(figure_metric_bars(metrics, columns=columns, level=level), path)


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
    return _save(figure_method_heatmap(per_method, value=value, by=by, level=level), path)


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
    return _save(figure_robustness(robustness, value=value), path)


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
    return _save(figure_auc_intervals(metrics, baselines=baselines), path)


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
    return _save(figure_cross_dataset_heatmap(cross, level=level), path)


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
    return _save(figure_video_robustness(table), path)


_STRENGTH_LABEL = {
    "jpeg": "JPEG quality",
    "blur": "Gaussian blur sigma (px)",
    "downscale": "downscale factor",
    "noise": "Gaussian noise sigma (0-255)",
}


def figure_face_samples(faces: pd.DataFrame, per_class: int = 6, seed: int = 0) -> Figure:
    """A grid of extracted face crops, `per_class` real ones above `per_class` fake ones, from different videos.

    Args:
        faces: a faces manifest from ``load_table`` (``attrs["root"]`` locates the crops).
        per_class: crops per row.
        seed: which videos are drawn.
    """
    root = Path(faces.attrs.get("root", "."))
    rows = []
    for label in (0, 1):
        videos = faces[faces["label"] == label].groupby("video_id", sort=True).head(1)
        rows.append(videos.sample(min(per_class, len(videos)), random_state=seed) if len(videos) else videos)
    n = max(per_class, 1)
    fig = Figure(figsize=(1.9 * n, 4.4))
    axes = fig.subplots(2, n, squeeze=False)
    for r, chosen in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(chosen):
                row = chosen.iloc[c]
                ax.imshow(read_rgb(root / str(row["path"])))
                method = f"{row['method']}\n" if "method" in chosen.columns else ""
                ax.set_title(f"{method}{row['video_id']}", fontsize=7)
        axes[r, 0].text(
            -0.1,
            0.5,
            ["real", "fake"][r],
            transform=axes[r, 0].transAxes,
            rotation=90,
            va="center",
            ha="right",
            fontsize=10,
        )
    return fig


def plot_face_samples(faces: pd.DataFrame, path: str | os.PathLike, per_class: int = 6, seed: int = 0) -> Path:
    """Draw `figure_face_samples` and write it as a PNG at `path`; returns `path`."""
    return _save(figure_face_samples(faces, per_class=per_class, seed=seed), path)


def figure_pseudo_fakes(
    faces: pd.DataFrame,
    n: int = 6,
    seed: int = 0,
    points: np.ndarray | None = None,
) -> Figure:
    """Self-blended pseudo-fakes (`deepfakeforensics.data.sbi`) of `n` real crops from different videos, as training sees
    them: the real crop with its landmarks, the blend mask, the pseudo-fake, and the blending boundary target.

    Args:
        faces: a faces manifest with landmark columns (``attrs["root"]`` locates the crops).
        n: crops (columns).
        seed: which videos are drawn and the blends' draws (``(seed, 0, column)``).
        points: landmarks per manifest row, (len(faces), K, 2) in crop pixels (e.g. dense 68-point ones); default:
            the manifest's five MTCNN points.

    Raises:
        ValueError: no real crop has landmarks.
    """
    root = Path(faces.attrs.get("root", "."))
    if points is None:
        if not set(LANDMARK_COLUMNS) <= set(faces.columns):
            raise ValueError("the faces manifest has no landmark columns (extracted before landmarks were recorded)")
        points = faces[LANDMARK_COLUMNS].to_numpy(np.float32).reshape(len(faces), -1, 2)
    usable = faces.assign(_row=np.arange(len(faces)))[(faces["label"] == 0) & ~np.isnan(points).any(axis=(1, 2))]
    if usable.empty:
        raise ValueError("no real crop with landmarks: nothing to self-blend")
    firsts = usable.groupby("video_id", sort=True).head(1)
    chosen = firsts.sample(min(n, len(firsts)), random_state=seed)
    titles = ("real + landmarks", "blend mask r*M", "pseudo-fake", "boundary 4M(1-M)")
    fig = Figure(figsize=(1.9 * len(chosen), 7.8))
    axes = fig.subplots(4, len(chosen), squeeze=False)
    for c, (_, row) in enumerate(chosen.iterrows()):
        crop, pts = read_rgb(root / str(row["path"])), points[int(row["_row"])]
        _, fake, mask, boundary = self_blend(crop, pts, seed=(seed, 0, c))
        for r, (image, cmap) in enumerate(((crop, None), (mask, "gray"), (fake, None), (boundary, "magma"))):
            axes[r, c].imshow(image, cmap=cmap, vmin=0 if cmap else None, vmax=1 if cmap else None)
            axes[r, c].axis("off")
        axes[0, c].scatter(pts[:, 0], pts[:, 1], s=4, c="lime")
        axes[0, c].set_title(str(row["video_id"]), fontsize=7)
    for r, title in enumerate(titles):
        axes[r, 0].text(-0.08, 0.5, title, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right")
    return fig


def plot_pseudo_fakes(
    faces: pd.DataFrame,
    path: str | os.PathLike,
    n: int = 6,
    seed: int = 0,
    points: np.ndarray | None = None,
) -> Path:
    """Draw `figure_pseudo_fakes` and write it as a PNG at `path`; returns `path`."""
    return _save(figure_pseudo_fakes(faces, n=n, seed=seed, points=points), path)


def figure_faces_per_video(faces: pd.DataFrame) -> Figure:
    """Histogram of face crops per video and of face tracks per video, by class (how extraction went)."""
    per_video = faces.groupby("video_id").agg(
        crops=("frame", "size"), tracks=("track", "nunique"), label=("label", "first")
    )
    per_video["class"] = per_video["label"].map({0: "real", 1: "fake"})
    fig = Figure(figsize=(8, 3.2))
    ax1, ax2 = fig.subplots(1, 2)
    sns.histplot(data=per_video, x="crops", hue="class", multiple="dodge", discrete=True, ax=ax1)
    ax1.set_xlabel("face crops per video")
    sns.countplot(data=per_video, x="tracks", hue="class", ax=ax2)
    ax2.set_xlabel("face tracks per video")
    return fig


def plot_faces_per_video(faces: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Draw `figure_faces_per_video` and write it as a PNG at `path`; returns `path`."""
    return _save(figure_faces_per_video(faces), path)


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
    return _save(figure_predictions(predictions, threshold=threshold), path)
