"""Image transforms for face crops: training augmentations (numpy/OpenCV) and the model's own normalisation.

Augmentations work on RGB ``uint8`` arrays. Their random parameters are drawn once per item
(`sample_augment_params`) and applied with `apply_augment` to every frame of that item, so the frames of a window
see the same flip, colour jitter, JPEG quality, blur and noise pattern. `to_tensor` then resizes to the model's input
size and normalises with the model's mean and std (``model.default_cfg``: one source of truth).

Example:
    >>> rng = np.random.default_rng(0)
    >>> params = sample_augment_params(AugmentConfig(), rng)
    >>> frames = [apply_augment(f, params) for f in frames]  # doctest: +SKIP
    >>> x = to_tensor(frames, model.default_cfg)  # (T, C, H, W)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import torch

from deepfakeforensics.models._base import ModelCfg


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations, each applied with its own probability (0 disables it)."""

    p_flip: float = 0.5  # horizontal flip
    p_colour: float = 0.5  # colour jitter: brightness, contrast, saturation, hue
    brightness: float = 0.2  # multiply pixels by a factor in [1 - b, 1 + b]
    contrast: float = 0.2  # scale the distance to the mean grey by a factor in [1 - c, 1 + c]
    saturation: float = 0.2  # scale the distance to each pixel's grey by a factor in [1 - s, 1 + s]
    hue: float = 0.02  # shift hue by up to this fraction of the colour circle
    p_jpeg: float = 0.3  # re-compress as JPEG (the artefacts of re-uploaded videos)
    jpeg_quality: tuple[int, int] = (40, 95)  # quality drawn uniformly in this range
    p_downscale: float = 0.2  # shrink then enlarge back (low-resolution sources)
    downscale: tuple[float, float] = (0.35, 0.8)  # scale factor drawn uniformly in this range
    p_blur: float = 0.2  # Gaussian blur
    blur_sigma: tuple[float, float] = (0.3, 1.5)  # sigma in pixels (kernel up to 2 * 3 sigma + 1)
    p_noise: float = 0.2  # additive Gaussian noise
    noise_std: tuple[float, float] = (2.0, 8.0)  # standard deviation in pixel units (0-255)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AugmentParams:
    """The random draw of one item: every field is None (off) or the value to apply to each of its frames."""

    flip: bool = False
    colour: tuple[float, float, float, float] | None = None  # brightness, contrast, saturation factors; hue shift
    jpeg_quality: int | None = None
    downscale: float | None = None
    blur_sigma: float | None = None
    noise: tuple[float, int] | None = None  # (std, seed of the noise pattern)


def sample_augment_params(cfg: AugmentConfig, rng: np.random.Generator) -> AugmentParams:
    """Draw one item's augmentation parameters.

    Every probability and range is drawn in a fixed order, whatever is switched on, so the draw of an item depends
    only on the generator's seed.
    """
    u = rng.random(6)
    colour_factors = rng.uniform(-1.0, 1.0, size=4)
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    scale = float(rng.uniform(*cfg.downscale))
    sigma = float(rng.uniform(*cfg.blur_sigma))
    std = float(rng.uniform(*cfg.noise_std))
    noise_seed = int(rng.integers(2**31 - 1))
    colour = (
        1.0 + cfg.brightness * float(colour_factors[0]),
        1.0 + cfg.contrast * float(colour_factors[1]),
        1.0 + cfg.saturation * float(colour_factors[2]),
        cfg.hue * float(colour_factors[3]),
    )
    return AugmentParams(
        flip=bool(u[0] < cfg.p_flip),
        colour=colour if u[1] < cfg.p_colour else None,
        jpeg_quality=quality if u[2] < cfg.p_jpeg else None,
        downscale=scale if u[3] < cfg.p_downscale else None,
        blur_sigma=sigma if u[4] < cfg.p_blur else None,
        noise=(std, noise_seed) if u[5] < cfg.p_noise else None,
    )


def _colour_jitter(img: np.ndarray, brightness: float, contrast: float, saturation: float, hue: float) -> np.ndarray:
    # brightness and contrast (about the mean grey) as one lookup table; saturation as a blend with the grey image
    mean_grey = float(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).mean()) * brightness
    lut = (np.arange(256, dtype=np.float32) * brightness - mean_grey) * contrast + mean_grey
    out = cv2.LUT(img, np.clip(lut, 0, 255).astype(np.uint8))
    if saturation != 1.0:
        grey = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        out = cv2.addWeighted(out, saturation, grey, 1.0 - saturation, 0.0)
    shift = int(round(hue * 180)) % 180  # OpenCV 8-bit hue runs 0..179
    if shift:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = cv2.LUT(hsv[..., 0], ((np.arange(256) + shift) % 180).astype(np.uint8))
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def _gaussian_noise(img: np.ndarray, std: float, seed: int) -> np.ndarray:
    h, w, c = img.shape
    noise = np.empty((h, w * c), np.int16)
    cv2.setRNGSeed(seed)  # the same seed gives the same pattern: identical across the frames of a window
    cv2.randn(noise, 0.0, std)
    return cv2.add(np.ascontiguousarray(img).reshape(h, w * c), noise, dtype=cv2.CV_8U).reshape(h, w, c)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        return img
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def apply_augment(img: np.ndarray, params: AugmentParams) -> np.ndarray:
    """Apply one item's drawn augmentations to an RGB ``uint8`` image (H, W, 3); returns a new array.

    Order: flip, downscale, blur, colour jitter, noise, JPEG (compression last, as when a processed video is
    re-uploaded).
    """
    out = img
    if params.flip:
        out = out[:, ::-1]
    if params.downscale is not None:
        h, w = out.shape[:2]
        small = cv2.resize(
            out,
            (max(1, round(w * params.downscale)), max(1, round(h * params.downscale))),
            interpolation=cv2.INTER_AREA,
        )
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if params.blur_sigma is not None:
        out = cv2.GaussianBlur(np.ascontiguousarray(out), (0, 0), params.blur_sigma)
    if params.colour is not None:
        out = _colour_jitter(np.ascontiguousarray(out), *params.colour)
    if params.noise is not None:
        out = _gaussian_noise(out, *params.noise)
    if params.jpeg_quality is not None:
        out = _jpeg(np.ascontiguousarray(out), params.jpeg_quality)
    return np.ascontiguousarray(out)


def resize_to(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an image to (H, W) (area interpolation when shrinking, bilinear when enlarging)."""
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    shrink = img.shape[0] > h or img.shape[1] > w
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_tensor(frames: Sequence[np.ndarray], cfg: ModelCfg) -> torch.Tensor:
    """RGB ``uint8`` frames -> float tensor (T, C, H, W) at the model's input size, normalised with its mean/std.

    Pixels are scaled to [0, 1], then ``(x - mean) / std``.
    """
    _, h, w = cfg.input_size
    arr = np.stack([resize_to(f, (h, w)) for f in frames])  # (T, H, W, 3) uint8
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32).view(1, -1, 1, 1)
    return x.sub_(mean).div_(std).contiguous()


def augment_frames(frames: Sequence[np.ndarray], cfg: AugmentConfig, seed: Sequence[int]) -> list[np.ndarray]:
    """Augment the frames of one item with one random draw, a function of `seed` (e.g. ``(seed, epoch, index)``).

    Every frame of a window gets the same draw; the same `seed` always gives the same output.
    """
    params = sample_augment_params(cfg, np.random.default_rng(tuple(seed)))
    return [apply_augment(f, params) for f in frames]
