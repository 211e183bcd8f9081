"""Inference: predict P(fake) for every video and image under a folder (`predict_folder`, `predict_file`) and write
a self-contained HTML report of the predictions (`write_report`).

Names are loaded on first use (``from deepfakeforensics.inference import predict_folder``), each defined once in the
module named beside it below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deepfakeforensics._lazy import lazy_exports

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "PredictConfig": "predict",
    "PredictionResult": "predict",
    "predict_file": "predict",
    "predict_folder": "predict",
    "list_media": "media",
    "walk_media": "media",
    "read_predictions": "report",
    "write_report": "report",
}

__all__ = [
    "PredictConfig",
    "PredictionResult",
    "list_media",
    "predict_file",
    "predict_folder",
    "read_predictions",
    "walk_media",
    "write_report",
]

if TYPE_CHECKING:  # pragma: no cover
    from deepfakeforensics.inference.media import list_media, walk_media
    from deepfakeforensics.inference.predict import (
        PredictConfig,
        PredictionResult,
        predict_file,
        predict_folder,
    )
    from deepfakeforensics.inference.report import read_predictions, write_report


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
