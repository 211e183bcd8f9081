"""Any timm model as a frame detector: registered names for the field's backbones, ``timm/<name>`` for the rest.

Registered names (each pinned to the timm pretrained tag whose weights ``pretrained=True`` loads):
``xception`` (timm ``legacy_xception``: Chollet's Xception, the FaceForensics++ baseline, 299x299), ``convnext_tiny``,
``resnet50``, ``tf_efficientnet_b0`` ... ``b7`` (timm's ports of the TensorFlow EfficientNets, Noisy Student weights:
distinct from the efficientnet-pytorch ``efficientnet_b0`` ... ``b7``), ``clip_vit_b16`` and ``clip_vit_l14`` (the
image encoders of OpenAI's CLIP ViT-B/16 and ViT-L/14). Any other timm model is ``create_model("timm/<timm name>")``,
e.g. ``"timm/efficientnet_b0"`` (timm's own EfficientNet) or ``"timm/convnext_small.fb_in22k_ft_in1k"``.

Each has one fake logit, and its `default_cfg` (input size, mean, std) read from the backbone's pretrained config.
``pretrained=True`` loads timm's published weights (from the local Hugging Face / torch hub cache, else downloaded),
failing at once with a hint where the internet cannot be reached; ``pretrained="file.safetensors"`` (or ``.pth``)
loads a local copy. Either way the classifier is new: one logit. Other keyword arguments go to ``timm.create_model``
(e.g. ``img_size=64, depth=2`` for a tiny ViT in tests).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import timm
import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub import hf_hub_download, try_to_load_from_cache
from timm.models import get_pretrained_cfg
from torch import nn

from deepfakeforensics.models._base import Detector, ModelCfg
from deepfakeforensics.models._hub import internet_reachable
from deepfakeforensics.models._registry import register_family, register_model
from deepfakeforensics.models._weights import WeightsError, load_state_dict_strict

log = logging.getLogger(__name__)

# registered name -> timm name with the pretrained tag whose weights pretrained=True loads
TIMM_MODELS: dict[str, str] = {
    "xception": "legacy_xception.tf_in1k",
    "convnext_tiny": "convnext_tiny.fb_in1k",
    "resnet50": "resnet50.a1_in1k",
    **{f"tf_efficientnet_b{i}": f"tf_efficientnet_b{i}.ns_jft_in1k" for i in range(8)},
    "clip_vit_b16": "vit_base_patch16_clip_224.openai",
    "clip_vit_l14": "vit_large_patch14_clip_224.openai",
}
MODEL_NAMES = tuple(TIMM_MODELS)
PREFIX = "timm/"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm publishes on the Hugging Face hub


class TimmDetector(Detector):
    """A timm model whose classifier outputs one fake logit.

    Args:
        timm_name: a timm model name, optionally with a pretrained tag (``"convnext_tiny.fb_in1k"``).
        drop_rate: dropout before the classifier (None: timm's default).
        drop_path_rate: stochastic depth (None: timm's default).
        channels_last: channels_last convolutions (None: on for CNNs, off for token models such as ViTs).
        **timm_kwargs: further arguments of ``timm.create_model`` (``img_size``, ``depth``, ``embed_dim``...).

    ``forward_features`` returns timm's features (a (B, C, h, w) map for CNNs, (B, N, D) tokens for ViTs);
    ``forward_head(f, pre_logits=True)`` the pooled ``num_features`` vector that temporal variants use per frame.
    """

    def __init__(
        self,
        timm_name: str,
        drop_rate: float | None = None,
        drop_path_rate: float | None = None,
        channels_last: bool | None = None,
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        rates = {"drop_rate": drop_rate, "drop_path_rate": drop_path_rate}
        kwargs = {"num_classes": 1, **{k: v for k, v in rates.items() if v is not None}, **timm_kwargs}
        self.timm_name = timm_name
        self.net = timm.create_model(timm_name, pretrained=False, **kwargs)
        self.num_features = self.net.num_features
        self.num_prefix_tokens = getattr(self.net, "num_prefix_tokens", None)  # None: a CNN
        is_tokens = self.num_prefix_tokens is not None
        self.default_cfg = _model_cfg(self.net, timm_kwargs, not is_tokens if channels_last is None else channels_last)
        self.explanation = "attention_rollout" if is_tokens else "gradcam"
        if self.default_cfg.channels_last:
            self.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.default_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net.forward_features(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.net.forward_head(features, pre_logits=pre_logits)

    def gradcam_layer(self) -> nn.Module:
        """The last feature stage timm declares (``feature_info``): a (B, C, h, w) map for CNNs, tokens for ViTs."""
        return self.net.get_submodule(self.net.feature_info[-1]["module"])

    def get_classifier(self) -> nn.Module:
        """The one-logit classifier."""
        return self.net.get_classifier()

    def load_pretrained_file(self, path: str | os.PathLike) -> None:
        """Load a local copy of timm's pretrained weights (``.safetensors``, ``.pth``, ``.bin``); new classifier.

        Raises:
            FileNotFoundError: `path` is not a file.
            WeightsError: the file is unreadable or of another architecture (the model is then untouched).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such weights file")
        try:
            state = timm.models.load_state_dict(str(path), weights_only=True)
        except Exception as e:
            raise WeightsError(f"{path}: not a readable weights file ({type(e).__name__}: {e})") from e
        state = _timm_filter(self.net, state, path)
        head = _classifier_prefixes(self.net)
        full = {f"net.{k}": v for k, v in state.items() if not k.startswith(head)}
        full.update({k: v for k, v in self.state_dict().items() if k.startswith(tuple(f"net.{h}" for h in head))})
        load_state_dict_strict(self, full, path)


def _model_cfg(net: nn.Module, timm_kwargs: dict[str, Any], channels_last: bool) -> ModelCfg:
    """The input `net` expects, from its pretrained config (``img_size`` given to timm overrides the size)."""
    cfg = net.pretrained_cfg
    c, h, w = cfg.get("input_size", (3, 224, 224))
    size = timm_kwargs.get("img_size")
    if size is not None:
        h, w = (size, size) if isinstance(size, int) else tuple(size)
    mean = tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406)))
    std = tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225)))
    return ModelCfg(input_size=(c, h, w), mean=mean, std=std, channels_last=channels_last)


def _classifier_prefixes(net: nn.Module) -> tuple[str, ...]:
    """State-dict key prefixes of `net`'s classifier (``fc.``, ``head.fc.``...), from its pretrained config."""
    names = net.pretrained_cfg.get("classifier") or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return tuple(f"{n}." for n in names)


def _timm_filter(net: nn.Module, state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Apply the timm module's own ``checkpoint_filter_fn`` (renames, position-embedding resizing) when it has one;
    when it fails on `path`'s weights, say so naming the file and load them as they are."""
    filter_fn = getattr(sys.modules[type(net).__module__], "checkpoint_filter_fn", None)
    if filter_fn is None:
        return state
    try:
        return filter_fn(state, net)
    except Exception as e:  # a filter for another checkpoint layout: the strict load reports what does not fit
        log.warning(
            "%s: timm's checkpoint filter of %s failed (%s: %s); loading the weights as they are",
            path,
            type(net).__name__,
            type(e).__name__,
            e,
        )
        return state


def pretrained_file(timm_name: str) -> Path:
    """The local file of timm's pretrained weights of `timm_name`: cached, else downloaded when reachable.

    Raises:
        ValueError: timm publishes no weights for `timm_name`.
        ConnectionError: not cached and the internet cannot be reached (at once, with what to download where).
    """
    cfg = get_pretrained_cfg(timm_name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise ValueError(f"timm publishes no pretrained weights for {timm_name!r}")
    if cfg.hf_hub_id:
        repo = cfg.hf_hub_id.split("@")[0]
        for filename in _WEIGHT_FILES:
            cached = try_to_load_from_cache(repo, filename)
            if isinstance(cached, str):
                return Path(cached)
        where, url = f"{hf_constants.ENDPOINT}/{repo}", hf_constants.ENDPOINT
    else:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(cfg.url).name
        if cached.is_file():
            return cached
        where, url = cfg.url, cfg.url
    hint = (
        f"cannot download the pretrained weights of {timm_name} from {where} (no internet connection?). Download "
        f'them on a connected machine and pass pretrained="path/to/model.safetensors" (or the .pth file)'
    )
    if not internet_reachable(url):
        raise ConnectionError(hint)
    try:
        if cfg.hf_hub_id:
            return Path(hf_hub_download(repo, _WEIGHT_FILES[0]))
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(cfg.url, str(cached), progress=True)
        return cached
    except Exception as e:
        raise ConnectionError(f"{hint} ({type(e).__name__}: {e})") from e


def build_timm(timm_name: str, pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> TimmDetector:
    """A `TimmDetector` of `timm_name`, its backbone initialised from `pretrained` (True: timm's weights)."""
    path = (pretrained_file(timm_name) if pretrained is True else Path(pretrained)) if pretrained else None
    model = TimmDetector(timm_name, **kwargs)
    if path is not None:
        model.load_pretrained_file(path)
    return model


def _register(name: str, timm_name: str) -> None:
    def factory(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> TimmDetector:
        return build_timm(timm_name, pretrained, **kwargs)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"timm {timm_name}, one fake logit; keyword arguments go to timm.create_model."
    register_model(factory)


for _name, _timm_name in TIMM_MODELS.items():
    _register(_name, _timm_name)
register_family(PREFIX, build_timm, timm.is_model)
