"""The whole research workflow on the demo data, in one call: what ``dff demo`` runs and the notebooks show in steps.

build demo videos -> index (FF++ layout, official-style splits) -> extract faces -> train the compared models
-> evaluate them on the test split (table and plots) -> predict over a folder of new videos.
Every step resumes: a rerun skips what is finished.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from deepfakeforensics import _io


@dataclass(frozen=True)
class ModelPlan:
    """One model the demo trains."""

    model: str  # registered model name
    run: str  # run name (folder under checkpoints/)
    epochs: int  # training epochs
    init_from: str | None = None  # run name of a frame model whose best.pt starts this (temporal) model's backbone
    lr: float = 1e-3  # peak learning rate
    frames_per_video: int | None = None  # train on at most this many crops per track and video (None: all)


DEFAULT_PLANS = (
    ModelPlan("mesonet4", "mesonet4", epochs=6),
    ModelPlan("mesonet4_lstm", "mesonet4_lstm", epochs=3, init_from="mesonet4"),
    ModelPlan("efficientnet_b0", "efficientnet_b0", epochs=2, lr=3e-4, frames_per_video=8),
)


@dataclass(frozen=True)
class DemoRunConfig:
    """Settings of `run_demo`; the defaults take a few minutes on 2 CPU cores."""

    seed: int = 0  # seeds the demo data, splits and training
    n_identities: int = 16  # people in the training/evaluation demo data (real videos)
    n_frames: int = 48  # frames per demo video
    faces_per_video: int = 16  # frames sampled uniformly over each video for face extraction
    window: int = 8  # temporal models: frames per window
    batch_size: int = 32  # training batch size
    num_workers: int = 2  # DataLoader workers
    plans: tuple[ModelPlan, ...] = DEFAULT_PLANS  # the models to train and compare
    new_identities: int = 6  # people in the separate folder of "new" videos that prediction runs on
    gradcam: int = 4  # crops per class in the Grad-CAM grids (0: none)

    @classmethod
    def quick(cls, **changes: Any) -> DemoRunConfig:
        """A much smaller run (about a minute) for smoke tests: fewer people, frames and epochs."""
        plans = tuple(ModelPlan(p.model, p.run, 1, p.init_from, p.lr, p.frames_per_video) for p in DEFAULT_PLANS)
        base = {"n_identities": 6, "n_frames": 24, "faces_per_video": 8, "window": 4, "batch_size": 16,
                "num_workers": 0, "plans": plans, "new_identities": 6, "gradcam": 2}  # fmt: skip
        return cls(**{**base, **changes})


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


def subsample_frames(faces: pd.DataFrame, per_track: int | None) -> pd.DataFrame:
    """At most `per_track` crops of each (video_id, track), spread evenly over its frames (for slow models)."""
    if per_track is None:
        return faces
    keep = []
    for _, rows in faces.sort_values("frame").groupby(["video_id", "track"], sort=False):
        if len(rows) <= per_track:
            keep.append(rows)
        else:
            step = len(rows) / per_track
            keep.append(rows.iloc[[int(i * step) for i in range(per_track)]])
    out = pd.concat(keep).sort_index()
    out.attrs = dict(faces.attrs)
    return out


def train_plan(plan: ModelPlan, faces: pd.DataFrame, checkpoints: Path, config: DemoRunConfig, callbacks=None) -> Path:
    """Train one planned model (resuming a run that was interrupted; a finished run is left as it is)."""
    from deepfakeforensics.training import TrainConfig
    from deepfakeforensics.training.run import train_model

    run_dir = checkpoints / plan.run
    init = str(checkpoints / plan.init_from / "best.pt") if plan.init_from else None
    train_config = TrainConfig(
        run=plan.run, checkpoints_dir=str(checkpoints), epochs=plan.epochs, lr=plan.lr, batch_size=config.batch_size,
        num_workers=config.num_workers, seed=config.seed, patience=0, init=init,
        resume=(run_dir / "last.pt").is_file(),
    )  # fmt: skip
    train_model(plan.model, subsample_frames(faces, plan.frames_per_video), train_config, window=config.window,
                stride=config.window, callbacks=callbacks)  # fmt: skip
    return run_dir


def run_demo(out_dir: str | os.PathLike = "demo_run", config: DemoRunConfig | None = None) -> DemoResult:
    """Run the whole workflow on demo data built in `out_dir`, and return where its tables and plots are.

    Example:
        >>> result = run_demo("demo_run")  # doctest: +SKIP
        >>> result.metrics.query("level == 'file'")[["run", "auc"]]  # doctest: +SKIP
    """
    from deepfakeforensics.demo.build import build_demo_dataset
    from deepfakeforensics.evaluation import compute_metrics, evaluate
    from deepfakeforensics.evaluation.gradcam import plot_video_gradcam
    from deepfakeforensics.faces import ExtractionConfig, extract_faces
    from deepfakeforensics.indexing import index_dataset
    from deepfakeforensics.models import load_model
    from deepfakeforensics.predict import predict_folder
    from deepfakeforensics.video import SamplingConfig

    config = config or DemoRunConfig()
    paths = demo_paths(out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    _io.write_json_atomic(Path(out_dir) / "demo_run.json", asdict(config))

    print("1/6 building the demo videos")
    build_demo_dataset(paths["data"], seed=config.seed, n_identities=config.n_identities, n_frames=config.n_frames)
    print("2/6 indexing them (FaceForensics++ layout, official-style splits)")
    index = index_dataset(paths["data"], "ffpp")
    if index.failures:
        raise RuntimeError(f"indexing {paths['data']} reported failures: {index.failures[:3]}")
    _io.save_table(index.videos, paths["index"], root=paths["data"], dataset="ffpp")
    print("3/6 extracting faces")
    extraction = ExtractionConfig(sampling=SamplingConfig(n_frames=config.faces_per_video))
    faces = extract_faces(paths["index"], paths["extracted"], extraction)
    faces = _io.load_table(paths["faces"])
    print("4/6 training", ", ".join(p.model for p in config.plans))
    runs = {p.run: train_plan(p, faces, paths["checkpoints"], config) for p in config.plans}
    print("5/6 evaluating on the test split")
    result = evaluate(list(runs.values()), paths["faces"], split="test", out_dir=paths["evaluation"],
                      gradcam=config.gradcam)  # fmt: skip
    print("6/6 predicting over a folder of new videos")
    build_demo_dataset(paths["new_videos"], seed=config.seed + 1000, n_identities=config.new_identities,
                       n_frames=config.n_frames)  # fmt: skip
    best_frame_run = next(r for p, r in zip(config.plans, runs.values(), strict=True) if p.init_from is None)
    model = load_model(best_frame_run / "best.pt")
    predictions, _ = predict_folder(paths["new_videos"], model, extraction_config=extraction,
                                    out_csv=paths["predictions"])  # fmt: skip
    # The new videos' true labels come from their own index (never from the predictions): how well did it do?
    truth = index_dataset(paths["new_videos"], "ffpp").videos[["path", "label"]].rename(columns={"label": "truth"})
    predictions = predictions.merge(truth, on="path", how="left")
    scored = predictions.dropna(subset=["score"])
    new_metrics = compute_metrics(scored["truth"], scored["score"], threshold=0.5)
    plots = dict(result.plots)
    if config.gradcam:
        chosen = pd.concat([g.head(2) for _, g in truth.groupby("truth")])
        plots["gradcam_new_videos"] = plot_video_gradcam(
            model, [paths["new_videos"] / p for p in chosen["path"]], paths["evaluation"] / "gradcam_new_videos.png",
            labels=chosen["truth"].tolist(), extraction_config=extraction,
        )  # fmt: skip
    return DemoResult(
        out_dir=Path(out_dir), data_root=paths["data"], index_csv=paths["index"], faces_csv=paths["faces"], runs=runs,
        evaluation_dir=paths["evaluation"], metrics=result.metrics, predictions_csv=paths["predictions"],
        predictions=predictions, new_video_metrics=new_metrics, plots=plots,
    )  # fmt: skip
