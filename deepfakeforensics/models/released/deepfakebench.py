"""DeepfakeBench's released naive detectors (Yan et al., NeurIPS 2023 Datasets and Benchmarks), loaded as released.

Registered names: ``dfb_meso4``, ``dfb_meso4_inception``, ``dfb_xception``, ``dfb_efficientnet_b4``. Their files
(release v1.0.1: ``meso4_best.pth``, ``meso4Incep_best.pth``, ``xception_best.pth``, ``effnb4_best.pth``) are the raw
``detector.state_dict()`` of the authors' trainer: every key starts with ``backbone.`` (the head lives inside the
backbone; the loss has no state). What differs from a first reading of their code, and is reproduced here:

- Meso4 / MesoInception4 are NOT the Keras MesoNet of ``models/mesonet.py``: bias-free convolutions, ReLU before
  BatchNorm with BatchNorms *shared* between two convolutions (``bn1`` after conv1 and conv2 of Meso4), Inception
  branches without any activation, PyTorch's BatchNorm epsilon 1e-5, a 2-class head.
- Xception is the Cadene/FaceForensics++ layout (timm's ``legacy_xception`` has the same keys, ``last_linear`` -> ``fc``);
  their model always builds an unused ``adjust_channel`` (1x1 conv + BatchNorm) whose 7 keys are in the file.
- EfficientNet-B4 is efficientnet-pytorch's with its stem replaced by an *unpadded* ``Conv2d(3, 48, 3, stride=2)``
  (the usual stem pads "same"): same key and shape, so the file loads silently into the usual B4 and scores wrongly.
  The other convolutions keep the static "same" padding efficientnet-pytorch computes for 380 px, also at 256 px.

All four take 256x256 RGB normalised with mean = std = 0.5 (their ``config/detector/*.yaml``) and output
``softmax(logits)[:, 1]``, folded here into one logit exactly.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import timm
import torch
import torch.nn.functional as F
from efficientnet_pytorch import EfficientNet
from torch import nn

from deepfakeforensics.models._base import Detector, ModelCfg
from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models._weights import WeightsError
from deepfakeforensics.models.released._catalog import Published, ReleasedSpec, register_released
from deepfakeforensics.models.released._convert import drop_prefix_if_all, fold_two_class, strip_prefix, unwrap

REPO = "https://github.com/SCLBD/DeepfakeBench"
_CFG = ModelCfg(input_size=(3, 256, 256), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
# the unused adjust_channel (Conv2d 2048->512 with bias, BatchNorm2d 512) their Xception always builds
_XCEPTION_UNUSED = frozenset(
    f"adjust_channel.{k}"
    for k in ("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked")
)


def _conv(in_ch: int, out_ch: int, kernel: int, dilation: int = 1) -> nn.Conv2d:
    """A bias-free stride-1 convolution padded to keep the size (as all of DeepfakeBench's Meso convolutions)."""
    return nn.Conv2d(in_ch, out_ch, kernel, padding=dilation * (kernel // 2), dilation=dilation, bias=False)


class _Inception(nn.Module):
    """Their Inception layer: 1x1 | 1x1->3x3 | 1x1->3x3 dilation 2 | 1x1->3x3 dilation 3, no activation anywhere,
    concatenated, then BatchNorm and a 2x2 max-pool."""

    def __init__(self, in_ch: int, widths: tuple[int, int, int, int]) -> None:
        super().__init__()
        a, b, c, d = widths
        self.branches = nn.ModuleList(
            [
                nn.Sequential(_conv(in_ch, a, 1)),
                nn.Sequential(_conv(in_ch, b, 1), _conv(b, b, 3)),
                nn.Sequential(_conv(in_ch, c, 1), _conv(c, c, 3, dilation=2)),
                nn.Sequential(_conv(in_ch, d, 1), _conv(d, d, 3, dilation=3)),
            ]
        )
        self.bn = nn.BatchNorm2d(a + b + c + d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.bn(torch.cat([branch(x) for branch in self.branches], dim=1)), 2)


class DFBMesoNet(Detector):
    """DeepfakeBench's Meso4 (``inception=False``) or MesoInception4, with a one-logit head.

    Each convolution is followed by ReLU, then a BatchNorm shared with its neighbour convolution, then max-pooling;
    the last map (16x8x8 at 256 px) is flattened, Dropout, Linear 1024->16, LeakyReLU(0.1), Dropout, Linear 16->1.
    ``forward_head(f, pre_logits=True)`` returns the 16-d hidden layer. (Their dropout is ``Dropout2d`` on the flat
    vector; both are the identity in eval mode.)
    """

    num_features = 16
    feature_shape = (16, 8, 8)

    def __init__(self, inception: bool = False, channels_last: bool = False) -> None:
        super().__init__()
        self.default_cfg = replace(_CFG, channels_last=channels_last)
        self.inception = inception
        if inception:
            self.inception1 = _Inception(3, (1, 4, 4, 2))
            self.inception2 = _Inception(11, (2, 4, 4, 2))
            self.conv1, self.conv2 = _conv(12, 16, 5), _conv(16, 16, 5)
            self.bn1 = nn.BatchNorm2d(16)  # after conv1 and conv2
        else:
            self.conv1, self.conv2 = _conv(3, 8, 3), _conv(8, 8, 5)
            self.conv3, self.conv4 = _conv(8, 16, 5), _conv(16, 16, 5)
            self.bn1, self.bn2 = nn.BatchNorm2d(8), nn.BatchNorm2d(16)  # bn1 after conv1, conv2; bn2 after conv3, conv4
        self.last_map = nn.Identity()  # the last normalised map, before the 4x4 pool (Grad-CAM's layer)
        self.dropout = nn.Dropout(0.5)
        self.fc1 = nn.Linear(16 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, 1)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.default_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.inception:
            x = self.inception2(self.inception1(x))
            steps = ((self.conv1, self.bn1), (self.conv2, self.bn1))
        else:
            steps = ((self.conv1, self.bn1), (self.conv2, self.bn1), (self.conv3, self.bn2), (self.conv4, self.bn2))
        for i, (conv, bn) in enumerate(steps):
            x = bn(F.relu(conv(x)))
            x = F.max_pool2d(self.last_map(x), 4) if i == len(steps) - 1 else F.max_pool2d(x, 2)
        return x

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if tuple(features.shape[1:]) != self.feature_shape:
            raise ValueError(
                f"{self.name or type(self).__name__} takes 256x256 input (features {self.feature_shape}), "
                f"got features {tuple(features.shape[1:])}"
            )
        x = F.leaky_relu(self.fc1(self.dropout(features.flatten(1))), 0.1)
        return x if pre_logits else self.fc2(self.dropout(x))

    def gradcam_layer(self) -> nn.Module:
        """The last map after its ReLU and BatchNorm, before the 4x4 pool (16x32x32 at 256 px)."""
        return self.last_map

    def get_classifier(self) -> nn.Module:
        return self.fc2


class DFBXception(Detector):
    """Their Xception (Cadene layout, as timm's ``legacy_xception``) with a one-logit head.

    ``forward_features`` ends with the final ReLU (theirs applies it in the classifier); the head is global average
    pooling and Linear 2048->1.
    """

    num_features = 2048

    def __init__(self, channels_last: bool = False) -> None:
        super().__init__()
        self.default_cfg = replace(_CFG, channels_last=channels_last)
        self.net = timm.create_model("legacy_xception", pretrained=False, num_classes=1)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.default_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net.forward_features(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.net.forward_head(features, pre_logits=pre_logits)

    def gradcam_layer(self) -> nn.Module:
        """The last BatchNorm (2048 maps, 8x8 at 256 px)."""
        return self.net.bn4

    def get_classifier(self) -> nn.Module:
        return self.net.fc


class DFBEfficientNetB4(Detector):
    """efficientnet-pytorch's B4 with DeepfakeBench's unpadded stem and a one-logit head (``fc``: 1792->1).

    The stem ``Conv2d(3, 48, 3, stride=2, bias=False)`` has no padding: 256 px -> 127 (the usual stem: 128).
    """

    num_features = 1792

    def __init__(self, channels_last: bool = False) -> None:
        super().__init__()
        self.default_cfg = replace(_CFG, channels_last=channels_last)
        self.net = EfficientNet.from_name("efficientnet-b4")
        self.net._conv_stem = nn.Conv2d(3, 48, kernel_size=3, stride=2, bias=False)
        self.net._fc = nn.Identity()  # their backbone drops it; the head is `fc`
        self.fc = nn.Linear(self.num_features, 1)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.default_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net.extract_features(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(features, 1).flatten(1)
        return x if pre_logits else self.fc(x)

    def gradcam_layer(self) -> nn.Module:
        """The 1x1 head convolution producing the final feature map."""
        return self.net._conv_head

    def get_classifier(self) -> nn.Module:
        return self.fc


def _backbone_state(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """Their file: a raw ``detector.state_dict()`` (``module.``-wrapped if saved under DDP), keys ``backbone.*``."""
    state = drop_prefix_if_all(unwrap(raw, path), "module.")
    return strip_prefix(state, "backbone.", path)


def _fold_head(state: dict[str, torch.Tensor], head: str, path: Path, name: str) -> dict[str, torch.Tensor]:
    """The 2-class head `head` folded to one logit; a file without it is refused as not being `name`'s."""
    if f"{head}.weight" not in state or f"{head}.bias" not in state:
        raise WeightsError(f"{path}: not a {name} file: no 2-class head {head!r} in its DeepfakeBench layout")
    return fold_two_class(state, f"{head}.weight", f"{head}.bias", path)


def convert_meso4(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """``meso4_best.pth`` -> `DFBMesoNet` (Meso4): same names without ``backbone.``, head folded."""
    return _fold_head(_backbone_state(raw, path), "fc2", path, "dfb_meso4")


_INCEPTION_KEY = re.compile(r"^Incption(\d)_(?:conv(\d)(?:_(\d))?|(bn))\.")


def _inception_key(key: str) -> str:
    """``Incption1_conv3_2.weight`` -> ``inception1.branches.2.1.weight``; ``Incption2_bn.*`` -> ``inception2.bn.*``."""
    m = _INCEPTION_KEY.match(key)
    if m is None:
        return key
    layer, branch, step, bn = m.groups()
    new = f"inception{layer}.bn." if bn else f"inception{layer}.branches.{int(branch) - 1}.{int(step or 1) - 1}."
    return new + key[m.end() :]


def convert_meso4_inception(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """``meso4Incep_best.pth`` -> `DFBMesoNet` (MesoInception4): Inception keys renamed, head folded."""
    state = {_inception_key(k): v for k, v in _backbone_state(raw, path).items()}
    return _fold_head(state, "fc2", path, "dfb_meso4_inception")


def convert_xception(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """``xception_best.pth`` -> `DFBXception`: the 7 unused ``adjust_channel`` keys dropped (only those),
    ``last_linear`` -> ``fc``, everything under ``net.``, head folded."""
    state = {k: v for k, v in _backbone_state(raw, path).items() if k not in _XCEPTION_UNUSED}
    state = {"net." + re.sub(r"^last_linear\.", "fc.", k): v for k, v in state.items()}
    return _fold_head(state, "net.fc", path, "dfb_xception")


def convert_efficientnet_b4(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """``effnb4_best.pth`` -> `DFBEfficientNetB4`: ``efficientnet.*`` -> ``net.*``, ``last_layer`` -> ``fc``, folded.

    The required ``backbone.efficientnet.`` prefix tells this file from other B4 releases of the same shapes (SBI's
    ``net.*`` in ``{"model"}``, polimi's ``efficientnet.*``); DeepfakeBench's own SBI detector shares the prefix but
    has a 3-class head, which the fold refuses.
    """
    state = {}
    for key, value in _backbone_state(raw, path).items():
        key = re.sub(r"^efficientnet\.", "net.", key)
        state[re.sub(r"^last_layer\.", "fc.", key)] = value
    return _fold_head(state, "fc", path, "dfb_efficientnet_b4")


class DFBMeso4(DFBMesoNet):
    released_convert = staticmethod(convert_meso4)


class DFBMesoInception4(DFBMesoNet):
    released_convert = staticmethod(convert_meso4_inception)


DFBXception.released_convert = staticmethod(convert_xception)
DFBEfficientNetB4.released_convert = staticmethod(convert_efficientnet_b4)


def _no_download(name: str, pretrained: bool | str | os.PathLike) -> None:
    if pretrained:
        raise ValueError(
            f"{name} has no ImageNet initialisation here: load the authors' file with "
            f"create_model({name!r}, weights=FILE) or load_released(FILE)"
        )


@register_model
def dfb_meso4(pretrained: bool | str | os.PathLike = False, **kwargs) -> DFBMesoNet:
    """DeepfakeBench's Meso4 (``meso4_best.pth``), 256 px, mean = std = 0.5."""
    _no_download("dfb_meso4", pretrained)
    return DFBMeso4(inception=False, **kwargs)


@register_model
def dfb_meso4_inception(pretrained: bool | str | os.PathLike = False, **kwargs) -> DFBMesoNet:
    """DeepfakeBench's MesoInception4 (``meso4Incep_best.pth``), 256 px, mean = std = 0.5."""
    _no_download("dfb_meso4_inception", pretrained)
    return DFBMesoInception4(inception=True, **kwargs)


@register_model
def dfb_xception(pretrained: bool | str | os.PathLike = False, **kwargs) -> DFBXception:
    """DeepfakeBench's Xception (``xception_best.pth``), 256 px, mean = std = 0.5."""
    _no_download("dfb_xception", pretrained)
    return DFBXception(**kwargs)


@register_model
def dfb_efficientnet_b4(pretrained: bool | str | os.PathLike = False, **kwargs) -> DFBEfficientNetB4:
    """DeepfakeBench's EfficientNet-B4 with its unpadded stem (``effnb4_best.pth``), 256 px, mean = std = 0.5."""
    _no_download("dfb_efficientnet_b4", pretrained)
    return DFBEfficientNetB4(**kwargs)


# The README's results table (frame-level AUC, every detector trained on FF++ c23); columns kept here.
_TABLE_SOURCE = "DeepfakeBench README, results table (frame-level AUC, trained on FF++ c23)"
_TABLE_COLUMNS = (
    "FF++ c23", "FF++ c40", "Celeb-DF v1", "Celeb-DF v2", "DeeperForensics-1.0", "DFD", "DFDC", "DFDC preview",
    "FaceShifter", "UADFV",
)  # fmt: skip
_TABLE = {
    "dfb_meso4": ("Meso4", (0.6077, 0.5920, 0.7358, 0.6091, 0.9113, 0.5481, 0.5560, 0.5994, 0.5660, 0.7150)),
    "dfb_meso4_inception": ("MesoIncep", (0.7583, 0.7278, 0.7366, 0.6966, 0.9233, 0.6069, 0.6226, 0.7561, 0.6438, 0.9049)),
    "dfb_xception": ("Xception", (0.9637, 0.8261, 0.7794, 0.7365, 0.8341, 0.8163, 0.7077, 0.7374, 0.6249, 0.9379)),
    "dfb_efficientnet_b4": ("EfficientB4", (0.9567, 0.8150, 0.7909, 0.7487, 0.8330, 0.8148, 0.6955, 0.7283, 0.6162, 0.9472)),
}  # fmt: skip


def _published(name: str) -> tuple[Published, ...]:
    row, values = _TABLE[name]
    source = f"{_TABLE_SOURCE}, row {row} ({REPO}/blob/main/README.md)"
    return tuple(
        Published(data, "auc", "frame", v, "FF++ c23", source, protocol="deepfakebench")
        for data, v in zip(_TABLE_COLUMNS, values, strict=True)
    )


_NOTES = (
    "Test time (their abstract_dataset.load_rgb): the stored 256 px crop is read with OpenCV, BGR->RGB, resized to "
    "256x256 with cv2.INTER_CUBIC, ToTensor, Normalize(mean=0.5, std=0.5); no test-time augmentation. "
    "Video score: the mean of frame P(fake) over the frames of a folder. The README figures are the paper's runs; "
    "the v1.0.1 files are not stated to be those exact checkpoints."
)
_SPECS = (
    ("dfb_meso4", "Meso4 (Afchar et al. 2018) as re-implemented by DeepfakeBench", "meso4_best.pth", convert_meso4, ""),
    (
        "dfb_meso4_inception",
        "MesoInception4 (Afchar et al. 2018) as re-implemented by DeepfakeBench",
        "meso4Incep_best.pth",
        convert_meso4_inception,
        "",
    ),
    ("dfb_xception", "Xception (Chollet 2017) baseline of DeepfakeBench", "xception_best.pth", convert_xception, ""),
    (
        "dfb_efficientnet_b4",
        "EfficientNet-B4 baseline of DeepfakeBench (unpadded stem)",
        "effnb4_best.pth",
        convert_efficientnet_b4,
        " The stem is unpadded: loading this file into a usual efficientnet-pytorch B4 fits every key and scores "
        "wrongly.",
    ),
)

for _name, _title, _file, _convert, _extra in _SPECS:
    register_released(
        ReleasedSpec(
            name=_name,
            title=_title,
            repo=REPO,
            files=(_file,),
            code_licence="CC BY-NC 4.0",
            weights_licence="CC BY-NC 4.0 (released with the code; no separate licence stated)",
            profile="deepfakebench",
            output="softmax(logits)[:, 1] of a 2-class head, folded to one logit (w1 - w0, b1 - b0)",
            convert=_convert,
            published=_published(_name),
            aggregation="mean",
            notes=_NOTES + _extra,
        )
    )
