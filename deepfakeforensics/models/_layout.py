"""Where the channels are in a module's output: ``NCHW`` (torch's convention) or ``NHWC`` (timm's Swin and kin).

timm declares the layout of a network's feature maps in its ``output_fmt`` attribute: ``"NHWC"`` for Swin, SwinV2,
MambaOut, Sequencer, Hiera-Det..., whose stages return (B, h, w, C); CNNs declare nothing and return (B, C, h, w).
Grad-CAM pools gradients over the spatial positions of each channel and the blending-boundary head convolves a
(B, C, h, w) map, so both read the layout from the declaration rather than guess it from a shape, where h, w and C
may coincide.
"""

from __future__ import annotations

from torch import nn

CHANNELS_FIRST, CHANNELS_LAST = "NCHW", "NHWC"


def _declared(module: nn.Module) -> str | None:
    fmt = getattr(module, "output_fmt", None)
    return None if fmt is None else str(getattr(fmt, "value", fmt)).upper()


def module_layout(model: nn.Module, module: nn.Module) -> str:
    """The layout of `module`'s output, `module` being part of `model` (e.g. its Grad-CAM layer).

    The declaration nearest to `module` wins: its own ``output_fmt``, else that of the closest enclosing module that
    has one (a timm network around its stage); channels first (``"NCHW"``) when nothing declares a layout. Token
    layouts (``"NLC"``...) are returned as declared.

    Raises:
        ValueError: `module` is not part of `model`.
    """
    path = next((name for name, m in model.named_modules(remove_duplicate=False) if m is module), None)
    if path is None:
        raise ValueError(f"{type(module).__name__} is not a submodule of {type(model).__name__}")
    parts = path.split(".") if path else []
    for depth in range(len(parts), -1, -1):
        fmt = _declared(model.get_submodule(".".join(parts[:depth])))
        if fmt is not None:
            return fmt
    return CHANNELS_FIRST


def known_channels(model: nn.Module, module: nn.Module) -> int | None:
    """The channel count timm declares for `module` (an entry of an enclosing network's ``feature_info``), or None."""
    for owner in model.modules():
        info = getattr(owner, "feature_info", None)
        if not isinstance(info, list):
            continue
        for entry in info:
            if isinstance(entry, dict) and "module" in entry and "num_chs" in entry:
                try:
                    if owner.get_submodule(entry["module"]) is module:
                        return int(entry["num_chs"])
                except AttributeError:
                    continue
    return None


def features_layout(model: nn.Module) -> str:
    """The layout of `model`'s ``forward_features`` map: that of its Grad-CAM layer (its last feature map, e.g. the
    last Swin stage, whose layout timm's final norm keeps); channels first for a model without one."""
    get_layer = getattr(model, "gradcam_layer", None)
    if get_layer is None:
        return CHANNELS_FIRST
    try:
        layer = get_layer()
    except (AttributeError, TypeError, NotImplementedError):  # a wrapper around a model without a map
        return CHANNELS_FIRST
    return module_layout(model, layer)
