"""Evaluation: scoring datasets, metrics with bootstrap intervals and paired tests, calibration, cross-dataset
tables, protocols, published baselines, perturbations and robustness sweeps, comparison plots.

File-level aggregation and thresholds live in `deepfakeforensics.scoring`."""

from deepfakeforensics.evaluation.baselines import load_baselines, matching_baselines
from deepfakeforensics.evaluation.bootstrap import bootstrap_ci, delong_test, paired_bootstrap, paired_delong
from deepfakeforensics.evaluation.calibration import apply_temperature, fit_temperature, logit, sigmoid
from deepfakeforensics.evaluation.compare import evaluate
from deepfakeforensics.evaluation.config import EvaluateConfig
from deepfakeforensics.evaluation.crossdataset import cross_dataset_table, paired_tests
from deepfakeforensics.evaluation.errors import ERROR_COLUMNS, plot_errors, worst_errors
from deepfakeforensics.evaluation.gradcam import (
    AttentionRollout,
    Explainer,
    GradCAM,
    TemporalGradCAM,
    can_explain,
    explain,
    explainer,
    plot_gradcam_grid,
    plot_scored_gradcam,
)
from deepfakeforensics.evaluation.metrics import (
    METRIC_COLUMNS,
    compute_metrics,
    equal_error_rate,
    metrics_by_group,
    tpr_at_fpr,
)
from deepfakeforensics.evaluation.protocols import PROTOCOL_NAMES, PROTOCOLS, Protocol, apply_protocol
from deepfakeforensics.evaluation.robustness import PerturbedDataset, RobustnessConfig, perturb, robustness_sweep
from deepfakeforensics.evaluation.scores import predict_logits, predict_scores
from deepfakeforensics.evaluation.tables import EvaluationResult
from deepfakeforensics.evaluation.video_robustness import VideoRobustnessConfig, video_robustness

__all__ = [
    "AttentionRollout",
    "Explainer",
    "TemporalGradCAM",
    "can_explain",
    "explain",
    "explainer",
    "VideoRobustnessConfig",
    "video_robustness",
    "PROTOCOLS",
    "PROTOCOL_NAMES",
    "Protocol",
    "apply_protocol",
    "bootstrap_ci",
    "cross_dataset_table",
    "delong_test",
    "load_baselines",
    "matching_baselines",
    "paired_bootstrap",
    "paired_delong",
    "paired_tests",
    "METRIC_COLUMNS",
    "EvaluateConfig",
    "EvaluationResult",
    "GradCAM",
    "PerturbedDataset",
    "RobustnessConfig",
    "evaluate",
    "ERROR_COLUMNS",
    "plot_errors",
    "worst_errors",
    "perturb",
    "plot_gradcam_grid",
    "plot_scored_gradcam",
    "robustness_sweep",
    "apply_temperature",
    "compute_metrics",
    "equal_error_rate",
    "fit_temperature",
    "logit",
    "metrics_by_group",
    "predict_logits",
    "predict_scores",
    "sigmoid",
    "tpr_at_fpr",
]
