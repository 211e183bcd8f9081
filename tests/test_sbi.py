"""Self-blended pseudo-fakes: where the mask may reach, where the fake differs from the real, reproducible draws."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepfakeforensics.sbi import BLEND_RATIOS, SBIConfig, draw_blend, face_polygon, self_blend, self_blend_frames

SIZE = 96
POINTS = np.array([[34, 40], [62, 40], [48, 54], [37, 68], [59, 68]], np.float32)  # eyes, nose, mouth corners


def _crop(seed: int = 0) -> np.ndarray:
    """A textured face-sized crop (a smooth random image: colour and blur changes show everywhere)."""
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)


def _reach(cfg: SBIConfig, seed: int) -> np.ndarray:
    """Where the mask may be non-zero: the largest face ellipse, dilated by the shift, elastic and blur limits."""
    draw = draw_blend((seed,), SIZE, cfg)
    polygon = face_polygon(POINTS, cfg.grow[1])
    centre = polygon.mean(0)
    polygon = (polygon - centre) * (1 + cfg.mask_scale) + centre
    region = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillPoly(region, [np.round(polygon).astype(np.int32)], 1)
    radius = (cfg.mask_shift + cfg.elastic) * SIZE + sum((k - 1) / 2 for k in draw.kernels) + 2  # +2: rounding
    side = 2 * int(np.ceil(radius)) + 1
    return cv2.dilate(region, np.ones((side, side), np.uint8)).astype(bool)


@pytest.mark.parametrize("seed", range(6))
def test_mask_lies_inside_the_grown_hull_and_the_fake_differs_only_there(seed):
    cfg = SBIConfig()
    real = _crop(seed)
    fake, mask, boundary = self_blend(real, POINTS, (seed,), cfg)
    assert fake.shape == real.shape and fake.dtype == np.uint8
    support = mask > 0
    assert not (support & ~_reach(cfg, seed)).any()
    assert support[int(POINTS[2, 1]), int(POINTS[2, 0])]  # the nose is blended
    assert not support[0, 0] and not support[-1, -1]  # the corners are not
    assert np.array_equal(fake[~support], real[~support])
    assert (fake[support] != real[support]).any()
    assert 0 <= mask.min() and mask.max() <= 1 and boundary.max() <= 1 + 1e-6
    ratio = draw_blend((seed,), SIZE, cfg).ratio
    assert ratio in BLEND_RATIOS and mask.max() == pytest.approx(ratio, abs=1e-3)


def test_boundary_marks_the_transition_band():
    _, mask, boundary = self_blend(_crop(), POINTS, (1,))
    soft = mask / mask.max()
    inside, band = soft > 0.99, (soft > 0.3) & (soft < 0.7)
    assert boundary[band].min() > 0.8 and boundary[inside].max() < 0.05


def test_same_seed_same_output_other_seeds_differ():
    real = _crop()
    a = self_blend(real, POINTS, (7, 2, 5))
    b = self_blend(real, POINTS, (7, 2, 5))
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    others = [self_blend(real, POINTS, (7, 2, i))[0] for i in range(6, 9)] + [self_blend(real, POINTS, (8, 2, 5))[0]]
    assert all(not np.array_equal(a[0], o) for o in others)


def test_window_frames_share_one_draw_and_follow_their_landmarks():
    real = _crop()
    moved = POINTS + (6, 0)
    (f0, m0, _), (f1, m1, _) = self_blend_frames([real, real], [POINTS, moved], (3, 0, 1))
    assert m0.max() == pytest.approx(m1.max())  # one ratio
    assert np.allclose(np.roll(m0, 6, axis=1)[:, 10:-10], m1[:, 10:-10], atol=0.05)  # same mask, shifted with the face
    assert not np.array_equal(f0, f1)
    with pytest.raises(ValueError, match="square"):
        self_blend(real[:, :80], POINTS, (0,))
