"""Crop profiles: each released detector's face crop, its geometry pinned by hand-computed boxes (offline).

The comparison with the authors' own functions is ``benchmarks/released_crops.py`` (it needs their repositories);
here the geometry each profile re-derives from them is checked on synthetic frames whose pixels encode their own
coordinates (red = x, green = y), so where a box edge lands in a crop can be read off the crop.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from extract_data import CONFIG, write_dataset

from deepfakeforensics import _io
from deepfakeforensics.cli import build_parser
from deepfakeforensics.commands.extract import config_from_args
from deepfakeforensics.faces import (
    PROFILES,
    ExtractionConfig,
    MixedExtractionError,
    crop_face,
    extract_faces,
    get_profile,
    read_rgb,
)
from deepfakeforensics.faces import extract as extract_module
from deepfakeforensics.faces import profiles as profiles_module
from deepfakeforensics.faces.assembler import cut_face
from deepfakeforensics.faces.crop import ALIGN_TEMPLATE, landmarks_in_crop
from deepfakeforensics.faces.dense import face_box_from_points
from deepfakeforensics.faces.profiles import DFB_POINTS, deepfakebench_template, polimi_region


def coordinate_frame(height: int = 200, width: int = 256) -> np.ndarray:
    """RGB frame whose red channel is the pixel's x, green its y, blue a constant 7 (no pixel is black)."""
    ys, xs = np.mgrid[:height, :width]
    return np.stack([xs, ys, np.full_like(xs, 7)], axis=-1).astype(np.uint8)


def test_registry_names_sizes_and_errors():
    assert PROFILES == ("default", "sbi", "deepfakebench", "selim", "polimi", "gend", "gend_dinov3")
    sizes = {name: get_profile(name).crop_size for name in PROFILES}
    assert sizes == {
        "default": 256,
        "sbi": 380,
        "deepfakebench": 256,
        "selim": 380,
        "polimi": 224,
        "gend": 224,
        "gend_dinov3": 224,
    }
    for name in PROFILES:
        profile = get_profile(name)
        assert profile.title and profile.source and profile.detector_here and profile.authors_detector
    assert get_profile("polimi", size=299).shape == (299, 299) and get_profile("polimi").crop_size == 224
    with pytest.raises(ValueError, match="default, sbi, deepfakebench, selim, polimi"):
        get_profile("retinaface")
    with pytest.raises(ValueError, match="known profiles"):
        ExtractionConfig(profile="nope")


def test_sbi_widens_the_box_by_an_eighth_and_stretches_to_380():
    frame = coordinate_frame()
    box = (100.0, 50.0, 180.0, 130.0)  # 80 x 80: 10 pixels each side -> columns 90..190, rows 40..140 (the far
    crop, points, aligned = get_profile("sbi").cut(frame, box, None)  # edges: int(190) + 1, exclusive)
    assert crop.shape == (380, 380, 3) and not aligned and np.isnan(points).all()
    assert (crop[0, 0, 0], crop[-1, -1, 0]) == (90, 190)  # x of the first and last column (bilinear, clamped)
    assert (crop[0, 0, 1], crop[-1, -1, 1]) == (40, 140)
    wide = (60.0, 50.0, 180.0, 130.0)  # 120 x 80: 15 and 10 pixels: not made square, stretched
    crop = get_profile("sbi").cut(frame, wide, None)[0]
    assert (crop[0, 0, 0], crop[-1, -1, 0], crop[0, 0, 1], crop[-1, -1, 1]) == (45, 195, 40, 140)


def test_sbi_clips_at_the_frame_border_without_padding():
    frame = coordinate_frame()
    crop = get_profile("sbi").cut(frame, (-20.0, -10.0, 60.0, 70.0), None)[0]  # widened: -30..70, -20..80
    assert crop[..., 2].min() == 7  # no black padding: the part outside is cut off, the rest stretched
    assert (crop[0, 0, 0], crop[-1, -1, 0], crop[0, 0, 1], crop[-1, -1, 1]) == (0, 70, 0, 80)


def test_selim_adds_a_third_resizes_isotropically_and_centres_on_black():
    frame = np.full((300, 400, 3), (50, 100, 150), np.uint8)
    box = (100.7, 50.2, 160.9, 141.5)  # int: 100, 50, 160, 141 -> w 60, h 91 -> p_w 20, p_h 30
    crop, _, _ = get_profile("selim").cut(frame, box, None)
    # region x 80..180 (100 wide), y 20..171 (151 high): the height goes to 380, the width to int(100 * 380 / 151)
    new_w = int(100 * (380 / 151))
    left = (380 - new_w) // 2
    assert crop.shape == (380, 380, 3) and new_w == 251 and left == 64
    filled = np.flatnonzero(crop[190, :, 0])
    assert (filled[0], filled[-1]) == (left, left + new_w - 1)  # centred: black on both sides, 64 and 65 columns
    assert (crop[:, left : left + new_w] == (50, 100, 150)).all() and (crop[:, :left] == 0).all()
    assert (crop[:, left + new_w :] == 0).all()


def test_selim_clips_at_the_frame_border():
    frame = coordinate_frame()
    crop = get_profile("selim").cut(frame, (-30.0, 0.0, 60.0, 90.0), None)[0]  # x -60..90 -> 0..90, y 0..120
    # region 90 wide, 120 high -> 285 x 380, centred: 47 black columns on the left
    assert np.flatnonzero(crop[190, :, 2])[0] == (380 - int(90 * (380 / 120))) // 2 == 47


def test_polimi_region_enlarges_twice_above_and_squares_on_the_longer_side():
    # h 80 -> offset round(16) = 16: top 60 - 32 = 28, bottom 156, left 84, right 176; the longer side (128) squared
    # around the centre (130, 92): x 66..194, y 28..156
    assert polimi_region((100.0, 60.0, 160.0, 140.0), 480, 640) == (66, 28, 194, 156)
    # at the top-left corner the square is moved inside, not padded: enlarged box 0..86 x 0..101, side 101
    side = int(224 / min(224 / 101, 224 / 86))
    assert polimi_region((10.0, 5.0, 70.0, 85.0), 480, 640) == (0, 0, side, side)
    # a face larger than the stored 512 square is cut to it (their extract_faces.py stores 512 x 512)
    left, top, right, bottom = polimi_region((100.0, 100.0, 700.0, 800.0), 1080, 1920)
    assert right - left == 512 and bottom - top == 512
    crop = get_profile("polimi").cut(coordinate_frame(), (100.0, 60.0, 160.0, 140.0), None)[0]
    assert crop.shape == (224, 224, 3)


def test_deepfakebench_template_is_theirs_half_a_pixel_from_ours():
    arcface = (ALIGN_TEMPLATE + 0.5) * 112  # insightface's 112-pixel template
    by_hand = (arcface * 256 / 112 + 256 * 0.3 / 2) * 256 / (256 + 256 * 0.3)  # img_align_crop's arithmetic
    np.testing.assert_allclose(deepfakebench_template(), by_hand, atol=1e-4)
    assert np.allclose(deepfakebench_template().mean(0), by_hand.mean(0), atol=1e-4)


def _dense_from(points5: np.ndarray) -> np.ndarray:
    """68 points whose DeepfakeBench five are `points5` (the others anywhere)."""
    dense = np.full((68, 2), 100.0)
    dense[list(DFB_POINTS)] = points5
    return dense


def test_deepfakebench_puts_the_five_points_on_the_template():
    frame = coordinate_frame(256, 256)
    t = np.deg2rad(12.0)
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) * 0.8
    five = (deepfakebench_template() - 128) @ rotation.T + (120.0, 110.0)  # a turned, smaller face in the frame
    crop, points, aligned = get_profile("deepfakebench").cut(frame, (60, 50, 180, 170), five, _dense_from(five))
    assert crop.shape == (256, 256, 3) and aligned
    assert np.abs(points - deepfakebench_template()).max() < 0.5


def test_deepfakebench_warp_places_pixel_centres_on_integers():
    frame = coordinate_frame(256, 256)
    five = deepfakebench_template() - (20.0, 10.0)  # a pure shift: crop pixel (x, y) is frame pixel (x - 20, y - 10)
    crop = get_profile("deepfakebench").cut(frame, (0, 0, 200, 200), None, _dense_from(five))[0]
    assert tuple(crop[50, 100, :2]) == (80, 40)
    assert (crop[:, :20] == 0).all() and (crop[:10] == 0).all()  # outside the frame: black, as warpAffine pads


def test_deepfakebench_resizes_bicubically_to_another_size_and_falls_back_without_points():
    frame = coordinate_frame(256, 256)
    five = deepfakebench_template() - (20.0, 10.0)
    crop, points, aligned = get_profile("deepfakebench", size=224).cut(frame, (0, 0, 200, 200), five, _dense_from(five))
    assert crop.shape == (224, 224, 3) and aligned
    np.testing.assert_allclose(points, (deepfakebench_template() + 0.5) * 224 / 256 - 0.5, atol=1e-3)
    nan = np.full((68, 2), np.nan)
    crop, _, aligned = get_profile("deepfakebench").cut(frame, (60, 60, 160, 160), None, nan)
    assert crop.shape == (256, 256, 3) and not aligned


def test_deepfakebench_fits_dlib_points_in_the_box_predicted_from_mtcnn(monkeypatch):
    seen = []
    target = deepfakebench_template() - (20.0, 10.0)

    def fake_predictor(frame, box):
        seen.append(np.asarray(box))
        return _dense_from(target).astype(np.float32)

    monkeypatch.setattr(profiles_module, "_landmarker", lambda: fake_predictor)
    five = target + 3.0
    crop, _, aligned = get_profile("deepfakebench").cut(coordinate_frame(256, 256), (0, 0, 200, 200), five)
    assert aligned and tuple(crop[50, 100, :2]) == (80, 40)
    np.testing.assert_allclose(seen[0], face_box_from_points(five))
    get_profile("deepfakebench").cut(coordinate_frame(256, 256), (5, 6, 200, 210), None)  # no five points
    np.testing.assert_allclose(seen[1], (5, 6, 200, 210))


@pytest.mark.parametrize("name", ["sbi", "selim", "polimi", "default"])
def test_points_follow_the_pixels(name):
    """A point's crop coordinates read the frame coordinates it came from off the coordinate-coded crop."""
    frame = coordinate_frame(240, 256)
    five = np.array([[95.0, 80.0], [140.0, 82.0], [118.0, 105.0], [100.0, 130.0], [136.0, 128.0]])
    crop, points, _ = get_profile(name).cut(frame, (80.0, 60.0, 160.0, 150.0), five)
    read = crop[np.round(points[:, 1]).astype(int), np.round(points[:, 0]).astype(int), :2].astype(float)
    assert np.abs(read - five).max() <= 1.5


def test_default_profile_is_todays_crop():
    frame = coordinate_frame()
    box, five = np.array([80.0, 60.0, 160.0, 150.0]), np.full((5, 2), np.nan)
    for config in (ExtractionConfig(), ExtractionConfig(profile="default"), ExtractionConfig(margin=1.6)):
        crop, points, aligned = cut_face(frame, box, five, config)
        np.testing.assert_array_equal(crop, crop_face(frame, box, config.margin, config.crop_size))
        assert not aligned and np.isnan(points).all()
    five = np.array([[95.0, 80.0], [140.0, 82.0], [118.0, 105.0], [100.0, 130.0], [136.0, 128.0]])
    np.testing.assert_allclose(
        cut_face(frame, box, five, ExtractionConfig())[1], landmarks_in_crop(five, box, 1.3, 256), atol=1e-5
    )
    assert ExtractionConfig().to_dict()["profile"] == "default"


def test_dff_extract_offers_profile():
    args = build_parser("extract").parse_args(["extract", "labels/x.csv", "--profile", "selim"])
    assert config_from_args(args).profile == "selim"
    assert config_from_args(build_parser("extract").parse_args(["extract", "labels/x.csv"])).profile == "default"
    with pytest.raises(SystemExit):
        build_parser("extract").parse_args(["extract", "labels/x.csv", "--profile", "retinaface"])


@pytest.fixture(scope="module")
def two_videos(tmp_path_factory):
    """Index files listing one and two of the synthetic face videos (same root), for two runs into one output."""
    root = tmp_path_factory.mktemp("profiles")
    table = _io.load_table(write_dataset(root))
    one = table[table["video_id"] == "one"].reset_index(drop=True)
    both = table[table["video_id"].isin(["one", "one_b"])].reset_index(drop=True)
    _io.save_table(one, root / "labels" / "one.csv", root=root)
    _io.save_table(both, root / "labels" / "both.csv", root=root)
    return root


def test_extraction_cuts_profile_crops_and_refuses_a_mixed_profile(two_videos, tmp_path):
    faces_csv, out = tmp_path / "faces.csv", tmp_path / "crops"
    sbi = replace(CONFIG, profile="sbi")
    faces = extract_faces(two_videos / "labels/one.csv", out, sbi, faces_csv=faces_csv, progress=False)
    assert len(faces) and faces.attrs["extraction"]["profile"] == "sbi"
    assert all(read_rgb(p).shape == (380, 380, 3) for p in _io.absolute_paths(faces))
    selim = replace(CONFIG, profile="selim")
    with pytest.raises(MixedExtractionError, match='profile "selim" in this run vs "sbi"'):
        extract_faces(two_videos / "labels/both.csv", out, selim, faces_csv=faces_csv, progress=False)
    # a record written before profiles existed counts as the default profile: it cannot join sbi crops either
    parts = extract_module.parts_dir_for(faces_csv)
    record = next(parts.glob("*.settings.json"))
    settings = json.loads(record.read_text())
    old = {k: v for k, v in settings.items() if k != "profile"}
    (parts / "synth%2Fold.settings.json").write_text(json.dumps(old))
    (parts / "synth%2Fold.csv").write_text(next(parts.glob("synth%2Fone.csv")).read_text())
    with pytest.raises(MixedExtractionError, match="different crop settings: profile") as refused:
        extract_module.merge_parts(faces_csv, out)
    assert '"default" (1 video, e.g. synth/old)' in str(refused.value) and '"sbi" (1 video' in str(refused.value)
    record.write_text(json.dumps(old))  # both without a profile: no refusal (each is the default)
    assert extract_module.merge_parts(faces_csv, out).attrs["extraction"]["profile"] == "default"
