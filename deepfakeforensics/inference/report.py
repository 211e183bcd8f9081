"""One self-contained HTML report of a prediction run: a person opens it anywhere, with nothing beside it.

The report holds a sortable table of every file (verdict, score, faces, frames, error) and, per file, its face
tracks' scores. Files whose details were collected (`collect_details`: the same detection, tracking and scoring as
``dff predict``) also get a thumbnail per track, the score timeline over the video (inline SVG) and Grad-CAM heatmaps
of the most suspicious frames (frame models). Every image is inline (``data:`` URIs); the report references no file
and no URL.

Example:
    >>> preds = pd.read_csv("predictions.csv", keep_default_na=False)  # doctest: +SKIP
    >>> write_report(preds, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from deepfakeforensics._io import atomic_path
from deepfakeforensics.data.manifest import resolve_inside
from deepfakeforensics.devices import resolve_device
from deepfakeforensics.errors import DFFError
from deepfakeforensics.evaluation.gradcam import can_explain, explainer, overlay
from deepfakeforensics.faces import ExtractionConfig, FaceFinder, iter_face_crops, read_rgb
from deepfakeforensics.inference.media import IMAGE_EXTENSIONS, media_path
from deepfakeforensics.inference.predict import PredictConfig, StreamScorer, detect_image_faces

log = logging.getLogger(__name__)

THUMB_SIZE = 96
HEATMAP_SIZE = 160


@dataclass
class FileDetail:
    """What the report shows of one file beyond its row.

    Attributes:
        thumbnails: track -> an RGB crop of that face (its most suspicious one).
        timeline: rows ``track, frame, score`` (frame models: per crop; temporal: per window start).
        heatmaps: ``(track, frame, score, RGB overlay)`` of the most suspicious crops (frame models only).
        note: what could not be included, and why.
    """

    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)
    timeline: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["track", "frame", "score"]))
    heatmaps: list[tuple[int, int, float, np.ndarray]] = field(default_factory=list)
    note: str = ""


def _face_crops(path: Path, extraction: ExtractionConfig, finder: FaceFinder) -> list[tuple[int, int, np.ndarray]]:
    """``(track, frame, crop)`` of a file's faces, found as ``dff predict`` finds them."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        faces = detect_image_faces(read_rgb(path), extraction, finder)
        return [(t, 0, crop) for t, (_, crop) in enumerate(faces)]
    return [(c.track, c.frame, c.image) for c in iter_face_crops(path, extraction, finder)]


def collect_details(
    path: str | os.PathLike,
    model: torch.nn.Module,
    config: PredictConfig,
    extraction: ExtractionConfig,
    finder: FaceFinder,
    n_heatmaps: int = 3,
) -> FileDetail:
    """Thumbnails, score timeline and heatmaps of one file (its crops are held: bounded by the frames sampled)."""
    crops = _face_crops(Path(path), extraction, finder)
    scorer = StreamScorer(model, config.batch_size, config.windows, torch.device(config.device))
    for track, frame, crop in crops:
        scorer.add(track, frame, crop)
    scores = scorer.finish().rename(columns={"start_frame": "frame"})
    detail = FileDetail(timeline=scores[["track", "frame", "score"]])
    if scores.empty:
        detail.note = "no face found"
        return detail
    by_key = {(t, f): c for t, f, c in crops}
    top = scores.sort_values("score", ascending=False)
    for track, rows in top.groupby("track", sort=True):
        detail.thumbnails[int(track)] = by_key[(int(track), int(rows["frame"].iat[0]))]
    if not can_explain(model):
        detail.note = "no heatmaps for this model (a temporal model over a ViT)"
        return detail
    picked = top.head(n_heatmaps)
    chosen = [by_key[(int(t), int(f))] for t, f in zip(picked["track"], picked["frame"], strict=True)]
    # a temporal model: each frame explained as a still (a window of copies, as it is scored and as dff serve does)
    heat, _ = explainer(model, window=config.windows.window)(chosen)
    for (t, f, s), crop, h in zip(
        picked[["track", "frame", "score"]].itertuples(index=False), chosen, heat, strict=True
    ):
        detail.heatmaps.append((int(t), int(f), float(s), overlay(crop, h)))
    return detail


def collect_folder_details(
    predictions: pd.DataFrame,
    folder: str | os.PathLike,
    model: torch.nn.Module,
    config: PredictConfig,
    extraction: ExtractionConfig,
    limit: int = 20,
) -> dict[str, FileDetail]:
    """Details of the `limit` most suspicious scored files of `predictions`, whose paths are relative to `folder`.

    A path that leads outside `folder` is refused (`resolve_inside`) and never opened; a file that fails gets a note.
    """
    scored = predictions[pd.to_numeric(predictions["score"], errors="coerce").notna()]
    scored = scored.assign(_s=pd.to_numeric(scored["score"])).sort_values("_s", ascending=False).head(limit)
    finder = extraction.make_finder()
    details: dict[str, FileDetail] = {}
    config = replace(config, device=str(resolve_device(config.device)))
    model.eval().to(config.device)
    for rel in scored["path"].astype(str):
        try:
            file = resolve_inside(folder, str(media_path("", rel)))  # (a non-UTF-8 byte is written \xNN in the CSV)
            details[rel] = collect_details(file, model, config, extraction, finder)
        except Exception as e:  # one file's details never stop the report
            log.warning("%s: report details unavailable (%s: %s)", rel, type(e).__name__, e)
            details[rel] = FileDetail(note=f"details unavailable: {e}")
    return details


def _data_uri(rgb: np.ndarray, size: int) -> str:
    small = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def timeline_svg(timeline: pd.DataFrame, threshold: float, width: int = 480, height: int = 140) -> str:
    """Inline SVG of P(fake) over frames, one line per track, with the threshold dashed."""
    if timeline.empty:
        return ""
    pad = 24
    f0, f1 = float(timeline["frame"].min()), float(timeline["frame"].max())
    span = max(f1 - f0, 1.0)

    def xy(frame: float, score: float) -> str:
        return f"{pad + (frame - f0) / span * (width - 2 * pad):.1f},{height - pad - score * (height - 2 * pad):.1f}"

    parts = [f'<svg class="timeline" width="{width}" height="{height}" role="img" aria-label="score timeline">']
    ty = height - pad - threshold * (height - 2 * pad)
    parts.append(
        f'<line x1="{pad}" x2="{width - pad}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#888" stroke-dasharray="4"/>'
    )
    for i, (track, rows) in enumerate(timeline.sort_values("frame").groupby("track", sort=True)):
        points = " ".join(xy(f, s) for f, s in zip(rows["frame"], rows["score"], strict=True))
        colour = _COLOURS[i % len(_COLOURS)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{width - pad + 2}" y="{12 + 12 * i}" fill="{colour}" font-size="10">t{track}</text>')
    parts.append(f'<text x="{pad}" y="{height - 6}" font-size="10">frame {f0:g}</text>')
    parts.append(f'<text x="{width - pad - 60}" y="{height - 6}" font-size="10">frame {f1:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}th{cursor:pointer;background:#f4f4f4}
.fake{color:#b00;font-weight:bold}.real{color:#070}.card{display:inline-block;margin:4px;text-align:center;
font-size:12px}section{margin-top:2em;border-top:2px solid #ccc}.note{color:#666;font-style:italic}"""

_SORT_JS = """document.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
rows.sort(function(a,b){var x=a.cells[i].dataset.sort||a.cells[i].textContent,y=b.cells[i].dataset.sort||
b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);var c=(isNaN(nx)||isNaN(ny))?x.localeCompare(y):nx-ny;
return asc?c:-c;});rows.forEach(function(r){tb.appendChild(r);});});});"""


def _verdict(label: object) -> str:
    try:
        return "fake" if int(label) == 1 else "real"
    except (TypeError, ValueError):
        return ""


def _score(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _table(predictions: pd.DataFrame) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("file", "kind", "verdict", "P(fake)", "faces", "frames", "error"))
    rows = []
    for i, r in enumerate(predictions.to_dict("records")):
        path, score, verdict = str(r["path"]), _score(r.get("score")), _verdict(r.get("label"))
        shown = "" if math.isnan(score) else f"{score:.4f}"
        rows.append(
            f'<tr class="file" data-path="{html.escape(path)}" data-score="{"" if math.isnan(score) else repr(score)}">'
            f'<td><a href="#f{i}">{html.escape(path)}</a></td><td>{html.escape(str(r.get("kind", "")))}</td>'
            f'<td class="{verdict}">{verdict or "-"}</td><td data-sort="{-1 if math.isnan(score) else score}">{shown}</td>'
            f"<td>{html.escape(str(r.get('faces_found', '')))}</td><td>{html.escape(str(r.get('frames_used', '')))}</td>"
            f"<td>{html.escape(str(r.get('error', '') or ''))}</td></tr>"
        )
    return f'<table id="files"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _tracks(row: dict, detail: FileDetail | None) -> str:
    try:
        tracks = json.loads(str(row.get("track_scores") or "{}"))
    except json.JSONDecodeError:
        tracks = {}
    cards = []
    for track, score in sorted(tracks.items(), key=lambda kv: int(kv[0])):
        thumb = detail.thumbnails.get(int(track)) if detail else None
        img = f'<img alt="track {track}" src="{_data_uri(thumb, THUMB_SIZE)}"><br>' if thumb is not None else ""
        cards.append(f'<div class="card">{img}track {html.escape(str(track))}: {float(score):.4f}</div>')
    return "".join(cards)


def _section(i: int, row: dict, detail: FileDetail | None, threshold: float) -> str:
    path, verdict, score = str(row["path"]), _verdict(row.get("label")), _score(row.get("score"))
    head = f'<section id="f{i}"><h3>{html.escape(path)}</h3>'
    status = f'<p class="{verdict}">{verdict} (P(fake) {score:.4f})</p>' if verdict else ""
    if row.get("error"):
        status = f'<p class="note">not scored: {html.escape(str(row["error"]))}</p>'
    parts = [head, status, _tracks(row, detail)]
    if detail is not None:
        parts.append(timeline_svg(detail.timeline, threshold) if len(detail.timeline) > 1 else "")
        for track, frame, s, img in detail.heatmaps:
            parts.append(
                f'<div class="card"><img alt="heatmap" src="{_data_uri(img, HEATMAP_SIZE)}"><br>'
                f"track {track}, frame {frame}: {s:.4f}</div>"
            )
        if detail.note:
            parts.append(f'<p class="note">{html.escape(detail.note)}</p>')
    return "".join(parts) + "</section>"


def write_report(
    predictions: pd.DataFrame,
    out: str | os.PathLike,
    details: dict[str, FileDetail] | None = None,
    threshold: float = 0.5,
    title: str = "deepfakeforensics: predictions",
) -> Path:
    """Write the report of `predictions` (`dff predict`'s columns) to `out` atomically; returns its path.

    Args:
        predictions: one row per file (``path, kind, score, label, frames_used, faces_found, track_scores, error``).
        out: the HTML file.
        details: per file path, what `collect_details` found (thumbnails, timeline, heatmaps); others show their
            track scores only.
        threshold: the decision threshold drawn on the timelines.
        title: the page title.
    """
    details = details or {}
    n = len(predictions)
    scope = (
        f"Thumbnails, score timelines and heatmaps for {len(details)} of {n} files (the most suspicious, re-scored "
        "with the same detection and model); the others show their face tracks' scores."
        if details
        else "From the predictions table only: each file's face tracks and their scores (thumbnails, timelines and "
        "heatmaps need the folder and the weights: dff report CSV --folder FOLDER --weights RUN)."
    )
    sections = [
        _section(i, r, details.get(str(r["path"])), threshold) for i, r in enumerate(predictions.to_dict("records"))
    ]
    page = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style>'
        f"</head><body><h1>{html.escape(title)}</h1><p>{n} files; click a column to sort. {scope}</p>"
        f"{_table(predictions)}{''.join(sections)}<script>{_SORT_JS}</script></body></html>"
    )
    out = Path(out)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return out


class PredictionsFileError(DFFError, ValueError):
    """A predictions CSV that cannot be reported on; the message names the file, line and column."""


def _utf8(data: bytes, path: str | os.PathLike) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise PredictionsFileError(f"{path}: line {line}, column {column} (byte {e.start}): not UTF-8 text") from e


def _check_track_scores(cell: str) -> str:
    """'' when `cell` is empty or a JSON object of track -> finite score, else what is wrong with it."""
    if not cell:
        return ""
    try:
        tracks = json.loads(cell)
    except json.JSONDecodeError as e:
        return f"not JSON ({e.msg} at character {e.pos + 1})"
    if not isinstance(tracks, dict):
        return "not a JSON object of track -> score"
    for track, score in tracks.items():
        if not track.lstrip("-").isdigit():
            return f"track {track!r} is not an integer"
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            return f"score {score!r} of track {track} is not a finite number"
    return ""


def _record_lines(text: str) -> list[int]:
    """The line (1-based) each CSV record starts on, blank lines skipped as pandas skips them."""
    reader, starts, previous = csv.reader(io.StringIO(text)), [], 0
    for record in reader:
        if record:
            starts.append(previous + 1)
        previous = reader.line_num
    return starts


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """A ``dff predict`` CSV as written (empty error and score cells kept as such), checked.

    Raises:
        PredictionsFileError: a file that is not UTF-8, not CSV, has no ``path`` column, or a ``score`` or
            ``track_scores`` cell that is not what ``dff predict`` writes; the message names file, line and column
            (line 1 is the header).
    """
    text = _utf8(Path(path).read_bytes(), path)
    try:
        table = pd.read_csv(
            io.StringIO(text), dtype={"path": str, "error": str, "track_scores": str}, keep_default_na=False
        )
    except pd.errors.EmptyDataError as e:
        raise PredictionsFileError(f"{path}: empty file, not a predictions CSV of dff predict") from e
    except (pd.errors.ParserError, ValueError) as e:
        raise PredictionsFileError(f"{path}: not a predictions CSV of dff predict ({e})") from e
    if "path" not in table.columns:
        raise PredictionsFileError(
            f"{path}: line 1: no 'path' column (columns: {', '.join(map(str, table.columns))}); "
            "not a predictions CSV of dff predict"
        )
    starts = _record_lines(text)

    def line(i: int) -> int:  # the line data row i (0-based) starts on
        return starts[i + 1] if len(starts) == len(table) + 1 else i + 2

    for i, value in enumerate(table["score"] if "score" in table.columns else []):
        number = _score(value) if value != "" else 0.0
        if not (math.isfinite(number) and 0.0 <= number <= 1.0):
            raise PredictionsFileError(
                f"{path}: line {line(i)}, column 'score': {value!r} is not a probability in [0, 1]"
            )
    for i, cell in enumerate(table["track_scores"] if "track_scores" in table.columns else []):
        wrong = _check_track_scores(str(cell))
        if wrong:
            raise PredictionsFileError(f"{path}: line {line(i)}, column 'track_scores': {wrong}")
    return table
