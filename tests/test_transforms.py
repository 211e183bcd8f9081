"""Augmentations (albumentations: one seeded draw per item, shared by a window's frames) and the model's normalisation."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from tiny_data import TINY_CFG, crop_image, make_manifest

from deepfakeforensics._io import load_table
from deepfakeforensics.data.datasets import WindowDataset
from deepfakeforensics.data.transforms import AugmentConfig, AugmentParams, apply_augment, augment_frames, to_tensor

PROBABILITIES = [f.name for f in dataclasses.fields(AugmentConfig) if f.name.startswith("p_")]
ALL_OFF = AugmentConfig(**dict.fromkeys(PROBABILITIES, 0.0))
ALL_ON = AugmentConfig(**dict.fromkeys(PROBABILITIES, 1.0))


def only(name: str, p: float = 1.0) -> AugmentConfig:
    """A config with every augmentation off but `name`."""
    return dataclasses.replace(ALL_OFF, **{name: p})


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return crop_image(0, 1, size=64)


def test_augmentation_identical_across_window(tmp_path):
    """Every frame of a window gets the same draw: identical frames stay identical after augmentation."""
    img = crop_image(1, 5)
    tracks = {("s", 0): 4}
    csv = make_manifest(tmp_path, tracks, {"s": 1}, {"s": "train"})
    df = load_table(csv)
    for rel in df["path"]:  # make all four crops the same image
        cv2.imwrite(str(tmp_path / rel), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    ds = WindowDataset(csv, "train", TINY_CFG, window=4, train=True, augment=ALL_ON)
    plain = WindowDataset(csv, "train", TINY_CFG, window=4)[0][0]
    x, _ = ds[0]
    for t in range(1, 4):
        assert torch.equal(x[t], x[0])
    assert not torch.allclose(x[0], plain[0], atol=1e-3)  # it did augment
    # the draw depends on (seed, epoch, index) only: same epoch -> same tensor; next epoch -> a new draw
    assert torch.equal(ds[0][0], x)
    ds.set_epoch(1)
    assert not torch.equal(ds[0][0], x)


@pytest.mark.parametrize("name", PROBABILITIES)
def test_each_augmentation_changes_the_image_and_keeps_shape(img, name):
    out = augment_frames([img], only(name), (0, 1, 2))
    assert len(out) == 1 and out[0].shape == img.shape and out[0].dtype == np.uint8
    assert np.abs(out[0].astype(int) - img).mean() > 0.05, name
    # and the same draw on every frame of a window, data-dependent draws (noise map, holes) included
    window = augment_frames([img, img.copy(), img.copy()], only(name), (0, 1, 2))
    assert all(np.array_equal(window[0], f) for f in window[1:]) and np.array_equal(window[0], out[0])


def test_no_augmentation_is_the_identity_and_flip_is_exact(img):
    assert np.array_equal(augment_frames([img], ALL_OFF, (3,))[0], img)
    assert np.array_equal(augment_frames([img], only("p_flip"), (3,))[0], img[:, ::-1])


def test_draw_is_a_function_of_the_seed(img):
    a = augment_frames([img], ALL_ON, (7, 2, 5))
    assert np.array_equal(a[0], augment_frames([img], ALL_ON, (7, 2, 5))[0])
    assert not np.array_equal(a[0], augment_frames([img], ALL_ON, (7, 2, 6))[0])
    # another config in between does not disturb the draw (no state carried from call to call)
    augment_frames([img], AugmentConfig(), (1,))
    assert np.array_equal(a[0], augment_frames([img], ALL_ON, (7, 2, 5))[0])


FRESH_PROCESS_DRAW = """
import dataclasses, hashlib, numpy as np
from deepfakeforensics.data.transforms import AugmentConfig, augment_frames
cfg = AugmentConfig(**{f.name: 1.0 for f in dataclasses.fields(AugmentConfig) if f.name.startswith("p_")})
img = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
print(hashlib.sha256(augment_frames([img], cfg, (7, 2, 5))[0].tobytes()).hexdigest())
"""


def test_draw_is_independent_of_the_process():
    """A fresh interpreter (as a spawned DataLoader worker) draws the same pixels as this process."""
    there = subprocess.run([sys.executable, "-c", FRESH_PROCESS_DRAW], capture_output=True, text=True, timeout=120)
    assert there.returncode == 0, there.stderr[-2000:]
    img = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    here = hashlib.sha256(augment_frames([img], ALL_ON, (7, 2, 5))[0].tobytes()).hexdigest()
    assert there.stdout.strip() == here


def test_probabilities_are_honoured_and_independent(img):
    """Each augmentation has its own draw: flip at 0.3 flips about 30 %, and flip and noise co-occur at p * p."""
    cfg = dataclasses.replace(ALL_OFF, p_flip=0.5, p_noise=0.5)
    flipped, noised = [], []
    for i in range(400):
        out = augment_frames([img], cfg, (i,))[0]
        mirror = out[:, ::-1]
        flipped.append(np.abs(mirror.astype(int) - img).mean() < np.abs(out.astype(int) - img).mean())
        base = mirror if flipped[-1] else out
        noised.append(not np.array_equal(base, img))
    flipped, noised = np.array(flipped), np.array(noised)
    assert 0.42 < flipped.mean() < 0.58 and 0.42 < noised.mean() < 0.58
    assert 0.18 < (flipped & noised).mean() < 0.32  # independent draws, not one shared coin
    flips = [not np.array_equal(augment_frames([img], only("p_flip", 0.3), (i,))[0], img) for i in range(400)]
    assert 0.2 < np.mean(flips) < 0.4


def test_frames_of_another_size_are_brought_to_the_first_frames_size(img):
    out = augment_frames([img, cv2.resize(img, (48, 48))], ALL_OFF, (0,))
    assert [f.shape for f in out] == [img.shape, img.shape]


def test_config_round_trips_through_plain_data():
    cfg = AugmentConfig(p_dropout=0.25, jpeg_quality=(50, 60))
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    assert AugmentConfig.from_dict({**cfg.to_dict(), "jpeg_quality": [50, 60], "unknown": 1}) == cfg
    assert all(f.metadata.get("help") for f in dataclasses.fields(AugmentConfig))


def test_fixed_perturbations_for_robustness(img):
    singles = {
        "flip": AugmentParams(flip=True),
        "colour": AugmentParams(colour=(1.2, 0.8, 1.3, 0.05)),
        "jpeg": AugmentParams(jpeg_quality=30),
        "downscale": AugmentParams(downscale=0.4),
        "blur": AugmentParams(blur_sigma=1.2),
        "noise": AugmentParams(noise=(6.0, 3)),
    }
    for name, params in singles.items():
        out = apply_augment(img, params)
        assert out.shape == img.shape and out.dtype == np.uint8, name
        assert np.abs(out.astype(int) - img).mean() > 0.5, name
        assert np.array_equal(apply_augment(img, params), out), name  # fixed: the same every time
    assert np.array_equal(apply_augment(img, AugmentParams(flip=True)), img[:, ::-1])
    assert np.array_equal(apply_augment(img, AugmentParams()), img)
    assert not np.array_equal(apply_augment(img, AugmentParams(noise=(6.0, 4))), apply_augment(img, singles["noise"]))
    # stronger is further from the original
    assert (
        np.abs(apply_augment(img, AugmentParams(jpeg_quality=10)).astype(int) - img).mean()
        > np.abs(apply_augment(img, AugmentParams(jpeg_quality=90)).astype(int) - img).mean()
    )


def test_to_tensor_uses_model_normalisation():
    img = np.full((40, 40, 3), 255, np.uint8)
    img[..., 1] = 0
    x = to_tensor([img], TINY_CFG)
    assert x.shape == (1, 3, 32, 32)
    assert torch.allclose(x[0, 0], torch.full((32, 32), 2.0)) and torch.allclose(x[0, 1], torch.full((32, 32), -2.0))
