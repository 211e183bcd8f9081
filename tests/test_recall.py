"""Keeping a face's track through detection misses: hysteresis, gap bridging and re-detection around the last box.

Most tests drive `iter_face_crops` with a scripted finder: the test video's frame i shows i in binary (8 stripes,
white for a 1), so the finder knows which frame it is shown and answers with the detections the test wrote for it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from synth_videos import face_photo

from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.faces import Detections, ExtractionConfig, FaceFinder, IoUTracker, iter_face_crops

N_FRAMES = 60
SIZE = 96
BOX = np.array([30.0, 30.0, 70.0, 70.0], np.float32)


@pytest.fixture(scope="module")
def bits_video(tmp_path_factory):
    """A video whose frame i shows the bits of i as 8 vertical stripes, white for a 1 (survives lossy coding)."""
    path = tmp_path_factory.mktemp("recall") / "bits.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (SIZE, SIZE))
    for i in range(N_FRAMES):
        bits = np.array([(i >> k) & 1 for k in range(8)], np.uint8) * 255
        writer.write(np.repeat(np.repeat(bits, SIZE // 8)[None, :, None], SIZE, axis=0).repeat(3, axis=2))
    writer.release()
    return path


class ScriptedFinder:
    """Answers `detect` with the box and probability the test gave for each frame; `detect_near` likewise."""

    batch_size = 4

    def __init__(self, probs: dict[int, float], near: dict[int, float] | None = None):
        self.probs = probs  # frame -> probability of the face at BOX on a full-frame detection (absent: no face)
        self.near = near or {}  # frame -> probability of the face on a search around the last box
        self.near_calls: list[int] = []

    @staticmethod
    def _index(frame: np.ndarray) -> int:
        stripes = frame[:, SIZE // 16 :: SIZE // 8].mean(axis=(0, 2))  # the centre column of each stripe
        return int(sum(1 << k for k, level in enumerate(stripes) if level > 128))

    @staticmethod
    def _answer(prob: float | None, min_prob: float) -> Detections:
        if prob is None or prob < min_prob:
            return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))
        return Detections(BOX[None].copy(), np.array([prob], np.float32))

    def detect(self, frames, min_prob=None):
        return [self._answer(self.probs.get(self._index(f)), min_prob) for f in frames]

    def detect_near(self, frame, box, min_prob=None):
        self.near_calls.append(self._index(frame))
        return self._answer(self.near.get(self._index(frame)), min_prob)


def crops_of(video, finder, **kw) -> list:
    config = ExtractionConfig(sampling=SamplingConfig("all"), detect_every=5, **kw)
    return list(iter_face_crops(video, config, finder))


DETECTION_FRAMES = [*range(0, N_FRAMES, 5), N_FRAMES - 1]


def test_a_dip_below_the_cut_keeps_one_unbroken_track(bits_video):
    probs = {f: 0.99 for f in DETECTION_FRAMES} | {15: 0.9, 20: 0.85, 25: 0.9}  # three weak detection frames
    crops = crops_of(bits_video, ScriptedFinder(probs), redetect=False)
    assert {c.track for c in crops} == {0}
    assert [c.frame for c in crops] == list(range(N_FRAMES))
    # the strict cut alone breaks the track: frames 11-24 are lost (no track may pass 15 to 25)
    strict = crops_of(bits_video, ScriptedFinder(probs), redetect=False, track_prob=0.95)
    assert not {11, 15, 20, 24} & {c.frame for c in strict}


def test_weak_detections_never_start_a_track(bits_video):
    probs = {f: 0.9 for f in DETECTION_FRAMES}
    assert crops_of(bits_video, ScriptedFinder(probs), redetect=False) == []


def test_a_face_first_seen_below_the_cut_gets_its_track_from_its_first_weak_detection(bits_video):
    probs = {f: 0.99 for f in DETECTION_FRAMES} | {0: 0.85, 5: 0.9, 10: 0.87, 15: 0.9}  # dim start, then clear
    crops = crops_of(bits_video, ScriptedFinder(probs), redetect=False)
    assert {c.track for c in crops} == {0}
    assert [c.frame for c in crops] == list(range(N_FRAMES))
    assert [c.frame for c in crops if c.detected] == DETECTION_FRAMES  # the weak rounds are detections, not guesses
    assert crops[0].prob == pytest.approx(0.85)
    # without the look-back the track starts at its first strict detection
    late = crops_of(bits_video, ScriptedFinder(probs), redetect=False, track_lookback=0)
    assert [c.frame for c in late] == list(range(20, N_FRAMES))


def test_the_look_back_is_limited_and_follows_only_a_chain_within_patience(bits_video):
    probs = {f: 0.9 for f in range(0, 40, 5)} | {f: 0.99 for f in DETECTION_FRAMES if f >= 40}
    crops = crops_of(bits_video, ScriptedFinder(probs), redetect=False, track_lookback=3)
    assert [c.frame for c in crops] == list(range(25, N_FRAMES))  # three detection rounds before frame 40
    probs = {0: 0.9, 20: 0.9} | {f: 0.99 for f in DETECTION_FRAMES if f >= 25}  # 0 is more than patience before 20
    crops = crops_of(bits_video, ScriptedFinder(probs), redetect=False, patience=2)
    assert [c.frame for c in crops] == list(range(20, N_FRAMES))


def test_weak_blobs_without_a_confirmed_track_give_nothing(bits_video):
    # weak for a while, then one strict detection, then gone: one strict detection does not make a track
    probs = {0: 0.9, 5: 0.88, 10: 0.9, 15: 0.97}
    assert crops_of(bits_video, ScriptedFinder(probs), redetect=False) == []
    probs = {25: 0.9}  # a one-off weak blob
    assert crops_of(bits_video, ScriptedFinder(probs), redetect=False) == []


def test_missed_detection_frames_are_bridged_when_the_face_comes_back(bits_video):
    probs = {f: 0.99 for f in DETECTION_FRAMES if f not in (20, 25)}  # no face at all on two detection frames
    crops = crops_of(bits_video, ScriptedFinder(probs), redetect=False, patience=2)
    assert {c.track for c in crops} == {0}
    assert [c.frame for c in crops] == list(range(N_FRAMES))
    assert not any(c.detected for c in crops if 15 < c.frame < 30)  # interpolated from frames 15 and 30


def test_a_missed_track_is_searched_for_around_its_last_box(bits_video):
    probs = {f: 0.99 for f in DETECTION_FRAMES if f not in (20, 25, 30, 35)}  # longer than patience
    finder = ScriptedFinder(probs, near={20: 0.9, 25: 0.97, 30: 0.85, 35: 0.9})
    crops = crops_of(bits_video, finder, patience=2)
    assert finder.near_calls == [20, 25, 30, 35]
    assert {c.track for c in crops} == {0}
    assert [c.frame for c in crops] == list(range(N_FRAMES))
    assert all(c.detected for c in crops if c.frame in (20, 25, 30, 35))


def test_a_face_that_leaves_ends_its_track(bits_video):
    probs = {f: 0.99 for f in DETECTION_FRAMES if f <= 15 or f >= 40}  # gone for four detection frames
    finder = ScriptedFinder(probs)  # the search around the last box finds nothing either
    crops = crops_of(bits_video, finder, patience=2)
    assert finder.near_calls == [20, 25, 30]  # searched for while the track lived, not after it ended
    first = [c.frame for c in crops if c.track == 0]
    second = [c.frame for c in crops if c.track == 1]
    assert first == list(range(16)) and second == list(range(40, N_FRAMES))  # nothing bridged, a new track after


def test_tracker_hysteresis():
    tracker = IoUTracker(patience=1, start_prob=0.95, established_hits=2)
    box, other = np.array([[0.0, 0, 50, 50]]), np.array([[300.0, 0, 350, 50]])
    [young], _ = tracker.update(0, box, [0.99])
    assert tracker.update(1, box, [0.9])[0] == [None]  # a young track does not continue with a weak box
    [same], _ = tracker.update(2, box + 2, [0.99])
    assert same.id == young.id and tracker.is_established(same)
    [weak, stranger], _ = tracker.update(3, np.concatenate([box + 4, other]), [0.85, 0.9])
    assert weak.id == young.id and stranger is None  # an established track continues; a weak box starts nothing
    assert (weak.hits, weak.strict_hits) == (3, 2)
    assert tracker.unmatched(other, [0.99]) == [weak]


def test_tracker_candidates_become_tracks_only_with_a_strong_box():
    tracker = IoUTracker(patience=1, start_prob=0.95, established_hits=2, candidates=True)
    box, other = np.array([[0.0, 0, 50, 50]]), np.array([[300.0, 0, 350, 50]])
    [cand], _ = tracker.update(0, box, [0.9])
    assert tracker.is_candidate(cand) and tracker.unmatched(np.zeros((0, 4)), []) == []  # not searched for
    [same], _ = tracker.update(1, box + 2, [0.85])
    assert same is cand and tracker.is_candidate(same) and same.hits == 2
    [track, young], _ = tracker.update(2, np.concatenate([box + 4, other]), [0.99, 0.99])
    assert track.id == cand.id and not tracker.is_candidate(track)
    assert (track.hits, track.strict_hits) == (1, 1)  # counted from the strong box on, as a track it had started
    assert young.id not in (cand.id,) and (young.hits, young.strict_hits) == (1, 1)
    assert tracker.live == [track, young]  # tracks that start now, in box order
    # a weak box next to a young track starts a candidate; the track keeps the next strong box
    [side], _ = tracker.update(3, other, [0.9])
    assert tracker.is_candidate(side) and side.id != young.id
    [again], ended = tracker.update(4, other, [0.99])
    assert again is young and young.strict_hits == 2 and ended == [track]
    _, ended = tracker.update(5, other + 200, [0.5])
    assert side in ended  # missed for more than patience


def test_detect_near_finds_a_face_too_small_for_the_downscaled_frame():
    frame = np.full((1200, 1600, 3), 90, np.uint8)
    frame[500:580, 700:780] = face_photo(80)
    finder = FaceFinder(detect_size=200, min_face_size=20, device="cpu")
    [whole] = finder.detect([frame])
    assert len(whole) == 0  # 10 px at detection size: below MTCNN's 12-pixel window
    near = finder.detect_near(frame, np.array([690.0, 490, 770, 570]), min_prob=0.8)
    assert len(near) == 1
    x0, y0, x1, y1 = near.boxes[0]
    assert 690 < (x0 + x1) / 2 < 790 and 490 < (y0 + y1) / 2 < 590  # in frame pixels, around the face
