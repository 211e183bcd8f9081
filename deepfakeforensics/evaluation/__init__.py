"""Evaluation: scoring datasets, file-level aggregation, metrics, thresholds, calibration, comparison plots."""

from deepfakeforensics.evaluation.aggregate import AGGREGATIONS, aggregate, track_scores
from deepfakeforensics.evaluation.calibration import (
    apply_temperature,
    choose_threshold,
    fit_temperature,
    logit,
    sigmoid,
)
from deepfakeforensics.evaluation.compare import EvaluationResult, evaluate
from deepfakeforensics.evaluation.gradcam import GradCAM, plot_gradcam_grid
from deepfakeforensics.evaluation.metrics import (
    METRIC_COLUMNS,
    compute_metrics,
    equal_error_rate,
    metrics_by_group,
    tpr_at_fpr,
)
from deepfakeforensics.evaluation.robustness import PerturbedDataset, RobustnessConfig, perturb, robustness_sweep
from deepfakeforensics.evaluation.scores import predict_logits, predict_scores

__all__ = [
    "AGGREGATIONS",
    "METRIC_COLUMNS",
    "EvaluationResult",
    "GradCAM",
    "PerturbedDataset",
    "RobustnessConfig",
    "evaluate",
    "perturb",
    "plot_gradcam_grid",
    "robustness_sweep",
    "aggregate",
    "apply_temperature",
    "choose_threshold",
    "compute_metrics",
    "equal_error_rate",
    "fit_temperature",
    "logit",
    "metrics_by_group",
    "predict_logits",
    "predict_scores",
    "sigmoid",
    "tpr_at_fpr",
    "track_scores",
]
