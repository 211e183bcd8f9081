"""One explanation call for every frame model: Grad-CAM for CNNs, attention rollout for ViTs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepfakeforensics.data.transforms import to_tensor
from deepfakeforensics.evaluation.gradcam import (
    AttentionRollout,
    GradCAM,
    TemporalGradCAM,
    can_explain,
    explain,
    explainer,
    plot_gradcam_grid,
)
from deepfakeforensics.models import create_model

TINY = {"img_size": 64, "depth": 2}  # 4x4 patches of 16 pixels


def _vit(**kwargs):
    torch.manual_seed(0)
    return create_model("timm/vit_tiny_patch16_224", **TINY, **kwargs).eval()


def test_explainer_picks_the_method_of_each_family():
    assert type(explainer(create_model("timm/resnet18"))) is GradCAM
    assert type(explainer(create_model("mesonet4"))) is GradCAM
    assert type(explainer(_vit())) is AttentionRollout
    assert type(explainer(_vit(peft="lora", peft_r=2))) is AttentionRollout
    assert type(explainer(_vit(frequency="fft", frequency_dim=16, fusion_hidden=8))) is AttentionRollout


def test_rollout_reads_the_attention_timm_computes():
    model = _vit()
    timm_attn = []
    for block in model.net.blocks:
        block.attn.fused_attn = False  # the explicit path, whose weights pass through attn_drop
        block.attn.attn_drop.register_forward_hook(lambda m, i, o: timm_attn.append(o.mean(dim=1)))
    rollout = AttentionRollout(model)
    x = torch.rand(2, 3, 64, 64)
    cams, logits = rollout.maps(x)
    assert len(rollout._attn) == len(timm_attn) == 2
    for ours, theirs in zip(rollout._attn, timm_attn, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    eye = torch.eye(17)
    expected = eye
    for a in timm_attn:
        mixed = (a + eye) / 2
        expected = (mixed / mixed.sum(-1, keepdim=True)) @ expected
    cls = expected[:, 0, 1:].reshape(2, 4, 4)
    lo, hi = cls.flatten(1).min(1).values[:, None, None], cls.flatten(1).max(1).values[:, None, None]
    np.testing.assert_allclose(cams, ((cls - lo) / (hi - lo)).numpy(), atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(x).numpy(), atol=1e-6)


def test_explain_returns_heatmaps_at_crop_size_for_cnns_and_vits(tmp_path):
    crops = [np.random.default_rng(i).integers(0, 255, (48 + 8 * i, 40, 3), dtype=np.uint8) for i in range(2)]
    for model in (_vit(), create_model("timm/resnet18").eval()):
        heat, probs = explain(model, crops)
        assert [h.shape for h in heat] == [c.shape[:2] for c in crops]
        assert all(0 <= h.min() and h.max() <= 1 for h in heat) and ((0 < probs) & (probs < 1)).all()
    path = plot_gradcam_grid(_vit(), crops, [0, 1], tmp_path / "vit.png")
    assert path.stat().st_size > 1000


def test_temporal_models_get_grad_cam_of_the_window_logit_per_frame():
    torch.manual_seed(0)
    model = create_model("mesonet4_lstm").eval()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (256, 256, 3), dtype=np.uint8) for _ in range(3)]
    cam = explainer(model, window=4)
    assert type(cam) is TemporalGradCAM and can_explain(model)
    heat, p_fake = cam(frames)  # each crop a still: a window of 4 copies, as dff predict scores an image
    with torch.no_grad():
        stills = torch.stack([to_tensor([f] * 4, model.default_cfg) for f in frames])
        expected = torch.sigmoid(model(stills)).numpy()
    np.testing.assert_allclose(p_fake, expected, rtol=1e-5)
    assert len(heat) == 3 and all(h.shape == (256, 256) and 0 <= h.min() and h.max() <= 1 for h in heat)
    maps, p_window = TemporalGradCAM(model).window_maps(frames)  # one real window: a map per frame
    with torch.no_grad():
        window_p = torch.sigmoid(model(to_tensor(frames, model.default_cfg)[None])).item()
    assert len(maps) == 3 and abs(p_window - window_p) < 1e-6
    assert not np.allclose(maps[0], maps[1])  # each frame's own map, not one map repeated
    vit_lstm = create_model("timm/vit_tiny_patch16_224", temporal="lstm", **TINY)
    assert not can_explain(vit_lstm)
    with pytest.raises(TypeError, match="temporal model over a ViT"):
        explainer(vit_lstm)
