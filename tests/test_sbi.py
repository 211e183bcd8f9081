"""Self-blended pairs: the published recipe's parameters and steps pinned, the forehead, the pair (real view and
fake); ``sbi-lite``: where the mask may reach, where the fake differs from the real, reproducible draws; the
datasets' ``pseudo_fakes="sbi"`` pairs and ``"sbi-lite"``."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch
from tiny_data import TINY_CFG, make_manifest

from deepfakeforensics._io import load_table, save_table
from deepfakeforensics.data import face_dataset as face_dataset_module
from deepfakeforensics.data import pseudo_fakes as pseudo_fakes_module
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset
from deepfakeforensics.data.pseudo_fakes import SBI_METHOD
from deepfakeforensics.data.sbi import (
    BLEND_RATIOS,
    SBIConfig,
    SBIDraw,
    apply_sbi,
    colour_step,
    draw_sbi,
    frequency_step,
    real_view,
    self_blend,
    self_blend_frames,
    soft_mask,
)
from deepfakeforensics.data.sbi_lite import LITE_BLEND_RATIOS, SBILiteConfig, draw_lite
from deepfakeforensics.data.sbi_masks import (
    FOREHEAD_ORDER,
    face_polygon,
    forehead_points,
    hull_polygon,
    mask_polygon,
    with_forehead,
)
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS
from deepfakeforensics.training.sampling import pseudo_fake_pairs

SIZE = 96
POINTS = np.array([[34, 40], [62, 40], [48, 54], [37, 68], [59, 68]], np.float32)  # eyes, nose, mouth corners


def _dense_points() -> np.ndarray:
    """A 68-point face in dlib's layout on the same face as `POINTS`: jaw, brows, nose, eyes, mouth."""
    t = np.radians(np.linspace(180, 0, 17))
    jaw = np.stack([48 - 26 * np.cos(t), 42 + 36 * np.sin(t)], 1)  # ear to chin to ear
    brows = np.stack([np.r_[np.linspace(26, 44, 5), np.linspace(52, 70, 5)], np.full(10, 32.0)], 1)
    nose = np.stack(
        [np.r_[np.full(4, 48.0), np.linspace(42, 54, 5)], np.r_[np.linspace(40, 52, 4), np.full(5, 56.0)]], 1
    )
    t6 = np.radians(np.arange(0, 360, 60))
    eyes = np.concatenate([np.stack([cx + 6 * np.cos(t6), 40 + 3 * np.sin(t6)], 1) for cx in (34, 62)])
    t20 = np.radians(np.linspace(0, 360, 20, endpoint=False))
    mouth = np.stack([48 + 11 * np.cos(t20), 68 + 4 * np.sin(t20)], 1)
    return np.concatenate([jaw, brows, nose, eyes, mouth]).astype(np.float32)


DENSE = _dense_points()


def _crop(seed: int = 0) -> np.ndarray:
    """A textured face-sized crop (a smooth random image: colour and blur changes show everywhere)."""
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)


def _reach(cfg: SBILiteConfig, seed: int, points: np.ndarray = POINTS) -> np.ndarray:
    """Where the mask may be non-zero: the largest face polygon (ellipse of five points, hull of dense ones), dilated
    by the shift, elastic and blur limits."""
    draw = draw_lite((seed,), SIZE, cfg)
    polygon = mask_polygon(points, cfg.grow[1])
    centre = polygon.mean(0)
    polygon = (polygon - centre) * (1 + cfg.mask_scale) + centre
    region = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillPoly(region, [np.round(polygon).astype(np.int32)], 1)
    radius = (cfg.mask_shift + cfg.elastic) * SIZE + sum((k - 1) / 2 for k in draw.kernels) + 2  # +2: rounding
    side = 2 * int(np.ceil(radius)) + 1
    return cv2.dilate(region, np.ones((side, side), np.uint8)).astype(bool)


@pytest.mark.parametrize("seed", range(6))
def test_lite_mask_lies_inside_the_grown_hull_and_the_fake_differs_only_there(seed):
    cfg = SBILiteConfig()
    real = _crop(seed)
    pair = self_blend(real, POINTS, (seed,), cfg)
    fake, mask, boundary = pair.fake, pair.mask, pair.boundary
    assert pair.real is real  # sbi-lite never alters the real
    assert fake.shape == real.shape and fake.dtype == np.uint8
    support = mask > 0
    assert not (support & ~_reach(cfg, seed)).any()
    assert support[int(POINTS[2, 1]), int(POINTS[2, 0])]  # the nose is blended
    assert not support[0, 0] and not support[-1, -1]  # the corners are not
    assert np.array_equal(fake[~support], real[~support])
    assert (fake[support] != real[support]).any()
    assert 0 <= mask.min() and mask.max() <= 1 and boundary.max() <= 1 + 1e-6
    ratio = draw_lite((seed,), SIZE, cfg).ratio
    assert ratio in LITE_BLEND_RATIOS and mask.max() == pytest.approx(ratio, abs=1e-3)


@pytest.mark.parametrize("seed", range(4))
def test_lite_hull_mask_of_68_points_lies_inside_the_grown_hull_and_the_fake_differs_only_there(seed):
    cfg = SBILiteConfig()
    real = _crop(seed)
    _, fake, mask, _ = self_blend(real, DENSE, (seed,), cfg)
    support = mask > 0
    assert not (support & ~_reach(cfg, seed, DENSE)).any()
    assert support[int(DENSE[30, 1]), int(DENSE[30, 0])]  # the nose tip is blended
    assert not support[0, 0] and not support[-1, -1]
    assert np.array_equal(fake[~support], real[~support]) and (fake[support] != real[support]).any()
    # The hull, not the five-point ellipse: the same draw with the five points gives another mask.
    five_mask = self_blend(real, POINTS, (seed,), cfg).mask
    assert not np.array_equal(support, five_mask > 0)


def test_mask_polygon_dispatches_on_the_landmarks_shape():
    np.testing.assert_array_equal(mask_polygon(POINTS, 1.1), face_polygon(POINTS, 1.1))
    hull = mask_polygon(DENSE)
    assert len(hull) < len(DENSE) and all(any(np.allclose(v, p) for p in DENSE) for v in hull)  # vertices are points
    region = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillPoly(region, [np.round(hull).astype(np.int32)], 1)
    assert region[np.round(DENSE[:, 1]).astype(int), np.round(DENSE[:, 0]).astype(int)].all()  # it holds every point
    grown = mask_polygon(DENSE, 1.2)
    assert np.ptp(grown, 0) == pytest.approx(1.2 * np.ptp(hull, 0), rel=1e-5)
    with pytest.raises(ValueError, match="landmarks must be"):
        mask_polygon(DENSE[:3])


@pytest.mark.parametrize("recipe", ["sbi", "sbi-lite"])
def test_boundary_marks_the_transition_band(recipe):
    _, _, mask, boundary = self_blend(_crop(), POINTS, (1,), recipe)
    soft = mask / mask.max()
    inside, band = soft > 0.99, (soft > 0.3) & (soft < 0.7)
    assert boundary[band].min() > 0.8 and boundary[inside].max() < 0.05


@pytest.mark.parametrize("recipe", ["sbi", "sbi-lite"])
def test_same_seed_same_output_other_seeds_differ(recipe):
    real = _crop()
    a = self_blend(real, POINTS, (7, 2, 5), recipe)
    b = self_blend(real, POINTS, (7, 2, 5), recipe)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    others = [self_blend(real, POINTS, (7, 2, i), recipe).fake for i in range(6, 9)]
    others.append(self_blend(real, POINTS, (8, 2, 5), recipe).fake)
    assert all(not np.array_equal(a.fake, o) for o in others)


def test_lite_window_frames_share_one_draw_and_follow_their_landmarks():
    real = _crop()
    moved = POINTS + (6, 0)
    (_, f0, m0, _), (_, f1, m1, _) = self_blend_frames([real, real], [POINTS, moved], (3, 0, 1), "sbi-lite")
    assert m0.max() == pytest.approx(m1.max())  # one ratio
    diff = np.abs(np.roll(m0, 6, axis=1) - m1)[:, 10:-10]  # the same mask moved with the face (the elastic field
    assert diff.mean() < 0.01 and diff.max() < 0.25  # stays on the pixel grid: edges move by a fraction of a pixel)
    assert not np.array_equal(f0, f1)
    with pytest.raises(ValueError, match="square"):
        self_blend(real[:, :80], POINTS, (0,), "sbi-lite")


# --- the published recipe ---------------------------------------------------------------------------------------


def test_published_parameters_are_pinned():
    cfg = SBIConfig()
    assert (cfg.p_hull68, cfg.p_alter_target, cfg.p_rgb_shift, cfg.rgb_shift, cfg.hsv_shift) == (
        0.25,
        0.5,
        0.3,
        20,
        0.3,
    )
    assert (cfg.brightness, cfg.contrast, cfg.p_sharpen, cfg.downscale) == (0.1, 0.1, 0.5, (2, 4))
    assert (cfg.sharpen_alpha, cfg.sharpen_lightness) == ((0.2, 0.5), (0.5, 1.0))
    assert cfg.translate == (0.03, 0.015) and cfg.scale == (0.95, 1 / 0.95)
    assert (cfg.elastic_alpha, cfg.elastic_sigma) == (50, 7)
    assert (cfg.mask_size, cfg.blur_kernel, cfg.blur_sigma) == ((192, 256), (5, 25), (5, 45))
    assert cfg.ratios == BLEND_RATIOS == (0.25, 0.5, 0.75, 1, 1, 1)


def test_published_draws_have_the_published_frequencies():
    draws = [draw_sbi((3, i)) for i in range(2000)]
    share = lambda f: np.mean([f(d) for d in draws])  # noqa: E731
    assert share(lambda d: d.ratio == 1) == pytest.approx(0.5, abs=0.04)
    assert share(lambda d: not d.forehead) == pytest.approx(0.25, abs=0.03)
    assert share(lambda d: d.alter_target) == pytest.approx(0.5, abs=0.04)
    assert share(lambda d: d.rgb is not None) == pytest.approx(0.3, abs=0.04)
    assert share(lambda d: d.sharpen is not None) == pytest.approx(0.5, abs=0.04)
    assert {d.down for d in draws} == {2, 4}
    kernels = {k for d in draws for k in d.kernels}
    assert kernels == set(range(5, 26, 2))
    assert {v for d in draws for v in d.mask_hw} == set(range(192, 257))
    assert {d.sigma for d in draws} == set(range(5, 46))
    assert all(abs(d.translate[0]) <= 0.03 and abs(d.translate[1]) <= 0.015 for d in draws)


def _draw(**changes) -> SBIDraw:
    base = SBIDraw(True, False, None, (0.0, 0.0, 0.0), 1.0, 0.0, None, 2, (0.0, 0.0), (1.0, 1.0), 0, (200, 200),
                   (5, 5), 5, 1.0)  # fmt: skip
    return SBIDraw(**{**base.__dict__, **changes})


def test_colour_and_frequency_steps_as_published():
    flat = np.full((16, 16, 3), 100, np.uint8)
    assert (colour_step(flat, _draw(contrast=1.1)) == 110).all()  # contrast scales, no centring
    assert (colour_step(flat, _draw(brightness=0.1)) == 125).all()  # brightness adds a share of 255
    assert (colour_step(flat, _draw(rgb=(5.5, -5.5, 0.0)))[0, 0] == (105, 94, 100)).all()  # truncated to uint8
    grey = np.full((16, 16, 3), 200, np.uint8)
    # the sharpen kernel sums to (1 - alpha) + alpha * lightness: alpha 0.5, lightness 0.5 darkens flat areas by 1/4
    assert (frequency_step(grey, _draw(sharpen=(0.5, 0.5))) == 150).all()
    checker = np.indices((16, 16)).sum(0) % 2 * 255
    checker = np.repeat(checker[..., None], 3, 2).astype(np.uint8)
    down = frequency_step(checker, _draw(down=2))  # nearest sampling keeps every other pixel: all black
    assert down.max() == 0


def test_mask_is_eroded_then_blurred():
    hard = np.zeros((200, 200))
    hard[50:150, 50:150] = 1
    soft = soft_mask(hard, _draw(kernels=(25, 5), sigma=5))
    assert soft.max() == pytest.approx(1.0)
    assert soft[100, 100] == pytest.approx(1.0) and soft[50, 100] < 0.05  # the hard edge is now outside the mask
    assert (soft[:45] == 0).all()  # nothing spreads out beyond the second blur's reach


def test_forehead_points_arc_above_the_brows_from_temple_to_temple():
    fh = forehead_points(DENSE)
    assert fh.shape == (13, 2) and len(FOREHEAD_ORDER) == 13
    assert (np.diff(fh[:, 0]) * np.sign(DENSE[16, 0] - DENSE[0, 0]) > 0).all()  # from jaw point 0's side to 16's
    assert fh[6, 1] <= DENSE[17:27, 1].min() - 8  # the middle one well above the brows
    assert fh[[0, -1], 0] == pytest.approx(DENSE[[0, 16], 0], abs=0.5)  # the arc starts at the temples
    hull68, hull81 = hull_polygon(DENSE), hull_polygon(with_forehead(DENSE))
    assert cv2.contourArea(hull81) > 1.2 * cv2.contourArea(hull68)
    assert with_forehead(DENSE).shape == (81, 2)


@pytest.mark.parametrize("seed", range(6))
def test_pair_shares_everything_but_the_blend(seed):
    real = _crop(seed)
    draw = draw_sbi((seed,))
    pair = apply_sbi(real, DENSE, draw)
    outside = pair.mask == 0
    assert np.array_equal(pair.fake[outside], pair.real[outside])  # the fake is the real view where unblended
    assert (pair.fake != pair.real).any() and not outside[int(DENSE[30, 1]), int(DENSE[30, 0])]
    assert np.array_equal(pair.real, real) != draw.alter_target  # the real view is altered iff the target is
    assert np.array_equal(real_view(real, draw), pair.real)
    assert pair.mask.max() == pytest.approx(draw.ratio, abs=1e-3) and 0 <= pair.mask.min()


def test_published_mask_reaches_the_forehead_unless_68_points_are_drawn():
    real = np.zeros((SIZE, SIZE, 3), np.uint8)
    top = int(np.ceil(DENSE[17:27, 1].min())) - 8  # above the brows
    with81 = apply_sbi(real, DENSE, _draw(forehead=True, kernels=(5, 5), sigma=5)).mask
    with68 = apply_sbi(real, DENSE, _draw(forehead=False, kernels=(5, 5), sigma=5)).mask
    assert with81[top, 48] > 0.9 and with68[top, 48] == 0


def test_window_frames_share_one_draw():
    real = _crop()
    moved = DENSE + (6, 0)
    a, b = self_blend_frames([real, real], [DENSE, moved], (3, 0, 1))
    assert a.mask.max() == pytest.approx(b.mask.max()) and np.array_equal(a.real, b.real)
    assert not np.array_equal(a.fake, b.fake)


# --- the datasets' pseudo_fakes="sbi" ---------------------------------------------------------------------------

TRACKS = {("r1", 0): 4, ("r2", 0): 3, ("f1", 0): 3, ("r3", 0): 2}
LABELS = {"r1": 0, "r2": 0, "f1": 1, "r3": 0}


def _manifest(root, with_landmarks=("r1", "r2", "f1")) -> str:
    """Tiny 48-px crops; landmarks (crop pixels) on the rows of the videos in `with_landmarks`, NaN elsewhere."""
    csv = make_manifest(root, TRACKS, LABELS, dict.fromkeys(LABELS, "train"))
    df = load_table(csv)
    has = df["video_id"].isin(with_landmarks).to_numpy()
    values = np.where(has[:, None], (POINTS * 0.5).reshape(1, 10), np.nan)
    df[LANDMARK_COLUMNS] = values
    save_table(df, csv, root=root)
    return str(csv)


@pytest.fixture(scope="module")
def sbi_manifest(tmp_path_factory) -> str:
    return _manifest(tmp_path_factory.mktemp("sbi"))


def test_frame_dataset_adds_one_pseudo_fake_per_real_crop_with_landmarks(sbi_manifest):
    plain = FrameDataset(sbi_manifest, "train", TINY_CFG)
    ds = FrameDataset(sbi_manifest, "train", TINY_CFG, pseudo_fakes="sbi", return_meta=True)
    n_real_with_points = 4 + 3  # r1, r2 (r3 has no landmarks, f1 is fake)
    assert len(plain) == 12 and len(ds) == 12 + n_real_with_points
    assert ds.labels[:12].tolist() == plain.labels.tolist() and (ds.labels[12:] == 1).all()
    assert (ds.meta["method"].iloc[12:] == SBI_METHOD).all() and set(ds.meta["video_id"].iloc[12:]) == {"r1", "r2"}
    assert ds.describe()["n_pseudo_fakes"] == n_real_with_points
    for i in range(12, len(ds)):
        x, y, ids = ds[i]
        base = ds._blend_of[i - 12]
        assert float(y) == 1.0 and ids["frame"] == plain.meta["frame"].iloc[base]
        assert not torch.equal(x, plain[base][0])  # blended
        assert torch.equal(x, ds[i][0])  # reproducible
    ds.set_epoch(1)
    assert torch.equal(ds[12][0], FrameDataset(sbi_manifest, "train", TINY_CFG, pseudo_fakes="sbi")[12][0])  # fixed
    train = FrameDataset(sbi_manifest, "train", TINY_CFG, pseudo_fakes="sbi", vary_pseudo_fakes=True)  # no augment
    first = train[12][0]
    train.set_epoch(1)
    assert not torch.equal(first, train[12][0])  # training draws change with the epoch ...
    train.set_epoch(0)
    assert torch.equal(first, train[12][0])  # ... and come back with it
    other = FrameDataset(sbi_manifest, "train", TINY_CFG, pseudo_fakes="sbi", seed=1)
    assert not torch.equal(ds[12][0], other[12][0])


def test_window_pseudo_fake_is_one_draw_for_all_its_frames(sbi_manifest, monkeypatch):
    calls = []

    def spy(frames, points, seed, cfg=None):
        calls.append((len(frames), len(points), seed))
        return self_blend_frames(frames, points, seed, cfg)

    monkeypatch.setattr(pseudo_fakes_module, "self_blend_frames", spy)
    ds = WindowDataset(sbi_manifest, "train", TINY_CFG, window=2, pseudo_fakes="sbi")
    n = int((ds.labels == 0).sum()) - 1  # r3's window has no landmarks
    assert len(ds._blend_of) == n and (ds.labels[-n:] == 1).all()
    x, y = ds[len(ds) - 1]
    assert x.shape[0] == 2 and float(y) == 1.0
    base = int(ds._blend_of[-1])  # the published recipe draws a pair's blend from its real item's index
    assert calls == [(2, 2, (0, 0, base, 2))]


def test_manifests_without_landmarks_load_and_give_no_pseudo_fakes(tmp_path, caplog):
    csv = make_manifest(tmp_path, TRACKS, LABELS, dict.fromkeys(LABELS, "train"))
    assert not set(LANDMARK_COLUMNS) & set(load_table(csv).columns)
    assert len(FrameDataset(csv, "train", TINY_CFG)) == 12
    assert len(WindowDataset(csv, "train", TINY_CFG, window=2)) > 0
    with caplog.at_level(logging.WARNING):
        ds = FrameDataset(csv, "train", TINY_CFG, pseudo_fakes="sbi")
    assert len(ds) == 12 and "no pseudo-fakes" in caplog.text
    with pytest.raises(ValueError, match="pseudo_fakes"):
        FrameDataset(csv, "train", TINY_CFG, pseudo_fakes="blend")


def test_published_pairs_share_one_blend_and_one_augmentation_draw(sbi_manifest, monkeypatch):
    seeds = []
    real_augment = face_dataset_module.augment_frames

    def spy(frames, cfg, seed):
        seeds.append(seed)
        return real_augment(frames, cfg, seed)

    monkeypatch.setattr(face_dataset_module, "augment_frames", spy)
    ds = FrameDataset(sbi_manifest, "train", TINY_CFG, train=True, pseudo_fakes="sbi")
    partner = ds.pseudo_fake_index
    reals = np.flatnonzero(partner >= 0)
    for i in reals:
        seeds.clear()
        ds[int(i)], ds[int(partner[i])]
        assert seeds[0] == seeds[1] == (0, 0, int(i))  # one crop, flip, colour and compression draw
    plain = FrameDataset(sbi_manifest, "train", TINY_CFG)
    paired = FrameDataset(sbi_manifest, "train", TINY_CFG, pseudo_fakes="sbi")
    altered = [not torch.equal(paired[int(i)][0], plain[int(i)][0]) for i in reals]
    assert any(altered) and not all(altered)  # the real view is altered in some draws (the target's)
    for i in reals:  # a pair differs only where it is blended: the corners are the same
        x, f = paired[int(i)][0], paired[int(partner[i])][0]
        assert torch.equal(x[:, :4, :4], f[:, :4, :4]) and not torch.equal(x, f)
    lite = FrameDataset(sbi_manifest, "train", TINY_CFG, pseudo_fakes="sbi-lite")
    assert all(torch.equal(lite[int(i)][0], plain[int(i)][0]) for i in reals)  # sbi-lite keeps the reals


def test_pseudo_fake_pairs_keep_each_real_with_its_fake():
    units = pseudo_fake_pairs(np.array([3, -1, 4, -1, -1]))
    assert [u.tolist() for u in units] == [[0, 3], [1], [2, 4]]
