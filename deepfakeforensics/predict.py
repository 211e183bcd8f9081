"""Prediction over a folder of videos and images: one row per file with its P(fake), per-track scores and errors.

Faces are found and tracked exactly as in extraction (`deepfakeforensics.faces.iter_face_crops`) and scored in
batches as they stream out of the decoder, so memory does not grow with a video's length. Temporal models get their
windows built per track on the fly, with a buffer of one window per track.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from deepfakeforensics._io import write_csv_atomic
from deepfakeforensics._memory import release_free_memory
from deepfakeforensics.evaluation.aggregate import AGGREGATIONS, aggregate
from deepfakeforensics.transforms import to_tensor

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
PREDICTION_COLUMNS = ["path", "kind", "score", "label", "frames_used", "faces_found", "track_scores", "error"]


@dataclass
class PredictionResult:
    """Per-file predictions (`PREDICTION_COLUMNS`) and the files that could not be scored, as ``(path, reason)``."""

    predictions: pd.DataFrame
    failures: list[tuple[str, str]] = field(default_factory=list)

    def __iter__(self) -> Iterator:  # ``preds, failures = predict_folder(...)``
        return iter((self.predictions, self.failures))


def list_media(folder: str | os.PathLike) -> list[Path]:
    """Every video and image file under `folder` (recursively, by extension, case-insensitive), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder")
    exts = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in exts and p.is_file())


class StreamScorer:
    """Scores face crops as they arrive, in batches; keeps only one batch (and one window per track) in memory.

    Frame models score every crop. Temporal models score windows of `window` consecutive crops of a track, starting
    every `stride` crops (as `WindowDataset`); a track shorter than a window is padded by repeating its last crop.
    """

    def __init__(self, model: torch.nn.Module, batch_size: int = 32, window: int = 8, stride: int | None = None,
                 device: str | torch.device = "cpu") -> None:  # fmt: skip
        self.model = model
        self.cfg = model.default_cfg
        self.temporal = bool(self.cfg.temporal)
        self.batch_size = max(1, batch_size)
        self.window = int(window)
        self.stride = int(stride or window)
        self.device = torch.device(device)
        self._x: list[torch.Tensor] = []
        self._keys: list[tuple[int, int]] = []
        self._rows: list[tuple[int, int, float]] = []
        self._buffers: dict[int, deque] = {}
        self._seen: dict[int, int] = {}

    def add(self, track: int, frame: int, image: np.ndarray) -> None:
        """One RGB uint8 face crop of `track` at `frame` (crops of a track in frame order)."""
        if not self.temporal:
            self._push(to_tensor([image], self.cfg)[0], (track, frame))
            return
        buf = self._buffers.setdefault(track, deque(maxlen=self.window))
        buf.append((frame, image))
        n = self._seen[track] = self._seen.get(track, 0) + 1
        start = n - self.window
        if start >= 0 and start % self.stride == 0:
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
        logits = self.model(x).float().reshape(-1).cpu().numpy()
        self._rows.extend((t, f, float(z)) for (t, f), z in zip(self._keys, logits, strict=True))
        self._x, self._keys = [], []
        release_free_memory()  # the batch's activations: keeps long videos' peak memory flat

    def reset(self) -> None:
        """Forget every pending crop and score (after a file failed half-way)."""
        self._x, self._keys, self._rows = [], [], []
        self._buffers, self._seen = {}, {}

    def finish(self) -> pd.DataFrame:
        """Score what is left; rows ``track, frame`` (or ``start_frame`` for windows), ``logit, score``."""
        if self.temporal:
            for track, n in self._seen.items():
                if n < self.window:  # never filled a window: pad with its last crop, as WindowDataset does
                    frames = [im for _, im in self._buffers[track]]
                    frames += [frames[-1]] * (self.window - n)
                    self._push(to_tensor(frames, self.cfg), (track, self._buffers[track][0][0]))
            self._buffers.clear()
        self._flush()
        col = "start_frame" if self.temporal else "frame"
        df = pd.DataFrame(self._rows, columns=["track", col, "logit"])
        df["score"] = 1.0 / (1.0 + np.exp(-df["logit"].to_numpy(dtype=np.float64)))
        self._rows = []
        self._seen = {}
        return df


def _score_video(path: Path, scorer: StreamScorer, config, finder) -> tuple[pd.DataFrame, set[int]]:
    from deepfakeforensics.faces import iter_face_crops

    frames: set[int] = set()
    for crop in iter_face_crops(path, config, finder):
        scorer.add(crop.track, crop.frame, crop.image)
        frames.add(crop.frame)
    return scorer.finish(), frames


def _score_image(path: Path, scorer: StreamScorer, config, finder) -> tuple[pd.DataFrame, set[int]]:
    from deepfakeforensics.faces import crop_face, read_rgb

    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes)")
    rgb = read_rgb(path)
    [dets] = finder.detect([rgb])
    for track, box in enumerate(dets.boxes):
        scorer.add(track, 0, crop_face(rgb, box, config.margin, config.crop_size))
    return scorer.finish(), ({0} if len(dets) else set())


def predict_folder(
    folder: str | os.PathLike,
    model: torch.nn.Module,
    threshold: float = 0.5,
    extraction_config=None,
    aggregation: str = "mean",
    batch_size: int = 32,
    window: int = 8,
    stride: int | None = None,
    device: str | torch.device = "cpu",
    finder=None,
    out_csv: str | os.PathLike | None = None,
    progress: bool = True,
) -> PredictionResult:
    """Score every video and image under `folder` (recursively) with one detector.

    Each file's score is the `aggregation` of its face scores (``mean`` of every face crop by default, or
    ``track_max``: the most fake-looking face track, ``median``, ``vote``). A file that is unreadable, empty or
    has no face gets a row with an empty score and its ``error``, and is listed in ``failures``; the run goes on.

    Args:
        folder: the folder to walk.
        model: a detector (frame or temporal), e.g. from ``load_model`` or ``create_model(name, weights=...)``.
        threshold: ``label = score >= threshold`` (1 = fake).
        extraction_config: face sampling/detection/tracking settings (`ExtractionConfig`, default as extraction).
        aggregation: file-level rule, one of ``mean``, ``track_max``, ``median``, ``vote``.
        batch_size: crops (or windows) per forward pass.
        window: frames per window for temporal models (use the model's training window).
        stride: crops between window starts for temporal models (default: `window`).
        device: where to run the model (faces use ``extraction_config.device``).
        finder: a `FaceFinder` (face detector) to reuse (default: built from `extraction_config`).
        out_csv: if given, predictions are written there after every file, and files already predicted there
            (without error) are skipped: an interrupted run resumes.
        progress: show a progress bar.

    Returns:
        `PredictionResult` (unpacks as ``predictions, failures``). Columns: path (relative to `folder`), kind
        (video or image), score, label, frames_used (frames with a scored face), faces_found (face tracks),
        track_scores (JSON ``{track: mean score}``), error ('' when fine).
    """
    from deepfakeforensics.faces import ExtractionConfig

    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
    folder = Path(folder)
    config = extraction_config or ExtractionConfig()
    files = list_media(folder)
    done = pd.DataFrame(columns=PREDICTION_COLUMNS)
    if out_csv is not None and Path(out_csv).is_file():
        prev = pd.read_csv(out_csv, dtype={"path": str, "error": str, "track_scores": str}, keep_default_na=False)
        done = prev[prev["error"] == ""].reindex(columns=PREDICTION_COLUMNS)
    skip = set(done["path"])
    rows: list[dict] = done.to_dict("records")
    failures: list[tuple[str, str]] = []
    model.eval().to(device)
    finder = finder or config.make_finder()
    scorer = StreamScorer(model, batch_size, window, stride, device)
    todo = [p for p in files if p.relative_to(folder).as_posix() not in skip]
    bar = tqdm(todo, desc="predict", unit="file", disable=not progress)
    for path in bar:
        rel = path.relative_to(folder).as_posix()
        bar.set_postfix_str(rel[-40:], refresh=False)
        kind = "image" if path.suffix.lower() in IMAGE_EXTENSIONS else "video"
        row = {"path": rel, "kind": kind, "score": np.nan, "label": pd.NA, "frames_used": 0, "faces_found": 0,
               "track_scores": "{}", "error": ""}  # fmt: skip
        try:
            score_fn = _score_image if kind == "image" else _score_video
            scores, frames = score_fn(path, scorer, config, finder)
            if scores.empty:
                raise LookupError("no face found in the sampled frames")
            tracks = scores.groupby("track", sort=True)["score"].mean()
            file_score = float(aggregate(scores.assign(video_id=rel), aggregation)["score"].iat[0])
            row.update(score=file_score, label=int(file_score >= threshold), frames_used=len(frames),
                       faces_found=int(len(tracks)),
                       track_scores=json.dumps({str(t): round(float(s), 6) for t, s in tracks.items()}))  # fmt: skip
        except Exception as e:  # one bad file never stops the run; its reason is reported
            scorer.reset()  # drop anything half-scored
            reason = getattr(e, "reason", None) or str(e).replace(f"{path}: ", "")
            if not isinstance(e, LookupError | ValueError | OSError) and not hasattr(e, "reason"):
                reason = f"{type(e).__name__}: {reason}"
            row["error"] = reason
            failures.append((rel, reason))
            log.warning("%s: %s", path, reason)
        rows.append(row)
        if out_csv is not None:
            write_csv_atomic(pd.DataFrame(rows, columns=PREDICTION_COLUMNS), out_csv)
    preds = pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
    preds["label"] = preds["label"].astype("Int64")
    order = {p.relative_to(folder).as_posix(): i for i, p in enumerate(files)}
    preds = preds.sort_values("path", key=lambda s: s.map(order)).reset_index(drop=True)
    return PredictionResult(preds, failures)
