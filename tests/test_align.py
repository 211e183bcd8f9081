"""Aligned face crops: a similarity of the five landmarks onto the ArcFace template, at the plain crops' margin and size."""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest
from sample_faces import extract_samples

from deepfakeforensics import _io
from deepfakeforensics.cli import build_parser
from deepfakeforensics.commands.predict import extraction_from_args
from deepfakeforensics.data.video import SamplingConfig, iter_frames
from deepfakeforensics.faces import ExtractionConfig, FaceFinder, crops_aligned
from deepfakeforensics.faces.crop import (
    ALIGN_TEMPLATE,
    LANDMARK_COLUMNS,
    aligned_crop,
    crop_face,
    landmarks_in_crop,
    similarity_transform,
    template_in_crop,
)
from deepfakeforensics.inference.predict import detect_image_faces, follow_training_alignment
from deepfakeforensics.models import create_model, save_checkpoint
from deepfakeforensics.run_records import training_crops_aligned
from deepfakeforensics.runs import RunInfo
from deepfakeforensics.training.config import DataConfig, TrainConfig

SIZE, MARGIN = 128, 1.3


def face_points(centre: tuple[float, float], side: float, degrees: float) -> np.ndarray:
    """The template's five points for a face box of `side` pixels centred on `centre`, rotated by `degrees`."""
    t = np.deg2rad(degrees)
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return ALIGN_TEMPLATE * side @ rotation.T + np.asarray(centre) - 0.5  # pixel centres at integers


def dotted_frame(points: np.ndarray, radius: float, shape: tuple[int, int] = (900, 1200)) -> np.ndarray:
    """A black RGB frame with a white anti-aliased disc on each point (sub-pixel centres)."""
    frame = np.zeros((*shape, 3), np.uint8)
    for x, y in points:
        centre = (int(round(x * 16)), int(round(y * 16)))
        cv2.circle(frame, centre, int(round(radius * 16)), (255, 255, 255), -1, cv2.LINE_AA, shift=4)
    return frame


def dot_centres(crop: np.ndarray, near: np.ndarray, reach: float) -> np.ndarray:
    """The intensity centroid of the crop within `reach` pixels of each point of `near`."""
    gray = crop[..., 0].astype(np.float64)
    ys, xs = np.mgrid[: gray.shape[0], : gray.shape[1]]
    centres = []
    for x, y in near:
        w = gray * (np.hypot(xs - x, ys - y) < reach)
        centres.append(((w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()))
    return np.array(centres)


@pytest.mark.parametrize("side", [80.0, 420.0])  # the crop enlarges the face / shrinks it (area-averaged first)
def test_a_rotated_face_lands_on_the_template_with_level_eyes(side):
    points = face_points((600.0, 450.0), side, degrees=20.0)
    frame = dotted_frame(points, radius=0.04 * side)
    box = (600 - side / 2, 450 - side / 2, 600 + side / 2, 450 + side / 2)
    crop, moved, aligned = aligned_crop(frame, points, box, MARGIN, SIZE)
    template = template_in_crop(MARGIN, SIZE)
    assert aligned and crop.shape == (SIZE, SIZE, 3)
    assert np.abs(moved - template).max() < 0.01  # the returned points: exact for an exact similarity
    seen = dot_centres(crop, template, reach=0.06 * SIZE)
    assert np.abs(seen - template).max() < 1.0  # the pixels themselves moved there
    assert abs(seen[1, 1] - seen[0, 1]) < 0.5  # eye line horizontal (the template's tilts by 0.2 px at 128)
    plain = landmarks_in_crop(points, box, MARGIN, SIZE)
    assert abs(plain[1, 1] - plain[0, 1]) > 0.3 * abs(plain[1, 0] - plain[0, 0])  # while the plain crop's is tilted


def test_an_upright_face_gets_the_plain_crops_geometry():
    """At angle 0, with the template's size for its box, the aligned crop is the plain crop (resampling aside)."""
    side, centre = 300.0, (520.0, 410.0)
    points = face_points(centre, side, degrees=0.0)
    rng = np.random.default_rng(0)
    frame = cv2.resize(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), (1200, 900), interpolation=cv2.INTER_CUBIC)
    box = (centre[0] - side / 2, centre[1] - side / 2, centre[0] + side / 2, centre[1] + side / 2)
    crop, moved, aligned = aligned_crop(frame, points, box, MARGIN, SIZE)
    assert aligned
    assert np.abs(moved - landmarks_in_crop(points, box, MARGIN, SIZE)).max() < 1.0
    plain = crop_face(frame, box, MARGIN, SIZE)
    assert np.abs(crop.astype(float) - plain).mean() < 1.0  # same pixels up to resampling (scale 0.33 here)
    other = crop_face(frame, (box[0] + 8, box[1], box[2] + 8, box[3]), MARGIN, SIZE)  # 3.5 crop pixels off
    assert np.abs(other.astype(float) - plain).mean() > 2 * np.abs(crop.astype(float) - plain).mean()


@pytest.mark.parametrize("bad", ["nan", "collapsed"])
def test_a_face_without_usable_landmarks_gets_the_plain_crop(bad):
    frame = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    box = (100.0, 50.0, 180.0, 140.0)
    points = np.full((5, 2), np.nan) if bad == "nan" else np.full((5, 2), 140.0)
    crop, moved, aligned = aligned_crop(frame, points, box, MARGIN, SIZE)
    assert not aligned
    np.testing.assert_array_equal(crop, crop_face(frame, box, MARGIN, SIZE))
    np.testing.assert_array_equal(moved, landmarks_in_crop(points, box, MARGIN, SIZE))


def test_similarity_transform_recovers_a_known_similarity():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(5, 2)) * 40
    t = np.deg2rad(-33.0)
    truth = np.array([[np.cos(t), -np.sin(t), 12.0], [np.sin(t), np.cos(t), -7.0]]) * [[1.7], [1.7]]
    truth[:, 2] = (12.0, -7.0)
    dst = src @ truth[:, :2].T + truth[:, 2]
    np.testing.assert_allclose(similarity_transform(src, dst), truth, atol=1e-9)
    mirrored = dst * [-1, 1]  # a reflection is not a similarity: the fit stays a rotation (det > 0)
    assert np.linalg.det(similarity_transform(src, mirrored)[:, :2]) > 0


def test_dff_extract_offers_align():
    args = build_parser("extract").parse_args(["extract", "labels/x.csv", "--align"])
    assert args.align is True
    assert build_parser("extract").parse_args(["extract", "labels/x.csv"]).align is False


@pytest.fixture(scope="module")
def aligned_faces(samples_dir, tmp_path_factory):
    """The real FF++ clip 519, 4 frames, detection on every other one, extracted with align=True."""
    tmp = tmp_path_factory.mktemp("align")
    sampling = SamplingConfig("uniform", n_frames=4)
    config = ExtractionConfig(sampling=sampling, crop_size=SIZE, detect_every=2, align=True, device="cpu")
    return tmp, extract_samples(samples_dir, tmp, config, split="train")


def test_aligned_extraction_writes_level_eyes_and_the_flag(aligned_faces):
    tmp, faces = aligned_faces
    main = faces[faces["track"] == 0]
    assert len(main) == 4 and (~main["detected"]).any()  # interpolated frames are aligned on interpolated landmarks
    assert (main["aligned"] == 1).all()
    points = main[LANDMARK_COLUMNS].to_numpy(float).reshape(-1, 5, 2)
    assert (np.abs(points[:, 1, 1] - points[:, 0, 1]) < 1.5).all()  # eyes level
    assert np.abs(points - template_in_crop(MARGIN, SIZE)).max() < 6.0  # near the template (MTCNN is not rigid)
    reloaded = _io.load_table(tmp / "labels" / "samples_faces.csv")  # the sidecar records the option
    assert reloaded.attrs["extraction"]["align"] is True and crops_aligned(reloaded)
    bare = reloaded.copy()
    bare.attrs = {}  # a manifest without its sidecar settings: the column tells
    assert crops_aligned(bare) and not crops_aligned(bare.drop(columns="aligned"))


def test_prediction_follows_the_runs_alignment(aligned_faces, tmp_path):
    tmp, _ = aligned_faces
    run = tmp_path / "run"
    run.mkdir()
    data = DataConfig(faces=str(tmp / "labels" / "samples_faces.csv"))
    (run / "config.json").write_text(json.dumps({"train": TrainConfig().to_dict(), "data": data.to_dict()}))
    assert training_crops_aligned(run / "best.pt") is True
    assert follow_training_alignment(ExtractionConfig(), run / "best.pt").align is True
    assert training_crops_aligned(tmp_path / "elsewhere" / "best.pt") is None  # no run folder: left as asked
    assert follow_training_alignment(ExtractionConfig(), tmp_path / "elsewhere" / "best.pt").align is False
    save_checkpoint(run / "best.pt", create_model("mesonet4"))
    args = argparse.Namespace(every_k=None, frames=8, clips=None, clip_length=None, clip_stride=None, detect_size=None)
    info = RunInfo.load(run)  # what dff predict, dff serve and the report load
    assert info.crops.align is True and "as run trained" in info.crops.source
    assert extraction_from_args(args, info).align is True  # dff predict cuts the crops as the run trained
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "best.pt").write_bytes((run / "best.pt").read_bytes())
    assert extraction_from_args(args, RunInfo.load(tmp_path / "elsewhere")).align is False


def test_image_faces_are_aligned_when_asked(samples_dir):
    frame = next(iter(iter_frames(samples_dir / "ffpp/original_sequences/youtube/c23/videos/519.mp4", [0])))[1]
    finder = FaceFinder(detect_size=640, device="cpu")
    [(box, plain)] = detect_image_faces(frame, ExtractionConfig(crop_size=SIZE), finder)[:1]
    [(same_box, aligned)] = detect_image_faces(frame, ExtractionConfig(crop_size=SIZE, align=True), finder)[:1]
    [dets] = finder.detect([frame])
    expected, _, ok = aligned_crop(frame, dets.landmarks()[0], dets.boxes[0], MARGIN, SIZE)
    assert ok and same_box == box
    np.testing.assert_array_equal(aligned, expected)
    assert np.abs(aligned.astype(float) - plain).mean() > 1.0  # not the plain crop
