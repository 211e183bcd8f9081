"""CLIP image encoders released as Hugging Face ``CLIPVisionTransformer`` weights, run as timm ViTs.

Effort and GenD tune OpenAI's CLIP ViT-L/14 through Hugging Face ``transformers``; their files hold the vision tower
under Hugging Face names. timm's ``vit_large_patch14_clip_quickgelu_224`` computes the same function (pre-norm
``norm_pre``, QuickGELU MLPs, bias-free patch convolution, LayerNorm epsilon 1e-5, class token, post-norm ``norm``
applied to every token, the class token pooled: Hugging Face's ``pooler_output``). `hf_clip_vision_to_timm` maps the
names: ``q_proj``/``k_proj``/``v_proj`` concatenated into ``qkv``, ``out_proj`` -> ``proj``, ``pre_layrnorm`` ->
``norm_pre``, ``post_layernorm`` -> ``norm``, the class and position embeddings gaining timm's batch axes. timm's
non-QuickGELU name (``vit_large_patch14_clip_224``) uses exact GELU: another function for OpenAI's weights.

`ReleasedCLIP` is that timm ViT with a one-logit head on the pooled class token; its heatmaps are attention rollout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import nn

from deepfakeforensics.models._base import Detector, ModelCfg
from deepfakeforensics.models._weights import WeightsError

TIMM_CLIP_L14 = "vit_large_patch14_clip_quickgelu_224"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's normalisation (CLIPImageProcessor, Effort's yaml)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Hugging Face CLIPVisionTransformer name -> timm VisionTransformer name (q/k/v handled apart)
_RENAMES = (
    (r"embeddings\.patch_embedding\.weight", "patch_embed.proj.weight"),
    (r"pre_layrnorm\.(weight|bias)", r"norm_pre.\1"),
    (r"post_layernorm\.(weight|bias)", r"norm.\1"),
    (r"encoder\.layers\.(\d+)\.layer_norm([12])\.(weight|bias)", r"blocks.\1.norm\2.\3"),
    (r"encoder\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"encoder\.layers\.(\d+)\.mlp\.(fc[12])\.(weight|bias)", r"blocks.\1.mlp.\2.\3"),
)
_QKV = re.compile(r"encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)")


def hf_clip_vision_to_timm(state: Mapping[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """A Hugging Face CLIP vision tower's state dict (no prefix) as timm ``VisionTransformer`` keys (no prefix).

    ``embeddings.position_ids`` (a persistent buffer in older ``transformers``) is checked to be ``0..N-1`` and
    dropped. Keys of neither layout are kept as they are (a strict load then names them).

    Raises:
        WeightsError: a layer lacks one of its q, k or v projections, or position ids that are not ``0..N-1``.
    """
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key == "embeddings.position_ids":
            if not torch.equal(value.reshape(-1).long(), torch.arange(value.numel(), device=value.device)):
                raise WeightsError(f"{path}: embeddings.position_ids is not 0..N-1")
            continue
        if key == "embeddings.class_embedding":
            out["cls_token"] = value.reshape(1, 1, -1)
            continue
        if key == "embeddings.position_embedding.weight":
            out["pos_embed"] = value.unsqueeze(0)
            continue
        match = _QKV.fullmatch(key)
        if match:
            layer, which, kind = match.groups()
            qkv.setdefault((layer, kind), {})[which] = value
            continue
        for pattern, target in _RENAMES:
            if re.fullmatch(pattern, key):
                key = re.sub(pattern, target, key)
                break
        out[key] = value
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise WeightsError(f"{path}: layer {layer} has {kind} of projections {sorted(parts)}, not q, k and v")
        out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def two_class_to_logit(weight: torch.Tensor, bias: torch.Tensor, path: Path, name: str) -> dict[str, torch.Tensor]:
    """A 2-class Linear (fake = class 1) as the one-logit ``net.head``: ``w1 - w0``, ``b1 - b0`` (exact softmax)."""
    if weight.ndim != 2 or weight.shape[0] != 2 or tuple(bias.shape) != (2,):
        raise WeightsError(f"{path}: {name} is not a 2-class head (weight {tuple(weight.shape)})")
    return {"net.head.weight": (weight[1] - weight[0]).unsqueeze(0), "net.head.bias": (bias[1] - bias[0]).reshape(1)}


class ReleasedCLIP(Detector):
    """A CLIP-style timm ViT (OpenAI's QuickGELU CLIP by default) with one fake logit on its pooled features.

    Args:
        timm_name: the timm architecture (default OpenAI CLIP ViT-L/14 at 224 px).
        l2_normalize: scale the pooled features to unit length before the head (GenD's ``LinearNorm``); None: no
            such step and no buffer. When given, it is a persistent buffer, so a loaded file sets it.
        input_px: the side of the images it is fed (default: the timm model's ``img_size``; a model built with
            ``dynamic_img_size`` runs at another, as GenD's Perception Encoder at 224).
        mean: the normalisation mean (default CLIP's); std likewise.
        interpolation: how a crop of another size is resized to the input (``ModelCfg.interpolation``).
        **timm_kwargs: further ``timm.create_model`` arguments (``img_size``, ``embed_dim``, ``depth``,
            ``num_heads`` for small test models of the same layout).

    ``forward_features`` returns the tokens (B, 1 + N, D); ``forward_head(f, pre_logits=True)`` the D-vector the head
    reads (unit length with ``l2_normalize``). Heatmaps: attention rollout (``explanation``).
    """

    explanation = "attention_rollout"

    def __init__(
        self,
        timm_name: str = TIMM_CLIP_L14,
        l2_normalize: bool | None = None,
        *,
        input_px: int | None = None,
        mean: tuple[float, float, float] = CLIP_MEAN,
        std: tuple[float, float, float] = CLIP_STD,
        interpolation: str = "area",
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        self.net = timm.create_model(timm_name, pretrained=False, num_classes=1, **timm_kwargs)
        self.num_features = self.net.num_features
        self.num_prefix_tokens = self.net.num_prefix_tokens
        size = self.net.patch_embed.img_size if input_px is None else (int(input_px), int(input_px))
        self.default_cfg = ModelCfg(
            input_size=(3, *size), mean=mean, std=std, channels_last=False, interpolation=interpolation
        )
        if l2_normalize is not None:
            self.register_buffer("l2_normalize", torch.tensor(bool(l2_normalize)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.net.forward_head(features, pre_logits=True)
        if getattr(self, "l2_normalize", None) is not None and bool(self.l2_normalize):
            x = F.normalize(x, p=2.0, dim=1)  # x / max(|x|, 1e-12), as torch's F.normalize in the authors' head
        return x if pre_logits else self.net.head(x)

    def gradcam_layer(self) -> nn.Module:
        """The last transformer block (tokens; heatmaps use attention rollout instead)."""
        return self.net.blocks[-1]

    def get_classifier(self) -> nn.Module:
        return self.net.head
