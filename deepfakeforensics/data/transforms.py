"""Image transforms for face crops: training augmentations (albumentations) and the model's own normalisation.

Augmentations work on RGB ``uint8`` arrays through albumentations, the library the field uses (the DFDC winner and
DeepfakeBench among others). `augment_frames` is the one entry point of the datasets: it passes every frame of an item
to one albumentations call as ``images=``, so the frames of a window share one draw (flip, colour jitter, blur kernel,
noise pattern, dropout holes, compression quality), and it seeds that call from the item's seed tuple, so the same
``(seed, epoch, index)`` gives the same pixels in any process or DataLoader worker. `to_tensor` then resizes to the
model's input size and normalises with the model's mean and std (``model.default_cfg``: one source of truth).

Why ``images=`` and a seeded random state rather than ``ReplayCompose`` or ``additional_targets``: ``images=`` applies
one set of parameters to a stack of any length (a window's T is a run option, not a constant as
``additional_targets`` needs), and it draws the data-dependent parameters (noise map, dropout holes) once for the
stack, which replaying per frame would not guarantee; seeding the random state per item is what makes the draw a
function of the item alone.

Example:
    >>> frames = augment_frames(frames, AugmentConfig(), seed=(0, epoch, index))  # doctest: +SKIP
    >>> x = to_tensor(frames, model.default_cfg)  # (T, C, H, W)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

# albumentations asks PyPI for a newer version on every import unless told not to (offline clusters wait on it)
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from deepfakeforensics.models._base import ModelCfg  # noqa: E402


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentations, each applied with its own probability (0 disables it), in this order.

    Flip, downscale, Gaussian blur, motion blur, sharpen, colour jitter, noise and coarse dropout act on the pixels;
    downscale-recompress, JPEG and WebP come last, as when a processed video is re-uploaded.
    """

    p_flip: float = field(default=0.5, metadata={"help": "probability of a horizontal flip"})
    p_colour: float = field(
        default=0.5, metadata={"help": "probability of colour jitter (brightness, contrast, saturation, hue)"}
    )
    brightness: float = field(
        default=0.2, metadata={"help": "colour jitter: multiply pixels by a factor in [1 - b, 1 + b]"}
    )
    contrast: float = field(
        default=0.2,
        metadata={"help": "colour jitter: scale the distance to the mean grey by a factor in [1 - c, 1 + c]"},
    )
    saturation: float = field(
        default=0.2, metadata={"help": "colour jitter: scale the distance to each pixel's grey by [1 - s, 1 + s]"}
    )
    hue: float = field(
        default=0.02, metadata={"help": "colour jitter: shift hue by up to this fraction of the colour circle"}
    )
    p_downscale: float = field(
        default=0.2, metadata={"help": "probability of shrinking then enlarging back (low-resolution sources)"}
    )
    downscale: tuple[float, float] = field(
        default=(0.35, 0.8), metadata={"help": "downscale factor drawn uniformly in this range"}
    )
    p_blur: float = field(default=0.2, metadata={"help": "probability of a Gaussian blur"})
    blur_sigma: tuple[float, float] = field(
        default=(0.3, 1.5), metadata={"help": "Gaussian blur sigma in pixels, drawn in this range"}
    )
    p_motion_blur: float = field(
        default=0.1, metadata={"help": "probability of a motion blur (a line kernel at a random angle)"}
    )
    motion_blur_kernel: tuple[int, int] = field(
        default=(3, 7), metadata={"help": "motion blur kernel length in pixels (odd), in this range"}
    )
    p_sharpen: float = field(default=0.1, metadata={"help": "probability of sharpening (blended with the original)"})
    sharpen_alpha: tuple[float, float] = field(
        default=(0.1, 0.3), metadata={"help": "sharpening strength (0 = none, 1 = full), in this range"}
    )
    p_noise: float = field(default=0.2, metadata={"help": "probability of additive Gaussian noise"})
    noise_std: tuple[float, float] = field(
        default=(2.0, 8.0), metadata={"help": "noise standard deviation in pixel units (0-255), in this range"}
    )
    p_dropout: float = field(
        default=0.0, metadata={"help": "probability of coarse dropout (black rectangles hiding parts of the face)"}
    )
    dropout_holes: tuple[int, int] = field(
        default=(1, 4), metadata={"help": "coarse dropout: number of rectangles, in this range"}
    )
    dropout_size: tuple[float, float] = field(
        default=(0.05, 0.2), metadata={"help": "coarse dropout: rectangle side as a fraction of the crop"}
    )
    p_recompress: float = field(
        default=0.1, metadata={"help": "probability of downscale-recompress: shrink, JPEG-encode, enlarge back"}
    )
    recompress_scale: tuple[float, float] = field(
        default=(0.4, 0.8), metadata={"help": "downscale-recompress: shrink factor, in this range"}
    )
    recompress_quality: tuple[int, int] = field(
        default=(30, 80), metadata={"help": "downscale-recompress: JPEG quality, in this range"}
    )
    p_jpeg: float = field(
        default=0.3, metadata={"help": "probability of re-compressing as JPEG (the artefacts of re-uploaded videos)"}
    )
    jpeg_quality: tuple[int, int] = field(
        default=(40, 95), metadata={"help": "JPEG quality drawn uniformly in this range"}
    )
    p_webp: float = field(
        default=0.0,
        metadata={"help": "probability of re-compressing as WebP (another platform codec) at a random quality"},
    )
    webp_quality: tuple[int, int] = field(
        default=(40, 95), metadata={"help": "WebP quality drawn uniformly in this range"}
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentConfig:
        """Build from a saved dict (lists become tuples), ignoring keys this version does not know."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


def _pixel_transforms(cfg: AugmentConfig) -> list[A.BasicTransform]:
    """The augmentations that act on the pixels, before any re-compression."""
    area_linear = {"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}
    return [
        A.HorizontalFlip(p=cfg.p_flip),
        A.Downscale(scale_range=cfg.downscale, interpolation_pair=area_linear, p=cfg.p_downscale),
        A.GaussianBlur(blur_limit=0, sigma_limit=cfg.blur_sigma, p=cfg.p_blur),
        A.MotionBlur(blur_limit=cfg.motion_blur_kernel, p=cfg.p_motion_blur),
        A.Sharpen(alpha=cfg.sharpen_alpha, p=cfg.p_sharpen),
        A.ColorJitter(
            brightness=cfg.brightness, contrast=cfg.contrast, saturation=cfg.saturation, hue=cfg.hue, p=cfg.p_colour
        ),
        A.GaussNoise(std_range=(cfg.noise_std[0] / 255, cfg.noise_std[1] / 255), p=cfg.p_noise),
        A.CoarseDropout(
            num_holes_range=cfg.dropout_holes,
            hole_height_range=cfg.dropout_size,
            hole_width_range=cfg.dropout_size,
            fill=0,
            p=cfg.p_dropout,
        ),
    ]


@lru_cache(maxsize=16)
def _pipeline(cfg: AugmentConfig, height: int, width: int) -> A.Compose:
    """The albumentations pipeline of `cfg` for crops of one size (built once per process: building costs ~2 ms)."""
    recompress = A.Sequential(
        [
            A.RandomScale(
                scale_limit=(cfg.recompress_scale[0] - 1, cfg.recompress_scale[1] - 1),
                interpolation=cv2.INTER_AREA,
                p=1.0,
            ),
            A.ImageCompression(compression_type="jpeg", quality_range=cfg.recompress_quality, p=1.0),
            A.Resize(height, width, interpolation=cv2.INTER_LINEAR, p=1.0),
        ],
        p=cfg.p_recompress,
    )
    return A.Compose(
        [
            *_pixel_transforms(cfg),
            recompress,
            A.ImageCompression(compression_type="jpeg", quality_range=cfg.jpeg_quality, p=cfg.p_jpeg),
            A.ImageCompression(compression_type="webp", quality_range=cfg.webp_quality, p=cfg.p_webp),
        ]
    )


def _seed_pipeline(pipeline: A.Compose, seed: Sequence[int]) -> None:
    """Give `pipeline` (and, shared, every transform in it) random generators that are a function of `seed` alone.

    One shared stream, not one seed per transform: ``Compose.set_random_seed`` would give every transform the same
    stream, so their apply-or-not draws would all be equal.
    """
    sequence = np.random.SeedSequence([int(s) for s in seed])
    py_seed = int(sequence.generate_state(1, np.uint64)[0])
    pipeline.set_random_state(np.random.default_rng(sequence), random.Random(py_seed))


def _same_size(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Stack frames into (T, H, W, C), resizing any that differ from the first (crops of one track rarely do)."""
    h, w = frames[0].shape[:2]
    return np.stack([resize_to(np.ascontiguousarray(f), (h, w)) for f in frames])


def augment_frames(frames: Sequence[np.ndarray], cfg: AugmentConfig, seed: Sequence[int]) -> list[np.ndarray]:
    """Augment the frames of one item with one random draw, a function of `seed` (e.g. ``(seed, epoch, index)``).

    Every frame of a window gets the same draw; the same `seed` always gives the same output, in any process.

    Args:
        frames: RGB ``uint8`` images (H, W, 3) of one item (one frame, or the frames of a window).
        cfg: which augmentations, how likely and how strong.
        seed: non-negative integers identifying the draw.

    Returns:
        New arrays of the first frame's size.
    """
    stack = _same_size(frames)
    pipeline = _pipeline(cfg, stack.shape[1], stack.shape[2])
    _seed_pipeline(pipeline, seed)
    out = pipeline(images=stack)["images"]
    return [np.ascontiguousarray(f) for f in out]


def augment_frames_and_maps(
    frames: Sequence[np.ndarray], maps: Sequence[np.ndarray], cfg: AugmentConfig, seed: Sequence[int]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`augment_frames` that also carries per-frame float maps (H, W) through its geometric steps (flip, rescale).

    The frames come out exactly as `augment_frames` gives them for the same `seed`; pixel-only steps (colour, blur,
    noise, compression) leave the maps alone, so a blending boundary stays aligned with its pseudo-fake.
    """
    stack = _same_size(frames)
    h, w = stack.shape[1:3]
    pipeline = _pipeline(cfg, h, w)
    _seed_pipeline(pipeline, seed)
    sized = np.stack([m if m.shape == (h, w) else cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in maps])
    out = pipeline(images=stack, masks=sized.astype(np.float32))
    return [np.ascontiguousarray(f) for f in out["images"]], [np.ascontiguousarray(m) for m in out["masks"]]


@dataclass(frozen=True)
class AugmentParams:
    """One fixed perturbation (every field None/False = off): the robustness evaluation's degradations.

    They use the same albumentations transforms as training, with each range collapsed to the given value.
    """

    flip: bool = False
    colour: tuple[float, float, float, float] | None = None  # brightness, contrast, saturation factors; hue shift
    jpeg_quality: int | None = None
    downscale: float | None = None
    blur_sigma: float | None = None
    noise: tuple[float, int] | None = None  # (std in pixel units, seed of the noise pattern)


@lru_cache(maxsize=64)
def _fixed_pipeline(params: AugmentParams) -> A.Compose:
    """Deterministic transforms for `params` (order as training: flip, downscale, blur, colour, noise, JPEG)."""
    steps: list[A.BasicTransform] = [A.HorizontalFlip(p=1.0)] if params.flip else []
    if params.downscale is not None:
        steps.append(
            A.Downscale(
                scale_range=(params.downscale, params.downscale),
                p=1.0,
                interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
            )
        )
    if params.blur_sigma is not None:
        steps.append(A.GaussianBlur(blur_limit=0, sigma_limit=(params.blur_sigma, params.blur_sigma), p=1.0))
    if params.colour is not None:
        b, c, s, h = params.colour
        steps.append(A.ColorJitter(brightness=(b, b), contrast=(c, c), saturation=(s, s), hue=(h, h), p=1.0))
    if params.noise is not None:
        std = params.noise[0] / 255
        steps.append(A.GaussNoise(std_range=(std, std), p=1.0))
    if params.jpeg_quality is not None:
        q = int(params.jpeg_quality)
        steps.append(A.ImageCompression(quality_range=(q, q), p=1.0))
    return A.Compose(steps)


def apply_augment(img: np.ndarray, params: AugmentParams) -> np.ndarray:
    """Apply one fixed perturbation to an RGB ``uint8`` image (H, W, 3); returns a new array."""
    pipeline = _fixed_pipeline(params)
    _seed_pipeline(pipeline, (params.noise[1] if params.noise is not None else 0,))
    return np.ascontiguousarray(pipeline(image=np.ascontiguousarray(img))["image"])


RESIZES = ("area", "bicubic")  # ModelCfg.interpolation values


def resize_to(img: np.ndarray, size: tuple[int, int], interpolation: str = "area") -> np.ndarray:
    """Resize an image to (H, W): "area" (area interpolation when shrinking, bilinear when enlarging) or "bicubic"
    (``cv2.INTER_CUBIC`` both ways, as DeepfakeBench's ``load_rgb``).

    Raises:
        ValueError: an interpolation not in `RESIZES`.
    """
    if interpolation not in RESIZES:
        raise ValueError(f"unknown interpolation {interpolation!r}: one of {', '.join(RESIZES)}")
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    if interpolation == "bicubic":
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    shrink = img.shape[0] > h or img.shape[1] > w
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_tensor(frames: Sequence[np.ndarray], cfg: ModelCfg) -> torch.Tensor:
    """RGB ``uint8`` frames -> float tensor (T, C, H, W) at the model's input size, normalised with its mean/std.

    Frames of another size are resized by the model's ``cfg.interpolation`` (`resize_to`); pixels are scaled to
    [0, 1], then ``(x - mean) / std``.
    """
    _, h, w = cfg.input_size
    arr = np.stack([resize_to(f, (h, w), cfg.interpolation) for f in frames])  # (T, H, W, 3) uint8
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32).view(1, -1, 1, 1)
    return x.sub_(mean).div_(std).contiguous()
