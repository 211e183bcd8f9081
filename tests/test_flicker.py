"""The flicker test (issue 24): real and fake videos that differ only in time (tests/flicker_data.py).

A frame model cannot tell them apart (frame-level AUC about 0.5); every video model learns them (window-level AUC
> 0.9 on unseen videos) in a few CPU epochs through ``train_model``, the same path as ``dff train``: that is the test
that the video models use time. Reordering the frames of a clip changes a trained video model's score.
TALL's training mask draws from the torch generator: a resumed run equals an uninterrupted one bit for bit.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from flicker_data import flicker_manifest
from sklearn.metrics import roc_auc_score
from tiny_data import tiny_test_detector  # noqa: F401  (registers the tiny frame model)

from deepfakeforensics.data.datasets import build_dataset
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.evaluation.scores import predict_scores
from deepfakeforensics.training import train_model
from deepfakeforensics.training.callbacks import Callback
from deepfakeforensics.training.config import DataConfig, TrainConfig

SPLITS = {"train": 32, "val": 8, "test": 16}
FRAMES = 8  # per video: two 4-frame windows (clips) per video
# TALL over a 2-block ViT-Tiny (8 px patches, 64 px thumbnail of 2 x 2 cells of 32): attention compares the cells, as
# the paper's Swin does; over timm's ResNet-10t the same few epochs reach only 0.7-0.8 here (see the closing note)
TALL = {"backbone": "timm/vit_tiny_patch16_224", "img_size": 64, "patch_size": 8, "depth": 2}

# (name, model kwargs, window, epochs, lr): small sizes so CPU epochs take seconds
VIDEO_MODELS = [
    ("ftcn_lite", {"img_size": 32, "widths": (16, 32)}, 4, 5, 2e-3),
    ("tall", TALL, 4, 4, 1e-3),
    pytest.param("r3d_18", {"img_size": 32}, 4, 4, 1e-3, marks=pytest.mark.slow),
]


@pytest.fixture(scope="module")
def flicker(tmp_path_factory):
    root = tmp_path_factory.mktemp("flicker")
    return root, flicker_manifest(root, SPLITS, n_frames=FRAMES)


def _train(flicker, name, kwargs, window, epochs, lr, run=None, callbacks=(), resume=False):
    root, csv = flicker
    data = DataConfig(faces=str(csv), window=WindowConfig(window=window) if window else None)
    config = TrainConfig(
        run=run or name,
        checkpoints_dir=str(root / "checkpoints"),
        epochs=epochs,
        batch_size=8,
        lr=lr,
        warmup_epochs=0,
        patience=0,
        num_workers=0,
        device="cpu",
        seed=0,
        resume=resume,
    )
    model, history = train_model(name, data, config, model_kwargs=kwargs, callbacks=list(callbacks))
    return model.eval(), history


def _test_scores(flicker, model, window: int | None) -> pd.DataFrame:
    ds = build_dataset(flicker[1], "test", model, window=WindowConfig(window=window or 1))
    return predict_scores(model, ds, batch_size=16, progress=False)


def test_the_data_differ_only_in_time(flicker):
    """Every frame's colour offsets follow one distribution in both classes; consecutive frames do not."""
    faces = pd.read_csv(flicker[1], comment="#")
    assert sorted(faces.groupby("label")["video_id"].nunique()) == [28, 28]
    root = flicker[0]

    def mean_and_step(rows):
        imgs = [cv2.imread(str(root / p)).astype(np.float32) for p in rows.sort_values("frame")["path"]]
        means = np.array([im.mean() for im in imgs])
        return means, np.abs(np.diff(means)).mean()

    stats = {label: [mean_and_step(g) for _, g in faces[faces.label == label].groupby("video_id")] for label in (0, 1)}
    steps = {label: np.mean([s for _, s in v]) for label, v in stats.items()}
    assert steps[1] > 4 * steps[0]  # fakes flicker, reals drift


def test_a_frame_model_cannot_tell_them_apart(flicker):
    model, history = _train(flicker, "tiny_test_detector", {}, None, epochs=4, lr=3e-3)
    assert history["train_loss"].notna().all()
    scores = _test_scores(flicker, model, None)
    assert "frame" in scores and len(scores) == SPLITS["test"] * FRAMES
    auc = roc_auc_score(scores["label"], scores["score"])
    assert 0.3 < auc < 0.7, auc  # chance: no single frame carries the label


@pytest.mark.parametrize("name, kwargs, window, epochs, lr", VIDEO_MODELS)
def test_every_video_model_learns_the_flicker(flicker, name, kwargs, window, epochs, lr):
    model, _ = _train(flicker, name, kwargs, window, epochs, lr)
    scores = _test_scores(flicker, model, window)
    auc = roc_auc_score(scores["label"], scores["score"])
    assert auc > 0.9, auc
    # the same pictures in another order get another score (a frame model's would not change)
    ds = build_dataset(flicker[1], "test", model, window=WindowConfig(window=window))
    clips = torch.stack([ds[i][0] for i in range(len(ds))])
    order = torch.roll(torch.arange(window), 1)
    with torch.no_grad():
        changed = (model(clips[:, order]) - model(clips)).abs()
    assert changed.max() > 1e-2  # (a smooth real clip barely changes when reordered: not every clip moves)


class _StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, state, row) -> None:
        if row["epoch"] == self.epoch:
            raise KeyboardInterrupt("simulated interruption")


@pytest.mark.slow
def test_tall_resumes_exactly(flicker):
    """TALL's masks come from the torch generator, which a checkpoint restores: resumed == uninterrupted."""
    kwargs = {**TALL, "mask_prob": 1.0}
    full, full_history = _train(flicker, "tall", kwargs, 4, 2, 1e-3, run="tall_full")
    with pytest.raises(KeyboardInterrupt):
        _train(flicker, "tall", kwargs, 4, 2, 1e-3, run="tall_cut", callbacks=[_StopAfter(1)])
    resumed, resumed_history = _train(flicker, "tall", kwargs, 4, 2, 1e-3, run="tall_cut", resume=True)
    for k, v in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k
    assert resumed_history["val_loss"].tolist() == full_history["val_loss"].tolist()
