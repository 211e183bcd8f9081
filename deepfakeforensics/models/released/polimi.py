"""Released detectors of polimi-ispl/icpr2020dfdc (Bonettini et al., "Video Face Manipulation Detection Through
Ensemble of CNNs", ICPR 2020): EfficientNet-B4, EfficientNet-B4 with attention, and Xception, one logit each.

What their code does (``architectures/fornet.py``, read, not copied; their code is GPL-3.0):

- ``ispl_efficientnet_b4``: efficientnet-pytorch ``efficientnet-b4`` built as ``from_pretrained`` builds it, so its
  "same" padding is fixed for 380 px although faces are fed at 224 px; ``_fc`` deleted, a new ``classifier``
  Linear(1792, 1) after average pooling (and ``_dropout``). State keys ``efficientnet.*`` and ``classifier.*``.
- ``ispl_efficientnet_b4_att``: the same, plus ``efficientnet.attconv``, a 1x1 Conv2d(56, 1) on the output of MBConv
  block 9 (0-based, the last block of the 56-channel stage); ``x = x * sigmoid(attconv(x))`` gates that output and the
  remaining blocks run on the gated features.
- ``ispl_xception``: Cadene's Xception (their vendored copy) with ``last_linear`` Linear(2048, 1); timm's
  ``legacy_xception`` has the same layout with ``fc`` for ``last_linear``. Normalised with ImageNet mean/std (the
  ``FeatureExtractor.get_normalizer`` every model of theirs inherits), not Cadene's 0.5, and fed 224 px faces like the
  others (``--size 224`` in ``scripts/train_all.sh`` and ``test_all.sh``), not Xception's native 299.

The published files are plain state dicts (their notebooks call ``net.load_state_dict(load_url(url))``); their training
script saves ``{"net": state_dict, "opt", "train_loss", "val_loss", "iteration", "batch_size", "epoch"}``. Both are
read here, with or without a DataParallel ``module.`` prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from efficientnet_pytorch import EfficientNet
from torch import nn

from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD, Detector, ModelCfg
from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models._weights import WeightsError
from deepfakeforensics.models.released._catalog import ReleasedSpec, register_released
from deepfakeforensics.models.released._convert import drop_prefix_if_all, unwrap

REPO = "https://github.com/polimi-ispl/icpr2020dfdc"
_ATT_BLOCK = 9  # the MBConv block whose output the attention map gates (0-based)
_ATT_PREFIX = "efficientnet.attconv."


class IsplEfficientNetB4(Detector):
    """EfficientNet-B4 with one fake logit, optionally gated by a learnt attention map after block 9.

    Args:
        attention: add the 1x1 attention convolution (``ispl_efficientnet_b4_att``).
        channels_last: run convolutions in channels_last memory format. Off by default, as in their code: in NCHW
            the outputs equal theirs to the bit; channels_last moves P(fake) by up to ~5e-5 (float rounding).

    ``forward_features`` returns the head's (B, 1792, h, w) map; ``forward_head`` pools it and applies the classifier.
    """

    def __init__(self, attention: bool = False, channels_last: bool = False) -> None:
        super().__init__()
        self.default_cfg = ModelCfg(
            input_size=(3, 224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD, channels_last=channels_last
        )
        # from_name without image_size, as their from_pretrained: static padding computed for 380 px
        self.efficientnet = EfficientNet.from_name("efficientnet-b4")
        del self.efficientnet._fc
        self.attention = attention
        if attention:
            channels = self.efficientnet._blocks[_ATT_BLOCK]._bn2.num_features  # 56
            self.efficientnet.attconv = nn.Conv2d(channels, 1, kernel_size=1)
        self.num_features = self.efficientnet._conv_head.out_channels
        self.classifier = nn.Linear(self.num_features, 1)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def _blocks(self, x: torch.Tensor, stop_at_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Stem and MBConv blocks; returns the last block's output and the attention map (None without attention)."""
        net = self.efficientnet
        if self.default_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = net._swish(net._bn0(net._conv_stem(x)))
        att = None
        rate = net._global_params.drop_connect_rate
        for idx, block in enumerate(net._blocks):
            x = block(x, drop_connect_rate=rate * idx / len(net._blocks) if rate else rate)
            if self.attention and idx == _ATT_BLOCK:
                att = torch.sigmoid(net.attconv(x))
                if stop_at_attention:
                    break
                x = x * att
        return x, att

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, 1, h, w) attention map in [0, 1] that gates block 9's output (their ``get_attention``)."""
        if not self.attention:
            raise ValueError("this EfficientNet-B4 has no attention layer (use ispl_efficientnet_b4_att)")
        return self._blocks(x, stop_at_attention=True)[1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        net = self.efficientnet
        x, _ = self._blocks(x)
        return net._swish(net._bn1(net._conv_head(x)))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.efficientnet._avg_pooling(features).flatten(1)
        return x if pre_logits else self.classifier(self.efficientnet._dropout(x))

    def gradcam_layer(self) -> nn.Module:
        """The 1x1 head convolution producing the final feature map."""
        return self.efficientnet._conv_head

    def get_classifier(self) -> nn.Module:
        return self.classifier


class IsplXception(Detector):
    """Cadene's Xception (timm ``legacy_xception``, identical layout) with one fake logit, ImageNet mean/std.

    ``channels_last`` is off by default, as in their code (identical outputs). 224 px, not Xception's native 299: their training and test scripts use ``--size 224`` (``face-scale_size-224``)
    for every network, Xception included.
    """

    def __init__(self, channels_last: bool = False) -> None:
        super().__init__()
        self.default_cfg = ModelCfg(
            input_size=(3, 224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD, channels_last=channels_last
        )
        self.xception = timm.create_model("legacy_xception", pretrained=False, num_classes=1)
        self.num_features = self.xception.num_features
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.default_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.xception.forward_features(x)  # ends with the ReLU that Cadene's `logits` applies first

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.xception.forward_head(features, pre_logits=pre_logits)

    def gradcam_layer(self) -> nn.Module:
        """The last ReLU of the feature extractor (a (B, 2048, h, w) map)."""
        return self.xception.act4

    def get_classifier(self) -> nn.Module:
        return self.xception.fc


def _their_state(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a polimi file: plain or under ``"net"`` (their training script), ``module.`` dropped."""
    return drop_prefix_if_all(unwrap(raw, path, ("net",)), "module.")


def _check_keys(state: dict[str, torch.Tensor], prefixes: tuple[str, ...], name: str, path: Path) -> None:
    """Refuse a state dict with a key outside `prefixes`; a siamese-tuned (``feat_ext.``) file is named as such."""
    if any(k.startswith("feat_ext.") for k in state):
        raise WeightsError(
            f"{path}: a siamese-tuned (...ST) polimi file (feat_ext.* keys), not {name}; the ST models are not supported"
        )
    odd = sorted(k for k in state if not k.startswith(prefixes))
    if odd:
        raise WeightsError(f"{path}: not a {name} file: keys outside {', '.join(prefixes)} (e.g. {', '.join(odd[:3])})")


def _check_head(state: dict[str, torch.Tensor], key: str, width: int, name: str, path: Path) -> None:
    shape = tuple(state[key].shape) if key in state else None
    if shape != (1, width):
        raise WeightsError(f"{path}: not a {name} file: {key!r} is {shape}, expected the one-logit head (1, {width})")


def _convert_b4(raw: Any, path: Path, attention: bool) -> dict[str, torch.Tensor]:
    """A polimi EfficientNet-B4 file (with or without attention, as `attention` says) -> this model's state dict."""
    name = "ispl_efficientnet_b4_att" if attention else "ispl_efficientnet_b4"
    other = "ispl_efficientnet_b4" if attention else "ispl_efficientnet_b4_att"
    state = _their_state(raw, path)
    _check_keys(state, ("efficientnet.", "classifier."), name, path)
    _check_head(state, "classifier.weight", 1792, name, path)
    has_att = any(k.startswith(_ATT_PREFIX) for k in state)
    if has_att != attention:
        why = "has no" if attention else "has an"
        raise WeightsError(f"{path}: {why} attention convolution ({_ATT_PREFIX}*): a {other} file, not {name}")
    return state


def convert_efficientnet_b4(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """``EfficientNetB4_*_bestval-*.pth`` -> the state dict of ``ispl_efficientnet_b4`` (same key names)."""
    return _convert_b4(raw, path, attention=False)


def convert_efficientnet_b4_att(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """``EfficientNetAutoAttB4_*_bestval-*.pth`` -> the state dict of ``ispl_efficientnet_b4_att`` (same names)."""
    return _convert_b4(raw, path, attention=True)


def convert_xception(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """``Xception_*_bestval-*.pth`` -> the state dict of ``ispl_xception`` (``last_linear`` becomes timm's ``fc``)."""
    name = "ispl_xception"
    state = _their_state(raw, path)
    _check_keys(state, ("xception.",), name, path)
    _check_head(state, "xception.last_linear.weight", 2048, name, path)
    head = "xception.last_linear."
    return {("xception.fc." + k[len(head) :] if k.startswith(head) else k): v for k, v in state.items()}


class IsplEfficientNetB4Model(IsplEfficientNetB4):
    """``ispl_efficientnet_b4``: ``create_model(..., weights=<the authors' file>)`` converts it."""

    released_convert = staticmethod(convert_efficientnet_b4)


class IsplEfficientNetB4AttModel(IsplEfficientNetB4):
    """``ispl_efficientnet_b4_att``: ``create_model(..., weights=<the authors' file>)`` converts it."""

    released_convert = staticmethod(convert_efficientnet_b4_att)


class IsplXceptionModel(IsplXception):
    """``ispl_xception``: ``create_model(..., weights=<the authors' file>)`` converts it."""

    released_convert = staticmethod(convert_xception)


def _refuse_pretrained(pretrained: Any, name: str) -> None:
    if pretrained:
        raise ValueError(f"{name}: a released detector: load its authors' file with weights=PATH, not pretrained=")


@register_model
def ispl_efficientnet_b4(pretrained: Any = False, **kwargs: Any) -> IsplEfficientNetB4:
    """polimi-ispl EfficientNet-B4, one logit, 224 px (``EfficientNetB4_{DFDC,FFPP}_bestval-*.pth``)."""
    _refuse_pretrained(pretrained, "ispl_efficientnet_b4")
    return IsplEfficientNetB4Model(attention=False, **kwargs)


@register_model
def ispl_efficientnet_b4_att(pretrained: Any = False, **kwargs: Any) -> IsplEfficientNetB4:
    """polimi-ispl EfficientNet-B4 with attention after block 9, 224 px (``EfficientNetAutoAttB4_*_bestval-*.pth``)."""
    _refuse_pretrained(pretrained, "ispl_efficientnet_b4_att")
    return IsplEfficientNetB4AttModel(attention=True, **kwargs)


@register_model
def ispl_xception(pretrained: Any = False, **kwargs: Any) -> IsplXception:
    """polimi-ispl Xception (Cadene layout), one logit, 299 px (``Xception_{DFDC,FFPP}_bestval-*.pth``)."""
    _refuse_pretrained(pretrained, "ispl_xception")
    return IsplXceptionModel(**kwargs)


_WEIGHTS_URL = "https://f002.backblazeb2.com/file/icpr2020/"  # architectures/weights.py
_COMMON = dict(
    repo=REPO,
    code_licence="GPL-3.0",
    weights_licence="not stated separately (the repository is GPL-3.0)",
    profile="polimi",
    output="sigmoid of the single logit (trained with BCEWithLogitsLoss)",
    aggregation="logit_mean",  # their video score: the sigmoid of the mean frame logit
    published=(),
    extra={"weights_url": _WEIGHTS_URL},
)
_PROTOCOL = (
    "Video score: sigmoid of the MEAN OF THE FRAME LOGITS (Video prediction notebook: expit(pred.mean()); "
    "Analyze results notebook: groupby('video').mean() of the logit scores, AUC on that), not the mean of "
    "probabilities; faces: BlazeFace, the best face of each of 32 frames per video, 'scale' policy at 224 px. "
    "Published figures: their README gives none and the paper's tables could not be read here, so none are recorded. "
    "Released files are plain state dicts (the notebooks load them directly); {'net': ...} training checkpoints and a "
    "'module.' prefix are read too. The siamese-tuned ...ST files (feat_ext.*) are not supported."
)

register_released(
    ReleasedSpec(
        name="ispl_efficientnet_b4",
        title="Bonettini et al. ICPR 2020 (polimi-ispl): EfficientNet-B4, one logit",
        files=(
            "EfficientNetB4_DFDC_bestval-c9f3663e2116d3356d056a0ce6453e0fc412a8df68ebd0902f07104d9129a09a.pth",
            "EfficientNetB4_FFPP_bestval-93aaad84946829e793d1a67ed7e0309b535e2f2395acb4f8d16b92c0616ba8d7.pth",
        ),
        convert=convert_efficientnet_b4,
        notes="efficientnet-pytorch B4 with its 'same' padding fixed for 380 px, fed 224 px. " + _PROTOCOL,
        **_COMMON,
    )
)
register_released(
    ReleasedSpec(
        name="ispl_efficientnet_b4_att",
        title="Bonettini et al. ICPR 2020 (polimi-ispl): EfficientNet-B4 + attention after block 9, one logit",
        files=(
            "EfficientNetAutoAttB4_DFDC_bestval-72ed969b2a395fffe11a0d5bf0a635e7260ba2588c28683630d97ff7153389fc.pth",
            "EfficientNetAutoAttB4_FFPP_bestval-b0c9e9522a7143cf119843e910234be5e30f77dc527b1b427cdffa5ce3bdbc25.pth",
        ),
        convert=convert_efficientnet_b4_att,
        notes=(
            "Block 9 (0-based, 56 channels) output x becomes x * sigmoid(attconv(x)), attconv a 1x1 Conv2d(56, 1); "
            "padding fixed for 380 px, fed 224 px. " + _PROTOCOL
        ),
        **_COMMON,
    )
)
register_released(
    ReleasedSpec(
        name="ispl_xception",
        title="Bonettini et al. ICPR 2020 (polimi-ispl): Xception (Cadene layout), one logit",
        files=(
            "Xception_DFDC_bestval-e826cdb64d73ef491e6b8ff8fce0e1e1b7fc1d8e2715bc51a56280fff17596f9.pth",
            "Xception_FFPP_bestval-bb119e4913cb8f816cd28a03f81f4c603d6351bf8e3f8e3eb99eebc923aecd22.pth",
        ),
        convert=convert_xception,
        notes=(
            "224 px input and ImageNet mean/std (their FeatureExtractor normaliser), not Xception's 299 px and 0.5. "
            + _PROTOCOL
        ),
        **_COMMON,
    )
)
