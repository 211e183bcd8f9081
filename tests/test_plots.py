"""The comparison plots draw what their tables hold: axes labels, one curve or bar per run, the numbers behind them.

Each ``figure_*`` builder is checked through the Figure it returns; its ``plot_*`` sibling is checked to write that
figure as a readable PNG at the path it returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.image import imread
from sklearn.metrics import roc_auc_score, roc_curve

from deepfakeforensics.evaluation import plots
from deepfakeforensics.evaluation.baselines import load_baselines, matching_baselines


def _scores(seed: int, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"label": y, "score": np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)})


def _assert_png(path, expected) -> None:
    assert path == expected and path.is_file()
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200


def _texts(items) -> list[str]:
    return [t.get_text() for t in items]


def _run_lines(ax) -> list:
    """Lines with a legend label of their own (not the grey diagonal, threshold or reference lines)."""
    return [line for line in ax.lines if not line.get_label().startswith("_")]


@pytest.fixture(scope="module")
def runs() -> dict[str, pd.DataFrame]:
    return {"mesonet4": _scores(0), "efficientnet_b0": _scores(1)}


def test_roc_curves_one_per_two_class_run_with_its_auc(tmp_path, runs):
    one_class = pd.DataFrame({"label": [1, 1, 1], "score": [0.2, 0.5, 0.9]})
    fig = plots.figure_roc_curves({**runs, "only_fakes": one_class}, title="file-level ROC")
    ax, ax_log = fig.axes
    assert ax.get_title() == "file-level ROC" and ax_log.get_title() == "file-level ROC, low-FPR region"
    for a in (ax, ax_log):
        assert a.get_xlabel() == "false positive rate (real flagged as fake)"
        assert a.get_ylabel() == "true positive rate (fakes caught)"
        assert len(_run_lines(a)) == 2  # the one-class run has no ROC and is left out
    assert ax_log.get_xscale() == "log"
    legend = _texts(ax.get_legend().get_texts())
    for line, (name, df) in zip(_run_lines(ax), runs.items(), strict=True):
        fpr, tpr, _ = roc_curve(df["label"], df["score"])
        np.testing.assert_allclose(line.get_xdata(), fpr)
        np.testing.assert_allclose(line.get_ydata(), tpr)
        assert f"{name} (AUC {roc_auc_score(df['label'], df['score']):.3f})" in legend
    _assert_png(plots.plot_roc_curves(runs, tmp_path / "roc.png"), tmp_path / "roc.png")


def test_score_distributions_one_panel_per_run_with_class_histograms_and_threshold(tmp_path, runs):
    fig = plots.figure_score_distributions(runs, threshold={"mesonet4": 0.4})
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == list(runs)
    bins = np.linspace(0, 1, 26)
    for ax, (name, df) in zip(fig.axes, runs.items(), strict=True):
        assert ax.get_xlabel() == "P(fake)" and ax.get_xlim() == (0, 1)
        assert _texts(ax.get_legend().get_texts()) == ["real", "fake"]
        assert [line.get_xdata()[0] for line in ax.lines] == ([0.4] if name == "mesonet4" else [])
        fills = {to_rgba(c.get_facecolor()[0], 1): c for c in ax.collections}
        for label, colour in ((0, "tab:blue"), (1, "tab:red")):
            heights = np.histogram(df.loc[df["label"] == label, "score"], bins=bins, density=True)[0]
            drawn = fills[to_rgba(colour)].get_paths()[0].vertices[:, 1]
            # the step outline reaches each bin's density and nothing else (density per class: common_norm=False)
            np.testing.assert_allclose(np.unique(drawn.round(9)), np.unique(np.append(heights, 0).round(9)))
    five = {f"run{i}": _scores(i) for i in range(5)}
    axes = plots.figure_score_distributions(five).axes
    assert len(axes) == 6 and [ax.get_visible() for ax in axes] == [True] * 5 + [False]  # 2 x 3, last one hidden
    path = tmp_path / "dist.png"
    _assert_png(plots.plot_score_distributions(runs, path, threshold={"mesonet4": 0.4}), path)


def test_training_curves_draw_each_runs_history(tmp_path):
    h = pd.DataFrame(
        {"epoch": [1, 2, 3], "train_loss": [0.7, 0.5, 0.4], "val_loss": [0.69, 0.6, 0.62], "val_auc": [0.6, 0.7, 0.72]}
    )
    histories = {"a": h, "b": h.assign(val_auc=h["val_auc"] - 0.1), "no_val": h[["epoch", "train_loss"]]}
    ax_loss, ax_auc = plots.figure_training_curves(histories).axes
    assert (ax_loss.get_xlabel(), ax_loss.get_ylabel()) == ("epoch", "BCE loss")
    assert (ax_auc.get_xlabel(), ax_auc.get_ylabel()) == ("epoch", "validation AUC")
    loss = {line.get_label(): line for line in ax_loss.lines}
    assert list(loss) == ["a train", "a val", "b train", "b val", "no_val train"]
    assert loss["a val"].get_linestyle() == "--" and loss["a train"].get_linestyle() == "-"
    np.testing.assert_allclose(loss["no_val train"].get_ydata(), h["train_loss"])
    auc = {line.get_label(): line for line in ax_auc.lines}
    assert list(auc) == ["a", "b"]  # a history without val_auc draws no AUC curve
    np.testing.assert_allclose(auc["b"].get_xdata(), h["epoch"])
    np.testing.assert_allclose(auc["b"].get_ydata(), h["val_auc"] - 0.1)
    assert auc["a"].get_color() == loss["a train"].get_color() != auc["b"].get_color()  # one colour per run
    _assert_png(plots.plot_training_curves(histories, tmp_path / "t.png"), tmp_path / "t.png")


@pytest.fixture()
def metrics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": ["a", "a", "b", "b"],
            "level": ["frame", "file", "frame", "file"],
            "auc": [0.8, 0.9, 0.7, 0.75],
            "ap": [0.8, 0.85, 0.7, 0.72],
            "balanced_accuracy": [0.7, 0.8, 0.6, 0.7],
            "f1": [0.7, 0.8, 0.6, 0.65],
            "tpr_at_fpr_5": [0.3, 0.4, 0.2, 0.25],
        }
    )


def test_metric_bars_one_bar_per_run_and_metric_at_the_chosen_level(tmp_path, metrics):
    columns = ["auc", "ap", "balanced_accuracy", "f1", "tpr_at_fpr_5"]
    ax = plots.figure_metric_bars(metrics).axes[0]
    assert ax.get_title() == "metrics (file level)"
    assert _texts(ax.get_xticklabels()) == columns and _texts(ax.get_legend().get_texts()) == ["a", "b"]
    assert [len(bars) for bars in ax.containers] == [5, 5]
    file_level = metrics[metrics["level"] == "file"].set_index("run")
    for bars, run in zip(ax.containers, ["a", "b"], strict=True):
        np.testing.assert_allclose([bar.get_height() for bar in bars], file_level.loc[run, columns].astype(float))
    frame = plots.figure_metric_bars(metrics, columns=("auc", "f1", "not_a_column"), level="frame").axes[0]
    assert frame.get_title() == "metrics (frame level)" and _texts(frame.get_xticklabels()) == ["auc", "f1"]
    np.testing.assert_allclose([bar.get_height() for bar in frame.containers[1]], [0.7, 0.6])
    _assert_png(plots.plot_metric_bars(metrics, tmp_path / "bars.png"), tmp_path / "bars.png")


def test_method_heatmap_holds_the_metric_per_run_and_method(tmp_path):
    per_method = pd.DataFrame(
        {
            "run": ["a", "a", "b", "b", "a"],
            "level": ["file"] * 4 + ["frame"],
            "method": ["Deepfakes", "FaceSwap"] * 2 + ["Deepfakes"],
            "auc": [0.95, 0.8, 0.7, 0.65, 0.1],
        }
    )
    ax = plots.figure_method_heatmap(per_method).axes[0]
    assert ax.get_title() == "AUC per method (file level)"
    assert _texts(ax.get_xticklabels()) == ["Deepfakes", "FaceSwap"] and _texts(ax.get_yticklabels()) == ["a", "b"]
    np.testing.assert_allclose(ax.collections[0].get_array(), [[0.95, 0.8], [0.7, 0.65]])  # the frame row left out
    assert _texts(ax.texts) == ["0.950", "0.800", "0.700", "0.650"]
    _assert_png(plots.plot_method_heatmap(per_method, tmp_path / "heat.png"), tmp_path / "heat.png")


def test_robustness_one_panel_per_perturbation_one_line_per_run(tmp_path):
    rows = [{"run": r, "perturbation": "none", "strength": 0, "auc": c} for r, c in (("a", 0.9), ("b", 0.8))]
    sweep = {"jpeg": [90, 50, 20], "blur": [1, 2, 3], "noise": [5, 10]}
    for r in "ab":
        for kind, strengths in sweep.items():
            rows += [
                {"run": r, "perturbation": kind, "strength": s, "auc": 0.9 - 0.05 * i} for i, s in enumerate(strengths)
            ]
    table = pd.DataFrame(rows)
    fig = plots.figure_robustness(table)
    assert [ax.get_title() for ax in fig.axes] == list(sweep)  # the unperturbed rows get no panel
    labels = ["JPEG quality", "Gaussian blur sigma (px)", "Gaussian noise sigma (0-255)"]
    assert [ax.get_xlabel() for ax in fig.axes] == labels
    assert all(ax.get_ylabel() == "AUC" for ax in fig.axes)
    assert fig.axes[0].xaxis_inverted() and not fig.axes[1].xaxis_inverted()  # lower JPEG quality = stronger
    assert _texts(fig.axes[0].get_legend().get_texts()) == ["a", "b"]
    for ax, (kind, strengths) in zip(fig.axes, sweep.items(), strict=True):
        lines = {line.get_label(): line for line in _run_lines(ax)}
        assert sorted(lines) == ["a", "b"]
        np.testing.assert_allclose(lines["a"].get_xdata(), sorted(strengths))  # ascending, whatever the row order
        expected = table[(table["run"] == "a") & (table["perturbation"] == kind)].sort_values("strength")["auc"]
        np.testing.assert_allclose(lines["a"].get_ydata(), expected)
        clean = sorted(line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":")
        assert clean == pytest.approx([0.8, 0.9])  # each run's unperturbed AUC as a dotted reference
    _assert_png(plots.plot_robustness(table, tmp_path / "robust.png"), tmp_path / "robust.png")


@pytest.fixture()
def cross() -> pd.DataFrame:
    rows = [
        {
            "run": r,
            "dataset": d,
            "level": lv,
            "protocol": "deepfakebench",
            "auc": a - drop,
            "auc_lo": a - drop - 0.05,
            "auc_hi": a - drop + 0.03,
        }
        for r, a in (("meso", 0.7), ("effb4", 0.9))
        for d, drop in (("ffpp", 0.0), ("celebdf", 0.1))
        for lv in ("frame", "file")
    ]
    return pd.DataFrame(rows)


def test_auc_intervals_per_dataset_and_level_with_published_reference_lines(tmp_path, cross):
    published = matching_baselines(load_baselines(), "deepfakebench")
    fig = plots.figure_auc_intervals(cross, baselines=published)
    panels = [("ffpp", "frame"), ("ffpp", "file"), ("celebdf", "frame"), ("celebdf", "file")]
    assert [ax.get_title() for ax in fig.axes] == [f"{d} {lv}" for d, lv in panels]
    for ax, (dataset, level) in zip(fig.axes, panels, strict=True):
        assert ax.get_ylabel() == "AUC (95 % CI over videos)" and ax.get_ylim() == (0, 1.02)
        assert _texts(ax.get_xticklabels()) == ["meso", "effb4"]
        expected = cross[(cross["dataset"] == dataset) & (cross["level"] == level)]
        (bars,) = ax.containers
        points, _, (ranges,) = bars.lines
        np.testing.assert_allclose(points.get_ydata().astype(float), expected["auc"])
        np.testing.assert_allclose([seg[:, 1] for seg in ranges.get_segments()], expected[["auc_lo", "auc_hi"]])
        reference = matching_baselines(published, "deepfakebench", level, dataset)["value"]
        dashed = [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == "--"]
        assert dashed == pytest.approx(reference.tolist())
        assert len(ax.texts) == len(reference) and all(t.startswith("published ") for t in _texts(ax.texts))
    assert any(len(ax.texts) for ax in fig.axes)  # the test data does match some published figures
    plain = plots.figure_auc_intervals(cross.drop(columns="dataset"))  # no dataset column: one panel per level
    assert [ax.get_title() for ax in plain.axes] == ["frame", "file"] and not any(ax.texts for ax in plain.axes)
    _assert_png(plots.plot_auc_intervals(cross, tmp_path / "ci.png", baselines=published), tmp_path / "ci.png")


def test_cross_dataset_heatmap_holds_auc_and_interval_per_run_and_dataset(tmp_path, cross):
    ax = plots.figure_cross_dataset_heatmap(cross).axes[0]
    assert ax.get_title() == "AUC across datasets (file level, protocol deepfakebench)"
    assert _texts(ax.get_xticklabels()) == ["ffpp", "celebdf"] and _texts(ax.get_yticklabels()) == ["meso", "effb4"]
    np.testing.assert_allclose(ax.collections[0].get_array(), [[0.7, 0.6], [0.9, 0.8]])
    assert _texts(ax.texts)[:2] == ["0.700\n[0.65, 0.73]", "0.600\n[0.55, 0.63]"]
    frame = plots.figure_cross_dataset_heatmap(cross.drop(columns=["auc_lo", "auc_hi"]), level="frame").axes[0]
    assert frame.get_title().startswith("AUC across datasets (frame level") and _texts(frame.texts)[0] == "0.700"
    _assert_png(plots.plot_cross_dataset_heatmap(cross, tmp_path / "cross.png"), tmp_path / "cross.png")


def test_video_robustness_one_panel_per_distortion_with_faces_lost_bars(tmp_path):
    rows = [
        {"run": r, "distortion": "none", "level": 0, "auc": c, "faces_lost": 0.0} for r, c in (("a", 0.9), ("b", 0.8))
    ]
    for r in "ab":
        for kind in ("GB", "JPEG"):
            rows += [
                {"run": r, "distortion": kind, "level": lv, "auc": 0.9 - 0.1 * lv, "faces_lost": 0.1 * lv}
                for lv in (1, 3)
            ]
    rows.append({"run": "a", "distortion": "mix", "level": 1, "auc": 0.5, "faces_lost": 0.5})
    fig = plots.figure_video_robustness(pd.DataFrame(rows))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["GB", "JPEG"]  # the clean reference and mixes get no panel
    assert len(fig.axes) == 4  # each panel has its twin axis for the faces-lost bars
    for ax in panels:
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("level (0 = clean)", "video AUC")
        lines = {line.get_label(): line for line in ax.lines}
        assert sorted(lines) == ["a", "b"]
        np.testing.assert_allclose(lines["a"].get_xdata(), [0, 1, 3])  # the clean point at level 0 first
        np.testing.assert_allclose(lines["b"].get_ydata(), [0.8, 0.8, 0.6])
    twin = next(ax for ax in fig.axes if ax.get_ylabel() == "faces lost")
    np.testing.assert_allclose([bar.get_height() for bar in twin.patches], [0, 0.1, 0.3])
    path = tmp_path / "video.png"
    _assert_png(plots.plot_video_robustness(pd.DataFrame(rows), path), path)
