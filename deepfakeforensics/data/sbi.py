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
from typing import NamedTuple

import cv2
import numpy as np

#: Recipe names, as ``--pseudo-fakes`` takes them: the published one, then this toolkit's first
RECIPES = ("sbi", "sbi-lite")
#: Blend ratios of the published recipe, drawn uniformly: ratio 1 in half the draws
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
#: Blend ratios of ``sbi-lite``
LITE_BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0)
#: Order of the 81-point model's forehead points (its indices 68-80) left to right, as the authors reorder them
FOREHEAD_ORDER = (77, 75, 76, 68, 69, 70, 71, 80, 72, 73, 79, 74, 78)


class SelfBlend(NamedTuple):
    """One pair: ``real`` (the real view, altered in the draws that alter the target), ``fake`` (uint8, equal to
    ``real`` wherever ``mask`` is 0), ``mask`` (``r * M``, float32 in [0, 1]) and ``boundary`` (``4 M (1 - M)``)."""

    real: np.ndarray
    fake: np.ndarray
    mask: np.ndarray
    boundary: np.ndarray


# --- the forehead ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeheadShape:
    """Where the 13 forehead points lie relative to the 68 (see the module docstring)."""

    height: float = 1.25  # top of the arc above the temple line (jaw points 0 and 16), in nose lengths (27 to 33)
    exponent: float = 3.5  # superellipse exponent of the arc (2: an ellipse; larger: flatter on top)
    n: int = 13  # points on the arc


def forehead_points(points68: np.ndarray, shape: ForeheadShape | None = None) -> np.ndarray:
    """The 13 forehead points (13, 2) float32 of dlib's 81-point layout (left to right), from the 68."""
    shape = shape or ForeheadShape()
    p = np.asarray(points68, np.float64)
    left, right = p[0], p[16]
    centre = (left + right) / 2
    half = max(np.linalg.norm(right - left) / 2, 1.0)
    x_axis = (right - left) / (2 * half)
    up = np.array([x_axis[1], -x_axis[0]])
    if np.dot(p[8] - centre, up) > 0:  # up points away from the chin
        up = -up
    height = shape.height * max(np.linalg.norm(p[33] - p[27]), 1.0)
    t = np.linspace(np.pi, 0.0, shape.n)
    power = 2.0 / shape.exponent
    cx = np.sign(np.cos(t)) * np.abs(np.cos(t)) ** power
    cy = np.abs(np.sin(t)) ** power
    return (centre + np.outer(cx * half, x_axis) + np.outer(cy * height, up)).astype(np.float32)


def with_forehead(points68: np.ndarray, shape: ForeheadShape | None = None) -> np.ndarray:
    """The 68 points followed by `forehead_points`: (81, 2) float32, the layout the published recipe's hull uses."""
    p = np.asarray(points68, np.float32)
    return np.concatenate([p[:68], forehead_points(p, shape)])


# --- mask regions, shared by both recipes -------------------------------------------------------------------------


def face_polygon(points: np.ndarray, grow: float = 1.0) -> np.ndarray:
    """A face-shaped ellipse fitted to the five landmarks, as an (N, 2) float32 polygon.

    The ellipse is tilted with the eye line and centred a quarter of the way from the eyes to the mouth; its
    half-height (1.35 eye-to-mouth distances) reaches from the forehead to the chin, its half-width (1.0 eye
    distance) to the cheeks, both times `grow`: about the hull of dense face landmarks.

    Args:
        points: (5, 2) x, y of left eye, right eye, nose, left and right mouth corners.
        grow: scale of both axes.
    """
    points = np.asarray(points, np.float64)
    eyes, mouth = points[:2].mean(0), points[3:].mean(0)
    eye_vec = points[1] - points[0]
    angle = np.degrees(np.arctan2(eye_vec[1], eye_vec[0]))
    vertical = max(np.linalg.norm(mouth - eyes), 1.0)
    horizontal = max(np.linalg.norm(eye_vec), 1.0)
    centre = eyes + 0.25 * (mouth - eyes)
    axes = (1.0 * horizontal * grow, 1.35 * vertical * grow)
    t = np.radians(np.arange(0, 360, 5))
    local = np.stack([axes[0] * np.cos(t), axes[1] * np.sin(t)], 1)
    rot = np.radians(angle)
    matrix = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    return (local @ matrix.T + centre).astype(np.float32)


def hull_polygon(points: np.ndarray, grow: float = 1.0) -> np.ndarray:
    """The convex hull of dense landmarks scaled by `grow` about its vertices' mean: (N, 2) float32."""
    hull = cv2.convexHull(np.asarray(points, np.float32).reshape(-1, 1, 2)).reshape(-1, 2).astype(np.float64)
    centre = hull.mean(0)
    return ((hull - centre) * grow + centre).astype(np.float32)


def mask_polygon(points: np.ndarray, grow: float = 1.0) -> np.ndarray:
    """The face region a mask starts from, chosen by the landmarks' shape: five points (5, 2) give `face_polygon`'s
    fitted ellipse, dense ones (N >= 6, e.g. (68, 2) or (81, 2)) their convex hull (`hull_polygon`); both scaled by
    `grow`."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 5:
        raise ValueError(f"landmarks must be (5, 2) MTCNN points or (N, 2) dense ones with N > 5; got {points.shape}")
    return face_polygon(points, grow) if len(points) == 5 else hull_polygon(points, grow)


def region_points(points: np.ndarray, forehead: bool) -> np.ndarray:
    """The points whose hull the published recipe fills: 68 dense points with the forehead (`with_forehead`) or
    without; 81 points as given or their first 68; five points as given (their ellipse)."""
    points = np.asarray(points, np.float32)
    if len(points) == 68:
        return with_forehead(points) if forehead else points
    if len(points) == 81 and not forehead:
        return points[:68]
    return points


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


def hard_mask(points: np.ndarray, shape: tuple[int, int], forehead: bool = True) -> np.ndarray:
    """The filled region (H, W) float64 0/1 of step 1: hull of 81 (or 68) points, or the five-point ellipse."""
    hard = np.zeros(shape, np.float64)
    polygon = mask_polygon(region_points(points, forehead))
    cv2.fillConvexPoly(hard, np.round(polygon).astype(np.int32), 1.0)
    return hard


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


# --- sbi-lite: this toolkit's first recipe ---------------------------------------------------------------------


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
