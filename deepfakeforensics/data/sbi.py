"""Self-blended images (SBI): a real face and a pseudo-fake made from it, as a pair, from its landmarks.

Two recipes, chosen by name (``dff train --pseudo-fakes sbi|sbi-lite``):

- ``"sbi"`` (`SBIConfig`, the default): the published one (Shiohara and Yamasaki, "Detecting Deepfakes with
  Self-Blended Images", CVPR 2022), step by step as the authors' training code makes it, with its parameters; this
  module is written from the paper and from facts read in that code (parameters, order of steps, probabilities),
  none of its code (its licence is non-commercial). Per draw:

  1. the mask's region: the convex hull of 81 points (dlib's 68 plus 13 on the forehead, `with_forehead`), or of the
     68 alone in a quarter of the draws (five MTCNN points: a fitted ellipse, `face_polygon`);
  2. one copy is altered, the *source* in half the draws and the *target* in the other half (then the altered target
     is also the returned real, so real and fake share the alteration and only the blend tells them apart):
     RGB shift +-20 per channel (p 0.3); a hue/saturation/value shift of +-0.3 levels (it only rounds: a negative
     draw lowers a channel by one level); brightness + U(-0.1, 0.1) * 255 and contrast x U(0.9, 1.1) (no centring);
     then, 50/50, a downscale by 2 or 4 (nearest) and back (bilinear), or a 3x3 sharpen (alpha 0.2-0.5, lightness
     0.5-1.0, which also darkens by up to a quarter);
  3. the source and the mask get one affine (shift +-3 % x, +-1.5 % y; scales 0.95-1/0.95 on each axis, drawn apart;
     zero border; the mask by nearest neighbour), then the mask alone an elastic deformation (a uniform(-1, 1) field
     blurred with sigma 7, times 50 pixels);
  4. the mask is resized to 192-256 px (height and width drawn apart), blurred (odd kernel 5-25), normalised and cut
     below 1 (an erosion by the kernel's reach), blurred again (odd kernel 5-25, sigma 5-45), normalised, resized back;
  5. ``fake = source * r * M + target * (1 - r * M)``, r from (0.25, 0.5, 0.75, 1, 1, 1): ratio 1 in half the draws.

  Everything works at the crop's own resolution (the authors blend at frame resolution on a wide crop, then cut the
  face; `deepfakeforensics.data.datasets` blends the stored crop, whose pixels are about the frame's for faces of the
  crop's size). The crop, the flip and the colour/JPEG augmentation are the dataset's, drawn once per pair.
- ``"sbi-lite"`` (`SBILiteConfig`): this toolkit's first, weaker recipe, kept so earlier runs can be repeated: only
  the source is altered (colour jitter, area downscale 0.4-0.8 or unsharp mask), 68-point hull grown 0.9-1.1 or the
  five-point ellipse, two plain blurs, r uniform over (0.25, 0.5, 0.75, 1); the real is never altered.

The forehead (`forehead_points`): dlib's 81-point model (codeniko/shape_predictor_81_face_landmarks) adds 13 points on
an arc over the forehead, from the temples up to the hairline. They are placed here on a superellipse over the line
through jaw points 0 and 16 (the temples): centred between them, half-width half their distance, height 1.25 nose
lengths (points 27 to 33; the face's thirds make the forehead about a nose length above the brows), exponent 3.5,
13 points evenly spread in angle from point 0's side to point 16's, as the authors reorder them. Against the 81 points drawn on that
model's reference image (the model file itself cannot be downloaded here) the hull of the extended points covers
the 81-point hull with an IoU of 0.969 (the 68-point hull: 0.717; in-sample: the height and exponent were read from
that image; `benchmarks/sbi_fidelity.py --reference` prints the figures).

A blend returns `SelfBlend`: the real view, the pseudo-fake, the blend mask ``r * M`` and the blending boundary
``4 M (1 - M)`` (Face X-ray's target, on the soft mask before the ratio). The pseudo-fake equals the real view
wherever the mask is 0. Every random choice comes from ``numpy.random.default_rng(seed)`` with a seed tuple such as
``(seed, epoch, index)``: the same tuple gives the same pair in any process. `self_blend_frames` makes one draw for all
frames of a window (each frame's mask follows its own landmarks).

Example:
    >>> pair = self_blend(crop, points68, seed=(0, epoch, index))  # doctest: +SKIP
    >>> pair.real, pair.fake, pair.mask, pair.boundary  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from deepfakeforensics.data.sbi_lite import SBILiteConfig, apply_lite, draw_lite
from deepfakeforensics.data.sbi_masks import (
    SelfBlend,
    hard_mask,
)

#: Recipe names, as ``--pseudo-fakes`` takes them: the published one, then this toolkit's first
RECIPES = ("sbi", "sbi-lite")
#: Blend ratios of the published recipe, drawn uniformly: ratio 1 in half the draws
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


# --- the forehead ------------------------------------------------------------------------------------------------


# --- mask regions, shared by both recipes -------------------------------------------------------------------------


# --- the published recipe -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SBIConfig:
    """The published recipe's draws (the defaults are the paper's and its repository's); see the module docstring."""

    p_hull68: float = 0.25  # draws whose mask is the 68-point hull (no forehead)
    p_alter_target: float = 0.5  # draws that alter the target (returned as the real too) rather than the source
    p_rgb_shift: float = 0.3  # probability of the per-channel RGB shift
    rgb_shift: float = 20.0  # RGB shift: each channel + U(-s, s) grey levels
    hsv_shift: float = 0.3  # hue/saturation/value shift U(-s, s) levels on uint8 HSV (rounds to 0 or -1)
    brightness: float = 0.1  # brightness: + U(-b, b) * 255
    contrast: float = 0.1  # contrast: pixels x U(1 - c, 1 + c)
    p_sharpen: float = 0.5  # frequency step: sharpen, else downscale and back
    downscale: tuple[int, ...] = (2, 4)  # downscale factors, drawn uniformly
    sharpen_alpha: tuple[float, float] = (0.2, 0.5)  # sharpen: blend of the 3x3 sharpening kernel with identity
    sharpen_lightness: tuple[float, float] = (0.5, 1.0)  # sharpen: centre weight 8 + lightness
    translate: tuple[float, float] = (0.03, 0.015)  # source and mask shift: at most this share of the width, height
    scale: tuple[float, float] = (0.95, 1 / 0.95)  # source and mask scale range, x and y drawn apart
    elastic_alpha: float = 50.0  # elastic deformation of the mask: displacement scale, pixels
    elastic_sigma: float = 7.0  # ... and the smoothing of its random field, pixels
    mask_size: tuple[int, int] = (192, 256)  # the mask is blurred at this size (height and width drawn apart)
    blur_kernel: tuple[int, int] = (5, 25)  # odd Gaussian kernel sizes of both blurs
    blur_sigma: tuple[int, int] = (5, 45)  # integer sigma of the second blur
    ratios: tuple[float, ...] = BLEND_RATIOS  # blend ratios, drawn uniformly


@dataclass(frozen=True)
class SBIDraw:
    """One draw of every random choice of the published recipe (independent of the image, so shared by a window)."""

    forehead: bool  # hull of 81 points (True) or of 68
    alter_target: bool  # the alteration goes to the target (and the real) instead of the source
    rgb: tuple[float, float, float] | None  # RGB shift, or None
    hsv: tuple[float, float, float]  # hue, saturation, value shifts (uint8 levels)
    contrast: float  # multiplier
    brightness: float  # share of 255 added
    sharpen: tuple[float, float] | None  # (alpha, lightness), or None for the downscale
    down: int  # downscale factor (when not sharpening)
    translate: tuple[float, float]  # shares of width and height
    scale: tuple[float, float]  # x, y
    noise_seed: int  # seed of the elastic field
    mask_hw: tuple[int, int]  # size the mask is blurred at
    kernels: tuple[int, int]
    sigma: int  # sigma of the second blur
    ratio: float


def _odd_in(rng: np.random.Generator, low: int, high: int) -> int:
    """An odd integer drawn uniformly from low, low + 2, ..., high (low odd)."""
    return int(low + 2 * rng.integers(0, (high - low) // 2 + 1))


def draw_sbi(seed: Sequence[int] | int, cfg: SBIConfig | None = None) -> SBIDraw:
    """Draw every random choice of one published-recipe pair from ``numpy.random.default_rng(seed)``."""
    cfg = cfg or SBIConfig()
    rng = np.random.default_rng(seed)
    forehead = bool(rng.random() >= cfg.p_hull68)
    alter_target = bool(rng.random() < cfg.p_alter_target)
    rgb = rng.uniform(-cfg.rgb_shift, cfg.rgb_shift, 3)
    rgb = tuple(float(v) for v in rgb) if rng.random() < cfg.p_rgb_shift else None
    hsv = tuple(float(v) for v in rng.uniform(-cfg.hsv_shift, cfg.hsv_shift, 3))
    contrast = float(1 + rng.uniform(-cfg.contrast, cfg.contrast))
    brightness = float(rng.uniform(-cfg.brightness, cfg.brightness))
    sharpen = (float(rng.uniform(*cfg.sharpen_alpha)), float(rng.uniform(*cfg.sharpen_lightness)))
    sharpen = sharpen if rng.random() < cfg.p_sharpen else None
    down = int(rng.choice(cfg.downscale))
    translate = (float(rng.uniform(-cfg.translate[0], cfg.translate[0])), float(rng.uniform(-1, 1) * cfg.translate[1]))
    scale = (float(rng.uniform(*cfg.scale)), float(rng.uniform(*cfg.scale)))
    noise_seed = int(rng.integers(0, 2**31))
    mask_hw = tuple(int(v) for v in rng.integers(cfg.mask_size[0], cfg.mask_size[1] + 1, 2))
    kernels = (_odd_in(rng, *cfg.blur_kernel), _odd_in(rng, *cfg.blur_kernel))
    sigma = int(rng.integers(cfg.blur_sigma[0], cfg.blur_sigma[1] + 1))
    ratio = float(rng.choice(cfg.ratios))
    return SBIDraw(
        forehead, alter_target, rgb, hsv, contrast, brightness, sharpen, down, translate, scale, noise_seed, mask_hw,
        kernels, sigma, ratio,
    )  # fmt: skip


def _lut(image: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Apply a 256-entry table, clipped to 0..255 and truncated to uint8 (as a uint8 lookup does)."""
    return cv2.LUT(image, np.clip(values, 0, 255).astype(np.uint8))


def colour_step(image: np.ndarray, draw: SBIDraw) -> np.ndarray:
    """RGB shift (when drawn), HSV shift, brightness and contrast on an RGB uint8 image; uint8 result."""
    levels = np.arange(256, dtype=np.float32)
    out = image
    if draw.rgb is not None:
        out = np.dstack([_lut(np.ascontiguousarray(out[..., c]), levels + s) for c, s in enumerate(draw.rgb)])
    if any(draw.hsv):
        h, s, v = cv2.split(cv2.cvtColor(out, cv2.COLOR_RGB2HSV))
        h = _lut(h, np.mod(levels + draw.hsv[0], 180)) if draw.hsv[0] else h
        s = _lut(s, levels + draw.hsv[1]) if draw.hsv[1] else s
        v = _lut(v, levels + draw.hsv[2]) if draw.hsv[2] else v
        out = cv2.cvtColor(cv2.merge((h, s, v)), cv2.COLOR_HSV2RGB)
    return _lut(out, levels * np.float32(draw.contrast) + np.float32(draw.brightness * 255))


def frequency_step(image: np.ndarray, draw: SBIDraw) -> np.ndarray:
    """Sharpen (3x3 kernel) or downscale by `draw.down` (nearest) and back (bilinear); uint8 result."""
    h, w = image.shape[:2]
    if draw.sharpen is not None:
        alpha, lightness = draw.sharpen
        kernel = np.full((3, 3), -alpha, np.float32)
        kernel[1, 1] = (1 - alpha) + alpha * (8 + lightness)
        return cv2.filter2D(image, -1, kernel)
    small = cv2.resize(image, (max(1, int(w / draw.down)), max(1, int(h / draw.down))), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def alter(image: np.ndarray, draw: SBIDraw) -> np.ndarray:
    """The alteration of the source (or the target): colour step, then frequency step."""
    return frequency_step(colour_step(np.ascontiguousarray(image, np.uint8), draw), draw)


def _affine(draw: SBIDraw, h: int, w: int) -> np.ndarray:
    """(2, 3) matrix: scale about the image centre, then shift."""
    sx, sy = draw.scale
    cx, cy = (w - 1) / 2, (h - 1) / 2
    tx, ty = draw.translate[0] * w, draw.translate[1] * h
    return np.array([[sx, 0, cx * (1 - sx) + tx], [0, sy, cy * (1 - sy) + ty]], np.float64)


def _elastic(mask: np.ndarray, draw: SBIDraw, cfg: SBIConfig) -> np.ndarray:
    """The mask displaced by a smooth random field (nearest neighbour, reflected border)."""
    h, w = mask.shape
    rng = np.random.default_rng(draw.noise_seed)
    field = rng.uniform(-1, 1, (2, h, w)).astype(np.float32)
    dx, dy = (cv2.GaussianBlur(f, (0, 0), cfg.elastic_sigma) * np.float32(cfg.elastic_alpha) for f in field)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, gx + dx, gy + dy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101)


def soft_mask(hard: np.ndarray, draw: SBIDraw) -> np.ndarray:
    """Step 4: resize, blur, normalise and cut below 1, blur again, normalise, resize back; float64 (H, W)."""
    h, w = hard.shape
    mask = cv2.resize(hard.astype(np.float64), (draw.mask_hw[1], draw.mask_hw[0]))
    k1, k2 = draw.kernels
    mask = cv2.GaussianBlur(mask, (k1, k1), 0)
    top = mask.max()
    if top <= 0:
        return np.zeros((h, w), np.float64)
    mask = mask / top
    mask[mask < 1] = 0
    mask = cv2.GaussianBlur(mask, (k2, k2), draw.sigma)
    top = mask.max()
    mask = mask / top if top > 0 else mask
    return cv2.resize(mask, (w, h))


def apply_sbi(image: np.ndarray, points: np.ndarray, draw: SBIDraw, cfg: SBIConfig | None = None) -> SelfBlend:
    """One published-recipe pair from a real crop (RGB uint8, any H x W), its landmarks and a draw."""
    cfg = cfg or SBIConfig()
    image = np.ascontiguousarray(image, np.uint8)
    h, w = image.shape[:2]
    hard = hard_mask(points, (h, w), draw.forehead)
    source, target = (image, alter(image, draw)) if draw.alter_target else (alter(image, draw), image)
    matrix = _affine(draw, h, w)
    source = cv2.warpAffine(source, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    hard = cv2.warpAffine(hard, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    soft = soft_mask(_elastic(hard, draw, cfg), draw)
    mask = (soft * draw.ratio)[..., None]
    fake = (mask * source + (1 - mask) * target).astype(np.uint8)
    boundary = (4.0 * soft * (1.0 - soft)).astype(np.float32)
    return SelfBlend(target, fake, mask[..., 0].astype(np.float32), boundary)


def real_view(image: np.ndarray, draw: SBIDraw) -> np.ndarray:
    """The real of a published-recipe pair without making its fake: the crop, altered when the draw alters the
    target (what `apply_sbi` returns as ``real``)."""
    return alter(image, draw) if draw.alter_target else np.ascontiguousarray(image, np.uint8)


# --- entry points -----------------------------------------------------------------------------------------------

Config = SBIConfig | SBILiteConfig


def recipe_config(recipe: str) -> Config:
    """The default config of a recipe name (``"sbi"``: the published one; ``"sbi-lite"``)."""
    if recipe == "sbi":
        return SBIConfig()
    if recipe == "sbi-lite":
        return SBILiteConfig()
    raise ValueError(f"unknown self-blending recipe {recipe!r}; one of {RECIPES}")


def _config(cfg: Config | str | None) -> Config:
    return recipe_config(cfg) if isinstance(cfg, str) else (cfg or SBIConfig())


def self_blend(
    image: np.ndarray, points: np.ndarray, seed: Sequence[int] | int, cfg: Config | str | None = None
) -> SelfBlend:
    """A real face crop's self-blended pair.

    Args:
        image: RGB uint8 crop (H, W, 3) (square for ``sbi-lite``).
        points: landmarks in the crop's pixels: (68, 2) dense ones (published recipe: hull of 81 with the forehead
            from `with_forehead`, or of the 68), (81, 2) ones, or (5, 2) MTCNN ones (a fitted ellipse).
        seed: seed of the draw, e.g. ``(seed, epoch, index)``.
        cfg: the recipe: `SBIConfig` (default, the published one), `SBILiteConfig`, or a name from `RECIPES`.

    Returns:
        `SelfBlend` (real view, pseudo-fake, blend mask ``r * M``, boundary ``4 M (1 - M)``).
    """
    cfg = _config(cfg)
    if isinstance(cfg, SBILiteConfig):
        return apply_lite(image, points, draw_lite(seed, image.shape[0], cfg))
    return apply_sbi(image, points, draw_sbi(seed, cfg), cfg)


def self_blend_frames(
    frames: Sequence[np.ndarray],
    points: Sequence[np.ndarray],
    seed: Sequence[int] | int,
    cfg: Config | str | None = None,
) -> list[SelfBlend]:
    """`self_blend` on every frame of a window with one draw (same alterations, ratio, deformation and blurs); each
    frame's mask follows that frame's own landmarks, so the blended region moves with the face."""
    cfg = _config(cfg)
    if isinstance(cfg, SBILiteConfig):
        lite = draw_lite(seed, frames[0].shape[0], cfg)
        return [apply_lite(f, p, lite) for f, p in zip(frames, points, strict=True)]
    draw = draw_sbi(seed, cfg)
    return [apply_sbi(f, p, draw, cfg) for f, p in zip(frames, points, strict=True)]


def real_views(frames: Sequence[np.ndarray], seed: Sequence[int] | int, cfg: Config | str | None = None) -> list:
    """The real side of `self_blend_frames` with the same seed, without making the fakes (cheap): the frames,
    altered where the published recipe's draw alters the target; ``sbi-lite`` never alters them."""
    cfg = _config(cfg)
    if isinstance(cfg, SBILiteConfig):
        return list(frames)
    draw = draw_sbi(seed, cfg)
    return [real_view(f, draw) for f in frames]
