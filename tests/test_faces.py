"""Face detection, tracking, crops and the streaming core `iter_face_crops` on videos the tests write."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from synth_videos import face_photo, write_face_video

from deepfakeforensics.data.video import SamplingConfig, VideoError, iter_frames
from deepfakeforensics.faces import (
    ExtractionConfig,
    FaceFinder,
    IoUTracker,
    box_iou,
    crop_face,
    greedy_match,
    iter_face_crops,
    read_rgb,
    write_jpeg,
)
from deepfakeforensics.faces.stream import resolve_detect_every

FAST = dict(detect_size=480, min_face_size=30, device="cpu")


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    return ExtractionConfig(**FAST).make_finder()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faces")
    rects = {}
    for name, n_faces in [("two", 2), ("none", 0)]:
        rects[name] = write_face_video(
            folder / f"{name}.mp4", n_faces=n_faces, n_frames=16, height=240, width=400, face_size=120
        )
    return folder, rects


def centre_inside(box, rect) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return rect[0] <= cx <= rect[2] and rect[1] <= cy <= rect[3]


# ---------------------------------------------------------------- crops and colours


def test_crop_is_square_centred_with_margin_and_keeps_rgb():
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[:, :] = (0, 0, 255)  # blue background (RGB)
    frame[50:150, 100:200] = (250, 40, 10)  # red square, the "face"
    crop = crop_face(frame, (100, 50, 200, 150), margin=1.0, size=64)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(crop[8:56, 8:56].reshape(-1, 3).mean(0), (250, 40, 10), atol=2)
    wide = crop_face(frame, (100, 50, 200, 150), margin=2.0, size=64)
    np.testing.assert_allclose(wide[28:36, 28:36].reshape(-1, 3).mean(0), (250, 40, 10), atol=2)
    np.testing.assert_allclose(wide[:4, :].reshape(-1, 3).mean(0), (0, 0, 255), atol=2)  # margin shows background


def test_crop_at_the_border_is_padded_black_and_stays_centred():
    frame = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_face(frame, (-20, -20, 20, 20), margin=1.0, size=40)
    assert crop[:18, :18].max() == 0  # outside the frame: black
    assert crop[22:, 22:].min() == 200  # inside: the frame
    assert crop_face(frame, (500, 500, 540, 540), size=16).max() == 0


def test_jpeg_files_hold_rgb_colours(tmp_path):
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :16] = (255, 0, 0)
    image[:, 16:] = (0, 0, 255)
    write_jpeg(tmp_path / "x.jpg", image, quality=95)
    back = read_rgb(tmp_path / "x.jpg")
    np.testing.assert_allclose(back[:, 2:12].reshape(-1, 3).mean(0), (255, 0, 0), atol=6)
    np.testing.assert_allclose(back[:, 20:30].reshape(-1, 3).mean(0), (0, 0, 255), atol=6)


# ---------------------------------------------------------------- tracking


def test_greedy_match_takes_best_pairs_once():
    iou = np.array([[0.9, 0.5], [0.8, 0.1], [0.0, 0.2]])
    assert greedy_match(iou, 0.3) == [(0, 0)]
    assert greedy_match(iou, 0.05) == [(0, 0), (2, 1)]  # (1, 0) and (1, 1) lose to better pairs
    np.testing.assert_allclose(box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]), [[1 / 3, 0]])


def test_tracker_keeps_ids_through_motion_and_ends_after_patience():
    tracker = IoUTracker(iou_threshold=0.3, patience=1, max_shift=1.0)
    a, b = np.array([0.0, 0, 50, 50]), np.array([200.0, 0, 250, 50])
    first, _ = tracker.update(0, np.stack([a, b]), np.ones(2))
    ids = [t.id for t in first]
    # the boxes come back in the other order, and a moved by 40 px (IoU 0.11: the centre-distance fallback)
    second, _ = tracker.update(1, np.stack([b + 5, a + [40, 0, 40, 0]]), np.ones(2))
    assert [t.id for t in second] == ids[::-1]
    _, ended = tracker.update(2, np.stack([b]), np.ones(1))
    assert ended == []  # one miss is within patience
    _, ended = tracker.update(3, np.stack([b]), np.ones(1))
    assert [t.id for t in ended] == [ids[0]]
    third, _ = tracker.update(4, np.stack([a]), np.ones(1))
    assert third[0].id not in ids  # a new face, never a reused id


# ---------------------------------------------------------------- finder


def test_detector_batches_mixed_frames_with_and_without_faces(finder):
    photo = face_photo(140)
    with_face = np.full((300, 400, 3), 90, np.uint8)
    with_face[60:200, 200:340] = photo
    empty = np.full((300, 400, 3), 90, np.uint8)
    big = np.full((600, 800, 3), 90, np.uint8)
    big[120:400, 400:680] = face_photo(280)
    dets = finder.detect([with_face, empty, big, empty])
    assert [len(d) for d in dets] == [1, 0, 1, 0]
    assert centre_inside(dets[0].boxes[0], (200, 60, 340, 200))
    assert centre_inside(dets[2].boxes[0], (400, 120, 680, 400))  # full-resolution coordinates
    assert dets[0].probs[0] >= 0.9


def test_channels_last_detector_finds_the_same_boxes(finder):
    frame = np.full((300, 400, 3), 90, np.uint8)
    frame[60:200, 200:340] = face_photo(140)
    nchw = FaceFinder(detect_size=480, min_face_size=30, device="cpu", channels_last=False)
    assert next(finder._mtcnn.pnet.parameters()).is_contiguous(memory_format=torch.channels_last)
    assert not next(nchw._mtcnn.pnet.parameters()).is_contiguous(memory_format=torch.channels_last)
    [a], [b] = finder.detect([frame]), nchw.detect([frame])
    assert len(a) == len(b) == 1
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)


# ---------------------------------------------------------------- iter_face_crops


def test_two_faces_give_two_stable_tracks(videos, finder):
    folder, rects = videos
    config = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=6), detect_every=1, **FAST)
    crops = list(iter_face_crops(folder / "two.mp4", config, finder))
    frames = sorted({c.frame for c in crops})
    assert frames == [0, 3, 6, 9, 12, 15]
    assert sorted({c.track for c in crops}) == [0, 1]
    for track in (0, 1):
        mine = [c for c in crops if c.track == track]
        assert [c.frame for c in mine] == frames  # one crop per sampled frame, in order
        # the same pasted photo (left or right) all along: stable id
        slots = {next(k for k, r in enumerate(rects["two"][c.frame]) if centre_inside(c.box, r)) for c in mine}
        assert len(slots) == 1
        for c in mine:
            assert c.image.shape == (256, 256, 3) and c.image.dtype == np.uint8 and c.detected


def test_crops_are_cut_from_the_rgb_source_frame(videos, finder):
    folder, _ = videos
    config = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=2), crop_size=128, **FAST)
    crops = list(iter_face_crops(folder / "two.mp4", config, finder))
    frames = dict(iter_frames(folder / "two.mp4", [c.frame for c in crops]))
    for c in crops:
        expected = crop_face(frames[c.frame], c.box, 1.3, 128)
        np.testing.assert_array_equal(c.image, expected)
        swapped = np.abs(c.image.astype(int) - expected[..., ::-1]).mean()
        assert swapped > 5  # the background is not grey: a BGR mix-up would show


def test_detect_every_interpolates_between_detections(videos, finder):
    folder, rects = videos
    config = ExtractionConfig(sampling=SamplingConfig("all"), detect_every=5, **FAST)
    assert resolve_detect_every(list(range(16)), config) == 5
    crops = list(iter_face_crops(folder / "two.mp4", config, finder))
    detected = sorted({c.frame for c in crops if c.detected})
    assert detected == [0, 5, 10, 15]  # every 5th sampled frame and the last
    for track in (0, 1):
        mine = sorted((c for c in crops if c.track == track), key=lambda c: c.frame)
        assert [c.frame for c in mine] == list(range(16))
        for c in mine:
            assert any(centre_inside(c.box, r) for r in rects["two"][c.frame])


def test_auto_detect_every_depends_on_frame_spacing():
    config = ExtractionConfig(detect_gap=5)
    assert resolve_detect_every(list(range(0, 751, 24)), config) == 1
    assert resolve_detect_every(list(range(100)), config) == 5
    assert resolve_detect_every(list(range(0, 100, 2)), config) == 2


def test_no_face_gives_no_crop_and_short_tracks_are_dropped(videos, finder):
    folder, _ = videos
    config = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=4), **FAST)
    assert list(iter_face_crops(folder / "none.mp4", config, finder)) == []
    # a track must be seen in at least min_track_fraction of the detection frames: 4 of 4 here
    strict = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=4), min_track_fraction=1.0, **FAST)
    crops = list(iter_face_crops(folder / "two.mp4", strict, finder, frame_indices=[0, 5, 10, 15]))
    assert len(crops) == 8


def test_bad_videos_raise(tmp_path, finder):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        list(iter_face_crops(tmp_path / "empty.mp4", ExtractionConfig(**FAST), finder))


def test_a_face_seen_once_is_dropped_unless_allowed(tmp_path, finder):
    path = tmp_path / "flash.mp4"
    write_face_video(path, n_faces=1, n_frames=6, height=240, width=320, face_size=120)
    # keep the face only in frame 3: paint the others over
    frames = [rgb.copy() for _, rgb in iter_frames(path, None)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (320, 240))
    for i, rgb in enumerate(frames):
        if i != 3:
            rgb[:] = 90
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    config = ExtractionConfig(sampling=SamplingConfig("all"), detect_every=1, **FAST)
    assert list(iter_face_crops(path, config, finder)) == []
    once = ExtractionConfig(sampling=SamplingConfig("all"), detect_every=1, min_track_detections=1, **FAST)
    assert [c.frame for c in iter_face_crops(path, once, finder)] == [3]
