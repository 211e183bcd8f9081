"""Parameter-efficient tuning (peft): LoRA, DoRA and LayerNorm-tuning of any model, by option.

``create_model("clip_vit_l14", peft="lora", peft_r=8)`` injects peft's LoRA layers (DoRA: ``peft="dora"``) into the
modules named by ``peft_targets`` (comma-separated suffixes of module names; default the attention projections of
timm's ViTs, ``attn.qkv,attn.proj``), then freezes everything but the adapters and the new parts of the detector (its
one-logit classifier, and the branches and fusion MLP of a fused model; temporal heads added after stay trainable).
``peft="layernorm"`` trains the LayerNorm scales and shifts instead of adapters (LN-tuning). The adapters live inside
the model (``inject_adapter_in_model``: no wrapper), so checkpoints save and `load_model` restores them exactly;
`merge_peft` folds them into the base weights for prediction (a plain model of the same name, no peft at run time)
and `export_merged` does so from checkpoint to checkpoint.

Effort (Yan et al. 2024) tunes CLIP ViT-L/14 with 0.19 M trainable parameters this way; `trainable_summary` prints
the trainable and total counts.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from typing import Any

from torch import nn

from deepfakeforensics.models._base import Detector
from deepfakeforensics.models._factory import load_model
from deepfakeforensics.models._registry import register_option
from deepfakeforensics.models._weights import save_checkpoint

log = logging.getLogger(__name__)

PEFT_METHODS = ("lora", "dora", "layernorm")
DEFAULT_TARGETS = "attn.qkv,attn.proj"
PEFT_KWARGS = ("peft", "peft_r", "peft_alpha", "peft_dropout", "peft_targets")


def target_pattern(targets: str) -> str:
    """A regex (peft full-matches it against module names) for comma-separated module-name suffixes."""
    parts = [re.escape(t.strip()) for t in targets.split(",") if t.strip()]
    if not parts:
        raise ValueError("peft_targets names no module")
    return rf"(.*\.)?({'|'.join(parts)})"


def new_parameter_names(model: nn.Module, prefix: str = "") -> set[str]:
    """Names of the parameters a detector adds to its pretrained backbone: its classifier, a fused model's branch.

    A wrapper (a model with ``inner``: SRM stem, frequency fusion) owns everything outside ``inner``; a plain model
    owns its ``get_classifier()``.
    """
    inner = getattr(model, "inner", None)
    if isinstance(inner, nn.Module):
        own = {f"{prefix}{n}" for n, _ in model.named_parameters() if not n.startswith("inner.")}
        return own | new_parameter_names(inner, f"{prefix}inner.")
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    for name, module in model.named_modules():
        if module is classifier:
            return {f"{prefix}{name}.{n}" for n, _ in module.named_parameters()}
    return set()


def apply_peft(
    model: Detector,
    method: str,
    peft_r: int = 8,
    peft_alpha: float = 16.0,
    peft_dropout: float = 0.0,
    peft_targets: str = DEFAULT_TARGETS,
) -> Detector:
    """Add adapters (or select LayerNorms) and freeze the rest of `model`, in place; returns it.

    Args:
        model: any detector.
        method: ``"lora"``, ``"dora"`` or ``"layernorm"``.
        peft_r: adapter rank.
        peft_alpha: LoRA scaling numerator (the update is scaled by ``alpha / r``).
        peft_dropout: dropout on the adapters' input.
        peft_targets: comma-separated suffixes of the module names to adapt (LoRA/DoRA only).

    Raises:
        ValueError: unknown method, or no module matches `peft_targets` (peft's message lists none found).
    """
    if method not in PEFT_METHODS:
        raise ValueError(f"peft must be one of {', '.join(PEFT_METHODS)}, not {method!r}")
    keep = new_parameter_names(model)
    if method == "layernorm":
        norms = {
            f"{m}.{n}"
            for m, mod in model.named_modules()
            if isinstance(mod, nn.LayerNorm)
            for n, _ in mod.named_parameters(recurse=False)
        }
        keep |= norms
    else:
        # peft pulls in transformers (seconds and hundreds of MB): imported only when adapters are asked for
        from peft import LoraConfig, inject_adapter_in_model

        config = LoraConfig(
            r=peft_r,
            lora_alpha=peft_alpha,
            lora_dropout=peft_dropout,
            target_modules=target_pattern(peft_targets),
            use_dora=method == "dora",
        )
        inject_adapter_in_model(config, model)
    for name, param in model.named_parameters():
        param.requires_grad = name in keep or ".lora_" in name
    log.info("%s: %s", method, trainable_summary(model))
    return model


def trainable_summary(model: nn.Module) -> str:
    """``"trainable 9,409 of 5,536,705 parameters (0.17%)"``."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"trainable {trainable:,} of {total:,} parameters ({100 * trainable / max(total, 1):.2f}%)"


def merge_peft(model: Detector) -> Detector:
    """A copy of `model` with its LoRA/DoRA adapters folded into the base weights: a plain model, same logits.

    Its ``init_kwargs`` lose the peft options, so a checkpoint of it loads without peft. LayerNorm-tuned models have
    nothing to fold and come back as a plain copy.
    """
    from peft.tuners.lora import LoraLayer  # heavy, see apply_peft

    merged = copy.deepcopy(model)
    for name, module in list(merged.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(merged.get_submodule(parent_name) if parent_name else merged, child, module.get_base_layer())
    for param in merged.parameters():
        param.requires_grad = True
    merged.name = model.name
    merged.init_kwargs = {k: v for k, v in getattr(model, "init_kwargs", {}).items() if k not in PEFT_KWARGS}
    return merged


def export_merged(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Detector:
    """Load a peft-tuned checkpoint, merge its adapters and save a plain checkpoint of the same model to `out`."""
    merged = merge_peft(load_model(checkpoint).eval())
    save_checkpoint(out, merged, merged_from=str(checkpoint))
    return merged


def _peft_option(model: Detector, method: str, **kwargs: Any) -> Detector:
    return apply_peft(model, method, **kwargs)


register_option("peft", _peft_option, extras=PEFT_KWARGS[1:], order=30)
