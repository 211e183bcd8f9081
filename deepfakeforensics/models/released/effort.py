"""Effort (Yan et al., "Orthogonal Subspace Decomposition for Generalizable AI-Generated Image Detection", ICML 2025).

The authors tune OpenAI's CLIP ViT-L/14 image tower (Hugging Face ``CLIPModel(...).vision_model``, a
``CLIPVisionTransformer``) inside DeepfakeBench: every Linear of every ``self_attn`` (q, k, v and out projections) is
replaced by an ``SVDResidualLinear`` whose weight is ``weight_main + U_residual @ diag(S_residual) @ V_residual``
(the top 1023 singular directions frozen in ``weight_main``, the last one trainable); ``U_r``, ``S_r``, ``V_r`` (the
frozen part's factors) only serve a training loss. ``head = Linear(1024, 2)`` reads ``pooler_output`` (the
post-LayerNorm class token); P(fake) is ``softmax[:, 1]``. Their trainer saves ``detector.state_dict()`` raw
(``backbone.*``, ``head.*``; ``module.`` in front under DDP).

Here each attention weight is folded once, in the authors' own float32 operation order, into a plain timm CLIP ViT
(`ReleasedCLIP`, QuickGELU): the function is the same, with no SVD factors kept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models._weights import WeightsError
from deepfakeforensics.models.released._catalog import Published, ReleasedSpec, register_released
from deepfakeforensics.models.released._clip import ReleasedCLIP, hf_clip_vision_to_timm, two_class_to_logit
from deepfakeforensics.models.released._convert import drop_prefix_if_all, strip_prefix, unwrap

NAME = "effort_clip_vit_l14"
REPO = "https://github.com/YZY-stack/Effort-AIGI-Detection"
_SVD = ("weight_main", "bias", "U_residual", "S_residual", "V_residual", "U_r", "S_r", "V_r")


def fold_svd_residual(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Every ``SVDResidualLinear`` (keys `_SVD` under one prefix) as a plain Linear ``weight`` and ``bias``.

    ``weight = weight_main + (U_residual @ diag(S_residual)) @ V_residual``, the operations and dtype of the authors'
    forward, so the folded weight is the one their forward computes. ``U_r``, ``S_r``, ``V_r`` are not used by it.

    Raises:
        WeightsError: a ``weight_main`` without its residual factors, or factors of inconsistent shapes.
    """
    out = dict(state)
    for key in [k for k in state if k.endswith(".weight_main")]:
        prefix = key[: -len("weight_main")]
        missing = [p for p in _SVD if p != "bias" and prefix + p not in state]
        if missing:
            raise WeightsError(f"{path}: {prefix[:-1]} is an SVD residual layer without {', '.join(missing)}")
        u, s, v = (state[prefix + p] for p in ("U_residual", "S_residual", "V_residual"))
        main = state[key]
        if u.shape[0] != main.shape[0] or v.shape[1] != main.shape[1] or not (u.shape[1] == s.numel() == v.shape[0]):
            raise WeightsError(f"{path}: {prefix[:-1]} residual factors do not fit its weight {tuple(main.shape)}")
        for p in _SVD:
            if p != "bias":
                out.pop(prefix + p)
        out[prefix + "weight"] = main + u @ torch.diag(s) @ v
    return out


def convert_effort(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """Effort's file (``detector.state_dict()``: ``backbone.*`` SVD-residual CLIP tower, ``head.*``) as ours.

    A ``state_dict`` container (their test.py accepts one) and DDP's ``module.`` prefix are also read.

    Raises:
        WeightsError: keys outside ``backbone.``/``head.``, no SVD residual layers, or a head that is not 2-class.
    """
    state = drop_prefix_if_all(unwrap(raw, path, ("state_dict",)), "module.")
    head = {k: state.pop(k) for k in ("head.weight", "head.bias") if k in state}
    if len(head) != 2:
        raise WeightsError(f"{path}: no head.weight and head.bias (Effort's Linear(1024, 2))")
    backbone = strip_prefix(state, "backbone.", path)
    if not any(k.endswith(".weight_main") for k in backbone):
        raise WeightsError(f"{path}: no SVD residual layers (self_attn.*.weight_main): not an Effort file")
    tower = hf_clip_vision_to_timm(fold_svd_residual(backbone, path), path)
    out = {f"net.{k}": v for k, v in tower.items()}
    out.update(two_class_to_logit(head["head.weight"], head["head.bias"], path, "head"))
    return out


class EffortCLIP(ReleasedCLIP):
    """Effort's detector: OpenAI CLIP ViT-L/14 (QuickGELU) at 224 px, CLIP mean and std, one fake logit.

    Crops of another size (DeepfakeBench's aligned 256 px crops) are resized to 224 with ``cv2.INTER_CUBIC``
    (``default_cfg.interpolation``), as their loader (``abstract_dataset.load_rgb``, ``resolution: 224``) does.

    Args:
        **timm_kwargs: further ``timm.create_model`` arguments (small models of the same layout in tests).
    """

    released_convert = staticmethod(convert_effort)

    def __init__(self, **timm_kwargs: Any) -> None:
        super().__init__(interpolation="bicubic", **timm_kwargs)


@register_model
def effort_clip_vit_l14(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> EffortCLIP:
    """Effort's CLIP ViT-L/14 (224 px, CLIP mean/std); load the authors' ``effort_*.pth`` with ``weights=``."""
    if pretrained:
        raise ValueError(
            f"{NAME}: the authors' weights are not downloaded automatically (Google Drive links in their README); "
            "pass the file as weights= (create_model) or to load_released"
        )
    return EffortCLIP(**kwargs)


_TABLE = "Effort README, figs/deepfake_tab1.png (paper Table 1, cross-dataset AUC, CLIP ViT-L/14 trained on FF++ c23)"
_FIGURES = (
    ("Celeb-DF v2", 0.956), ("DFD", 0.965), ("DFDC", 0.843), ("DFDC preview", 0.909), ("DeeperForensics-1.0", 0.977),
    ("WildDeepfake", 0.848), ("FFIW", 0.921),
)  # fmt: skip

register_released(
    ReleasedSpec(
        name=NAME,
        title="Effort: orthogonal SVD residual tuning of CLIP ViT-L/14 (Yan et al., ICML 2025)",
        repo=REPO,
        files=("ckpt_best.pth",),  # their trainer's name; the Drive file's own name is not checked offline
        code_licence="CC BY-NC 4.0",
        weights_licence="CC BY-NC 4.0 (released with the code; no separate licence stated)",
        profile="deepfakebench",
        output="softmax(head(pooler_output))[:, 1] of Linear(1024, 2), folded to one logit (w1 - w0, b1 - b0)",
        convert=convert_effort,
        published=tuple(
            Published(data, "auc", "video", v, "FF++ c23", _TABLE, protocol="deepfakebench") for data, v in _FIGURES
        ),
        aggregation="mean",
        notes=(
            "Test time (DeepfakeBench abstract_dataset.load_rgb, effort.yaml resolution 224): the stored 256 px aligned "
            "crop resized to 224x224 with cv2.INTER_CUBIC, ToTensor, Normalize with CLIP's mean and std; no test-time "
            "augmentation. The file name is the one their trainer saves (trainer.py save_ckpt); the README's Google Drive file was not read offline. The "
            "figure does not print the level: recorded as video AUC because its rows marked with a dagger (results copied "
            "from their papers, e.g. CDFA's Celeb-DF v2 .938) are those papers' video-level figures; check the paper's "
            "text. Their attention weights are weight_main + U_residual diag(S_residual) V_residual, "
            "folded exactly; U_r, S_r, V_r (about 0.8 GB of the file) only serve a training loss and are not kept."
        ),
    )
)
