"""The whole research workflow on the demo data, in one call: what ``dff demo`` runs and the notebooks show in steps.

build demo videos -> index (FF++ layout, official-style splits) -> extract faces -> train the compared models
-> evaluate them on the test split (table and plots) -> predict over a folder of new videos.
Every step resumes: a rerun skips what is finished.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from deepfakeforensics import _io
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.demo.build import build_demo_dataset
from deepfakeforensics.evaluation import evaluate
from deepfakeforensics.evaluation.gradcam import plot_video_gradcam
from deepfakeforensics.evaluation.ground_truth import ground_truth_metrics, join_ground_truth
from deepfakeforensics.faces import ExtractionConfig, extract_faces
from deepfakeforensics.indexing import index_dataset
from deepfakeforensics.inference.predict import PredictConfig, predict_folder
from deepfakeforensics.runs import RunInfo
from deepfakeforensics.training.plans import DEFAULT_PLANS, VIDEO_PLANS, ModelPlan, select_plans, train_plan


@dataclass(frozen=True)
class DemoRunConfig:
    """Settings of `run_demo`; the defaults take a few minutes on 2 CPU cores."""

    seed: int = field(default=0, metadata={"help": "seeds the demo data, splits and training"})
    n_identities: int = field(default=16, metadata={"help": "people (real videos) in the training/evaluation data"})
    n_frames: int = field(default=48, metadata={"help": "frames per demo video"})
    faces_per_video: int = field(default=16, metadata={"help": "frames sampled over each video for face extraction"})
    window: int = field(default=8, metadata={"help": "temporal models: frames per window"})
    batch_size: int = field(default=32, metadata={"help": "training batch size"})
    num_workers: int = field(default=2, metadata={"help": "DataLoader workers"})
    plans: tuple[ModelPlan, ...] = field(default=DEFAULT_PLANS, metadata={"help": "the models to train and compare"})
    new_identities: int = field(
        default=6, metadata={"help": "people in the separate folder of new videos that prediction runs on"}
    )
    gradcam: int = field(default=4, metadata={"help": "crops per class in the Grad-CAM grids (0: none)"})

    @classmethod
    def quick(cls, **changes: Any) -> DemoRunConfig:
        """A much smaller run (about a minute) for smoke tests: fewer people, frames and epochs."""
        base = {
            "n_identities": 6,
            "n_frames": 24,
            "faces_per_video": 8,
            "window": 4,
            "batch_size": 16,
            "num_workers": 0,
            "plans": select_plans(epochs=1),
            "new_identities": 6,
            "gradcam": 2,
        }
        return cls(**{**base, **changes})

    def with_video_model(self) -> DemoRunConfig:
        """These settings plus the video-level plans (`VIDEO_PLANS`), at one epoch when the frame plans have one."""
        quick = all(p.epochs == 1 for p in self.plans)
        video = tuple(dataclasses.replace(p, epochs=1) if quick else p for p in VIDEO_PLANS)
        return dataclasses.replace(self, plans=self.plans + video)


@dataclass
class DemoResult:
    """Where everything went, and the headline tables."""

    out_dir: Path
    data_root: Path
    index_csv: Path
    faces_csv: Path
    runs: dict[str, Path]
    evaluation_dir: Path
    metrics: pd.DataFrame
    predictions_csv: Path
    predictions: pd.DataFrame  # one row per new video, with its true label in `truth`
    new_video_metrics: dict[str, Any]  # file-level metrics of the predictions on the new videos
    plots: dict[str, Path] = field(default_factory=dict)


def demo_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    """The layout of a demo run folder (the same as a project: labels/, extracted/, checkpoints/...)."""
    out = Path(out_dir)
    return {
        "data": out / "data",
        "new_videos": out / "new_videos",
        "index": out / "labels" / "demo.csv",
        "faces": out / "labels" / "demo_faces.csv",
        "extracted": out / "extracted",
        "checkpoints": out / "checkpoints",
        "evaluation": out / "evaluation",
        "predictions": out / "predictions.csv",
    }


def _prepare_faces(paths: dict[str, Path], config: DemoRunConfig, extraction: ExtractionConfig) -> pd.DataFrame:
    """Steps 1-3: build the demo videos, index them (FF++ layout, official-style splits), extract their faces."""
    print("1/6 building the demo videos")
    build_demo_dataset(paths["data"], seed=config.seed, n_identities=config.n_identities, n_frames=config.n_frames)
    print("2/6 indexing them (FaceForensics++ layout, official-style splits)")
    index = index_dataset(paths["data"], "ffpp")
    if index.failures:
        raise RuntimeError(f"indexing {paths['data']} reported failures: {index.failures[:3]}")
    _io.save_table(index.videos, paths["index"], root=paths["data"], dataset="ffpp")
    print("3/6 extracting faces")
    extract_faces(paths["index"], paths["extracted"], extraction)
    return _io.load_table(paths["faces"])


def _predict_new_videos(
    paths: dict[str, Path], config: DemoRunConfig, run_dir: Path, extraction: ExtractionConfig
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Path]]:
    """Step 6: predict over a folder of new videos with `run_dir`'s model; predictions, metrics, Grad-CAM plot."""
    print("6/6 predicting over a folder of new videos")
    build_demo_dataset(
        paths["new_videos"], seed=config.seed + 1000, n_identities=config.new_identities, n_frames=config.n_frames
    )
    run = RunInfo.load(run_dir)  # the run's validation threshold, windows and crops, as dff predict uses them
    model = run.model
    predict_config = PredictConfig(threshold=run.threshold.value, aggregation=run.aggregation, windows=run.windows)
    extraction = run.extraction_config(extraction)
    predictions, _ = predict_folder(
        paths["new_videos"], model, predict_config, extraction_config=extraction, out_csv=paths["predictions"]
    )
    print(f"   threshold {run.threshold.value:.3g}: {run.threshold.source}")
    # The new videos' true labels come from their own index (never from the predictions): how well did it do?
    predictions = join_ground_truth(predictions, paths["new_videos"], "ffpp")
    plots = {}
    if config.gradcam:
        chosen = pd.concat([g.head(2) for _, g in predictions.groupby("truth")])
        plots["gradcam_new_videos"] = plot_video_gradcam(
            model,
            [paths["new_videos"] / p for p in chosen["path"]],
            paths["evaluation"] / "gradcam_new_videos.png",
            labels=chosen["truth"].astype(int).tolist(),
            extraction_config=extraction,
        )
    return predictions, ground_truth_metrics(predictions, threshold=run.threshold.value), plots


def run_demo(out_dir: str | os.PathLike = "demo_run", config: DemoRunConfig | None = None) -> DemoResult:
    """Run the whole workflow on demo data built in `out_dir`, and return where its tables and plots are.

    Example:
        >>> result = run_demo("demo_run")  # doctest: +SKIP
        >>> result.metrics.query("level == 'file'")[["run", "auc"]]  # doctest: +SKIP
    """
    config = config or DemoRunConfig()
    paths = demo_paths(out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    _io.write_json_atomic(Path(out_dir) / "demo_run.json", asdict(config))
    extraction = ExtractionConfig(sampling=SamplingConfig(n_frames=config.faces_per_video))
    faces = _prepare_faces(paths, config, extraction)
    print("4/6 training", ", ".join(p.model for p in config.plans))
    for plan in config.plans:
        train_plan(
            plan,
            faces,
            paths["checkpoints"],
            window=config.window,
            batch_size=config.batch_size,
            num_workers=config.num_workers,
            seed=config.seed,
        )
    runs = {p.run: paths["checkpoints"] / p.run for p in config.plans}
    print("5/6 evaluating on the test split")
    result = evaluate(
        list(runs.values()), paths["faces"], split="test", out_dir=paths["evaluation"], gradcam=config.gradcam
    )
    frame_run = next(runs[p.run] for p in config.plans if p.init_from is None)
    predictions, new_metrics, gradcam_plots = _predict_new_videos(paths, config, frame_run, extraction)
    return DemoResult(
        out_dir=Path(out_dir),
        data_root=paths["data"],
        index_csv=paths["index"],
        faces_csv=paths["faces"],
        runs=runs,
        evaluation_dir=paths["evaluation"],
        metrics=result.metrics,
        predictions_csv=paths["predictions"],
        predictions=predictions,
        new_video_metrics=new_metrics,
        plots={**result.plots, **gradcam_plots},
    )
