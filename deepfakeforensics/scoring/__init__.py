"""Scoring: from per-face scores to a file's score (`aggregate`) and from a score to a decision (`choose_threshold`,
the thresholds a run recorded on validation)."""

from deepfakeforensics.scoring.aggregation import AGGREGATIONS, Aggregation, aggregate, confident_strategy, track_scores
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
