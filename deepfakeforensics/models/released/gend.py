"""GenD (Yermakov, Cech, Matas & Fritz, "Deepfake Detection that Generalizes Across Benchmarks", WACV 2026).

The authors tune only the LayerNorms of OpenAI's CLIP ViT-L/14 image tower and release each model on the Hugging Face
hub as a folder: ``config.json`` (``backbone``: the encoder's name; ``head``: ``"linear"`` or ``"LinearNorm"``) and
``model.safetensors`` with keys ``feature_extractor.vision_model.*`` (a Hugging Face ``CLIPVisionTransformer``),
``feature_extractor.visual_projection.weight`` (kept from CLIP but unused: the head reads the 1024-d
``pooler_output``, not the 768-d projection) and ``model.linear.*`` (``Linear(1024, 2)``; ``LinearNorm`` first
scales the features to unit L2 length). P(fake) is ``softmax[:, 1]`` (label 1 = fake in their dataset code).

Here the tower is mapped onto timm's QuickGELU CLIP ViT (`ReleasedCLIP`), the head folded to one logit, and the
head's normalisation is the persistent buffer ``l2_normalize``, set from ``config.json``: the file says, not a
default. A bare ``model.safetensors`` is read with the ``config.json`` beside it; without one it is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models._weights import WeightsError
from deepfakeforensics.models.released._catalog import ReleasedSpec, register_released
from deepfakeforensics.models.released._clip import ReleasedCLIP, hf_clip_vision_to_timm, two_class_to_logit
from deepfakeforensics.models.released._convert import is_state_dict, strip_prefix, unwrap

NAME = "gend_clip_vit_l14"
REPO = "https://github.com/yermandy/GenD"
CLIP_L14 = "openai/clip-vit-large-patch14"  # config.json "backbone" of the CLIP release
HEADS = {"linear": False, "LinearNorm": True}  # config.json "head" -> L2-normalise features before the Linear
_TOWER = "feature_extractor.vision_model."
PE_NAME = "gend_pe_vit_l14"
PE_L14 = "vit_pe_core_large_patch14_336"  # config.json "backbone" of the Perception Encoder release (a timm name)
PE_MEAN = PE_STD = (0.5, 0.5, 0.5)  # timm's pretrained config of the PE models (their preprocessing's Normalize)
_PE_TOWER = "feature_extractor.backbone."
_PROJECTION = "feature_extractor.visual_projection.weight"


def _split(raw: Any, path: Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """The tensors and the config of a GenD release as `read_raw` returns it (or a bare state dict: no config)."""
    if isinstance(raw, Mapping) and is_state_dict(raw.get("state_dict")) and "config" in raw:
        config = raw["config"]
        return dict(raw["state_dict"]), config if isinstance(config, Mapping) else None
    return unwrap(raw, path), None


def gend_head_normalises(config: Mapping | None, path: Path, backbone: str = CLIP_L14, name: str = NAME) -> bool:
    """Whether GenD's ``config.json`` asks for L2-normalised features, after checking its backbone is `backbone`.

    Raises:
        WeightsError: no config, another backbone or an unknown head.
    """
    if config is None:
        raise WeightsError(
            f"{path}: GenD's config.json is needed beside model.safetensors (its 'head' says whether features are "
            "L2-normalised before the linear head)"
        )
    given, head = config.get("backbone"), config.get("head")
    if given != backbone:
        raise WeightsError(f"{path}: config.json backbone {given!r}; {name} is the {backbone!r} release")
    if head not in HEADS:
        raise WeightsError(f"{path}: config.json head {head!r}, not one of {', '.join(HEADS)}")
    return HEADS[head]


def _pop_head(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """GenD's ``model.linear`` (removed from `state`) as the one-logit ``net.head``."""
    head = {k: state.pop(f"model.linear.{k}", None) for k in ("weight", "bias")}
    if head["weight"] is None or head["bias"] is None:
        raise WeightsError(f"{path}: no model.linear.weight and .bias (GenD's Linear head)")
    return two_class_to_logit(head["weight"], head["bias"], path, "model.linear")


def convert_gend(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """GenD's CLIP release (``{"state_dict": model.safetensors, "config": config.json}``) as this model's state.

    Raises:
        WeightsError: keys outside the GenD layout, a head that is not 2-class, or a config that does not fit.
    """
    state, config = _split(raw, path)
    head = _pop_head(state, path)
    state.pop(_PROJECTION, None)  # CLIP's projection, unused by GenD's forward
    tower = hf_clip_vision_to_timm(strip_prefix(state, _TOWER, path), path)
    out = {f"net.{k}": v for k, v in tower.items()}
    out.update(head)
    out["l2_normalize"] = torch.tensor(gend_head_normalises(config, path))
    return out


def convert_gend_pe(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """GenD's Perception Encoder release as this model's state: ``feature_extractor.backbone.*`` is timm's own
    ``vit_pe_core_large_patch14_336`` state (its ``head`` replaced by an identity, so absent), kept as it is.

    Raises:
        WeightsError: keys outside the layout, a head that is not 2-class, or a config that does not fit.
    """
    state, config = _split(raw, path)
    head = _pop_head(state, path)
    out = {f"net.{k}": v for k, v in strip_prefix(state, _PE_TOWER, path).items()}
    out.update(head)
    out["l2_normalize"] = torch.tensor(gend_head_normalises(config, path, PE_L14, PE_NAME))
    return out


class GenDCLIP(ReleasedCLIP):
    """GenD's detector: OpenAI CLIP ViT-L/14 (QuickGELU) at 224 px, CLIP mean/std, optional L2 norm, one logit.

    Args:
        l2_normalize: the head's feature normalisation before a file sets it (GenD's method normalises).
        **timm_kwargs: further ``timm.create_model`` arguments (small models of the same layout in tests).
    """

    released_convert = staticmethod(convert_gend)

    def __init__(self, l2_normalize: bool = True, **timm_kwargs: Any) -> None:
        super().__init__(l2_normalize=l2_normalize, **timm_kwargs)


class GenDPE(ReleasedCLIP):
    """GenD's Perception Encoder detector: timm's ``vit_pe_core_large_patch14_336`` built with ``dynamic_img_size``
    (as theirs) and fed 224 px crops (their ``input_size`` override), mean and std 0.5, optional L2 norm, one logit.

    At 224 the 336 px position embedding is resampled and the rotary embedding computed for the 16 x 16 grid on each
    forward, by timm, in both their model and this one: the same function. No heatmaps: attention rollout recomputes
    plain attention, which misses PE's rotary embedding, and the head reads an attention pool, not the class token.

    Args:
        l2_normalize: the head's feature normalisation before a file sets it (GenD's method normalises).
        input_px: the side of the crops it is fed (224, GenD's; smaller for small test models).
        **timm_kwargs: further ``timm.create_model`` arguments (small models of the same layout in tests).
    """

    released_convert = staticmethod(convert_gend_pe)
    explanation = "none"

    def __init__(self, l2_normalize: bool = True, input_px: int = 224, **timm_kwargs: Any) -> None:
        timm_kwargs.setdefault("dynamic_img_size", True)
        super().__init__(
            PE_L14, l2_normalize, input_px=input_px, mean=PE_MEAN, std=PE_STD, interpolation="area", **timm_kwargs
        )


@register_model
def gend_clip_vit_l14(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> GenDCLIP:
    """GenD's CLIP ViT-L/14 (224 px, CLIP mean/std); load the hub folder ``yermandy/GenD_CLIP_L_14`` (or its
    ``model.safetensors`` with ``config.json`` beside it) with ``weights=``."""
    if pretrained:
        raise ValueError(
            f"{NAME}: the weights are not downloaded automatically; download the Hugging Face folder "
            "yermandy/GenD_CLIP_L_14 and pass it as weights= (create_model) or to load_released"
        )
    return GenDCLIP(**kwargs)


register_released(
    ReleasedSpec(
        name=NAME,
        title="GenD: LayerNorm-only tuning of CLIP ViT-L/14 on a hyperspherical feature space (WACV 2026)",
        repo=REPO,
        files=("yermandy/GenD_CLIP_L_14: model.safetensors + config.json (Hugging Face hub)",),
        code_licence="MIT",
        weights_licence="not stated in the repository (check the Hugging Face model card)",
        profile="gend",
        output="softmax(linear(pooler_output, L2-normalised if config head is LinearNorm))[:, 1], folded to one logit",
        convert=convert_gend,
        published=(),
        aggregation="mean",
        notes=(
            "Test time (src/hf/modeling_gend.py CLIPEncoder.preprocess): CLIPProcessor of openai/clip-vit-large-patch14 "
            "on the aligned face (detector.py align_face: five RetinaFace points onto their template, scale 1.3, at "
            "the face's own size): shortest side to 224 (bicubic), centre crop 224, CLIP mean and std. Video score: "
            "the mean of frame probabilities (src/config.py reduce_video_predictions 'mean'). The repository's "
            "README prints no figures (they are in the paper, not recorded here)."
        ),
    )
)


@register_model
def gend_pe_vit_l14(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> GenDPE:
    """GenD's Perception Encoder ViT-L/14 (fed 224 px, mean/std 0.5); load the hub folder ``yermandy/GenD_PE_L`` (or
    its ``model.safetensors`` with ``config.json`` beside it) with ``weights=``."""
    if pretrained:
        raise ValueError(
            f"{PE_NAME}: the weights are not downloaded automatically; download the Hugging Face folder "
            "yermandy/GenD_PE_L and pass it as weights= (create_model) or to load_released"
        )
    return GenDPE(**kwargs)


register_released(
    ReleasedSpec(
        name=PE_NAME,
        title="GenD: LayerNorm-only tuning of Perception Encoder ViT-L/14 (PE-Core-L, timm) (WACV 2026)",
        repo=REPO,
        files=("yermandy/GenD_PE_L: model.safetensors + config.json (Hugging Face hub)",),
        code_licence="MIT",
        weights_licence="not stated in the repository (check the Hugging Face model card; PE-Core's own: Apache 2.0)",
        profile="gend",
        output="softmax(linear(attention-pooled features, L2-normalised if config head is LinearNorm))[:, 1], "
        "folded to one logit",
        convert=convert_gend_pe,
        published=(),
        aggregation="mean",
        notes=(
            "Test time (src/hf/modeling_gend.py PerceptionEncoder): timm.create_model(vit_pe_core_large_patch14_336, "
            "dynamic_img_size=True), head replaced by an identity; timm's eval transform of the model's config with "
            "input_size 224: shortest side to 224 (bicubic, crop_pct 1.0), centre crop 224, mean and std 0.5, on "
            "the aligned face of the gend profile. Video score: the mean of frame probabilities. No figures recorded."
        ),
    )
)
