"""GenD's DINOv3 release (yermandy/GenD, hub folder ``yermandy/GenD_DINOv3_L``; WACV 2026).

Their hub class (``src/hf/modeling_gend.py`` ``GenD``, ``DINOEncoder``) runs ``AutoModel.from_pretrained(backbone)``
with ``backbone = "facebook/dinov3-vitl16-pretrain-lvd1689m"`` (a transformers ``DINOv3ViTModel``), reads the class
token ``last_hidden_state[:, 0]`` (the final LayerNorm applied; the hub class has no ``merge_cls_token_with_patches``
and the release's ``config.json`` holds only ``backbone`` and ``head``), and the same ``LinearProbe`` as the other
GenD releases: ``head`` ``LinearNorm`` scales the features to unit L2 length, ``linear`` does not; P(fake) is
``softmax[:, 1]``. The file holds ``feature_extractor.backbone.*`` (the DINOv3 state) and ``model.linear.*``.

Here the tower is transformers' own ``DINOv3ViTModel``, built from `VITL16` (shapes of the release, the rest from the
public ViT-L/16 configuration, each value's source beside it), and the file's keys are kept as they are except for
one rename transformers itself makes (``layer.N.`` -> ``model.layer.N.``: transformers 4.56, which GenD pins and
saved the release with, keeps the blocks at ``layer``; 5.x nests them in ``model``; its ``conversion_mapping`` renames
the same way). Its function is transformers', so the result is theirs by construction.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD, Detector, ModelCfg
from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models.released._catalog import ReleasedSpec, register_released
from deepfakeforensics.models.released._convert import strip_prefix
from deepfakeforensics.models.released.gend import REPO, _pop_head, _split, gend_head_normalises

if TYPE_CHECKING:
    from transformers import DINOv3ViTConfig

NAME = "gend_dinov3_vit_l16"
DINOV3_L16 = "facebook/dinov3-vitl16-pretrain-lvd1689m"  # config.json "backbone" (src/config.py Backbone.DINOv3_ViT_L)
_TOWER = "feature_extractor.backbone."
_FLAT_LAYER = re.compile(r"layer\.(\d+)\.")  # transformers 4.56's block keys (the release's)

# DINOv3ViTConfig of facebook/dinov3-vitl16-pretrain-lvd1689m, what their AutoModel.from_pretrained builds.
# Shapes (hidden_size, intermediate_size, num_hidden_layers, num_register_tokens, patch_size, the biases: q, v, o and
# MLP biases present, no k bias, ungated MLP) are those of the release's keys (tests/fixtures/released/<NAME>.json;
# they add up to the 303,131,650 parameters the hub card gives). Heads (16), layer_norm_eps (1e-5),
# layerscale_value (1.0, an initial value only: lambda1 is in the file), rope_theta (100, "pos_embed_rope_base") and
# the training-only RoPE augmentation (rescale 2, no shift, no jitter) are transformers' conversion script's
# (models/dinov3_vit/convert_dinov3_vit_to_hf.py, get_dinov3_config("vitl")); hidden_act "gelu" and image_size 224
# are DINOv3ViTConfig's defaults, which that script leaves. num_attention_heads is not visible in the shapes; it sets
# the RoPE's head_dim (64).
VITL16: dict[str, Any] = {
    "patch_size": 16,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "num_register_tokens": 4,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "layerscale_value": 1.0,
    "rope_theta": 100.0,
    "image_size": 224,
    "query_bias": True,
    "key_bias": False,
    "value_bias": True,
    "proj_bias": True,
    "mlp_bias": True,
    "use_gated_mlp": False,
    "pos_embed_shift": None,
    "pos_embed_jitter": None,
    "pos_embed_rescale": 2.0,
}


def dinov3_config(**overrides: Any) -> DINOv3ViTConfig:
    """`VITL16` (with `overrides`: small test models of the same layout) as a ``DINOv3ViTConfig``."""
    from transformers import DINOv3ViTConfig  # transformers is imported when a DINOv3 model is built, not before

    unknown = set(overrides) - set(VITL16)
    if unknown:
        raise ValueError(f"{NAME}: unknown DINOv3 config keys {sorted(unknown)}; known: {', '.join(VITL16)}")
    return DINOv3ViTConfig(**{**VITL16, **overrides})


def _nested_blocks(key: str) -> str:
    """``layer.N.*`` (transformers 4.56) as ``model.layer.N.*`` (5.x); other keys, and 5.x keys, unchanged."""
    return "model." + key if _FLAT_LAYER.match(key) else key


def convert_gend_dinov3(raw: Any, path) -> dict[str, torch.Tensor]:
    """GenD's DINOv3 release (``{"state_dict": model.safetensors, "config": config.json}``) as this model's state.

    Raises:
        WeightsError: keys outside the layout, a head that is not 2-class, no config or another backbone.
    """
    state, config = _split(raw, path)
    head = _pop_head(state, path)
    out = {f"net.{_nested_blocks(k)}": v for k, v in strip_prefix(state, _TOWER, path).items()}
    out.update({k.replace("net.head.", "head."): v for k, v in head.items()})
    out["l2_normalize"] = torch.tensor(gend_head_normalises(config, path, DINOV3_L16, NAME))
    return out


class GenDDINOv3(Detector):
    """GenD's DINOv3 detector: transformers' ``DINOv3ViTModel`` (ViT-L/16, four registers, RoPE), the class token of
    its normalised last hidden state, optional L2 norm, one logit. Fed 224 x 224, ImageNet mean and std.

    No heatmaps: attention rollout recomputes plain attention, which misses DINOv3's rotary embedding.

    Args:
        l2_normalize: the head's feature normalisation before a file sets it (GenD's method normalises).
        input_px: the side of the crops it is fed (224, their image processor's size; smaller in tests).
        **config: `VITL16` overrides (small models of the same layout in tests).
    """

    released_convert = staticmethod(convert_gend_dinov3)
    explanation = "none"

    def __init__(self, l2_normalize: bool = True, input_px: int = 224, **config: Any) -> None:
        from transformers import DINOv3ViTModel

        super().__init__()
        self.net = DINOv3ViTModel(dinov3_config(**config))
        self.num_features = self.net.config.hidden_size
        self.num_prefix_tokens = 1 + self.net.config.num_register_tokens
        self.head = nn.Linear(self.num_features, 1)
        self.register_buffer("l2_normalize", torch.tensor(bool(l2_normalize)))
        self.default_cfg = ModelCfg(
            input_size=(3, int(input_px), int(input_px)), mean=IMAGENET_MEAN, std=IMAGENET_STD, channels_last=False
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values=x).last_hidden_state

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = features[:, 0]
        if bool(self.l2_normalize):
            x = F.normalize(x, p=2.0, dim=1)  # as their LinearProbe (x / max(|x|, 1e-12))
        return x if pre_logits else self.head(x)

    def gradcam_layer(self) -> nn.Module:
        return self.net.model.layer[-1]

    def get_classifier(self) -> nn.Module:
        return self.head


@register_model
def gend_dinov3_vit_l16(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> GenDDINOv3:
    """GenD's DINOv3 ViT-L/16 (224 px, ImageNet mean/std); load the hub folder ``yermandy/GenD_DINOv3_L`` (or its
    ``model.safetensors`` with ``config.json`` beside it) with ``weights=``."""
    if pretrained:
        raise ValueError(
            f"{NAME}: the weights are not downloaded automatically; download the Hugging Face folder "
            "yermandy/GenD_DINOv3_L and pass it as weights= (create_model) or to load_released"
        )
    return GenDDINOv3(**kwargs)


register_released(
    ReleasedSpec(
        name=NAME,
        title="GenD: LayerNorm-only tuning of DINOv3 ViT-L/16 (transformers DINOv3ViTModel) (WACV 2026)",
        repo=REPO,
        files=("yermandy/GenD_DINOv3_L: model.safetensors + config.json (Hugging Face hub)",),
        code_licence="MIT",
        weights_licence="not stated in the repository (check the Hugging Face model card; DINOv3's own: the DINOv3 "
        "License)",
        profile="gend_dinov3",
        output="softmax(linear(class token of last_hidden_state, L2-normalised if config head is LinearNorm))[:, 1], "
        "folded to one logit",
        convert=convert_gend_dinov3,
        published=(),
        aggregation="mean",
        notes=(
            "Test time (src/hf/modeling_gend.py DINOEncoder.preprocess): AutoImageProcessor of "
            "facebook/dinov3-vitl16-pretrain-lvd1689m (DINOv3ViTImageProcessorFast: pixels to [0, 1] floats, resized "
            "to 224 x 224 bilinear with antialiasing, ImageNet mean and std) on GenD's aligned face. The gend_dinov3 "
            "profile cuts GenD's aligned face and resizes it the same way (torch's antialiased bilinear on [0, 1] "
            "floats), rounded to uint8 crops: within half a grey level of their float pixels. Video score: the mean "
            "of frame probabilities. No figures recorded."
        ),
    )
)
