"""Scoring: from per-face scores to a file's score (`aggregate`) and from a score to a decision (`choose_threshold`,
the thresholds a run recorded on validation).

The names are importable from here (``from deepfakeforensics.scoring import aggregate``); each is defined once, in the
module named beside it below, and loaded on first use, so that importing ``scoring.aggregation`` (as reading a
package does) does not import ``thresholds`` and scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deepfakeforensics._lazy import lazy_exports

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "AGGREGATIONS": "aggregation",
    "Aggregation": "aggregation",
    "aggregate": "aggregation",
    "confident_strategy": "aggregation",
    "track_scores": "aggregation",
    "THRESHOLD_RULES": "thresholds",
    "ThresholdRule": "thresholds",
    "ThresholdsError": "thresholds",
    "choose_threshold": "thresholds",
    "read_thresholds": "thresholds",
    "recorded_threshold": "thresholds",
    "validation_thresholds": "thresholds",
    "write_thresholds": "thresholds",
}

__all__ = [
    "AGGREGATIONS",
    "THRESHOLD_RULES",
    "Aggregation",
    "ThresholdRule",
    "ThresholdsError",
    "aggregate",
    "choose_threshold",
    "confident_strategy",
    "read_thresholds",
    "recorded_threshold",
    "track_scores",
    "validation_thresholds",
    "write_thresholds",
]

if TYPE_CHECKING:  # pragma: no cover
    from deepfakeforensics.scoring.aggregation import (
        AGGREGATIONS,
        Aggregation,
        aggregate,
        confident_strategy,
        track_scores,
    )
    from deepfakeforensics.scoring.thresholds import (
        THRESHOLD_RULES,
        ThresholdRule,
        ThresholdsError,
        choose_threshold,
        read_thresholds,
        recorded_threshold,
        validation_thresholds,
        write_thresholds,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
