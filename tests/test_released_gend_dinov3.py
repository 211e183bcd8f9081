"""GenD's DINOv3 release (yermandy/GenD_DINOv3_L): transformers' own DINOv3ViTModel, the file's keys kept.

A small ``transformers.DINOv3ViTModel`` (hidden 32, 2 layers, 4 registers, 32 px) with seeded non-trivial weights is
the reference: a folder of their layout (``feature_extractor.backbone.*`` with the blocks at ``layer.N`` as
transformers 4.56 saved the release, ``model.linear.*``, ``config.json``) is written from it, loaded into the
registered model built small, and P(fake) compared with the class token -> (L2 norm) -> Linear -> ``softmax[:, 1]``
computed here. The full-size layout is checked from the committed fixture (key -> shape, written from the authors'
class by ``benchmarks/released_checks/gend_dinov3.py``) on the meta device. The authors' code is not needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from released_helpers import meta_state, read_fixture
from safetensors.torch import save_file
from torchvision.transforms.v2 import functional as tvF
from transformers import DINOv3ViTConfig, DINOv3ViTModel

from deepfakeforensics.evaluation.gradcam import can_explain
from deepfakeforensics.faces.profiles import gend_geometry, get_profile
from deepfakeforensics.models import WeightsError, create_model
from deepfakeforensics.models.released import describe_released, identify_released, load_released

NAME = "gend_dinov3_vit_l16"
BACKBONE = "facebook/dinov3-vitl16-pretrain-lvd1689m"
SHAPES = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
TINY = {**SHAPES, "input_px": 32}


@pytest.fixture(scope="module")
def reference():
    """A small DINOv3ViTModel (ViT-L/16's non-shape settings: 4 registers, RoPE base 100, eps 1e-5, no key bias)
    with seeded non-trivial weights, a 2-class head and inputs."""
    torch.manual_seed(0)
    config = DINOv3ViTConfig(
        **SHAPES, patch_size=16, num_register_tokens=4, rope_theta=100.0, layer_norm_eps=1e-5, key_bias=False
    )
    tower = DINOv3ViTModel(config).eval()
    with torch.no_grad():
        for p in tower.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    head = torch.nn.Linear(32, 2)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        cls = tower(pixel_values=x).last_hidden_state[:, 0]
    return tower.state_dict(), head, x, cls


def _folder(root: Path, tower: dict, head: torch.nn.Linear, config: dict | None, flat: bool = True) -> Path:
    """Their release's folder: blocks at ``backbone.layer.N`` (transformers 4.56) when `flat`, else as 5.x saves."""
    state = {}
    for k, v in tower.items():
        key = k.replace("model.layer.", "layer.", 1) if flat and k.startswith("model.layer.") else k
        state[f"feature_extractor.backbone.{key}"] = v.contiguous()
    state["model.linear.weight"], state["model.linear.bias"] = head.weight.detach(), head.bias.detach()
    root.mkdir(parents=True)
    save_file(state, root / "model.safetensors")
    if config is not None:
        (root / "config.json").write_text(json.dumps({"model_type": "GenD", **config}))
    return root


@pytest.mark.parametrize(("head_kind", "flat"), [("linear", True), ("LinearNorm", True), ("LinearNorm", False)])
def test_folder_and_bare_file_score_as_dinov3_class_token_and_head(reference, tmp_path, head_kind, flat):
    tower, head, x, cls = reference
    assert "model.layer.0.attention.q_proj.weight" in tower  # transformers 5.x nests the blocks (the rename's premise)
    folder = _folder(tmp_path / "GenD_DINOv3_L", tower, head, {"backbone": BACKBONE, "head": head_kind}, flat)
    with torch.no_grad():
        expected = head(F.normalize(cls, dim=1) if head_kind == "LinearNorm" else cls).softmax(dim=1)[:, 1]
    for path in (folder, folder / "model.safetensors"):
        model = create_model(NAME, weights=path, **TINY).eval()
        assert bool(model.l2_normalize) == (head_kind == "LinearNorm")
        with torch.no_grad():
            assert (torch.sigmoid(model(x)) - expected).abs().max() < 1e-6


def test_refuses_without_config_another_backbone_or_a_broken_file(reference, tmp_path):
    tower, head, _, _ = reference
    bare = _folder(tmp_path / "bare", tower, head, None)
    with pytest.raises(WeightsError, match=r"bare.*config\.json is needed"):
        create_model(NAME, weights=bare, **TINY)
    clip = _folder(tmp_path / "clip", tower, head, {"backbone": "openai/clip-vit-large-patch14", "head": "linear"})
    with pytest.raises(WeightsError, match="backbone 'openai/clip-vit-large-patch14'.*dinov3"):
        create_model(NAME, weights=clip, **TINY)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(WeightsError, match=r"broken/model\.safetensors: not a readable safetensors file"):
        load_released(broken)
    with pytest.raises(ValueError, match="not downloaded automatically.*yermandy/GenD_DINOv3_L"):
        create_model(NAME, pretrained=True)


def test_full_size_layout_from_the_fixture_is_recognised_and_only_as_dinov3():
    fixture = read_fixture(NAME)
    assert fixture["config"] == {"backbone": BACKBONE, "head": "LinearNorm", "model_type": "GenD"}
    state = meta_state(NAME)
    assert state["feature_extractor.backbone.embeddings.register_tokens"].shape == (1, 4, 1024)
    assert state["feature_extractor.backbone.layer.23.mlp.up_proj.weight"].shape == (4096, 1024)  # ungated, 24 blocks
    assert "feature_extractor.backbone.layer.0.attention.k_proj.bias" not in state  # DINOv3: no key bias
    assert sum(v.numel() for v in state.values()) == 303_131_650  # the hub card's parameter count
    raw = {"state_dict": state, "config": fixture["config"]}
    matches = identify_released(Path("GenD_DINOv3_L"), raw)
    assert [m.name for m in matches if m.distance == 0] == [NAME]
    others = {m.name: m.problem for m in matches if m.name.startswith("gend_")}
    assert "lacks the prefix 'feature_extractor.vision_model.'" in others["gend_clip_vit_l14"]
    assert "vit_pe_core_large_patch14_336" in others["gend_pe_vit_l14"]  # same prefix as PE's: refused by backbone


def test_listed_with_imagenet_input_gend_dinov3_profile_and_no_heatmaps():
    row = {r["name"]: r for r in describe_released()}[NAME]
    assert row["input"] == "224x224, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)"
    assert row["profile"] == "gend_dinov3" and row["code_licence"] == "MIT" and row["video_rule"] == "mean"
    assert not can_explain(create_model(NAME, **TINY))  # rollout would miss its rotary embedding


def test_the_profile_cuts_gend_geometry_and_resizes_as_their_image_processor():
    """Same alignment as the gend profile; the resize is DINOv3ViTImageProcessor's (rescale to [0, 1], then
    torchvision's bilinear antialiased resize), rounded to uint8: within half a grey level of their float pixels."""
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (360, 400, 3), dtype=np.uint8), (0, 0), 1)
    points = np.array([[170, 150], [230, 150], [200, 185], [175, 215], [225, 215]], np.float32)
    box = (140, 110, 260, 230)
    crop, moved, aligned = get_profile("gend_dinov3").cut(frame, box, points)
    ref_crop, ref_moved, _ = get_profile("gend").cut(frame, box, points)
    assert aligned and crop.shape == (224, 224, 3) and np.allclose(moved, ref_moved)
    matrix, side = gend_geometry(points)
    warped = torch.from_numpy(cv2.warpAffine(frame, matrix, (side, side), flags=cv2.INTER_LINEAR)).permute(2, 0, 1)
    theirs = tvF.resize(warped.float() / 255, [224, 224], tvF.InterpolationMode.BILINEAR, antialias=True)
    ours = torch.from_numpy(crop).permute(2, 0, 1).float() / 255
    assert (ours - theirs).abs().max() <= 0.5 / 255 + 1e-6
    clip_resize = torch.from_numpy(ref_crop.copy()).permute(2, 0, 1).float() / 255
    assert (clip_resize - theirs).abs().max() > 2 / 255  # the gend (CLIP) profile's bicubic is not theirs
