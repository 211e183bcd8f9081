"""What both self-blending recipes share: the pair a blend returns (`SelfBlend`) and the region a mask covers, from a
face's landmarks: the 68-point hull, the 81-point hull with the forehead (`with_forehead`), or the ellipse fitted to
five MTCNN points (`face_polygon`). See `deepfakeforensics.data.sbi` for the recipes and the forehead's construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

#: Order of the 81-point model's forehead points (its indices 68-80) left to right, as the authors reorder them
FOREHEAD_ORDER = (77, 75, 76, 68, 69, 70, 71, 80, 72, 73, 79, 74, 78)


class SelfBlend(NamedTuple):
    """One pair: ``real`` (the real view, altered in the draws that alter the target), ``fake`` (uint8, equal to
    ``real`` wherever ``mask`` is 0), ``mask`` (``r * M``, float32 in [0, 1]) and ``boundary`` (``4 M (1 - M)``)."""

    real: np.ndarray
    fake: np.ndarray
    mask: np.ndarray
    boundary: np.ndarray


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


def hard_mask(points: np.ndarray, shape: tuple[int, int], forehead: bool = True) -> np.ndarray:
    """The filled region (H, W) float64 0/1 of step 1: hull of 81 (or 68) points, or the five-point ellipse."""
    hard = np.zeros(shape, np.float64)
    polygon = mask_polygon(region_points(points, forehead))
    cv2.fillConvexPoly(hard, np.round(polygon).astype(np.int32), 1.0)
    return hard
