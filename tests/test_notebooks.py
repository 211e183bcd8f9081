"""Execute the four notebooks top to bottom, in order, on the built-in demo data with smaller parameters, and check
what each one shows.

Each notebook's first code cell is tagged ``parameters``; the test inserts a cell after it that overrides the
defaults (as papermill does), then runs the notebook with nbclient in the notebooks folder (a cell that raises fails
the test there). The notebooks share one work folder, as a user's would: 01 extracts, 02 trains, 03 evaluates,
04 predicts. The executed notebook's outputs are then read back as a reader sees them: printed lines, the tables'
HTML, the figures' PNGs, and checked against each other and against the files the notebook wrote.
"""

from __future__ import annotations

import ast
import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ORDER = ["01_data_extraction", "02_training", "03_evaluation", "04_prediction"]


def _overrides(work: Path) -> str:
    return "\n".join(
        [
            f"WORK_DIR = Path({str(work)!r})",
            "SMALL = True  # the test suite's smaller settings",
        ]
    )


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


def _run(name: str, work: Path) -> nbformat.NotebookNode:
    path = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    params = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert params, f"{path}: no cell tagged 'parameters'"
    nb.cells.insert(params[0] + 1, nbformat.v4.new_code_cell(_overrides(work)))
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


# ---- reading an executed notebook's outputs ------------------------------------------------------------------------


def _cell(nb: nbformat.NotebookNode, needle: str) -> nbformat.NotebookNode:
    """The one code cell whose source contains `needle`."""
    cells = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(cells) == 1, f"{len(cells)} code cells contain {needle!r}"
    return cells[0]


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def _rich(cell: nbformat.NotebookNode, mime: str) -> list[str]:
    """Each displayed or returned value's `mime` representation, in order."""
    return [
        o.data[mime] for o in cell.outputs if o.output_type in ("display_data", "execute_result") and mime in o.data
    ]


def _pngs(cell: nbformat.NotebookNode) -> list[bytes]:
    return [base64.b64decode(png) for png in _rich(cell, "image/png")]


def _assert_one_figure(cell: nbformat.NotebookNode, written: Path) -> None:
    """The cell shows exactly one figure, and it is the PNG the plot function wrote."""
    pngs = _pngs(cell)
    assert len(pngs) == 1, f"{len(pngs)} figures shown by {cell.source[:60]!r}"
    assert pngs[0].startswith(b"\x89PNG") and pngs[0] == written.read_bytes()


class _TableParser(HTMLParser):
    """The header and body rows of a pandas HTML table, as lists of (tag, text) cells."""

    def __init__(self) -> None:
        super().__init__()
        self.head: list[list[tuple[str, str]]] = []
        self.body: list[list[tuple[str, str]]] = []
        self._rows: list | None = None
        self._tag: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag in ("thead", "tbody"):
            self._rows = self.head if tag == "thead" else self.body
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("th", "td") and self._rows is not None:
            self._tag, self._text = tag, ""

    def handle_data(self, data):
        if self._tag is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == self._tag:
            self._rows[-1].append((tag, self._text.strip()))
            self._tag = None
        elif tag in ("thead", "tbody"):
            self._rows = None


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _table(html: str) -> pd.DataFrame:
    """A DataFrame's HTML display read back: its index (a tuple per row for several levels), columns and values
    (numbers where they parse)."""
    parser = _TableParser()
    parser.feed(html)
    n_index = max(sum(tag == "th" for tag, _ in row) for row in parser.body)
    index, values, last = [], [], [""] * n_index
    for row in parser.body:
        labels = [text for tag, text in row if tag == "th"]
        last = last[: n_index - len(labels)] + labels  # outer levels spanning several rows are printed once
        index.append(tuple(last) if n_index > 1 else last[0])
        values.append([_number(text) for tag, text in row if tag == "td"])
    columns = [text for _, text in parser.head[0]][n_index:]
    return pd.DataFrame(values, index=index, columns=columns)


def _tables(cell: nbformat.NotebookNode) -> list[pd.DataFrame]:
    return [_table(html) for html in _rich(cell, "text/html") if "<table" in html]


def _in_unit_interval(values) -> bool:
    return all(0 <= float(v) <= 1 for v in values)


# ---- what each notebook shows ----------------------------------------------------------------------------------------


def _check_extraction(nb: nbformat.NotebookNode, work: Path) -> None:
    demo = Path(_stdout(_cell(nb, "DATA_ROOT = build_demo_dataset")).strip())
    assert demo.is_dir()
    index_cell = _cell(nb, "index = index_dataset(")
    n_videos, _, failures = map(
        int, re.fullmatch(r"(\d+) videos, (\d+) groups, (\d+) failures\n", _stdout(index_cell)).groups()
    )
    assert n_videos == len(list(demo.rglob("*.mp4"))) and failures == 0
    (splits,) = _tables(index_cell)
    assert list(splits.index) == ["train", "val", "test"] and list(splits.columns) == ["real", "fake", "total"]
    assert (splits["real"] + splits["fake"] == splits["total"]).all() and splits["total"].sum() == n_videos
    assert (splits[["real", "fake"]] > 0).all().all()  # every split holds both classes
    (methods,) = _tables(_cell(nb, 'groupby(["split", "method"])'))
    assert set(methods.columns) == {"original", "FaceSwap", "SelfBlended"} and methods.to_numpy().sum() == n_videos
    assert methods.loc[list(splits.index), "original"].tolist() == splits["real"].tolist()

    extraction = _stdout(_cell(nb, "extract_faces(index_csv, crops_dir"))
    crops, with_faces, of, faces_csv = re.fullmatch(
        r"(\d+) face crops from (\d+) of (\d+) videos -> (.+)\n", extraction
    ).groups()
    assert int(of) == n_videos and int(with_faces) == n_videos  # the demo's faces are all found
    faces = pd.read_csv(faces_csv)
    assert len(faces) == int(crops) > 0
    (per_class,) = _tables(_cell(nb, 'faces.groupby(["split", "label"])'))
    assert per_class["crops"].sum() == int(crops) and per_class["videos"].sum() == n_videos
    assert sorted(per_class.index) == sorted((s, c) for s in ("train", "val", "test") for c in ("0", "1"))

    clipped = _stdout(_cell(nb, "clip_faces = extract_faces("))
    crops, n_clips, with_clips, clips_csv = re.fullmatch(
        r"(\d+) face crops in (\d+) clips of (\d+) videos -> (.+)\n", clipped
    ).groups()
    clips = pd.read_csv(clips_csv)
    assert len(clips) == int(crops) > 0 and int(with_clips) == n_videos
    assert clips.groupby(["video_id", "clip"]).ngroups == int(n_clips)
    assert clips.groupby("video_id")["clip"].nunique().max() == 2  # CLIPS_PER_VIDEO
    runs = clips.sort_values("frame").groupby(["video_id", "clip", "track"])["frame"]
    assert runs.size().max() == 4 and (runs.diff().dropna() == 1).all()  # SMALL: clips of 4 consecutive frames

    figures = work / "figures"
    _assert_one_figure(_cell(nb, "plot_face_samples(faces"), figures / "demo_face_samples.png")
    _assert_one_figure(_cell(nb, "plot_faces_per_video(faces"), figures / "demo_faces_per_video.png")
    _assert_one_figure(_cell(nb, "plot_pseudo_fakes(faces"), figures / "demo_pseudo_fakes.png")


def _check_training(nb: nbformat.NotebookNode, work: Path) -> None:
    lines = _stdout(_cell(nb, "for plan in plans:")).splitlines()
    assert len(lines) >= 2 and all(re.search(r" [\d,]+ parameters, input \(3, \d+, \d+\), ", line) for line in lines)
    planned = [line.split()[0] for line in lines]  # the runs to train, one line each
    assert planned[-1] == "ftcn_lite"  # VIDEO_MODELS: the video model after the comparison's frame models
    assert lines[-1].endswith("; on 2 clips of 4 consecutive frames")  # 01's clips (SMALL: of 4)
    assert all(re.search(r"; on \d+ frames spread over each video \(step [\d.]+\)$", x) for x in lines[:-1])
    recorded = json.loads((work / "checkpoints" / "ftcn_lite" / "config.json").read_text())["train_data"]
    assert recorded["class"] == "ClipDataset" and Path(recorded["faces"]).name == "demo_clips_faces.csv"
    shown = _cell(nb, "for name, history in histories.items():")
    assert _stdout(shown).split() == planned  # a history per trained run, under its name
    histories = _tables(shown)
    assert len(histories) == len(planned)
    for run, history in zip(planned, histories, strict=True):
        assert {"epoch", "train_loss", "val_loss", "val_auc"} <= set(history.columns)
        assert history["epoch"].tolist() == [1.0]  # SMALL: one epoch each
        assert _in_unit_interval(history["val_auc"]) and (history[["train_loss", "val_loss"]] > 0).all().all()
        written = pd.read_csv(work / "checkpoints" / run / "history.csv")
        assert history["val_auc"].tolist() == pytest.approx(written["val_auc"].tolist(), abs=1e-6)
    _assert_one_figure(shown, work / "figures" / "training_curves.png")
    (summary,) = _tables(_cell(nb, "summary = pd.DataFrame("))
    assert list(summary.index) == planned
    best = {run: h["val_auc"].max() for run, h in zip(planned, histories, strict=True)}
    assert summary["val_auc"].to_dict() == pytest.approx(best, abs=1e-6)


#: The columns notebook 03 shows of its comparison table (all of them exist for frame, temporal and video runs).
METRIC_COLUMNS = (
    "run dataset frames level protocol n auc auc_lo auc_hi ap eer eer_lo eer_hi accuracy balanced_accuracy f1 "
    "log_loss tpr_at_fpr_1 tpr_at_fpr_5 threshold"
).split()

#: The level notebook 03 shows (as papers name it) for each level of metrics.csv, for runs on sampled frames and on clips.
SHOWN_LEVEL = {"frame": "frame", "window": "window", "file": "video"}
SHOWN_LEVEL_ON_CLIPS = {"window": "clip", "file": "video"}


def _check_evaluation(nb: nbformat.NotebookNode, work: Path) -> None:
    out = work / "evaluation"
    evaluated = _cell(nb, "result = evaluate(")
    assert _stdout(evaluated) == (
        "protocol: own; 95 % intervals: 200 resamples of videos, seed 0\n"  # SMALL: 200
        "video models ['ftcn_lite'] on demo_clips_faces.csv: 2 clips of 4 consecutive frames\n"
    )
    (metrics,) = _tables(evaluated)
    assert list(metrics.columns) == METRIC_COLUMNS
    runs, video_runs = ["mesonet4", "mesonet4_lstm", "efficientnet_b0"], ["ftcn_lite"]
    assert list(dict.fromkeys(metrics["run"])) == runs + video_runs
    videos = metrics[metrics["level"] == "video"]
    assert videos["run"].tolist() == runs + video_runs  # a video-level row per run...
    assert videos["n"].nunique() == 1  # ...each over the same test videos
    levels = metrics.groupby("run", sort=False)["level"].agg(list).to_dict()
    assert levels == {
        "mesonet4": ["frame", "video"],
        "mesonet4_lstm": ["window", "video"],
        "efficientnet_b0": ["frame", "video"],
        "ftcn_lite": ["clip", "video"],
    }
    assert (metrics["protocol"] == "own").all()
    frames = metrics.groupby("run", sort=False)["frames"].agg(set).to_dict()
    assert frames.pop("ftcn_lite") == {"2 clips of 4 consecutive frames"}
    (sampled,) = set.union(*frames.values())  # the frame runs: all on the same sampled frames
    assert re.fullmatch(r"8 frames spread over each video \(step \d+\)", sampled)
    for column in ("auc", "auc_lo", "auc_hi", "ap", "eer", "threshold"):
        assert _in_unit_interval(metrics[column]), column
    assert ((metrics["auc_lo"] <= metrics["auc"]) & (metrics["auc"] <= metrics["auc_hi"])).all()
    # The table's figures are those of the files each evaluation wrote (frame runs: evaluation/, video: video/).
    for csv, shown_as, chosen in ((out, SHOWN_LEVEL, runs), (out / "video", SHOWN_LEVEL_ON_CLIPS, video_runs)):
        written = pd.read_csv(csv / "metrics.csv")
        assert written["run"].unique().tolist() == chosen
        shown = metrics[metrics["run"].isin(chosen)]
        assert shown["level"].tolist() == written["level"].map(shown_as).tolist()
        for column in ("n", "auc", "eer", "ap", "threshold"):
            assert shown[column].tolist() == pytest.approx(written[column].round(3).tolist(), abs=1e-9), column

    (paired,) = _tables(_cell(nb, "result.paired"))
    assert set(paired["run_a"]) | set(paired["run_b"]) <= set(runs) and (paired["n_boot"] == 200).all()
    assert _in_unit_interval(paired["p_bootstrap"])

    (by_rule,) = _tables(_cell(nb, "metrics_by_aggregation(table)"))
    assert list(by_rule.columns) == ["auc", "ap", "accuracy", "balanced_accuracy"] and _in_unit_interval(by_rule["auc"])
    file_auc = metrics[metrics["level"] == "video"].set_index("run")["auc"]
    for run in runs + video_runs:  # the mean rule is the one evaluated: its video-level AUC is the metrics table's
        assert by_rule.loc[[(run, "mean")], "auc"].item() == pytest.approx(file_auc[run], abs=1e-9)

    shown = _cell(nb, "for name, path in plots.items():")
    names, pngs = _stdout(shown).split(), _pngs(shown)
    assert len(pngs) == len(names)  # one figure per plot
    expected = {"roc_file", "score_distributions", "training_curves", "metrics_bars", "auc_ci", "robustness"}
    assert expected | {f"video/{name}" for name in expected} <= set(names)  # the video models' own figures too
    for name, png in zip(names, pngs, strict=True):
        assert png == (out / f"{name}.png").read_bytes(), name


def _check_prediction(nb: nbformat.NotebookNode, work: Path) -> None:
    loaded = _stdout(_cell(nb, "run = RunInfo.load("))
    weights, folder = re.match(r"mesonet4 from (.+); predicting over (.+)\n", loaded).groups()
    assert Path(weights) == work / "checkpoints" / "mesonet4"
    shown, source, aggregation = re.search(
        r"^threshold ([\d.]+): (.+); file score: (\w+); crops: .+$", loaded, re.M
    ).groups()
    recorded = json.loads((Path(weights) / "thresholds.json").read_text())["file_by_aggregation"]["mean"]["threshold"]
    assert aggregation == "mean" and shown == f"{recorded:.3g}"  # the run's own threshold, not 0.5
    assert source.startswith("chosen on validation") and "mesonet4/thresholds.json" in source

    predicted = _cell(nb, "predictions, failures = predict_folder(")
    n_files, n_failed = map(int, re.fullmatch(r"(\d+) files, (\d+) failures\n", _stdout(predicted)).groups())
    assert n_files == len(list(Path(folder).rglob("*.mp4"))) and n_failed == 0
    (table,) = _tables(predicted)
    written = pd.read_csv(work / "predictions.csv")
    assert len(table) == len(written) == n_files  # a row per file
    assert {"path", "score", "label"} <= set(table.columns) and _in_unit_interval(table["score"])
    assert table["score"].tolist() == pytest.approx(written["score"].tolist(), abs=1e-6)
    assert table["label"].tolist() == (written["score"] >= recorded).astype(int).tolist()  # fake at the threshold

    judged = _cell(nb, "join_ground_truth(")
    (metrics,) = [ast.literal_eval(text) for text in _rich(judged, "text/plain") if text.startswith("{")]
    assert metrics["n"] == n_files and _in_unit_interval([metrics[k] for k in ("auc", "ap", "accuracy", "f1")])
    _assert_one_figure(judged, work / "figures" / "predictions.png")
    _assert_one_figure(_cell(nb, "plot_video_gradcam("), work / "figures" / "gradcam_predictions.png")


CHECKS = {
    "01_data_extraction": _check_extraction,
    "02_training": _check_training,
    "03_evaluation": _check_evaluation,
    "04_prediction": _check_prediction,
}


def test_notebooks_are_committed_without_outputs() -> None:
    for name in ORDER:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{name}: committed with outputs"


@pytest.mark.slow
@pytest.mark.parametrize("name", ORDER)
def test_notebook_runs_and_shows_its_results(name: str, work_dir: Path) -> None:
    nb = _run(name, work_dir)  # raises CellExecutionError at the first cell that fails
    CHECKS[name](nb, work_dir)
