"""Online greedy IoU tracking of face boxes across detection frames, and box interpolation between them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes `a` (N, 4) and `b` (M, 4) given as x0, y0, x1, y1 -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, col) taken greedily by decreasing IoU, each row and column at most once, IoU >= `threshold`."""
    pairs: list[tuple[int, int]] = []
    if iou.size == 0:
        return pairs
    order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None), iou.shape))[0]
    used_r: set[int] = set()
    used_c: set[int] = set()
    for r, c in order:
        if iou[r, c] < threshold:
            break
        if r in used_r or c in used_c:
            continue
        pairs.append((int(r), int(c)))
        used_r.add(int(r))
        used_c.add(int(c))
    return pairs


def center_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise distance between box centres of `a` (N, 4) and `b` (M, 4), in units of the longer side of `a`."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    side = np.maximum(a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]).clip(1e-6, None)
    return np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=-1) / side[:, None]


def interpolate_box(box0: np.ndarray, box1: np.ndarray, t: float) -> np.ndarray:
    """Linear interpolation between two boxes at fraction `t` in [0, 1]."""
    return (1.0 - t) * np.asarray(box0, dtype=np.float64) + t * np.asarray(box1, dtype=np.float64)


@dataclass
class Track:
    """One face followed across detection frames."""

    id: int  # internal id, in order of creation
    box: np.ndarray  # last detected box
    prob: float  # last detection probability
    frame: int  # frame index of the last detection
    hits: int = 1  # detections assigned so far (a candidate's weak ones are not counted once it starts a track)
    misses: int = 0  # consecutive detection rounds without a match
    strict_hits: int = 1  # detections at or above the tracker's start probability (0: a candidate)


def _box_side(boxes: np.ndarray) -> np.ndarray:
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).clip(1e-6, None)


def _match(old: np.ndarray, boxes: np.ndarray, allowed: np.ndarray, iou_threshold: float, max_shift: float):
    """(old index, box index) pairs where `allowed`: greedy IoU >= `iou_threshold`, then greedy centre distance
    (at most `max_shift` old box sides, sizes within a factor 1.5) among what is left."""
    iou = np.where(allowed, box_iou(old, boxes), -1.0)
    pairs = greedy_match(iou, iou_threshold)
    if max_shift > 0 and len(pairs) < min(len(old), len(boxes)):
        closeness = 1.0 - center_distance(old, boxes) / max_shift  # >= 0 within max_shift
        ratio = _box_side(old)[:, None] / _box_side(boxes)[None, :]
        closeness[(ratio > 1.5) | (ratio < 1 / 1.5) | ~allowed] = -1.0
        closeness[[r for r, _ in pairs], :] = -1.0
        closeness[:, [c for _, c in pairs]] = -1.0
        pairs += greedy_match(closeness, 1e-9)
    return pairs


class IoUTracker:
    """Assign each detection round's boxes to tracks by greedy IoU with the tracks' last boxes.

    Boxes and tracks left over are then paired greedily by centre distance (at most `max_shift` times the track's
    box side, sizes within a factor 1.5), which follows faces that moved fast or were sampled far apart. A track that
    goes unmatched for more than `patience` consecutive detection rounds ends; a detection matching no live track
    starts a new one. Ids are never reused.

    Hysteresis: only a box with probability >= `start_prob` starts a track or continues a young one; a track detected
    that way `established_hits` times is established and also continues with weak boxes (the caller decides how weak
    a box it passes). A weak box that continues no established track is dropped (its slot in `update`'s answer is
    None), unless `candidates` is on: then it starts or continues a candidate, a chain of weak boxes followed by the
    same rules (IoU, then centre distance; `patience` missed rounds). Candidates only get the boxes the tracks left:
    the tracks, and which strong boxes start new ones, are the same with or without them. A strong box that continues
    a candidate turns it into a new track (hits 1, strict hits 1, as if the box had started it) that keeps the
    candidate's id, so the caller can give the track the candidate's earlier boxes: this is how a face first seen
    below `start_prob` gets its track from its first weak detection on. A candidate never becomes a track otherwise.

    Args:
        iou_threshold: smallest IoU between a track's last box and a new box to continue the track.
        patience: detection rounds a track may be missed before it ends.
        max_shift: largest centre distance, in track box sides, for the fallback pairing (0 disables it).
        start_prob: smallest probability that starts a track (0: every box is strong).
        established_hits: strong detections after which a track continues with weak ones.
        candidates: follow weak boxes that continue no track as candidates (see above).
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        patience: int = 2,
        max_shift: float = 1.0,
        start_prob: float = 0.0,
        established_hits: int = 2,
        candidates: bool = False,
    ):
        self.iou_threshold = iou_threshold
        self.patience = patience
        self.max_shift = max_shift
        self.start_prob = start_prob
        self.established_hits = established_hits
        self.candidates = candidates
        self.live: list[Track] = []
        self._next_id = 0

    def is_established(self, track: Track) -> bool:
        """Whether `track` continues with weak boxes (and is worth searching for when it is missed)."""
        return track.strict_hits >= self.established_hits

    @staticmethod
    def is_candidate(track: Track) -> bool:
        """Whether `track` is a candidate: a chain of weak boxes, not (yet) a track."""
        return track.strict_hits == 0

    def _pair(self, boxes: np.ndarray, probs: np.ndarray) -> list[tuple[int, int]]:
        """(live index, box index) pairs: tracks first (weak boxes only to established ones), then candidates with
        the boxes the tracks left."""
        rows = [r for r, t in enumerate(self.live) if not self.is_candidate(t)]
        old = np.array([self.live[r].box for r in rows]).reshape(-1, 4)
        allowed = np.ones((len(old), len(boxes)), bool)
        weak = np.asarray(probs, dtype=np.float64) < self.start_prob
        for i, r in enumerate(rows):
            if not self.is_established(self.live[r]):
                allowed[i, weak] = False
        pairs = [(rows[i], c) for i, c in _match(old, boxes, allowed, self.iou_threshold, self.max_shift)]
        cand_rows = [r for r, t in enumerate(self.live) if self.is_candidate(t)]
        if cand_rows:
            cand = np.array([self.live[r].box for r in cand_rows]).reshape(-1, 4)
            allowed = np.ones((len(cand), len(boxes)), bool)
            allowed[:, [c for _, c in pairs]] = False
            found = _match(cand, boxes, allowed, self.iou_threshold, self.max_shift)
            pairs += [(cand_rows[i], c) for i, c in found]
        return pairs

    def unmatched(self, boxes: np.ndarray, probs: np.ndarray) -> list[Track]:
        """The live tracks (not candidates) that this round's `boxes` would leave unmatched (nothing is changed)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        paired = {r for r, _ in self._pair(boxes, probs)}
        return [t for r, t in enumerate(self.live) if r not in paired and not self.is_candidate(t)]

    def update(self, frame: int, boxes: np.ndarray, probs: np.ndarray) -> tuple[list[Track | None], list[Track]]:
        """Take one detection round; return (the track or candidate of each box, in box order, None for a dropped
        weak box; tracks and candidates that ended now)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        probs = np.asarray(probs, dtype=np.float64).reshape(-1)
        assigned: list[Track | None] = [None] * len(boxes)
        matched: set[int] = set()
        started: set[int] = set()  # ids of candidates that a strong box turns into tracks now
        for r, c in self._pair(boxes, probs):
            track = self.live[r]
            strong = bool(probs[c] >= self.start_prob)
            if self.is_candidate(track) and strong:
                track.hits = 0  # counted from this box on, like a track it starts
                started.add(track.id)
            track.box, track.prob, track.frame = boxes[c], float(probs[c]), frame
            track.hits += 1
            track.strict_hits += int(strong)
            track.misses = 0
            assigned[c] = track
            matched.add(r)
        ended, still = self._age(matched, started)
        for c, track in enumerate(assigned):  # tracks that start now go last, in box order
            if track is not None and track.id in started:
                still.append(track)
            elif track is None and (probs[c] >= self.start_prob or self.candidates):
                strict = int(probs[c] >= self.start_prob)
                track = Track(self._next_id, boxes[c], float(probs[c]), frame, strict_hits=strict)
                self._next_id += 1
                still.append(track)
                assigned[c] = track
        self.live = still
        return assigned, ended

    def _age(self, matched: set[int], started: set[int]) -> tuple[list[Track], list[Track]]:
        """(ended, still live): the live entries (by index) not `matched` this round miss once more and end past
        `patience`; candidates `started` (by id) as tracks are left out of both."""
        ended, still = [], []
        for r, track in enumerate(self.live):
            if track.id in started:
                continue
            if r not in matched:
                track.misses += 1
                if track.misses > self.patience:
                    ended.append(track)
                    continue
            still.append(track)
        return ended, still
