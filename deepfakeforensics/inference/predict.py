"""Prediction over a folder of videos and images: one row per file with its P(fake), per-track scores and errors.

Faces are found and tracked exactly as in extraction (`deepfakeforensics.faces.iter_face_crops`) and scored in
batches as they stream out of the decoder, so memory does not grow with a video's length. Temporal models get their
windows cut per track on the fly by the rule `WindowDataset` uses (`deepfakeforensics.data.windows`), with a buffer of one
window per track. The options are the fields of `PredictConfig` (``dff predict`` is generated from them).

Example:
    >>> model = load_model("checkpoints/meso/best.pt")  # doctest: +SKIP
    >>> preds, failures = predict_folder("new_videos/", model)  # doctest: +SKIP
    >>> preds[["path", "score", "label", "faces_found"]]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from deepfakeforensics._io import write_csv_atomic
from deepfakeforensics._memory import release_free_memory
from deepfakeforensics.data.media_limits import DEFAULT_MAX_PIXELS, check_media_size
from deepfakeforensics.data.transforms import to_tensor
from deepfakeforensics.data.windows import WindowConfig, is_window_start, make_windows
from deepfakeforensics.devices import resolve_device
from deepfakeforensics.faces import ExtractionConfig, FaceFinder, iter_face_crops, read_rgb
from deepfakeforensics.faces.assembler import cut_face
from deepfakeforensics.inference.media import IMAGE_EXTENSIONS, media_name, walk_media
from deepfakeforensics.run_records import training_crops_aligned
from deepfakeforensics.scoring.aggregation import AGGREGATIONS, Aggregation, aggregate

log = logging.getLogger(__name__)

#: The ``error`` of a file in which no face was found (a verdict cannot be given; the file itself is fine).
NO_FACE = "no face found in the sampled frames"
#: The reason a file's row carries when its caller asked to stop (e.g. the server's time limit ran out)
STOPPED = "stopped before the end: the time limit ran out"
PREDICTION_COLUMNS = ["path", "kind", "score", "label", "frames_used", "faces_found", "track_scores", "error"]


def method_columns(model: torch.nn.Module) -> list[str]:
    """``p_<method>`` per class of a model's method head (`models.heads.MultiTaskDetector`); none without one."""
    return [f"p_{m}" for m in model.methods] if hasattr(model, "method_probabilities") else []


def prediction_columns(model: torch.nn.Module) -> list[str]:
    """The columns of `predict_folder`'s table for `model`: `PREDICTION_COLUMNS`, method probabilities before error."""
    return [*PREDICTION_COLUMNS[:-1], *method_columns(model), "error"]


@dataclass(frozen=True)
class PredictConfig:
    """How `predict_folder` scores files; ``dff predict`` exposes each field (but `windows`) as an option.

    Example:
        >>> PredictConfig(aggregation="track_max", windows=WindowConfig(window=4)).windows.step
        4
    """

    threshold: float = field(default=0.5, metadata={"help": "a file is called fake (label 1) when its score >= this"})
    aggregation: Aggregation = field(
        default="mean",
        metadata={
            "help": "file score from its face scores: mean, track_max (the most fake-looking face), median, vote"
        },
    )
    batch_size: int = field(default=32, metadata={"help": "crops (or windows) per forward pass"})
    device: str = field(default="auto", metadata={"help": "torch device: auto (a GPU when there is one), cpu, cuda..."})
    max_pixels: int = field(
        default=DEFAULT_MAX_PIXELS,
        metadata={"help": "a file whose header declares frames over this many pixels is not decoded (0: no limit)"},
    )
    frame_folders: bool = field(
        default=False,
        metadata={"help": "a folder of numbered frames (000.png, 001.png, ...) is one video, not separate images"},
    )
    windows: WindowConfig = field(
        default_factory=WindowConfig,
        metadata={"help": "temporal models: how windows are cut from a face track (use the run's, as trained)"},
    )

    def __post_init__(self) -> None:
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {self.batch_size}")


@dataclass
class PredictionResult:
    """Per-file predictions (`PREDICTION_COLUMNS`) and the files that could not be scored, as ``(path, reason)``."""

    predictions: pd.DataFrame
    failures: list[tuple[str, str]] = field(default_factory=list)

    def __iter__(self) -> Iterator:  # ``preds, failures = predict_folder(...)``
        return iter((self.predictions, self.failures))


class StreamScorer:
    """Scores face crops as they arrive, in batches; keeps only one batch (and one window per track) in memory.

    Frame models score every crop. Temporal models score the windows `make_windows` cuts from each track (the rule
    `WindowDataset` follows): full windows as soon as their last crop arrives (`is_window_start`), and a track
    shorter than a window padded (repeat or loop) or dropped at `finish`, as ``windows`` says.

    Example:
        >>> scorer = StreamScorer(model, windows=WindowConfig(window=8, stride=4))  # doctest: +SKIP
        >>> for crop in iter_face_crops(video): scorer.add(crop.track, crop.frame, crop.image)  # doctest: +SKIP
        >>> scores = scorer.finish()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: torch.nn.Module,
        batch_size: int = 32,
        windows: WindowConfig | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.model = model
        self.cfg = model.default_cfg
        self.temporal = bool(self.cfg.temporal)
        self.batch_size = max(1, batch_size)
        self.windows = windows or WindowConfig()
        self.device = torch.device(device)
        self._x: list[torch.Tensor] = []
        self._keys: list[tuple[int, int]] = []
        self._rows: list[tuple] = []  # (track, frame, logit, P(method)...)
        self.method_columns = method_columns(model)
        self._buffers: dict[int, deque] = {}
        self._seen: dict[int, int] = {}

    def add(self, track: int, frame: int, image: np.ndarray) -> None:
        """One RGB uint8 face crop of `track` at `frame` (crops of a track in frame order)."""
        if not self.temporal:
            self._push(to_tensor([image], self.cfg)[0], (track, frame))
            return
        buf = self._buffers.setdefault(track, deque(maxlen=self.windows.window))
        buf.append((frame, image))
        n = self._seen[track] = self._seen.get(track, 0) + 1
        start = n - self.windows.window
        if start >= 0 and is_window_start(start, n, self.windows):
            self._push(to_tensor([im for _, im in buf], self.cfg), (track, buf[0][0]))

    def _push(self, x: torch.Tensor, key: tuple[int, int]) -> None:
        self._x.append(x)
        self._keys.append(key)
        if len(self._x) >= self.batch_size:
            self._flush()

    @torch.inference_mode()
    def _flush(self) -> None:
        if not self._x:
            return
        x = torch.stack(self._x).to(self.device)
        if self.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.method_columns:  # one backbone pass gives both the fake logit and the method head
            logits_t, probs_t = self.model.logits_and_method_probabilities(x)
            logits, probs = logits_t.float().cpu().numpy(), probs_t.cpu().numpy()
        else:
            logits, probs = self.model(x).float().reshape(-1).cpu().numpy(), np.zeros((len(x), 0))
        rows = zip(self._keys, logits, probs.tolist(), strict=True)
        self._rows.extend((t, f, float(z), *p) for (t, f), z, p in rows)
        self._x, self._keys = [], []
        release_free_memory()  # the batch's activations: keeps long videos' peak memory flat

    def _push_short_tracks(self) -> None:
        """The windows of tracks that never filled one: all their crops are still in the buffer."""
        for track, n in self._seen.items():
            if n >= self.windows.window:
                continue
            crops = list(self._buffers[track])
            for rows in make_windows(n, self.windows)[0]:
                self._push(to_tensor([crops[i][1] for i in rows], self.cfg), (track, crops[rows[0]][0]))

    def reset(self) -> None:
        """Forget every pending crop and score (after a file failed half-way)."""
        self._x, self._keys, self._rows = [], [], []
        self._buffers, self._seen = {}, {}

    def finish(self) -> pd.DataFrame:
        """Score what is left; rows ``track, frame`` (or ``start_frame`` for windows), ``logit``, the model's
        `method_columns` (P(method) of a method head) and ``score``."""
        if self.temporal:
            self._push_short_tracks()
        self._flush()
        col = "start_frame" if self.temporal else "frame"
        df = pd.DataFrame(self._rows, columns=["track", col, "logit", *self.method_columns])
        df["score"] = 1.0 / (1.0 + np.exp(-df["logit"].to_numpy(dtype=np.float64)))
        self.reset()
        return df


def _score_video(
    path: Path,
    scorer: StreamScorer,
    config: ExtractionConfig,
    finder: FaceFinder,
    stop: Callable[[], bool] | None = None,
) -> tuple[pd.DataFrame, set[int]]:
    frames: set[int] = set()
    try:
        for crop in iter_face_crops(path, config, finder, stop=stop):  # `stop` asked after each decoded frame too
            if stop is not None and stop():
                raise InterruptedError(STOPPED)
            scorer.add(crop.track, crop.frame, crop.image)
            frames.add(crop.frame)
    except InterruptedError:
        raise InterruptedError(STOPPED) from None
    return scorer.finish(), frames


def detect_image_faces(
    rgb: np.ndarray, config: ExtractionConfig, finder: FaceFinder
) -> list[tuple[tuple[float, float, float, float], np.ndarray]]:
    """Every face of one RGB image as ``(box, crop)``, in detection order (its index is the face's track number).

    The boxes are x0, y0, x1, y1 in image pixels; the crops are cut as in extraction (`cut_face`: margin and size
    of `config`, aligned on the landmarks with `config.align`). `dff predict` and the server
    (`deepfakeforensics.serve`) both find image faces here.
    """
    [dets] = finder.detect([rgb])
    faces = zip(dets.boxes, dets.landmarks(), strict=True)
    return [(tuple(float(v) for v in box), cut_face(rgb, box, points, config)[0]) for box, points in faces]


def follow_training_alignment(extraction: ExtractionConfig, weights: str | os.PathLike) -> ExtractionConfig:
    """`extraction` with the crop alignment the checkpoint's run trained on (a model sees faces as it learnt them).

    A change is logged; when the run's alignment cannot be told, `extraction` is returned as it is.
    """
    aligned = training_crops_aligned(weights)
    if aligned is None or aligned == extraction.align:
        return extraction
    log.warning("%s was trained on %s crops: predicting on those too", weights, "aligned" if aligned else "plain")
    return replace(extraction, align=aligned)


def _score_image(
    path: Path, scorer: StreamScorer, config: ExtractionConfig, finder: FaceFinder
) -> tuple[pd.DataFrame, set[int]]:
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes)")
    faces = detect_image_faces(read_rgb(path), config, finder)
    for track, (_, crop) in enumerate(faces):
        scorer.add(track, 0, crop)
    return scorer.finish(), ({0} if faces else set())


def _failure_reason(error: Exception, path: Path) -> str:
    """Why a file could not be scored, without its path (expected errors) or with the error's type (others)."""
    reason = getattr(error, "reason", None) or str(error).replace(f"{path}: ", "")
    if not isinstance(error, LookupError | ValueError | OSError) and not hasattr(error, "reason"):
        reason = f"{type(error).__name__}: {reason}"
    return reason


def summarise_scores(scores: pd.DataFrame, name: str, config: PredictConfig) -> dict[str, Any]:
    """A file's verdict from its face scores (`StreamScorer.finish`): the `PREDICTION_COLUMNS` fields it decides.

    Returns ``score`` (the `config.aggregation` of every face score), ``label`` (1 when ``score >= threshold``),
    ``faces_found`` (tracks) and ``track_scores`` (JSON ``{track: mean score}``): the one rule of `dff predict`
    and the server. A method head's ``p_<method>`` columns are aggregated like the score (``vote``: their mean).
    """
    tracks = scores.groupby("track", sort=True)["score"].mean()
    file_score = float(aggregate(scores.assign(video_id=name), config.aggregation)["score"].iat[0])
    out = {
        "score": file_score,
        "label": int(file_score >= config.threshold),
        "faces_found": len(tracks),
        "track_scores": json.dumps({str(t): round(float(s), 6) for t, s in tracks.items()}),
    }
    how = "mean" if config.aggregation == "vote" else config.aggregation
    for col in (c for c in scores.columns if c.startswith("p_")):
        out[col] = float(aggregate(scores.assign(video_id=name, score=scores[col]), how)["score"].iat[0])
    return out


def predict_file(
    path: Path,
    rel: str,
    scorer: StreamScorer,
    config: PredictConfig,
    extraction: ExtractionConfig,
    finder: FaceFinder,
    kind: str | None = None,
    stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """One file's prediction row (`PREDICTION_COLUMNS`); a file that cannot be scored gets its reason in ``error``.

    `kind` (``image`` or ``video``) defaults to what the file's extension says; `rel` is the name the row carries.
    `stop`, asked after each decoded frame and before each face crop of a video is scored, ends the work early when it returns True (the row's
    error is then `STOPPED`): the server's time limit uses it so that an abandoned request frees its worker.
    A file whose header declares frames over `config.max_pixels` is not decoded (`media_limits.MediaTooLarge`).
    """
    kind = kind or ("image" if path.suffix.lower() in IMAGE_EXTENSIONS and not path.is_dir() else "video")
    row = {"path": rel, "kind": kind, "score": np.nan, "label": pd.NA, "frames_used": 0, "faces_found": 0}
    row.update(track_scores="{}", error="")
    try:
        check_media_size(path, kind, config.max_pixels)  # decompression bombs: refused before decoding
        if kind == "image":
            scores, frames = _score_image(path, scorer, extraction, finder)
        else:
            scores, frames = _score_video(path, scorer, extraction, finder, stop)
        if scores.empty:
            raise LookupError(NO_FACE)
    except Exception as e:  # one bad file never stops the run; its reason is reported
        scorer.reset()  # drop anything half-scored
        row["error"] = _failure_reason(e, path)
        log.warning("%s: %s", path, row["error"])
        return row
    row.update(summarise_scores(scores, rel, config), frames_used=len(frames))
    return row


def _read_done(out_csv: str | os.PathLike | None, columns: list[str]) -> pd.DataFrame:
    """Rows of an earlier run's `out_csv` that were predicted without error (kept on resume)."""
    if out_csv is None or not Path(out_csv).is_file():
        return pd.DataFrame(columns=columns)
    prev = pd.read_csv(out_csv, dtype={"path": str, "error": str, "track_scores": str}, keep_default_na=False)
    return prev[prev["error"] == ""].reindex(columns=columns)


def _in_folder_order(rows: list[dict], files: list[Path], folder: Path, columns: list[str]) -> pd.DataFrame:
    preds = pd.DataFrame(rows, columns=columns)
    preds["label"] = preds["label"].astype("Int64")
    order = {media_name(p, folder): i for i, p in enumerate(files)}
    return preds.sort_values("path", key=lambda s: s.map(order)).reset_index(drop=True)


def predict_folder(
    folder: str | os.PathLike,
    model: torch.nn.Module,
    config: PredictConfig | None = None,
    *,
    extraction_config: ExtractionConfig | None = None,
    finder: FaceFinder | None = None,
    out_csv: str | os.PathLike | None = None,
    progress: bool = True,
    **options: Any,
) -> PredictionResult:
    """Score every video and image under `folder` (recursively) with one detector.

    Each file's score is the `aggregation` of its face scores (``mean`` of every face crop by default, or
    ``track_max``: the most fake-looking face track, ``median``, ``vote``). A file that is unreadable, empty or
    has no face gets a row with an empty score and its ``error``, and is listed in ``failures``; the run goes on.

    Args:
        folder: the folder to walk.
        model: a detector (frame or temporal), e.g. from ``load_model`` or ``create_model(name, weights=...)``.
        config: the options (`PredictConfig`: threshold, aggregation, batch size, device, windows); default
            `PredictConfig()`.
        extraction_config: face sampling/detection/tracking settings (`ExtractionConfig`, default as extraction).
        finder: a `FaceFinder` (face detector) to reuse (default: built from `extraction_config`).
        out_csv: if given, predictions are written there after every file, and files already predicted there
            (without error) are skipped: an interrupted run resumes.
        progress: show a progress bar.
        **options: fields of `PredictConfig` overriding `config` (``threshold=0.4``, ``aggregation="track_max"``...).

    Returns:
        `PredictionResult` (unpacks as ``predictions, failures``); ``failures`` also lists every entry `walk_media`
        skipped (FIFO, symlink loop, unreadable folder, GIF...) with ``skipped: <reason>``, without a row.
        Columns: path (relative to `folder`), kind
        (video or image), score, label, frames_used (frames with a scored face), faces_found (face tracks),
        track_scores (JSON ``{track: mean score}``), ``p_<method>`` for a model with a method head (P(method),
        aggregated like the score), error ('' when fine).
    """
    config = replace(config or PredictConfig(), **options)
    device = resolve_device(config.device)
    folder, extraction = Path(folder), extraction_config or ExtractionConfig()
    columns = prediction_columns(model)
    (files, skipped), done = walk_media(folder, config.frame_folders), _read_done(out_csv, columns)
    for rel, reason in skipped:
        log.warning("%s: skipped: %s", folder / rel, reason)
    rows: list[dict] = done.to_dict("records")
    skip = set(done["path"])
    todo = [p for p in files if media_name(p, folder) not in skip]
    model.eval().to(device)
    finder = finder or extraction.make_finder()
    scorer = StreamScorer(model, config.batch_size, config.windows, device)
    bar = tqdm(todo, desc="predict", unit="file", disable=not progress)
    for path in bar:
        rel = media_name(path, folder)
        bar.set_postfix_str(rel[-40:], refresh=False)
        rows.append(predict_file(path, rel, scorer, config, extraction, finder))
        if out_csv is not None:
            write_csv_atomic(pd.DataFrame(rows, columns=columns), out_csv)
    failures = [(r["path"], r["error"]) for r in rows if r["error"]] + [(p, f"skipped: {r}") for p, r in skipped]
    return PredictionResult(_in_folder_order(rows, files, folder, columns), failures)
