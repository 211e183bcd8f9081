"""``sbi-lite``: this toolkit's first self-blending recipe, kept so earlier runs can be repeated (the published one is
`deepfakeforensics.data.sbi`'s ``sbi``): only the source is altered (colour jitter, area downscale 0.4-0.8 or unsharp
mask), 68-point hull grown 0.9-1.1 or the five-point ellipse, two plain blurs, r uniform over (0.25, 0.5, 0.75, 1);
the real is never altered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from deepfakeforensics.data.sbi_masks import SelfBlend, mask_polygon

#: Blend ratios of ``sbi-lite``
LITE_BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class SBILiteConfig:
    """Ranges of ``sbi-lite``'s draws; lengths are shares of the crop's side.

    The mask's support lies within the face polygon (`mask_polygon`: hull or ellipse) grown by
    ``grow[1] * (1 + mask_scale)`` about its centre, then dilated by ``mask_shift + elastic`` of the side plus the two
    blur radii (``2 * blur[1] / 2`` of the side).
    """

    grow: tuple[float, float] = (0.9, 1.1)  # random scale of the face polygon (landmark hull or five-point ellipse)
    mask_scale: float = 0.05  # mask affine: scaled by a factor in [1 - s, 1 + s] about the face centre
    mask_shift: float = 0.03  # mask affine: shift of at most this much along each axis
    elastic: float = 0.03  # largest elastic displacement of the mask
    blur: tuple[float, float] = (0.02, 0.08)  # Gaussian kernel size range of each of the two mask blurs
    source_scale: float = 0.03  # source: resized by a factor in [1 - s, 1 + s] about the centre
    source_shift: float = 0.02  # source: shifted by at most this much along each axis
    brightness: float = 0.15  # source colour: brightness and contrast factors in [1 - b, 1 + b]
    hue: float = 8.0  # source colour: hue shift in degrees, at most
    saturation: float = 0.2  # source colour: saturation factor in [1 - s, 1 + s]
    downscale: tuple[float, float] = (0.4, 0.8)  # source frequency: downscale-upscale factor range


@dataclass(frozen=True)
class BlendDraw:
    """One draw of every random parameter of a ``sbi-lite`` pseudo-fake, for a crop of side `size`."""

    size: int
    grow: float
    mask_affine: tuple[float, float, float]  # the mask's scale about the face centre, then its shift x, y (pixels)
    flow: np.ndarray  # (size, size, 2) float32 elastic displacement, pixels
    kernels: tuple[int, int]  # odd Gaussian kernel sizes of the two mask blurs
    source_affine: np.ndarray  # (2, 3) matrix applied to the source
    colour: tuple[float, float, float, float]  # brightness, contrast, saturation factors; hue shift (degrees)
    sharpen: bool  # True: sharpen the source; False: downscale it by `down` and back
    down: float
    ratio: float


def _odd(value: float) -> int:
    """The odd integer >= 3 nearest `value`."""
    return max(3, int(round(value)) // 2 * 2 + 1)


def _elastic_flow(rng: np.random.Generator, size: int, amplitude: float) -> np.ndarray:
    """A smooth random displacement field (size, size, 2), each component within +-`amplitude` pixels."""
    coarse = rng.uniform(-1.0, 1.0, (4, 4, 2)).astype(np.float32)
    flow = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(flow, -1.0, 1.0) * np.float32(amplitude)


def draw_lite(seed: Sequence[int] | int, size: int, cfg: SBILiteConfig | None = None) -> BlendDraw:
    """Draw every random parameter of one ``sbi-lite`` pseudo-fake from ``numpy.random.default_rng(seed)``."""
    cfg = cfg or SBILiteConfig()
    rng = np.random.default_rng(seed)
    scale = float(rng.uniform(1 - cfg.mask_scale, 1 + cfg.mask_scale))
    shift_x, shift_y = (float(v) for v in rng.uniform(-cfg.mask_shift, cfg.mask_shift, 2) * size)
    s = rng.uniform(1 - cfg.source_scale, 1 + cfg.source_scale)
    centre = (size - 1) / 2
    dx, dy = rng.uniform(-cfg.source_shift, cfg.source_shift, 2) * size
    source_affine = np.array([[s, 0, centre * (1 - s) + dx], [0, s, centre * (1 - s) + dy]], np.float64)
    b = cfg.brightness
    colour = (rng.uniform(1 - b, 1 + b), rng.uniform(1 - b, 1 + b), rng.uniform(1 - cfg.saturation, 1 + cfg.saturation))
    return BlendDraw(
        size=size,
        grow=float(rng.uniform(*cfg.grow)),
        mask_affine=(scale, shift_x, shift_y),
        flow=_elastic_flow(rng, size, cfg.elastic * size),
        kernels=(_odd(rng.uniform(*cfg.blur) * size), _odd(rng.uniform(*cfg.blur) * size)),
        source_affine=source_affine,
        colour=(*colour, float(rng.uniform(-cfg.hue, cfg.hue))),
        sharpen=bool(rng.random() < 0.5),
        down=float(rng.uniform(*cfg.downscale)),
        ratio=float(rng.choice(LITE_BLEND_RATIOS)),
    )


def lite_mask(points: np.ndarray, draw: BlendDraw) -> np.ndarray:
    """``sbi-lite``'s soft mask (size, size) float32 in [0, 1]: landmark hull or five-point ellipse (`mask_polygon`),
    random affine, elastic deformation, two blurs."""
    size = draw.size
    polygon = mask_polygon(points, draw.grow)
    centre = polygon.mean(0)
    scale, dx, dy = draw.mask_affine
    polygon = (polygon - centre) * scale + centre + (dx, dy)
    hard = np.zeros((size, size), np.float32)
    cv2.fillPoly(hard, [np.round(polygon).astype(np.int32)], 1.0)
    grid = np.mgrid[0:size, 0:size][::-1].transpose(1, 2, 0).astype(np.float32)  # x, y of each pixel
    mask = cv2.remap(hard, grid + draw.flow, None, cv2.INTER_LINEAR, borderValue=0.0)
    for k in draw.kernels:
        mask = cv2.GaussianBlur(mask, (k, k), 0)
    mask[mask < 1e-3] = 0.0  # float dust of the blurs: the support stays within the kernels' reach
    return np.clip(mask, 0.0, 1.0)


def _jitter_colour(image: np.ndarray, colour: tuple[float, float, float, float]) -> np.ndarray:
    """Brightness, contrast, saturation and hue changes on an RGB uint8 image (float32 result, 0..255)."""
    brightness, contrast, saturation, hue = colour
    out = image.astype(np.float32) * brightness
    out = (out - out.mean()) * contrast + out.mean()
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue / 2) % 180  # OpenCV's hue is in half-degrees
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)


def lite_source(image: np.ndarray, draw: BlendDraw) -> np.ndarray:
    """``sbi-lite``'s altered copy: colour jitter, downscale-upscale or sharpening, small resize and shift."""
    size = image.shape[0]
    out = _jitter_colour(image, draw.colour)
    if draw.sharpen:
        out = out + 1.0 * (out - cv2.GaussianBlur(out, (0, 0), 1.0))
    else:
        small = max(4, int(round(size * draw.down)))
        out = cv2.resize(cv2.resize(out, (small, small), interpolation=cv2.INTER_AREA), (size, size))
    out = cv2.warpAffine(out, draw.source_affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(out, 0, 255)


def apply_lite(image: np.ndarray, points: np.ndarray, draw: BlendDraw) -> SelfBlend:
    """One ``sbi-lite`` pair (the real is the crop itself) from a square crop, its landmarks and a draw."""
    if image.shape[0] != image.shape[1] or image.shape[0] != draw.size:
        raise ValueError(f"sbi-lite needs square crops of side {draw.size}; got {image.shape}")
    soft = lite_mask(points, draw)
    mask = soft * np.float32(draw.ratio)
    source = lite_source(image, draw)
    fake = source * mask[..., None] + image.astype(np.float32) * (1.0 - mask[..., None])
    fake = np.where(mask[..., None] > 0, np.clip(np.round(fake), 0, 255), image).astype(np.uint8)
    return SelfBlend(image, fake, mask, (4.0 * soft * (1.0 - soft)).astype(np.float32))
