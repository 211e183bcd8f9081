"""DeeperForensics-1.0 perturbations: each distortion at each level against its published definition."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

from deepfakeforensics.evaluation import perturbations as P

SAMPLE = Path(__file__).resolve().parents[2] / "shared/samples/ffpp/original_sequences/youtube/c23/videos/519.mp4"


def _image(h: int = 512, w: int = 512, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(40, 215, (h // 16, w // 16, 3)).astype(np.uint8), (w, h))
    return base


@pytest.mark.parametrize("level", P.LEVELS)
def test_levels_are_the_published_parameters(level):
    expected = {
        "CS": [0.4, 0.3, 0.2, 0.1, 0.0],
        "CC": [0.85, 0.725, 0.6, 0.475, 0.35],
        "BW": [16, 32, 48, 64, 80],
        "GNC": [0.001, 0.002, 0.005, 0.01, 0.05],
        "GB": [7, 9, 13, 17, 21],
        "JPEG": [2, 3, 4, 5, 6],
        "VC": [30, 32, 35, 38, 40],
    }
    for kind in P.DISTORTIONS:
        assert P.level_param(kind, level) == expected[kind][level - 1]


@pytest.mark.parametrize("level", P.LEVELS)
def test_each_frame_distortion_matches_its_definition(level):
    img, rng = _image(), np.random.default_rng(0)
    # colour contrast: every value times the factor, truncated
    f = P.level_param("CC", level)
    np.testing.assert_array_equal(P.distort_frame(img, "CC", level, rng), (img * np.float32(f)).astype(np.uint8))
    # Gaussian blur: kernel k x k, sigma k / 6
    k = int(P.level_param("GB", level))
    np.testing.assert_array_equal(P.distort_frame(img, "GB", level, rng), cv2.GaussianBlur(img, (k, k), k / 6))
    # "JPEG": shrink by the factor, enlarge back
    s = int(P.level_param("JPEG", level))
    small = cv2.resize(img, (512 // s, 512 // s))
    np.testing.assert_array_equal(P.distort_frame(img, "JPEG", level, rng), cv2.resize(small, (512, 512)))
    # saturation: chroma spread shrinks by the factor (level 5: grey)
    out = P.distort_frame(img, "CS", level, rng).astype(float)
    chroma = lambda x: cv2.cvtColor(x.astype(np.float32), cv2.COLOR_RGB2YCrCb)[..., 1:] - 0.5  # noqa: E731
    ratio = np.abs(chroma(out)).mean() / np.abs(chroma(img)).mean()
    assert ratio == pytest.approx(P.level_param("CS", level), abs=0.02)


@pytest.mark.parametrize("level", P.LEVELS)
def test_block_wise_draws_its_number_of_grey_blocks(level):
    img = np.full((512, 768, 3), 30, np.uint8)
    out = P.distort_frame(img, "BW", level, np.random.default_rng(level))
    grey = (out == 128).all(axis=2)
    n_blocks = 512 // 256 * int(P.level_param("BW", level))
    # overlapping blocks cover less than n blocks' area, and at least a third of it at these densities
    assert n_blocks * P.BLOCK**2 / 3 < grey.sum() <= n_blocks * P.BLOCK**2
    # every grey pixel sits in an 8x8 grey block: an opening by an 8x8 square keeps the whole mask
    np.testing.assert_array_equal(ndimage.binary_opening(grey, np.ones((P.BLOCK, P.BLOCK), bool)), grey)
    small = np.zeros((200, 300, 3), np.uint8)
    np.testing.assert_array_equal(P.distort_frame(small, "BW", level, np.random.default_rng(0)), small)  # < 256 px


@pytest.mark.parametrize("level", P.LEVELS)
def test_gaussian_noise_has_the_published_variance(level):
    img = np.full((256, 256, 3), 128, np.uint8)
    out = P.distort_frame(img, "GNC", level, np.random.default_rng(0))
    d = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_RGB2YCrCb) - cv2.cvtColor(
        img.astype(np.float32), cv2.COLOR_RGB2YCrCb
    )
    sy, _ = P.noise_std(P.level_param("GNC", level))
    assert sy == pytest.approx(255 * 255 * np.sqrt(P.level_param("GNC", level)) / 219)
    if sy < 30:  # the strongest levels clip at 0 and 255: their measured spread is smaller
        assert d[..., 0].std() == pytest.approx(sy, rel=0.15)
    else:
        assert d[..., 0].std() > 25


def test_perturbations_names_mixes_and_video_compression_command():
    grid = P.single_perturbations()
    assert len(grid) == 35 and grid[0].name == "CS-1" and grid[-1].crf == 40
    rng = np.random.default_rng(0)
    mixes = [P.random_mix(rng) for _ in range(30)]
    assert {len(m.steps) for m in mixes} == {2, 3, 4}
    assert all(len({k for k, _ in m.steps}) == len(m.steps) and m.name.startswith("mix:") for m in mixes)
    cmd = P.video_compression_command(Path("a.avi"), Path("b.mp4"), 35)
    assert cmd[cmd.index("-crf") + 1] == "35" and cmd[cmd.index("-c:v") + 1] == "libx264"
    with pytest.raises(ValueError, match="levels are 1 to 5"):
        P.level_param("GB", 6)


def test_perturb_video_writes_every_frame_distorted(tmp_path):
    from synth_videos import face_photo

    src = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"FFV1"), 10, (64, 64))
    for _ in range(5):
        w.write(cv2.cvtColor(face_photo(64), cv2.COLOR_RGB2BGR))
    w.release()
    out = P.perturb_video(src, tmp_path / "out", P.Perturbation((("GB", 5),)))
    cap = cv2.VideoCapture(str(out))
    frames = []
    while (ok_frame := cap.read())[0]:
        frames.append(cv2.cvtColor(ok_frame[1], cv2.COLOR_BGR2RGB))
    assert len(frames) == 5
    np.testing.assert_array_equal(frames[0], cv2.GaussianBlur(face_photo(64), (21, 21), 21 / 6))  # lossless


def _write_clip(path, n=8, side=96):
    from synth_videos import face_photo

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (side, side))
    for i in range(n):
        w.write(cv2.cvtColor(np.roll(face_photo(side), i, axis=1), cv2.COLOR_RGB2BGR))
    w.release()
    return path


def _read_all(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (ok_frame := cap.read())[0]:
        frames.append(ok_frame[1].astype(np.float64))
    return frames


@pytest.mark.skipif(P.ffmpeg_binary() is None, reason="no ffmpeg (imageio-ffmpeg not installed, DFF_FFMPEG unset)")
def test_video_compression_reencodes_h264_and_a_higher_crf_loses_more(tmp_path):
    src = _write_clip(tmp_path / "clip.avi")
    original = _read_all(src)
    errors = {}
    for level in (1, 5):  # CRF 30 and 40
        out = P.perturb_video(src, tmp_path / f"vc{level}", P.Perturbation((("VC", level),)))
        assert out.suffix == ".mp4" and out.name.endswith(f"_crf{P.level_param('VC', level)}.mp4")
        cap = cv2.VideoCapture(str(out))
        codec = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
        cap.release()
        assert codec.lower() in ("h264", "avc1")
        frames = _read_all(out)
        assert len(frames) == len(original)
        errors[level] = np.mean([np.mean((a - b) ** 2) for a, b in zip(original, frames, strict=True)])
    assert 0 < errors[1] < errors[5]


def test_video_compression_errors_name_the_reason(tmp_path, monkeypatch):
    src = _write_clip(tmp_path / "clip.avi", n=2)
    monkeypatch.setattr(P, "ffmpeg_binary", lambda: None)
    with pytest.raises(P.PerturbationError, match="needs an ffmpeg"):
        P.perturb_video(src, tmp_path / "none", P.Perturbation((("VC", 1),)))
    monkeypatch.setattr(P, "ffmpeg_binary", lambda: "false")  # an ffmpeg that fails
    with pytest.raises(P.PerturbationError, match="clip.avi: ffmpeg re-encoding failed"):
        P.perturb_video(src, tmp_path / "bad", P.Perturbation((("VC", 1),)))
