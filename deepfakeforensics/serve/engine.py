"""The detection behind the routes: one model per worker, scored on the same code path as ``dff predict``.

An image's faces come from `predict.detect_image_faces` and are scored by `predict.StreamScorer`; its verdict and a
video's whole row come from `predict.summarise_scores` / `predict.predict_file`: detection, tracking, scoring and
aggregation are those of ``dff predict``, nothing is re-implemented here.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd

from deepfakeforensics.data.media_limits import MediaTooLarge, check_media_size
from deepfakeforensics.data.video import VideoError
from deepfakeforensics.devices import resolve_device
from deepfakeforensics.evaluation.gradcam import can_explain, explainer, overlay
from deepfakeforensics.faces import ExtractionConfig, FaceFinder, read_rgb
from deepfakeforensics.inference.predict import (
    NO_FACE,
    PredictConfig,
    StreamScorer,
    detect_image_faces,
    predict_file,
    summarise_scores,
)
from deepfakeforensics.models import Detector
from deepfakeforensics.runs import RunInfo
from deepfakeforensics.serve.config import ServeConfig
from deepfakeforensics.serve.uploads import Upload, UploadError


@dataclass
class Worker:
    """What one detection needs for itself: a model (Grad-CAM hooks it) and a face finder."""

    model: Detector
    finder: FaceFinder


def _png_base64(rgb: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


class Engine:
    """The served model: its description (`describe`), a pool of workers, and the image and video detections.

    Args:
        info: the detector and how to use it (`RunInfo.load`: threshold, aggregation, windows, crops), loaded with
            the server's ``--threshold``, ``--metrics-csv`` and ``--aggregation``.
        config: the server's options.
    """

    def __init__(self, info: RunInfo, config: ServeConfig):
        self.info = info
        self.checkpoint = info.checkpoint
        self.threshold = info.threshold
        self.device = resolve_device(config.device)
        self.predict_config = PredictConfig(
            threshold=self.threshold.value,
            aggregation=self.threshold.aggregation,
            batch_size=config.batch_size,
            device=str(self.device),
            windows=info.windows,
            max_pixels=config.max_pixels,
        )
        sampling = info.prediction_sampling(frames=config.frames)[0]  # a run trained on clips: its clips
        extraction = ExtractionConfig(sampling=sampling, detect_size=config.detect_size or None, device="auto")
        self.extraction = info.extraction_config(extraction)  # crops cut as the detector expects them
        model = info.model.eval().to(self.device)
        self.model = model
        self.gradcam = can_explain(model)
        self._pool: queue.Queue[Worker] = queue.Queue()
        for i in range(config.workers):
            self._pool.put(Worker(model if i == 0 else copy.deepcopy(model), self.extraction.make_finder()))

    @classmethod
    def from_weights(cls, weights: str | os.PathLike, config: ServeConfig, model: str | None = None) -> Engine:
        """The engine of a run folder, checkpoint or released file, with the server's threshold options applied."""
        info = RunInfo.load(
            weights, model, threshold=config.threshold, aggregation=config.aggregation, metrics_csv=config.metrics_csv
        )
        return cls(info, config)

    def describe(self) -> dict[str, Any]:
        """What /model answers."""
        described = self.info.describe()
        described.update(
            checkpoint=self.checkpoint.name,
            frames_per_video=self.extraction.sampling.max_frames,
            heatmaps=self.gradcam,
            device=str(self.device),
        )
        return described

    @contextmanager
    def worker(self) -> Iterator[Worker]:
        """A free worker for the duration of one detection (the admission bounds how many wait)."""
        w = self._pool.get()
        try:
            yield w
        finally:
            self._pool.put(w)

    def warm_up(self) -> None:
        """One forward pass per worker, so the first request does not pay for lazy initialisation."""
        cfg = self.model.default_cfg
        blank = np.zeros((cfg.input_size[1], cfg.input_size[2], 3), np.uint8)
        with self.worker() as w:
            scorer = StreamScorer(w.model, 1, self.predict_config.windows, self.device)
            scorer.add(0, 0, blank)
            scorer.finish()

    def _scorer(self, w: Worker) -> StreamScorer:
        return StreamScorer(w.model, self.predict_config.batch_size, self.predict_config.windows, self.device)

    def detect_image(self, upload: Upload, heatmaps: bool) -> dict[str, Any]:
        """Every face of an image with its score and box (and Grad-CAM heatmap), and the image's verdict."""
        self._check_pixels(upload)
        try:
            rgb = read_rgb(upload.path)
        except ValueError:
            raise UploadError(415, "undecodable_image", f"{upload.name!r}: not a decodable image") from None
        with self.worker() as w:
            faces = detect_image_faces(rgb, self.extraction, w.finder)
            scorer = self._scorer(w)
            for track, (_, crop) in enumerate(faces):
                scorer.add(track, 0, crop)
            scores = scorer.finish()
            maps = self._heatmaps(w, [crop for _, crop in faces]) if heatmaps and faces else [None] * len(faces)
        per_face = scores.groupby("track")["score"].mean() if faces else pd.Series(dtype=float)
        out = {"name": upload.name, "kind": "image", "width": int(rgb.shape[1]), "height": int(rgb.shape[0])}
        out["faces"] = [
            {"face": t, "box": [round(v, 1) for v in box], "score": float(per_face[t]), "heatmap_png": maps[t]}
            for t, (box, _) in enumerate(faces)
        ]
        out.update(self._verdict(scores, upload.name) if faces else self._no_verdict())
        return out

    def _check_pixels(self, upload: Upload) -> None:
        """422 naming the limit when the upload's header declares frames over ``--max-pixels`` (nothing decoded)."""
        try:
            check_media_size(upload.path, upload.kind, self.predict_config.max_pixels)
        except MediaTooLarge as e:
            raise UploadError(422, "too_many_pixels", f"{upload.name!r}: {e.reason}") from None
        except VideoError as e:  # a video OpenCV cannot open
            raise UploadError(422, "unreadable_video", f"{upload.name!r}: {e.reason}") from None

    def _heatmaps(self, w: Worker, crops: list[np.ndarray]) -> list[str | None]:
        if not self.gradcam:
            return [None] * len(crops)
        heat, _ = explainer(w.model, window=self.predict_config.windows.window)(crops)
        return [_png_base64(overlay(c, h)) for c, h in zip(crops, heat, strict=True)]

    def _verdict(self, scores: pd.DataFrame, name: str) -> dict[str, Any]:
        summary = summarise_scores(scores, name, self.predict_config)
        return {
            "score": summary["score"],
            "verdict": "fake" if summary["label"] == 1 else "real",
            "threshold": self.threshold.value,
            "aggregation": self.predict_config.aggregation,
            "error": None,
        }

    def _no_verdict(self) -> dict[str, Any]:
        return {
            "score": None,
            "verdict": None,
            "threshold": self.threshold.value,
            "aggregation": self.predict_config.aggregation,
            "error": NO_FACE,
        }

    def detect_video(self, upload: Upload, stop: Callable[[], bool] | None = None) -> dict[str, Any]:
        """A video's per-track and file scores, as ``dff predict`` computes them (`predict_file`); `stop` ends the
        work early (the request's time limit ran out)."""
        self._check_pixels(upload)
        with self.worker() as w:
            scorer, config = self._scorer(w), self.predict_config
            row = predict_file(upload.path, upload.name, scorer, config, self.extraction, w.finder, "video", stop)
        if row["error"] and row["error"] != NO_FACE:
            raise UploadError(422, "unreadable_video", f"{upload.name!r}: {row['error']}")
        tracks = json.loads(row["track_scores"])
        out = {"name": upload.name, "kind": "video", "frames_sampled": self.extraction.sampling.max_frames}
        out["frames_used"] = int(row["frames_used"])
        out["tracks"] = [{"track": int(t), "score": float(s)} for t, s in tracks.items()]
        if row["error"]:
            out.update(self._no_verdict())
            return out
        label = int(row["label"])
        out.update(
            score=float(row["score"]),
            verdict="fake" if label == 1 else "real",
            threshold=self.threshold.value,
            aggregation=self.predict_config.aggregation,
            error=None,
        )
        return out
