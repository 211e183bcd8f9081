"""`EvaluateConfig`: the options of `evaluate` (``dff evaluate`` generates its command line from the fields)."""

from __future__ import annotations

from dataclasses import dataclass, field

from deepfakeforensics.evaluation.protocols import PROTOCOL_NAMES, ProtocolName
from deepfakeforensics.scoring.aggregation import AGGREGATIONS, Aggregation
from deepfakeforensics.scoring.thresholds import THRESHOLD_RULES, ThresholdRule


@dataclass(frozen=True)
class EvaluateConfig:
    """How `evaluate` scores and compares runs; ``dff evaluate`` exposes each field as an option.

    Example:
        >>> EvaluateConfig(aggregation="track_max", val_split="none").val_split is None
        True
    """

    split: str = field(default="test", metadata={"help": "split to report on"})
    val_split: str | None = field(
        default="val",
        metadata={"help": "split thresholds and the temperature are fitted on ('none': threshold 0.5, no calibration)"},
    )
    aggregation: Aggregation = field(
        default="mean",
        metadata={
            "help": "file-level rule: mean of frame/window probabilities, track_max (most fake-looking face "
            "track), median or vote"
        },
    )
    threshold_rule: ThresholdRule = field(
        default="eer", metadata={"help": "threshold chosen on validation: eer, f1, fpr (at --target-fpr) or fixed 0.5"}
    )
    target_fpr: float = field(default=0.01, metadata={"help": "false positive rate for --threshold-rule fpr"})
    calibrate: bool = field(default=False, metadata={"help": "temperature scaling fitted on validation logits"})
    robustness: bool = field(
        default=False,
        metadata={
            "help": "QUICK crop-level sweep: JPEG quality, blur, downscale and noise applied to the extracted crops "
            "(one scoring pass per strength)"
        },
    )
    perturb_index: str | None = field(
        default=None,
        metadata={
            "help": "video index CSV: its split's VIDEOS are perturbed (DeeperForensics-1.0, 7 distortions x 5 "
            "levels), faces re-extracted and scored (slow; video_robustness.csv)"
        },
    )
    perturb_mixes: int = field(default=0, metadata={"help": "random mixes of 2-4 distortions added to --perturb-index"})
    gradcam: int = field(default=4, metadata={"help": "crops per class in each frame model's Grad-CAM grid (0: none)"})
    errors: int = field(
        default=3,
        metadata={"help": "worst false positives and negatives per run in errors_<run>.csv and .png (0: none)"},
    )
    batch_size: int = field(default=32, metadata={"help": "items (crops or windows) per forward pass"})
    num_workers: int = field(default=0, metadata={"help": "DataLoader workers decoding crops"})
    device: str = field(default="auto", metadata={"help": "torch device: auto (a GPU when there is one), cpu, cuda..."})
    plots: bool = field(default=True, metadata={"help": "write the comparison figures"})
    bootstrap: int = field(
        default=1000,
        metadata={
            "help": "bootstrap resamples of videos (not frames) for the 95-percent intervals of AUC and EER and the "
            "paired tests (0: none)"
        },
    )
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap draws"})
    protocol: ProtocolName = field(
        default="own",
        metadata={
            "help": "own: every extracted face; deepfakebench: 32 frames per video, largest face, margin 1.3, "
            "video score = mean of frame scores (comparable with DeepfakeBench's tables)"
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.val_split, str) and self.val_split.lower() == "none":
            object.__setattr__(self, "val_split", None)
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ValueError(f"unknown threshold rule {self.threshold_rule!r}; choose one of {THRESHOLD_RULES}")
        if self.protocol not in PROTOCOL_NAMES:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOL_NAMES)}")
        if self.gradcam < 0 or self.batch_size < 1 or self.num_workers < 0 or self.bootstrap < 0:
            raise ValueError("gradcam, num_workers and bootstrap must be >= 0 and batch_size >= 1")
