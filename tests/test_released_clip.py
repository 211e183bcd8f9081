"""Effort and GenD (CLIP ViT-L/14 released detectors): the Hugging Face -> timm mapping, exactly, on small models.

The released files are Hugging Face CLIP vision towers (Effort's with SVD-residual attention Linears). Here a small
``transformers.CLIPVisionModel`` (hidden 32, 2 layers, patch 14, 28 px) is the reference: files of the authors'
layouts are written from it (Effort's SVD split as their ``replace_with_svd_residual`` makes it; GenD's folder of
``model.safetensors`` + ``config.json``), loaded into the registered models built small with the same timm layout,
and P(fake) compared with Hugging Face's ``pooler_output`` -> head -> ``softmax[:, 1]``. The full-size layouts are
checked from the committed fixtures (key -> shape, written from the authors' classes by
``benchmarks/released_checks/{effort,gend}.py``) on the meta device. The authors' code is not needed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from released_helpers import meta_state, read_fixture
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModel

from deepfakeforensics.data.transforms import resize_to, to_tensor
from deepfakeforensics.evaluation.gradcam import AttentionRollout, can_explain, explainer
from deepfakeforensics.faces.profiles import GEND_TEMPLATE, gend_geometry, get_profile
from deepfakeforensics.models import WeightsError, create_model
from deepfakeforensics.models.released import describe_released, identify_released, load_released

TINY = {"img_size": 28, "embed_dim": 32, "depth": 2, "num_heads": 2}
CLIP_L14 = "openai/clip-vit-large-patch14"


@pytest.fixture(scope="module")
def reference():
    """A small Hugging Face CLIP vision tower with seeded non-trivial weights, a 2-class head and inputs."""
    torch.manual_seed(0)
    config = CLIPVisionConfig(
        hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=14
    )
    assert config.hidden_act == "quick_gelu"  # OpenAI CLIP's activation
    tower = CLIPVisionModel(config).eval()
    with torch.no_grad():
        for p in tower.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    head = torch.nn.Linear(32, 2)
    x = torch.randn(3, 3, 28, 28)
    with torch.no_grad():
        pooled = tower(x).pooler_output
    return tower.state_dict(), head, x, pooled


def _p_fake(head: torch.nn.Linear, features: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return head(features).softmax(dim=1)[:, 1]


def _effort_state(tower: dict, head: torch.nn.Linear, prefix: str = "") -> dict[str, torch.Tensor]:
    """Effort's saved layout: every self_attn Linear split by SVD (top n-1 frozen, the last one residual)."""
    state = {}
    for key, value in tower.items():
        if ".self_attn." in key and key.endswith(".weight"):
            u, s, vh = torch.linalg.svd(value, full_matrices=False)
            r, base = len(s) - 1, f"{prefix}backbone.{key[: -len('weight')]}"
            state[base + "weight_main"] = u[:, :r] @ torch.diag(s[:r]) @ vh[:r]
            state.update({base + "U_residual": u[:, r:], base + "S_residual": s[r:] * 3, base + "V_residual": vh[r:]})
            state.update({base + "U_r": u[:, :r], base + "S_r": s[:r], base + "V_r": vh[:r]})
        else:
            state[f"{prefix}backbone.{key}"] = value
    state[f"{prefix}head.weight"], state[f"{prefix}head.bias"] = head.weight.detach(), head.bias.detach()
    return state


def _effort_reference(state: dict, tower: CLIPVisionModel, x: torch.Tensor, head) -> torch.Tensor:
    """Their forward: weight_main + U_residual diag(S_residual) V_residual in each attention Linear."""
    folded = {}
    for key in tower.state_dict():
        base = f"backbone.{key[: -len('weight')]}"
        if base + "weight_main" in state:
            u, s, v = (state[base + p] for p in ("U_residual", "S_residual", "V_residual"))
            folded[key] = state[base + "weight_main"] + u @ torch.diag(s) @ v
        else:
            folded[key] = state[f"backbone.{key}"]
    tower.load_state_dict(folded)
    with torch.no_grad():
        return _p_fake(head, tower(x).pooler_output)


def test_effort_file_folds_svd_residuals_and_matches_hugging_face(reference, tmp_path):
    tower_state, head, x, _ = reference
    state = _effort_state(tower_state, head)
    tower = CLIPVisionModel(CLIPVisionConfig(**_tiny_hf())).eval()
    theirs = _effort_reference(state, tower, x, head)
    torch.save(state, tmp_path / "ckpt_best.pth")
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "ddp.pth")  # their DDP save
    for file in ("ckpt_best.pth", "ddp.pth"):
        model = create_model("effort_clip_vit_l14", weights=tmp_path / file, **TINY).eval()
        with torch.no_grad():
            assert (torch.sigmoid(model(x)) - theirs).abs().max() < 1e-6
    assert model.default_cfg.mean == (0.48145466, 0.4578275, 0.40821073)
    assert not model.default_cfg.channels_last


def _tiny_hf() -> dict:
    return dict(
        hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=14
    )


def _gend_folder(root: Path, tower: dict, head: torch.nn.Linear, config: dict | None) -> Path:
    root.mkdir()
    state = {f"feature_extractor.vision_model.{k}": v.contiguous() for k, v in tower.items()}
    state["feature_extractor.visual_projection.weight"] = torch.randn(16, 32)
    state["model.linear.weight"], state["model.linear.bias"] = head.weight.detach(), head.bias.detach()
    save_file(state, root / "model.safetensors")
    if config is not None:
        (root / "config.json").write_text(json.dumps({"model_type": "GenD", **config}))
    return root


@pytest.mark.parametrize("head_kind", ["linear", "LinearNorm"])
def test_gend_folder_and_bare_file_follow_config_head(reference, tmp_path, head_kind):
    tower, head, x, pooled = reference
    folder = _gend_folder(tmp_path / "GenD", tower, head, {"backbone": CLIP_L14, "head": head_kind})
    theirs = _p_fake(head, F.normalize(pooled, dim=1) if head_kind == "LinearNorm" else pooled)
    for path in (folder, folder / "model.safetensors"):
        model = create_model("gend_clip_vit_l14", weights=path, **TINY).eval()
        assert bool(model.l2_normalize) == (head_kind == "LinearNorm")
        with torch.no_grad():
            assert (torch.sigmoid(model(x)) - theirs).abs().max() < 1e-6


def test_gend_refuses_without_config_or_with_another_backbone(reference, tmp_path):
    tower, head, _, _ = reference
    bare = _gend_folder(tmp_path / "bare", tower, head, None)
    with pytest.raises(WeightsError, match="config.json is needed"):
        create_model("gend_clip_vit_l14", weights=bare, **TINY)
    pe = _gend_folder(tmp_path / "pe", tower, head, {"backbone": "vit_pe_core_large_patch14_336", "head": "linear"})
    with pytest.raises(WeightsError, match="vit_pe_core_large_patch14_336"):
        create_model("gend_clip_vit_l14", weights=pe, **TINY)


def test_full_size_layouts_are_recognised_from_the_fixtures():
    effort = meta_state("effort_clip_vit_l14")
    assert effort["backbone.encoder.layers.0.self_attn.q_proj.U_residual"].shape == (1024, 1)
    matches = identify_released(Path("ckpt_best.pth"), effort)
    assert [m.name for m in matches if m.distance == 0] == ["effort_clip_vit_l14"]
    fixture = read_fixture("gend_clip_vit_l14")
    gend = {"state_dict": meta_state("gend_clip_vit_l14"), "config": fixture["config"]}
    matches = identify_released(Path("GenD_CLIP_L_14"), gend)
    assert [m.name for m in matches if m.distance == 0] == ["gend_clip_vit_l14"]


def test_an_effort_file_given_as_gend_is_refused_naming_it(reference, tmp_path):
    tower, head, _, _ = reference
    torch.save(_effort_state(tower, head), tmp_path / "e.pth")
    with pytest.raises(WeightsError, match="gend_clip_vit_l14"):
        load_released(tmp_path / "e.pth", "gend_clip_vit_l14")


def test_catalog_rows_and_attention_rollout():
    rows = {r["name"]: r for r in describe_released()}
    assert rows["effort_clip_vit_l14"]["profile"] == "deepfakebench"
    assert rows["effort_clip_vit_l14"]["input"].startswith("224x224")
    assert any("Celeb-DF v2 0.956" in f for f in rows["effort_clip_vit_l14"]["published"])
    assert rows["gend_clip_vit_l14"]["code_licence"] == "MIT"
    model = create_model("gend_clip_vit_l14", **TINY).eval()
    assert can_explain(model) and isinstance(explainer(model), AttentionRollout)
    maps, logits = explainer(model).maps(torch.randn(2, 3, 28, 28))
    assert maps.shape == (2, 2, 2) and np.isfinite(maps).all() and logits.shape == (2,)


def test_gend_profile_puts_the_points_on_its_template():
    frame = np.random.default_rng(0).integers(0, 255, (400, 500, 3), dtype=np.uint8)
    points = GEND_TEMPLATE * 100 + np.float32([150, 120])  # a face of template size 100 px
    profile = get_profile("gend")
    crop, moved, aligned = profile.cut(frame, (140, 110, 260, 230), points)
    assert aligned and crop.shape == (224, 224, 3) and profile.shape == (224, 224)
    side = round(100 * 1.3)  # the face's own size times the scale, before CLIP's resize to 224
    expected = ((GEND_TEMPLATE + 0.15) / 1.3 * side + 0.5) * 224 / side - 0.5
    np.testing.assert_allclose(moved, expected, atol=1e-2)
    assert get_profile("gend", 336).cut(frame, (140, 110, 260, 230), points)[0].shape == (336, 336, 3)
    blank = profile.cut(frame, (140, 110, 260, 230), None)
    assert not blank[2] and blank[0].shape == (224, 224, 3)


PE_TINY = {"img_size": 42, "embed_dim": 32, "depth": 2, "num_heads": 2, "input_px": 28}


@pytest.mark.parametrize("head_kind", ["linear", "LinearNorm"])
def test_gend_pe_folder_is_timm_perception_encoder_state_at_the_fed_size(tmp_path, head_kind):
    """GenD's PE release holds timm's own Eva state (``feature_extractor.backbone.*``, head removed): their model
    (timm PE with dynamic_img_size, built at 42 px and fed 28, as 336 and 224) and ours give the same P(fake)."""
    import timm

    torch.manual_seed(1)
    theirs = timm.create_model(
        "vit_pe_core_large_patch14_336", pretrained=False, dynamic_img_size=True, num_classes=0,
        **{k: v for k, v in PE_TINY.items() if k != "input_px"},
    ).eval()  # fmt: skip
    head = torch.nn.Linear(32, 2)
    x = torch.randn(3, 3, 28, 28)
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        feats = theirs(x)
    state = {f"feature_extractor.backbone.{k}": v.contiguous() for k, v in theirs.state_dict().items()}
    state["model.linear.weight"], state["model.linear.bias"] = head.weight.detach(), head.bias.detach()
    folder = tmp_path / "GenD_PE_L"
    folder.mkdir()
    save_file(state, folder / "model.safetensors")
    backbone = "vit_pe_core_large_patch14_336"
    (folder / "config.json").write_text(json.dumps({"model_type": "GenD", "backbone": backbone, "head": head_kind}))
    expected = _p_fake(head, F.normalize(feats, dim=1) if head_kind == "LinearNorm" else feats)
    for path in (folder, folder / "model.safetensors"):
        model = create_model("gend_pe_vit_l14", weights=path, **PE_TINY).eval()
        assert bool(model.l2_normalize) == (head_kind == "LinearNorm")
        assert model.default_cfg.input_size == (3, 28, 28) and model.default_cfg.mean == (0.5, 0.5, 0.5)
        with torch.no_grad():
            assert (torch.sigmoid(model(x)) - expected).abs().max() < 1e-6
    with pytest.raises(WeightsError, match="not fit the layout of gend_clip_vit_l14.*feature_extractor.backbone"):
        load_released(folder, "gend_clip_vit_l14")  # a PE folder is not the CLIP release


def test_gend_pe_full_size_layout_from_the_fixture_and_its_input():
    fixture = read_fixture("gend_pe_vit_l14")
    assert fixture["config"]["backbone"] == "vit_pe_core_large_patch14_336"
    raw = {"state_dict": meta_state("gend_pe_vit_l14"), "config": fixture["config"]}
    assert raw["state_dict"]["feature_extractor.backbone.pos_embed"].shape == (1, 577, 1024)  # 336 px, fed 224
    matches = identify_released(Path("GenD_PE_L"), raw)
    assert [m.name for m in matches if m.distance == 0] == ["gend_pe_vit_l14"]
    row = {r["name"]: r for r in describe_released()}["gend_pe_vit_l14"]
    assert row["input"].startswith("224x224, mean (0.5, 0.5, 0.5)") and row["profile"] == "gend"
    assert not can_explain(create_model("gend_pe_vit_l14", **PE_TINY))  # rollout would miss its rotary embedding


def _smooth_crop(seed: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (12, 12, 3)).astype(np.float32)
    img = cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR) + rng.normal(0, 20, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_effort_resizes_deepfakebench_256_crops_to_224_bicubic_as_their_loader():
    """DeepfakeBench's load_rgb: the stored 256 px crop, cv2.resize(..., (224, 224), INTER_CUBIC), CLIP mean/std."""
    cfg = create_model("effort_clip_vit_l14", **TINY).default_cfg
    cfg = dataclasses.replace(cfg, input_size=(3, 224, 224))  # the full model's input; TINY only shrinks the ViT
    assert create_model("effort_clip_vit_l14", **TINY).default_cfg.interpolation == "bicubic"
    crop = _smooth_crop(0, 256)
    theirs = cv2.resize(crop, (224, 224), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    theirs = (torch.from_numpy(theirs).permute(2, 0, 1) - torch.tensor(cfg.mean).view(3, 1, 1)) / torch.tensor(
        cfg.std
    ).view(3, 1, 1)
    assert torch.allclose(to_tensor([crop], cfg)[0], theirs, atol=1e-6)
    area = to_tensor([crop], dataclasses.replace(cfg, interpolation="area"))[0]
    assert (area - theirs).abs().max() > 0.05  # this toolkit's own resize would not be their pixels
    # the stream's 256 px profile crop through the model's resize is the profile's own 224 px crop
    frame = _smooth_crop(1, 480)
    dense68 = np.random.default_rng(2).uniform(180, 300, (68, 2))
    at_256 = get_profile("deepfakebench").cut(frame, (170, 170, 310, 310), None, dense68)[0]
    at_224 = get_profile("deepfakebench", 224).cut(frame, (170, 170, 310, 310), None, dense68)[0]
    assert at_256.shape == (256, 256, 3) and np.array_equal(resize_to(at_256, (224, 224), "bicubic"), at_224)


def test_gend_crops_are_their_shortest_side_bicubic_and_centre_crop_pixels():
    """GenD's PE preprocessing is timm's eval transform of vit_pe_core_large_patch14_336 with input_size 224 (their
    PerceptionEncoder); CLIPProcessor's is the same geometry. On the warped face, the gend profile's crop fed through
    the PE model's config gives that transform's tensor."""
    import timm
    from PIL import Image

    with torch.device("meta"):
        pe = timm.create_model("vit_pe_core_large_patch14_336", pretrained=False, dynamic_img_size=True)
    data_config = timm.data.resolve_model_data_config(pe)
    data_config["input_size"] = (3, 224, 224)
    transform = timm.data.create_transform(**data_config, is_training=False)
    frame = _smooth_crop(3, 500)
    points = GEND_TEMPLATE * 100 + np.float32([150, 120])
    matrix, side = gend_geometry(points)
    warped = Image.fromarray(cv2.warpAffine(frame, matrix, (side, side), flags=cv2.INTER_LINEAR))
    crop, _, aligned = get_profile("gend").cut(frame, (140, 110, 260, 230), points)
    assert aligned and side != 224
    cfg = create_model("gend_pe_vit_l14", **PE_TINY).default_cfg
    ours = to_tensor([crop], dataclasses.replace(cfg, input_size=(3, 224, 224)))[0]
    assert torch.allclose(ours, transform(warped), atol=1e-6)
