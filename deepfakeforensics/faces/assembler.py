"""From detection rounds to face crops (`CropAssembler`): tracking, re-detection of missed tracks, interpolation over
the frames between a track's detections, dropping tracks too short to be faces, and each crop cut as the extraction
settings ask (`cut_face`). ``stream`` feeds it the decoded frames and their detections."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from deepfakeforensics.faces.config import ExtractionConfig
from deepfakeforensics.faces.crop import aligned_crop, crop_face, landmarks_in_crop
from deepfakeforensics.faces.finder import Detections, FaceFinder
from deepfakeforensics.faces.profiles import get_profile
from deepfakeforensics.faces.tracking import IoUTracker, Track, box_iou, interpolate_box


@dataclass(frozen=True)
class FaceCrop:
    """One face in one frame."""

    track: int  # face id within the video: 0, 1, ... in order of confirmation
    frame: int  # frame index in the decoded stream
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in full-resolution pixels
    prob: float  # MTCNN probability (linearly interpolated between detections)
    image: np.ndarray  # RGB uint8 crop, crop_size x crop_size x 3 (or the profile's size)
    detected: bool  # True: the box comes from a detection on this frame; False: interpolated
    landmarks: np.ndarray | None = None  # (5, 2) float32 MTCNN's five points in crop pixels (interpolated like box)
    aligned: bool = False  # aligned on landmarks (`ExtractionConfig.align`, the deepfakebench profile), not a box crop
    clip: int | None = None  # the clip (0, 1, ...) of the clips sampling strategy; None for the other strategies


class CropAssembler:
    """Turns detection rounds into crops: tracking, re-detection of missed tracks, interpolation over the frames
    between a track's detections, and dropping tracks too short to be faces."""

    def __init__(self, config: ExtractionConfig, confirm_hits: int, finder: FaceFinder):
        self.config = config
        self.confirm_hits = confirm_hits
        self.finder = finder
        self.tracker = IoUTracker(
            config.iou_threshold,
            config.patience,
            config.max_shift,
            start_prob=config.min_prob,
            established_hits=max(1, min(config.min_track_detections, confirm_hits)),
            candidates=config.track_lookback > 0,
        )
        self.last: dict[
            int, tuple[int, np.ndarray, float, np.ndarray]
        ] = {}  # live track -> last (frame, box, prob, points)
        self.recent: list[tuple[int, np.ndarray]] = []  # sampled frames after the oldest of those detections
        self.public: dict[int, int] = {}  # internal track id -> public id (confirmed tracks)
        self.pending: dict[int, list[FaceCrop]] = {}  # crops of unconfirmed tracks and of candidates
        self.rounds: deque[int] = deque(maxlen=max(0, config.track_lookback) + 1)  # the look-back's detection frames
        self.next_public = 0

    def _crop(
        self,
        track: Track,
        frame: int,
        rgb: np.ndarray,
        box: np.ndarray,
        prob: float,
        detected: bool,
        points: np.ndarray,
    ) -> Iterator[FaceCrop]:
        image, crop_points, aligned = cut_face(rgb, box, points, self.config)
        crop = FaceCrop(-1, frame, tuple(float(v) for v in box), float(prob), image, detected, crop_points, aligned)
        if track.id in self.public:
            yield _with_track(crop, self.public[track.id])
            return
        self.pending.setdefault(track.id, []).append(crop)
        if track.hits >= self.confirm_hits and not self.tracker.is_candidate(track):
            self.public[track.id] = self.next_public
            self.next_public += 1
            for held in self.pending.pop(track.id):
                yield _with_track(held, self.public[track.id])

    def add_frame(self, frame: int, rgb: np.ndarray) -> None:
        """A sampled frame without detection: kept while a live track may still need it interpolated."""
        if self.last:
            self.recent.append((frame, rgb))

    def _recover(self, rgb: np.ndarray, dets: Detections) -> Detections:
        """`dets` plus what a full-resolution search around each missed established track's last box finds."""
        if not self.config.redetect:
            return dets
        boxes, probs, points = [dets.boxes], [dets.probs], [dets.landmarks()]
        for track in self.tracker.unmatched(dets.boxes, dets.probs):
            if not self.tracker.is_established(track):
                continue
            found = self.finder.detect_near(rgb, track.box, min_prob=self.config.keep_prob)
            if len(found):
                best = int(np.argmax(box_iou(track.box, found.boxes)[0] + found.probs))
                boxes.append(found.boxes[best : best + 1])
                probs.append(found.probs[best : best + 1])
                points.append(found.landmarks()[best : best + 1])
        return Detections(np.concatenate(boxes), np.concatenate(probs), np.concatenate(points))

    def _start_of_look_back(self, frame: int) -> int:
        """Count detection frame `frame` into the look-back; the first frame a candidate may still give a track, its
        older crops dropped (the last `track_lookback` detection rounds before this one are kept)."""
        self.rounds.append(frame)
        start = self.rounds[0]
        for track in self.tracker.live:
            if self.tracker.is_candidate(track) and track.id in self.pending:
                self.pending[track.id] = [c for c in self.pending[track.id] if c.frame >= start]
        return start

    def on_detection(self, frame: int, rgb: np.ndarray, dets: Detections) -> Iterator[FaceCrop]:
        """Take one detection frame; yield the crops it completes (a track's frames since its last detection, and a
        track that starts from a candidate: the candidate's crops in the look-back)."""
        dets = self._recover(rgb, dets)
        start = self._start_of_look_back(frame)
        candidates = {t.id for t in self.tracker.live if self.tracker.is_candidate(t)}
        tracks, ended = self.tracker.update(frame, dets.boxes, dets.probs)
        for track in ended:
            self.pending.pop(track.id, None)
            self.last.pop(track.id, None)
        found = zip(tracks, dets.boxes.astype(np.float64), dets.probs.astype(float), dets.landmarks(), strict=True)
        for track, box, prob, points in found:
            if track is None:
                continue
            if track.id in self.last:  # the frames since its last detection, missed detection frames included
                first = start if track.id in candidates else 0  # a candidate's crops stay in the look-back
                f0, box0, p0, pts0 = self.last[track.id]
                for f, img in self.recent:
                    if f0 < f and f >= first:
                        t = (f - f0) / (frame - f0)
                        mid = ((1 - t) * pts0 + t * points).astype(np.float32)
                        yield from self._crop(
                            track, f, img, interpolate_box(box0, box, t), (1 - t) * p0 + t * prob, False, mid
                        )
            yield from self._crop(track, frame, rgb, box, prob, True, points)
            self.last[track.id] = (frame, box, prob, points)
        oldest = min((f for f, *_ in self.last.values()), default=frame)
        self.recent = [(f, img) for f, img in self.recent if f > oldest]
        if oldest < frame:
            self.recent.append((frame, rgb))


def cut_face(
    rgb: np.ndarray, box: np.ndarray, points: np.ndarray, config: ExtractionConfig
) -> tuple[np.ndarray, np.ndarray, bool]:
    """A face's crop as `config` asks (a released detector's `profile`; else aligned on its landmarks, or plain), its
    five points in the crop's pixels, and whether it is aligned (a face without landmarks gets the plain crop even
    with `config.align`)."""
    if config.profile != "default":
        return get_profile(config.profile).cut(rgb, box, points)
    if config.align:
        return aligned_crop(rgb, points, box, config.margin, config.crop_size)
    image = crop_face(rgb, box, config.margin, config.crop_size)
    return image, landmarks_in_crop(points, box, config.margin, config.crop_size), False


def _with_track(crop: FaceCrop, track: int) -> FaceCrop:
    return replace(crop, track=track)
