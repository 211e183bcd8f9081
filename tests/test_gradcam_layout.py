"""Grad-CAM on channels-last maps (timm Swin: (B, h, w, C) stages), in frame models, TALL and the boundary head; and
heatmaps through wrappers: a method head or an ensemble around video models keeps one map per frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepfakeforensics.evaluation.gradcam import AttentionRollout, GradCAM, TemporalGradCAM, explainer
from deepfakeforensics.models import create_model
from deepfakeforensics.models._layout import known_channels, module_layout
from deepfakeforensics.models.ensemble import EnsembleDetector
from deepfakeforensics.models.video_tall import untile

SWIN = "timm/swin_tiny_patch4_window7_224"
# two stages (reduction 8, 16 then 32 channels), one block each (no shifted windows), windows of one token: every cell
# of the last map sees only its own 8 x 8 pixels, so a patch of the input changes exactly one cell
TINY_SWIN = {"embed_dim": 16, "depths": (1, 1), "num_heads": (1, 1), "window_size": 1}


def _swin(**kwargs):
    torch.manual_seed(0)
    return create_model(SWIN, **TINY_SWIN, **kwargs).eval()


def _tall_swin(**kwargs):
    torch.manual_seed(0)
    return create_model("tall", backbone=SWIN, img_size=64, frames=4, **TINY_SWIN, **kwargs).eval()


def _hand_cam(model, x):
    """Grad-CAM computed here from the hooked (B, h, w, C) stage output: channels moved first, pooled gradients."""
    seen = {}

    def hook(_m, _i, out):
        seen["act"] = out
        out.register_hook(lambda g: seen.setdefault("grad", g))

    handle = model.gradcam_layer().register_forward_hook(hook)
    try:
        model.zero_grad()
        model(x.clone().requires_grad_(True)).sum().backward()
    finally:
        handle.remove()
    act, grad = seen["act"].detach().permute(0, 3, 1, 2), seen["grad"].permute(0, 3, 1, 2)
    return torch.relu((grad.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1))


def _scaled(cam):
    flat = cam.flatten(1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    return ((cam - lo) / (hi - lo).clamp_min(1e-8)).numpy()


def _both_signs(model, x):
    """Grad-CAM maps of the logit and of its negation (the classifier negated): ReLU keeps one sign of each cell's
    contribution, so a cell that differs from a uniform rest stands out in at least one of the two."""
    first = GradCAM(model).maps(x)[0]
    with torch.no_grad():
        for p in model.get_classifier().parameters():
            p.neg_()
    return first, GradCAM(model).maps(x)[0]


def _stands_out_at(maps, cell):
    """Every cell but `cell` is equal in each map, and `cell` differs from them in at least one map."""
    rest = np.ones(maps[0].shape, dtype=bool)
    rest[cell] = False
    for m in maps:
        assert np.ptp(m[rest]) < 1e-5, "cells the patch does not reach must be alike"
    return any(abs(m[cell] - m[rest][0]) > 0.5 for m in maps)


def test_the_layout_is_read_from_timm_declarations():
    swin, cnn = _swin(img_size=64), create_model("timm/resnet10t")
    assert module_layout(swin, swin.gradcam_layer()) == "NHWC" and known_channels(swin, swin.gradcam_layer()) == 32
    assert module_layout(cnn, cnn.gradcam_layer()) == "NCHW" and known_channels(cnn, cnn.gradcam_layer()) == 512
    tall = _tall_swin()
    assert module_layout(tall, tall.gradcam_layer()) == "NHWC"  # through TALL and the TimmDetector around timm's net
    with pytest.raises(ValueError, match="not a submodule"):
        module_layout(cnn, swin.gradcam_layer())


def test_swin_gradcam_matches_a_hand_computation_on_the_channels_first_map():
    model = _swin(img_size=(64, 96))  # a non-square map (8 x 12 cells, 32 channels): no dimension coincides
    x = torch.randn(2, 3, 64, 96)
    cams, logits = GradCAM(model).maps(x)
    assert cams.shape == (2, 8, 12)
    np.testing.assert_allclose(cams, _scaled(_hand_cam(model, x)), atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(x).numpy(), atol=1e-5)


def test_swin_gradcam_singles_out_the_cell_an_input_patch_changes():
    model = _swin(img_size=(64, 96))
    x = torch.zeros(1, 3, 64, 96)
    x[:, :, 40:48, 16:24] = 3.0  # the 8 x 8 pixels of cell (5, 2)
    maps = [m[0] for m in _both_signs(model, x)]
    assert maps[0].shape == (8, 12) and _stands_out_at(maps, (5, 2))


def test_tall_over_swin_gives_each_frame_its_own_cells_of_the_thumbnail_map():
    model = _tall_swin()
    windows = torch.randn(2, 4, 3, 32, 32)
    cams, _ = GradCAM(model).maps(windows)
    assert cams.shape == (8, 4, 4)  # 2 windows x 4 frames, each a quarter of the 8 x 8 thumbnail map
    thumb = _hand_cam(model.backbone, model.thumbnails(windows))
    np.testing.assert_allclose(cams, _scaled(untile(thumb, 2)), atol=1e-5)

    windows = torch.zeros(1, 4, 3, 32, 32)
    windows[0, 2, :, 8:16, 24:32] = 3.0  # frame 2 (bottom left of the thumbnail), its cell (1, 3)
    per_frame = _both_signs(model, windows)
    for frame in (0, 1, 3):  # untouched frames: uniform maps
        assert all(np.ptp(m[frame]) < 1e-5 for m in per_frame)
    assert _stands_out_at([m[2] for m in per_frame], (1, 3))


@pytest.mark.parametrize("options", [{}, {"methods": ["real", "Deepfakes"]}])  # TALL gives methods= to its backbone
def test_temporal_explainer_over_tall_swin_gives_maps_per_frame_at_crop_size(options):
    model = _tall_swin(**options)
    cam = explainer(model, window=4)
    assert isinstance(cam, TemporalGradCAM) and cam.layout == "NHWC"
    rng = np.random.default_rng(0)
    heat, p_fake = cam.window_maps([rng.integers(0, 255, (40, 48, 3), dtype=np.uint8) for _ in range(4)])
    assert [h.shape for h in heat] == [(40, 48)] * 4 and 0 <= p_fake <= 1


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("ftcn_lite", {"img_size": 32, "widths": (8, 16)}),
        ("r3d_18", {"img_size": 32}),
    ],
)
def test_a_method_head_keeps_a_video_models_maps_per_frame(name, kwargs):
    torch.manual_seed(0)
    model = create_model(name, methods=["real", "Deepfakes", "FaceSwap"], **kwargs).eval()
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 255, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    heat, p_fake = explainer(model, window=4).window_maps(clip)
    inner_heat, inner_p = explainer(model.inner, window=4).window_maps(clip)  # the same network without the head
    assert len(heat) == 4 and all(h.shape == (40, 48) for h in heat)
    for ours, theirs in zip(heat, inner_heat, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert p_fake == pytest.approx(inner_p, abs=1e-6)


def test_a_method_head_on_a_frame_model_has_no_per_frame_cut():
    model = create_model("timm/resnet10t", methods=["real", "Deepfakes"])
    assert not hasattr(model, "frame_cams") and hasattr(model.inner, "gradcam_layer")
    cams, _ = GradCAM(model).maps(torch.randn(2, 3, 64, 64))
    assert cams.shape == (2, 2, 2)


def test_a_boundary_head_on_swin_convolves_the_channels_of_its_channels_last_map():
    torch.manual_seed(0)
    model = create_model(SWIN, img_size=(64, 96), boundary=True, **TINY_SWIN).eval()
    assert model.boundary_head.in_channels == 32  # the channels, not the 8 rows of the (B, 8, 12, 32) map
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model.boundary_logits(features)
        by_hand = torch.einsum("bhwc,c->bhw", features, model.boundary_head.weight[0, :, 0, 0])
    assert logits.shape == (2, 8, 12) and model.boundary_map(x).shape == (2, 8, 12)
    torch.testing.assert_close(logits, by_hand + model.boundary_head.bias[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("ftcn_lite", {"img_size": 32, "widths": (8, 16)}),
        ("tall", {"backbone": SWIN, "img_size": 64, **TINY_SWIN}),
    ],
)
def test_an_ensemble_of_video_models_explains_its_first_member_frame_by_frame(name, kwargs):
    torch.manual_seed(0)
    members = [create_model(name, **kwargs).eval() for _ in range(2)]
    ensemble = EnsembleDetector(members)
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 255, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    heat, p_fake = explainer(ensemble, window=4).window_maps(clip)
    # the ensemble logit is increasing in member 0's: its gradient there is a positive multiple of member 0's own
    alone, _ = explainer(members[0], window=4).window_maps(clip)
    assert len(heat) == 4
    for ours, theirs in zip(heat, alone, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    probs = [explainer(m, window=4).window_maps(clip)[1] for m in members]
    assert p_fake == pytest.approx(np.mean(probs), abs=1e-5)


def test_an_ensemble_of_vits_rolls_out_its_first_members_attention_only():
    torch.manual_seed(0)
    members = [create_model("timm/vit_tiny_patch16_224", img_size=64, depth=2).eval() for _ in range(2)]
    rollout = explainer(EnsembleDetector(members))
    assert isinstance(rollout, AttentionRollout) and len(rollout.blocks) == 2
    x = torch.randn(2, 3, 64, 64)
    np.testing.assert_allclose(rollout.maps(x)[0], AttentionRollout(members[0]).maps(x)[0], atol=1e-6)
