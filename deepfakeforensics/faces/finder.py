"""MTCNN face detection on downscaled, batched frames, with boxes mapped back to full resolution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from deepfakeforensics.faces._mtcnn import detect_faces


@dataclass(frozen=True)
class Detections:
    """The faces found in one frame, in full-resolution pixels."""

    boxes: np.ndarray  # (N, 4) float32 x0, y0, x1, y1
    probs: np.ndarray  # (N,) float32 MTCNN face probability
    points: np.ndarray | None = (
        None  # (N, 5, 2) float32 MTCNN's five landmarks (eyes, nose, mouth corners); None: unknown
    )

    def __len__(self) -> int:
        return len(self.boxes)

    def landmarks(self) -> np.ndarray:
        """The five landmarks of each face, (N, 5, 2) float32; NaN where they are unknown."""
        if self.points is None:
            return np.full((len(self.boxes), 5, 2), np.nan, np.float32)
        return self.points


def _empty() -> Detections:
    return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))


def default_device() -> str:
    """ "cuda" when a GPU is available, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


class FaceFinder:
    """MTCNN (facenet-pytorch's pretrained networks) on frames downscaled so their long side is at most `detect_size`.

    Frames are detected in batches of equal-sized frames (MTCNN needs that); a frame without any face gives empty
    `Detections` instead of breaking the batch. Boxes are returned in the original frame's pixels and filtered by
    `min_prob` and by size: the longer box side must reach ``max(min_face_size, min_face_fraction * short side)``
    full-resolution pixels. That floor also starts MTCNN's image pyramid, so it sets most of the detection cost
    (which grows with frame area / min face size squared). `detect_near` searches one region of a frame again at full
    resolution: a face the downscaled frame lost (too small, too blurred to pass `min_prob`) is often found there.

    Args:
        detect_size: long side, in pixels, of the frames MTCNN sees (None: full resolution).
        min_face_size: smallest face kept, full-resolution pixels.
        min_face_fraction: smallest face kept, as a share of the frame's short side (e.g. 1/16: 67 px at 1080p).
        min_prob: smallest face probability kept.
        thresholds: MTCNN's P-, R- and O-net thresholds (facenet-pytorch defaults, stated explicitly).
        factor: MTCNN's pyramid scale step.
        batch_size: frames per MTCNN call.
        device: "cpu", "cuda", ...; None picks the GPU when there is one.
        channels_last: run MTCNN's networks in the channels_last memory format (faster on CPU).
        engine: "batched" runs MTCNN's three stages with our cheaper pyramid and candidate crops
            (`deepfakeforensics.faces._mtcnn`: less detection time on CPU; boxes within MTCNN's usual jitter of
            facenet's); "facenet" calls facenet-pytorch's ``MTCNN.detect``. Same networks, thresholds and box rules.
            ``benchmarks/extraction.py`` compares the two.
        progressive_pyramid: "batched" engine: resize each pyramid level from the previous one (cheaper) instead
            of from the frame.

    Example:
        >>> finder = FaceFinder(detect_size=320)
        >>> [dets] = finder.detect([rgb_frame])
        >>> dets.boxes, dets.probs
    """

    def __init__(
        self,
        detect_size: int | None = 640,
        min_face_size: int = 40,
        min_face_fraction: float = 0.0,
        min_prob: float = 0.95,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        batch_size: int = 16,
        device: str | None = None,
        channels_last: bool = True,
        engine: str = "batched",
        progressive_pyramid: bool = True,
    ):
        from facenet_pytorch import MTCNN  # imported when a finder is made: the package imports light

        self.detect_size = detect_size
        self.min_face_size = min_face_size
        self.min_face_fraction = min_face_fraction
        self.min_prob = min_prob
        self.thresholds = tuple(thresholds)
        self.factor = factor
        self.batch_size = max(1, batch_size)
        self.device = device or default_device()
        if engine not in ("batched", "facenet"):
            raise ValueError(f"unknown MTCNN engine {engine!r}; choose 'batched' or 'facenet'")
        self.engine = engine
        self.progressive_pyramid = progressive_pyramid
        self._mtcnn = MTCNN(
            keep_all=True, thresholds=list(self.thresholds), factor=factor, select_largest=False, device=self.device
        )
        if channels_last:
            # The weights in channels_last make every convolution's output channels_last, and so every max-pooling
            # input: PyTorch's CPU max_pool2d with ceil_mode is much faster on that layout. Boxes agree with the NCHW
            # network's up to float rounding (tests/test_faces.py); benchmarks/extraction.py measures the gain.
            self._mtcnn.to(memory_format=torch.channels_last)

    def min_face_for(self, height: int, width: int) -> float:
        """Smallest face side kept in frames of this size, full-resolution pixels."""
        return max(float(self.min_face_size), self.min_face_fraction * min(height, width))

    def scale_for(self, height: int, width: int) -> float:
        """The factor frames of this size are resized by before detection (<= 1)."""
        if self.detect_size is None or max(height, width) <= self.detect_size:
            return 1.0
        return self.detect_size / max(height, width)

    def detect(self, frames: Sequence[np.ndarray], min_prob: float | None = None) -> list[Detections]:
        """Detect faces in RGB uint8 frames (any mix of sizes); one `Detections` per frame, in order.

        Args:
            frames: RGB uint8 frames.
            min_prob: smallest probability kept this time (default: the finder's `min_prob`).
        """
        min_prob = self.min_prob if min_prob is None else min_prob
        out: list[Detections | None] = [None] * len(frames)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, frame in enumerate(frames):
            by_size.setdefault(frame.shape[:2], []).append(i)
        for (h, w), idx in by_size.items():
            scale = self.scale_for(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            min_face = self.min_face_for(h, w)
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start : start + self.batch_size]
                small = [
                    frames[i] if scale == 1.0 else cv2.resize(frames[i], size, interpolation=cv2.INTER_AREA)
                    for i in chunk
                ]
                found = self._detect_batch(np.stack(small), scale, min_face, min_prob, min_face)
                for i, dets in zip(chunk, found, strict=True):
                    out[i] = dets
        return out  # type: ignore[return-value]

    def detect_near(self, frame: np.ndarray, box: np.ndarray, min_prob: float | None = None) -> Detections:
        """Search the region around `box` again, at full resolution where it fits `detect_size`.

        The region is `box` grown by one box side on every side, clipped to the frame; the search covers faces from
        half the box's side (or the frame's size floor) up. A face that the whole, downscaled frame showed
        too small or too blurred to pass `min_prob` is often found here: this is how a tracked face is followed
        through the frames where the cheap detection misses it.

        Args:
            frame: the RGB uint8 frame.
            box: x0, y0, x1, y1 in the frame's pixels, e.g. a track's last box.
            min_prob: smallest probability kept (default: the finder's `min_prob`).

        Returns:
            The faces found in the region, in the frame's pixels.
        """
        min_prob = self.min_prob if min_prob is None else min_prob
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = (float(v) for v in box)
        side = max(x1 - x0, y1 - y0, 1.0)
        c0, r0 = max(0, int(x0 - side)), max(0, int(y0 - side))
        c1, r1 = min(w, int(np.ceil(x1 + side))), min(h, int(np.ceil(y1 + side)))
        if c1 - c0 < 12 or r1 - r0 < 12:
            return _empty()
        region = frame[r0:r1, c0:c1]
        scale = self.scale_for(r1 - r0, c1 - c0)
        if scale != 1.0:
            size = (max(1, round((c1 - c0) * scale)), max(1, round((r1 - r0) * scale)))
            region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        min_face = self.min_face_for(h, w)
        [dets] = self._detect_batch(region[None], scale, min_face, min_prob, max(0.5 * side, min_face))
        offset = np.array([c0, r0, c0, r0], np.float32)
        return Detections(dets.boxes + offset, dets.probs, dets.landmarks() + offset[:2])

    def _detect_batch(
        self, batch: np.ndarray, scale: float, min_face: float, min_prob: float, search_from: float
    ) -> list[Detections]:
        """MTCNN on equal-sized frames resized by `scale`; boxes in unscaled pixels, filtered by `min_prob` and by
        `min_face` (longer side); the search starts at faces of `search_from` unscaled pixels."""
        # Boxes are not clipped to the frame (MTCNN's may overhang it); crops pad instead.
        # The pyramid starts at the smallest face we search for, in the detection frame's pixels (MTCNN's floor is ~12).
        min_face_px = max(12.0, search_from * scale)
        if self.engine == "batched":
            m = self._mtcnn
            found = detect_faces(
                batch,
                m.pnet,
                m.rnet,
                m.onet,
                min_face_px,
                self.thresholds,
                self.factor,
                self.device,
                progressive=self.progressive_pyramid,
                landmarks=True,
            )
            boxes, probs, points = ([f[k] for f in found] for k in range(3))
        else:
            self._mtcnn.min_face_size = min_face_px
            boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
        results = []
        for b, p, pts in zip(boxes, probs, points, strict=True):
            if b is None or len(b) == 0:
                results.append(_empty())
                continue
            b = np.asarray(b, dtype=np.float32).reshape(-1, 4) / scale
            p = np.asarray(p, dtype=np.float32).reshape(-1)
            pts = np.asarray(pts, dtype=np.float32).reshape(-1, 5, 2) / scale
            side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
            keep = (p >= min_prob) & (side >= min_face)
            results.append(Detections(b[keep], p[keep], pts[keep]))
        return results
