"""Self-blended images (SBI): pseudo-fakes made from one real face crop and its landmarks (68 dense or MTCNN's five).

Written from the paper (Shiohara and Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022), not from
its code. A copy of the real crop (the *source*) is altered — colour and brightness jitter, then a downscale-upscale
or a sharpening, then a small random resize and shift — and blended back into the untouched crop (the *target*)
through a soft face mask: ``fake = source * r * M + target * (1 - r * M)``, with ``r`` drawn from {0.25, 0.5, 0.75,
1}. The mask ``M`` starts from the face's landmarks (`mask_polygon`): the convex hull of dense landmarks when given
(68 points from ``dff landmarks``, `deepfakeforensics.faces.dense`; the paper uses the hull of 81), else a
face-shaped ellipse fitted to MTCNN's five points (eyes, nose, mouth corners); it is randomly scaled, shifted,
elastically deformed, then softened by two Gaussian blurs of random size. A detector trained to tell these from the
real crops learns blending boundaries and colour/frequency mismatches rather than one generator's fingerprints. The
68-point model's training data (iBUG 300-W) excludes commercial use; the five-point ellipse has no such restriction.

Two deliberate choices, stated here because they differ from a literal reading of the paper:

- every alteration goes to the source and the target stays the real crop, so a pseudo-fake differs from its real
  crop only where the mask is non-zero (a global colour shift would otherwise be a shortcut to the label);
- the blending boundary returned as an auxiliary target is ``4 * M * (1 - M)`` on the blurred mask before the ratio
  (Face X-ray's definition), so it marks the transition band whatever ``r`` is.

Every random choice comes from ``numpy.random.default_rng(seed)`` with a seed tuple such as ``(seed, epoch, index)``:
the same tuple gives the same pseudo-fake in any process. `self_blend_frames` makes one draw for all frames of a
window (each frame's mask follows its own landmarks).

Example:
    >>> fake, mask, boundary = self_blend(crop, points, seed=(0, epoch, index))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class SBIConfig:
    """Ranges of the random draws; lengths are shares of the crop's side.

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
    """One draw of every random parameter of a pseudo-fake, for a crop of side `size` (shared by a window's frames)."""

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


def draw_blend(seed: Sequence[int] | int, size: int, cfg: SBIConfig | None = None) -> BlendDraw:
    """Draw every random parameter of one pseudo-fake from ``numpy.random.default_rng(seed)``."""
    cfg = cfg or SBIConfig()
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
        ratio=float(rng.choice(BLEND_RATIOS)),
    )


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
    """The convex hull of dense landmarks (e.g. dlib's 68) scaled by `grow` about its vertices' mean: (N, 2) float32.

    With 68 points the hull runs along the jaw and over the brows (SBI's paper adds 13 forehead points to reach
    higher).
    """
    hull = cv2.convexHull(np.asarray(points, np.float32).reshape(-1, 1, 2)).reshape(-1, 2).astype(np.float64)
    centre = hull.mean(0)
    return ((hull - centre) * grow + centre).astype(np.float32)


def mask_polygon(points: np.ndarray, grow: float = 1.0) -> np.ndarray:
    """The face region a mask starts from, chosen by the landmarks' shape: five points (5, 2) give `face_polygon`'s
    fitted ellipse, dense ones (N >= 6, e.g. (68, 2)) their convex hull (`hull_polygon`); both scaled by `grow`."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 5:
        raise ValueError(f"landmarks must be (5, 2) MTCNN points or (N, 2) dense ones with N > 5; got {points.shape}")
    return face_polygon(points, grow) if len(points) == 5 else hull_polygon(points, grow)


def blend_mask(points: np.ndarray, draw: BlendDraw) -> np.ndarray:
    """The soft mask (size, size) float32 in [0, 1]: landmark hull or five-point ellipse (`mask_polygon`), random
    affine, elastic deformation, two blurs."""
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


def make_source(image: np.ndarray, draw: BlendDraw) -> np.ndarray:
    """The altered copy that is blended in: colour jitter, downscale-upscale or sharpening, small resize and shift."""
    size = image.shape[0]
    out = _jitter_colour(image, draw.colour)
    if draw.sharpen:
        out = out + 1.0 * (out - cv2.GaussianBlur(out, (0, 0), 1.0))
    else:
        small = max(4, int(round(size * draw.down)))
        out = cv2.resize(cv2.resize(out, (small, small), interpolation=cv2.INTER_AREA), (size, size))
    out = cv2.warpAffine(out, draw.source_affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(out, 0, 255)


def apply_blend(image: np.ndarray, points: np.ndarray, draw: BlendDraw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pseudo-fake from a real crop, its landmarks and a draw; see `self_blend`."""
    if image.shape[0] != image.shape[1] or image.shape[0] != draw.size:
        raise ValueError(f"self-blending needs square crops of side {draw.size}; got {image.shape}")
    soft = blend_mask(points, draw)
    mask = soft * np.float32(draw.ratio)
    source = make_source(image, draw)
    fake = source * mask[..., None] + image.astype(np.float32) * (1.0 - mask[..., None])
    fake = np.where(mask[..., None] > 0, np.clip(np.round(fake), 0, 255), image).astype(np.uint8)
    return fake, mask, (4.0 * soft * (1.0 - soft)).astype(np.float32)


def self_blend(
    image: np.ndarray, points: np.ndarray, seed: Sequence[int] | int, cfg: SBIConfig | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A self-blended pseudo-fake of one real face crop.

    Args:
        image: RGB uint8 square crop (S, S, 3).
        points: landmarks in the crop's pixels: (68, 2) dense ones (mask from their hull) or (5, 2) MTCNN ones
            (left eye, right eye, nose, mouth corners: mask from a fitted ellipse).
        seed: seed of the draw, e.g. ``(seed, epoch, index)``.
        cfg: ranges of the draws.

    Returns:
        (pseudo-fake (S, S, 3) uint8, equal to `image` wherever the mask is 0; blend mask ``r * M`` (S, S) float32;
        blending boundary ``4 * M * (1 - M)`` (S, S) float32, an auxiliary target).
    """
    return apply_blend(image, points, draw_blend(seed, image.shape[0], cfg))


def self_blend_frames(
    frames: Sequence[np.ndarray], points: Sequence[np.ndarray], seed: Sequence[int] | int, cfg: SBIConfig | None = None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`self_blend` on every frame of a window with one draw (same alterations, ratio, deformation and blurs); each
    frame's mask follows that frame's own landmarks, so the blended region moves with the face."""
    draw = draw_blend(seed, frames[0].shape[0], cfg)
    return [apply_blend(f, p, draw) for f, p in zip(frames, points, strict=True)]
