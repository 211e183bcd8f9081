"""Frames of the demo videos: backgrounds, camera motion, and the two face manipulations.

A real video is an identity's photo composited over a background under a smooth per-frame similarity transform
(moving, zooming, tilting). Its landmarks in every frame follow from the photo's landmarks and the known transform,
so no detector runs per frame. The fakes are made frame by frame from the real video's frames:

- face swap: another identity's face, aligned on the five landmarks (a least-squares similarity), degraded to a lower
  generator resolution, colour-corrected towards the target and pasted with a feathered elliptical mask;
- self-blending (Shiohara & Yamasaki, CVPR 2022): the frame's own face, colour-jittered, re-sampled and slightly
  scaled and shifted, blended back into the frame with a feathered, irregular mask.

Both leave blending boundaries and resolution or colour mismatches inside the face region, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from deepfakeforensics.demo.faces import Identity


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Similarity transform (2 x 3: rotation, uniform scale, shift) taking points `src` (N, 2) onto `dst`.

    OpenCV's `estimateAffinePartial2D` with an unbounded inlier threshold, so every landmark is kept and its final
    Levenberg-Marquardt refinement gives the least-squares fit over all of them (a jittered landmark is not an outlier
    to drop here, it is the alignment error a face swap really has).
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=np.inf)
    if matrix is None:
        raise ValueError(f"no similarity transform fits points {src.tolist()} -> {dst.tolist()}")
    return matrix


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (N, 2) through a 2 x 3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2 x 3 affine `outer` after `inner`."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def make_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A varied RGB uint8 background: a linear or radial gradient, a smooth noise texture and blurred shapes."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(20, 235, size=(2, 3)).astype(np.float32)
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        t = (np.cos(angle) * xx / width + np.sin(angle) * yy / height + 1) / 2
    else:
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        t = np.clip(np.hypot(xx - cx, yy - cy) / (0.8 * max(width, height)), 0, 1)
    img = c0 + (c1 - c0) * t[..., None]
    cells = int(rng.integers(3, 12))
    noise = rng.normal(0, 1, size=(cells, cells, 3)).astype(np.float32)
    img += rng.uniform(8, 30) * cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    img += rng.uniform(2, 8) * rng.normal(0, 1, size=img.shape).astype(np.float32)  # fine grain
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 10))):
        colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(max(width, height) // 20, max(width, height) // 4))
        kind = rng.integers(3)
        if kind == 0:
            cv2.circle(img, (x, y), r, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r // 2), colour, -1, cv2.LINE_AA)
        else:
            x2, y2 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(img, (x, y), (x2, y2), colour, int(rng.integers(2, 12)), cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 3.0))  # out of focus behind the person


@dataclass(frozen=True)
class Motion:
    """A smooth camera path: per frame, the face centre (pixels), face height (pixels) and tilt (degrees)."""

    centres: np.ndarray  # (T, 2)
    heights: np.ndarray  # (T,)
    angles: np.ndarray  # (T,)


def make_motion(
    rng: np.random.Generator, n_frames: int, width: int, height: int, face_range: tuple[int, int]
) -> Motion:
    """Face drifting on a smooth path and zooming between two sizes in `face_range`, kept inside the frame."""
    t = np.linspace(0, 1, n_frames)
    h0, h1 = rng.uniform(*face_range, size=2)
    heights = h0 + (h1 - h0) * (0.5 - 0.5 * np.cos(np.pi * t))  # ease-in-out zoom
    centres = np.zeros((n_frames, 2))
    for axis, size in enumerate((width, height)):
        freq, phase = rng.uniform(0.4, 1.2), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * t + phase)
        # Room kept around the face box (about 0.8 x its height wide), more above it for the forehead and hat.
        before, after = (0.45, 0.45) if axis == 0 else (0.75, 0.5)
        lo, hi = before * heights + 2, size - after * heights - 2
        mid, amp = (lo + hi) / 2, np.clip((hi - lo) / 2, 0, None) * rng.uniform(0.3, 0.9)
        centres[:, axis] = mid + amp * wave
    angles = rng.uniform(-6, 6) * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t + rng.uniform(0, 2 * np.pi))
    return Motion(centres=centres, heights=heights, angles=angles)


def frame_transform(identity: Identity, motion: Motion, t: int) -> np.ndarray:
    """2 x 3 similarity from the identity's photo into frame `t`: its face box centred on the path, scaled to size."""
    x0, y0, x1, y1 = identity.box
    scale = motion.heights[t] / (y1 - y0)
    m = cv2.getRotationMatrix2D(((x0 + x1) / 2, (y0 + y1) / 2), float(motion.angles[t]), float(scale))
    m[:, 2] += motion.centres[t] - np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    return m


def frame_face_box(identity: Identity, motion: Motion, t: int) -> list[float]:
    """The face box (x0, y0, x1, y1) in frame `t`: the photo's MTCNN box moved onto the path and scaled (tilt aside)."""
    x0, y0, x1, y1 = identity.box
    half_h = motion.heights[t] / 2
    half_w = half_h * (x1 - x0) / (y1 - y0)
    cx, cy = motion.centres[t]
    return [round(float(v), 1) for v in (cx - half_w, cy - half_h, cx + half_w, cy + half_h)]


def render_real(identity: Identity, background: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The identity's photo composited over the background under `matrix` (RGB uint8)."""
    h, w = background.shape[:2]
    person = cv2.warpAffine(
        identity.image, matrix, (w, h), flags=cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_LINEAR
    )
    alpha = cv2.warpAffine(identity.alpha, matrix, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    return (person * alpha + background * (1 - alpha) + 0.5).astype(np.uint8)


def face_mask(
    landmarks: np.ndarray,
    shape: tuple[int, int],
    scale: tuple[float, float] = (1.0, 1.0),
    feather: float = 0.1,
    wobble: np.ndarray | None = None,
) -> np.ndarray:
    """Soft float32 mask of the inner face (eyebrows to chin, cheek to cheek) from five landmarks.

    An ellipse aligned with the eye line, sized from the inter-ocular and eye-mouth distances and multiplied by
    `scale` (horizontal, vertical); `wobble` (K,) perturbs its radius at K angles (irregular, SBI-like masks);
    edges feathered by a Gaussian of `feather` x inter-ocular distance.
    """
    le, re, _nose, ml, mr = np.asarray(landmarks, np.float64)
    eyes, mouth = (le + re) / 2, (ml + mr) / 2
    d = np.linalg.norm(re - le)
    e = np.linalg.norm(mouth - eyes)
    angle = np.arctan2(re[1] - le[1], re[0] - le[0])
    centre = eyes + 0.45 * (mouth - eyes)
    ax, ay = 0.92 * d * scale[0], 1.35 * e * scale[1]
    theta = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    radius = np.ones_like(theta)
    if wobble is not None:
        k = np.linspace(0, 2 * np.pi, len(wobble) + 1)
        radius = 1 + np.interp(theta, k, np.append(wobble, wobble[0]))
    px, py = ax * radius * np.cos(theta), ay * radius * np.sin(theta)
    ca, sa = np.cos(angle), np.sin(angle)
    pts = np.stack([centre[0] + ca * px - sa * py, centre[1] + sa * px + ca * py], axis=1)
    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [np.round(pts * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    sigma = max(feather * d, 0.5)
    # Shrink by the feather so the soft edge stays inside the outline, then blur.
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(2 * sigma) | 1,) * 2))
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def match_colour(src: np.ndarray, dst: np.ndarray, mask: np.ndarray, strength: float) -> np.ndarray:
    """Move `src`'s per-channel mean and spread inside `mask` towards `dst`'s (Reinhard transfer), by `strength`."""
    w = mask[..., None] > 0.5
    if w.sum() < 16:
        return src.astype(np.float32)
    s = src.astype(np.float32)
    sel = np.broadcast_to(w, s.shape)
    s_px, d_px = s[sel].reshape(-1, 3), dst.astype(np.float32)[sel].reshape(-1, 3)
    mu_s, sd_s = s_px.mean(0), s_px.std(0) + 1e-3
    mu_d, sd_d = d_px.mean(0), d_px.std(0) + 1e-3
    matched = (s - mu_s) * (sd_d / sd_s) + mu_d
    return s + strength * (matched - s)


def degrade(img: np.ndarray, factor: float) -> np.ndarray:
    """Down- then up-sample: the lower output resolution of a face generator."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, int(w * factor)), max(1, int(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class SwapParams:
    """Per-video settings of the face swap."""

    mask_scale: tuple[float, float]  # mask ellipse size factors (horizontal, vertical)
    feather: float  # mask edge softness, in inter-ocular distances
    resolution: float  # generator resolution as a fraction of the frame's (blur inside the face)
    colour_strength: float  # 0 = no colour correction, 1 = full mean/std transfer
    jitter: float  # per-frame landmark alignment noise, pixels


def draw_swap_params(rng: np.random.Generator) -> SwapParams:
    return SwapParams(
        mask_scale=(rng.uniform(0.9, 1.05), rng.uniform(0.9, 1.05)),
        feather=rng.uniform(0.06, 0.14),
        resolution=rng.uniform(0.45, 0.7),
        colour_strength=rng.uniform(0.5, 0.9),
        jitter=rng.uniform(0.3, 1.0),
    )


def face_roi(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A frame window (x0, y0, x1, y1) holding every face mask `face_mask` can draw for these landmarks."""
    le, re, _nose, ml, mr = np.asarray(landmarks, np.float64)
    eyes, mouth = (le + re) / 2, (ml + mr) / 2
    radius = 2.0 * max(np.linalg.norm(re - le), np.linalg.norm(mouth - eyes)) + 4
    cx, cy = eyes + 0.45 * (mouth - eyes)
    h, w = shape
    x0, y0 = max(0, int(cx - radius)), max(0, int(cy - radius))
    return x0, y0, max(x0 + 1, min(w, int(cx + radius) + 1)), max(y0 + 1, min(h, int(cy + radius) + 1))


def swap_face(
    frame: np.ndarray, target_landmarks: np.ndarray, source: Identity, params: SwapParams, rng: np.random.Generator
) -> np.ndarray:
    """Paste `source`'s face onto the face of `frame` whose landmarks are `target_landmarks` (frame coordinates)."""
    x0, y0, x1, y1 = face_roi(target_landmarks, frame.shape[:2])
    offset = np.array([x0, y0], np.float64)
    jittered = target_landmarks - offset + rng.normal(0, params.jitter, size=target_landmarks.shape)
    matrix = similarity(source.landmarks, jittered)
    face = cv2.warpAffine(source.image, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    face = degrade(face, params.resolution)
    mask = face_mask(target_landmarks - offset, (y1 - y0, x1 - x0), params.mask_scale, params.feather)
    window = frame[y0:y1, x0:x1]
    face = match_colour(face, window, mask, params.colour_strength)
    m = mask[..., None]
    out = frame.copy()
    out[y0:y1, x0:x1] = np.clip(face * m + window.astype(np.float32) * (1 - m) + 0.5, 0, 255).astype(np.uint8)
    return out


@dataclass(frozen=True)
class BlendParams:
    """Per-video settings of self-blending."""

    mask_scale: tuple[float, float]  # mask ellipse size factors (horizontal, vertical)
    wobble: tuple[float, ...]  # irregular mask radius offsets at evenly spaced angles
    feather: float  # mask edge softness, in inter-ocular distances
    ratio: float  # blend opacity of the jittered face
    gain: tuple[float, float, float]  # per-channel colour gain of the jittered face
    offset: tuple[float, float, float]  # per-channel colour offset
    scale: float  # geometric scale of the jittered face about the face centre
    shift: tuple[float, float]  # its translation, in inter-ocular distances
    resolution: float  # re-sampling factor (blur) of the jittered face


def draw_blend_params(rng: np.random.Generator) -> BlendParams:
    return BlendParams(
        mask_scale=(rng.uniform(0.85, 1.05), rng.uniform(0.85, 1.05)),
        wobble=tuple(rng.uniform(-0.1, 0.1, size=int(rng.integers(5, 9))).tolist()),
        feather=rng.uniform(0.05, 0.12),
        ratio=rng.uniform(0.7, 1.0),
        gain=tuple(rng.uniform(0.85, 1.15, size=3).tolist()),
        offset=tuple(rng.uniform(-14, 14, size=3).tolist()),
        scale=rng.uniform(0.95, 1.06),
        shift=tuple(rng.uniform(-0.04, 0.04, size=2).tolist()),
        resolution=rng.uniform(0.45, 0.75),
    )


def self_blend(frame: np.ndarray, landmarks: np.ndarray, params: BlendParams) -> np.ndarray:
    """Blend a colour-jittered, re-sampled, slightly moved copy of the frame's own face back into it."""
    x0, y0, x1, y1 = face_roi(landmarks, frame.shape[:2])
    le, re = landmarks[0], landmarks[1]
    d = float(np.linalg.norm(re - le))
    centre = landmarks.mean(0)
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 0.0, params.scale)
    matrix[:, 2] += np.asarray(params.shift) * d - np.array([x0, y0])  # output in the window's coordinates
    source = cv2.warpAffine(frame, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    source = degrade(source, params.resolution).astype(np.float32)
    source = source * np.asarray(params.gain, np.float32) + np.asarray(params.offset, np.float32)
    wobble = np.asarray(params.wobble)
    local = landmarks - np.array([x0, y0], np.float64)
    mask = face_mask(local, (y1 - y0, x1 - x0), params.mask_scale, params.feather, wobble) * params.ratio
    m = mask[..., None]
    window = frame[y0:y1, x0:x1].astype(np.float32)
    out = frame.copy()
    out[y0:y1, x0:x1] = np.clip(source * m + window * (1 - m) + 0.5, 0, 255).astype(np.uint8)
    return out
