"""MTCNN's five landmarks in the faces manifest: in crop pixels, on the face's eyes, nose and mouth."""

from __future__ import annotations

import numpy as np
import pytest
from sample_faces import extract_samples

from deepfakeforensics.data.video import SamplingConfig, iter_frames
from deepfakeforensics.faces import ExtractionConfig, FaceFinder
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, crop_face, landmarks_in_crop


def test_landmarks_in_crop_follow_the_crop_geometry():
    """A point drawn on the frame lands on the same pixel of the crop (up to resampling)."""
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[118:123, 148:153] = 255  # a bright dot centred on (150, 120)
    box = (110.0, 80.0, 190.0, 170.0)
    crop = crop_face(frame, box, margin=1.3, size=64)
    [[x, y]] = landmarks_in_crop(np.array([[150.0, 120.0]]), box, margin=1.3, size=64)
    rows, cols = np.nonzero(crop[..., 0] > 60)
    assert abs(cols.mean() - x) < 0.5 and abs(rows.mean() - y) < 0.5
    assert np.isnan(landmarks_in_crop(np.full((1, 2), np.nan), box)).all()


@pytest.fixture(scope="module")
def faces(samples_dir, tmp_path_factory):
    """The real FF++ clip 519, 6 frames, detection on every other one (the rest tracked and interpolated)."""
    config = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=6), crop_size=128, detect_every=2)
    return extract_samples(samples_dir, tmp_path_factory.mktemp("landmarks"), config)


def test_manifest_landmarks_sit_on_the_face(faces):
    main = faces[faces["track"] == 0]
    assert len(main) == 6 and set(LANDMARK_COLUMNS) <= set(faces.columns)
    assert (~main["detected"]).any() and main["detected"].any()  # interpolated rows get interpolated landmarks
    points = main[LANDMARK_COLUMNS].to_numpy(float).reshape(-1, 5, 2)
    assert np.isfinite(points).all()
    assert ((points > 0) & (points < 128)).all()  # inside the crop
    eyes_y, nose_y, mouth_y = points[:, :2, 1].mean(1), points[:, 2, 1], points[:, 3:, 1].mean(1)
    assert (eyes_y < nose_y).all() and (nose_y < mouth_y).all()  # eyes above nose above mouth
    assert (points[:, 0, 0] < points[:, 1, 0]).all() and (points[:, 3, 0] < points[:, 4, 0]).all()  # image left first
    # The crop is centred on the face box: the nose lies near the middle, eyes in the upper half.
    assert (np.abs(points[:, 2] - 64) < 24).all() and (eyes_y < 64).all()


def test_both_engines_give_the_same_landmarks(samples_dir):
    """The batched engine's O-net landmarks agree with facenet-pytorch's ``detect(landmarks=True)`` within jitter."""
    path = samples_dir / "ffpp/original_sequences/youtube/c23/videos/519.mp4"
    frame = next(iter(iter_frames(path, [0])))[1]
    [ours] = FaceFinder(detect_size=640, device="cpu").detect([frame])
    [theirs] = FaceFinder(detect_size=640, device="cpu", engine="facenet").detect([frame])
    assert len(ours) >= 1 and len(theirs) >= 1 and ours.points.shape == (len(ours), 5, 2)
    side = ours.boxes[0, 2] - ours.boxes[0, 0]
    assert np.abs(ours.points[0] - theirs.points[0]).max() < 0.05 * side
    x0, y0, x1, y1 = ours.boxes[0]
    assert ((ours.points[0, :, 0] > x0) & (ours.points[0, :, 0] < x1)).all()
    assert ((ours.points[0, :, 1] > y0) & (ours.points[0, :, 1] < y1)).all()
