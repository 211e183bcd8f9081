"""Video detectors that see consecutive frames at once: torchvision's 3D CNNs and ``ftcn_lite``; one logit per clip.

Every model here is temporal (``default_cfg.temporal``): it takes windows (B, T, C, H, W) of consecutive sampled
frames of one face track (`WindowDataset`, ``dff predict``'s streaming windows) and returns (B,) fake logits, so it
trains, evaluates, predicts and serves through the same window path as the ``<frame>_lstm`` variants.

- ``r3d_18``, ``r2plus1d_18``, ``mc3_18``, ``s3d``, ``mvit_v2_s``, ``swin3d_t``: torchvision's video classifiers with
  their Kinetics-400 head replaced by one fake logit. ``pretrained=True`` loads torchvision's Kinetics-400 weights
  (from the torch hub cache, else downloaded); offline it fails at once naming the file to fetch, and
  ``pretrained="path/to/r3d_18-b3b3357e.pth"`` loads a local copy. Input sizes (Kinetics crops): 112 for the 18-layer
  ResNets, 224 for the others; ``img_size=`` changes it where the architecture allows (not ``mvit_v2_s``).
  Frame counts: the ResNets and ``swin3d_t`` take any T >= 1; ``s3d`` needs T >= 5 and H, W >= 32 (its global pool
  replaces torchvision's fixed 2x7x7 one, which is the same at its 16 x 224 x 224 Kinetics input); ``mvit_v2_s`` is
  built for exactly 16 frames of 224 x 224 (its relative positions are sized for that grid).
  ``mvit_v2_s`` and ``swin3d_t`` also have a reduced build (``embed_dim=``, ``depths=``, and ``frames=`` / ``img_size=``
  for MViT): the same torchvision classes with fewer or narrower blocks (``video_builds``), which no Kinetics weights
  fit; the flicker test trains them on CPU.
- ``ftcn_lite``: a temporal-convolution baseline in the spirit of FTCN (Zheng et al., ICCV 2021): every convolution's
  spatial kernel is 1, so it can only learn from how each pixel changes over time, followed by a small transformer
  over time (see `FTCNLite` for what differs from the paper).

Grad-CAM over time: each model's ``gradcam_layer()`` gives a (B, C, t, h, w) map and ``frame_cams`` turns its class
activation map into one map per input frame (``evaluation.gradcam``; ``mvit_v2_s`` has none: it ends in tokens).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import get_model_weights

from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD, Detector, ModelCfg
from deepfakeforensics.models._hub import internet_reachable
from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models._weights import WeightsError, load_state_dict_strict, read_torch_file
from deepfakeforensics.models.temporal import sinusoidal_positions
from deepfakeforensics.models.video_builds import FEATURES, build_video_net, drop_classifier

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
_HEAD_PREFIXES = ("fc.", "classifier.", "head.")  # torchvision's Kinetics-400 classifiers (replaced here)


@dataclass(frozen=True)
class VideoArch:
    """What a torchvision video architecture expects: its Kinetics input, normalisation and size limits."""

    size: int  # side of torchvision's Kinetics crop
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    min_frames: int = 1
    min_size: int = 16
    fixed: tuple[int, int] | None = None  # (frames, side) the architecture is built for, when it takes no other


ARCHS: dict[str, VideoArch] = {
    "r3d_18": VideoArch(112),
    "r2plus1d_18": VideoArch(112),
    "mc3_18": VideoArch(112),
    "s3d": VideoArch(224, min_frames=5, min_size=32),
    "mvit_v2_s": VideoArch(224, mean=(0.45,) * 3, std=(0.225,) * 3, min_frames=16, min_size=224, fixed=(16, 224)),
    "swin3d_t": VideoArch(224, mean=IMAGENET_MEAN, std=IMAGENET_STD),
}
MODEL_NAMES = tuple(ARCHS)


def frame_cams_over_time(cam: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, t, h, w) class-activation maps of a 3D feature map -> (B * frames, h, w): one per input frame."""
    b, t, h, w = cam.shape
    if t != frames:
        cam = F.interpolate(cam.permute(0, 2, 3, 1).reshape(b, h * w, t), size=frames, mode="linear")
        cam = cam.reshape(b, h, w, frames).permute(0, 3, 1, 2)
    return cam.reshape(b * frames, h, w)


class VideoCNN(Detector):
    """A torchvision video classifier whose Kinetics-400 head is replaced by one fake logit.

    Args:
        arch: one of `ARCHS` (``"r3d_18"``, ``"r2plus1d_18"``, ``"mc3_18"``, ``"s3d"``, ``"mvit_v2_s"``,
            ``"swin3d_t"``).
        img_size: frame side the model is fed (default: its Kinetics crop, 112 or 224); ``mvit_v2_s`` takes another
            (a multiple of 32) only in a reduced build.
        drop_rate: dropout before the fake logit.
        frames: ``mvit_v2_s`` only: the (even) number of frames it is built for (default 16); it takes exactly that.
        embed_dim: ``mvit_v2_s`` / ``swin3d_t`` only: width of the first of their 4 stages (default 96, doubled at
            each stage; heads as torchvision's: 1, 2, 4, 8 for MViT, 3, 6, 12, 24 for Swin, so a multiple of 3).
        depths: ``mvit_v2_s`` / ``swin3d_t`` only: blocks in each of the 4 stages (default (1, 2, 11, 2) and
            (2, 2, 6, 2)).
        bn_momentum: momentum of every BatchNorm (default: torchvision's, 0.1; ``s3d``'s is 0.001, TensorFlow's decay
            0.999, so its running statistics need thousands of steps from a random init: a short run from scratch
            evaluates badly without e.g. 0.1). Not saved in weights files: Kinetics weights load either way.

    ``frames``, ``embed_dim``, ``depths`` (and ``img_size`` for ``mvit_v2_s``) make a reduced build: the same
    torchvision class (``MViT``, ``SwinTransformer3d``) with fewer or narrower blocks (`video_builds`), for tests and
    experiments on CPU; Kinetics weights fit only the default build (``pretrained=True`` refuses a reduced one, and a
    file of another size is refused by its shapes). Any other argument raises ValueError naming it.

    Input (B, T, C, H, W) windows (permuted here to torchvision's (B, C, T, H, W)); output (B,) fake logits.

    Example:
        >>> model = create_model("r3d_18")  # doctest: +SKIP
        >>> model(torch.zeros(2, 16, 3, 112, 112)).shape
        torch.Size([2])
    """

    explanation = "temporal_gradcam"

    def __init__(
        self,
        arch: str,
        img_size: int | None = None,
        drop_rate: float = 0.0,
        frames: int | None = None,
        embed_dim: int | None = None,
        depths: Sequence[int] | None = None,
        bn_momentum: float | None = None,
    ) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown video architecture {arch!r}; one of {', '.join(ARCHS)}")
        spec = ARCHS[arch]
        size = int(img_size or spec.size)
        reducing = frames is not None or embed_dim is not None or depths is not None
        if spec.fixed is not None and size != spec.fixed[1] and not reducing:
            raise ValueError(
                f"{arch} is built for {spec.fixed[1]} x {spec.fixed[1]} frames; img_size={size} is not "
                "(a reduced build takes frames=, embed_dim=, depths= too)"
            )
        if size < spec.min_size and not (reducing and spec.fixed is not None):  # a reduced MViT: checked there
            raise ValueError(f"{arch} needs frames of at least {spec.min_size} x {spec.min_size}, not img_size={size}")
        self.net, self.reduced = build_video_net(arch, size, frames, embed_dim, depths)
        if bn_momentum is not None:
            if not isinstance(bn_momentum, (int, float)) or not 0 < bn_momentum <= 1:
                raise ValueError(f"{arch}: bn_momentum must be in (0, 1], not {bn_momentum!r}")
            for m in self.net.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = float(bn_momentum)
        self.bn_momentum = bn_momentum
        if arch == "mvit_v2_s":  # exactly the (frames, side) its relative positions are sized for
            t = frames or spec.fixed[0]
            spec = replace(spec, fixed=(t, size), min_frames=t, min_size=size)
        self.arch, self.spec = arch, spec
        self.num_features = drop_classifier(self.net)
        self.default_cfg = ModelCfg(
            input_size=(3, size, size), mean=spec.mean, std=spec.std, temporal=True, channels_last=False
        )
        self.cam_point = nn.Identity()  # the (B, C, t, h, w) map Grad-CAM reads
        self.drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.num_features, 1)
        if arch == "mvit_v2_s":
            self.explanation = "none"  # its features are tokens: no map for Grad-CAM

    def _check(self, x: torch.Tensor) -> None:
        name = self.name or self.arch
        if x.ndim != 5:
            raise ValueError(f"{name} takes windows (B, T, C, H, W), got {tuple(x.shape)}")
        t, h, w = x.shape[1], x.shape[3], x.shape[4]
        spec = self.spec
        if spec.fixed is not None and (t, h, w) != (spec.fixed[0], spec.fixed[1], spec.fixed[1]):
            f, s = spec.fixed
            raise ValueError(
                f"{name} takes exactly {f} frames of {s} x {s} (train with --window {f}), got {t} x {h}x{w}"
            )
        if t < spec.min_frames or min(h, w) < spec.min_size:
            raise ValueError(
                f"{name} needs windows of at least {spec.min_frames} frames of {spec.min_size} x {spec.min_size} "
                f"(train with --window {spec.min_frames} or more), got {t} frames of {h} x {w}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, t, h, w) feature map ((B, 1 + N, C) tokens for ``mvit_v2_s``) of windows (B, T, C, H, W)."""
        self._check(x)
        features = FEATURES[self.arch](self.net, x.transpose(1, 2))
        return self.cam_point(features) if features.ndim == 5 else features

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = features.mean(dim=(2, 3, 4)) if features.ndim == 5 else features[:, 0]
        return pooled if pre_logits else self.head(self.drop(pooled))

    def training_advice(self, from_scratch: bool) -> str | None:
        """What to change before training (said by `train_model`): s3d's BatchNorm momentum 0.001 (torchvision's)
        leaves its running statistics near their initial values in a short run from scratch."""
        if self.arch == "s3d" and from_scratch and self.bn_momentum is None:
            return (
                "s3d keeps torchvision's BatchNorm momentum 0.001: from scratch, a short run evaluates with running "
                "statistics near their initial values (a constant score); pass --model-arg bn_momentum=0.1"
            )
        return None

    def gradcam_layer(self) -> nn.Module:
        """The last (B, C, t, h, w) feature map (an identity after the last stage)."""
        if self.arch == "mvit_v2_s":
            raise TypeError("mvit_v2_s ends in tokens: it has no Grad-CAM layer")
        return self.cam_point

    def frame_cams(self, cam: torch.Tensor, frames: int) -> torch.Tensor:
        """Class-activation maps (B, t, h, w) on the layer -> (B * frames, h, w), interpolated over time."""
        return frame_cams_over_time(cam, frames)

    def get_classifier(self) -> nn.Module:
        return self.head

    def load_pretrained_file(self, path: str | os.PathLike) -> None:
        """Load a local copy of torchvision's Kinetics-400 weights of this architecture (the fake logit stays new).

        Raises:
            FileNotFoundError: `path` is not a file.
            WeightsError: unreadable, or of another architecture (naming the file); the model is then untouched.
        """
        state = read_torch_file(path)
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise WeightsError(f"{path}: not a state dict of tensors (torchvision's {self.arch} weights file)")
        full = {f"net.{k}": v for k, v in state.items() if not k.startswith(_HEAD_PREFIXES)}
        full.update({k: v for k, v in self.state_dict().items() if not k.startswith("net.")})
        load_state_dict_strict(self, full, path)


def kinetics_file(arch: str) -> Path:
    """The local file of torchvision's Kinetics-400 weights of `arch`: cached, else downloaded when reachable.

    Raises:
        ConnectionError: not cached and the internet cannot be reached (at once, naming the file to download).
    """
    url = get_model_weights(arch).DEFAULT.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if cached.is_file():
        return cached
    hint = (
        f"cannot download torchvision's Kinetics-400 weights of {arch} from {url} (no internet connection?). "
        f'Download that file on a connected machine and pass pretrained="path/to/{Path(url).name}"'
    )
    if not internet_reachable(url):
        raise ConnectionError(hint)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(cached), progress=True)
    except Exception as e:
        raise ConnectionError(f"{hint} ({type(e).__name__}: {e})") from e
    return cached


def build_video_cnn(arch: str, pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> VideoCNN:
    """A `VideoCNN` of `arch`, initialised from `pretrained` (True: torchvision's Kinetics-400 weights; a path)."""
    model = VideoCNN(arch, **kwargs)
    if pretrained is True and model.reduced:
        raise ValueError(
            f"{arch}: torchvision's Kinetics-400 weights fit only its default build, not a reduced one "
            f"({', '.join(f'{k}={v!r}' for k, v in kwargs.items() if k in ('img_size', 'frames', 'embed_dim', 'depths'))})"
        )
    if pretrained:
        model.load_pretrained_file(kinetics_file(arch) if pretrained is True else Path(pretrained))
    return model


def _register(arch: str) -> None:
    spec = ARCHS[arch]

    def factory(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> VideoCNN:
        return build_video_cnn(arch, pretrained, **kwargs)

    limits = (
        f"exactly {spec.fixed[0]} frames of {spec.fixed[1]} x {spec.fixed[1]}"
        if spec.fixed
        else f"T >= {spec.min_frames}, frames >= {spec.min_size} px"
    )
    factory.__name__ = factory.__qualname__ = arch
    factory.__doc__ = (
        f"torchvision {arch} (Kinetics-400 input {spec.size} x {spec.size}; {limits}), one fake logit per window; "
        "keyword arguments: img_size, drop_rate, bn_momentum"
        + {
            "mvit_v2_s": "; a reduced build: frames, embed_dim, depths.",
            "swin3d_t": "; a reduced build: embed_dim, depths.",
        }.get(arch, ".")
    )
    register_model(factory)


for _arch in ARCHS:
    _register(_arch)


class _TemporalBlock(nn.Module):
    """Residual block of two (k, 1, 1) convolutions: it mixes time, never space."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int) -> None:
        super().__init__()
        pad = (kernel // 2, 0, 0)
        self.conv1 = nn.Conv3d(in_ch, out_ch, (kernel, 1, 1), padding=pad, bias=False)
        self.bn1 = nn.BatchNorm3d(out_ch)
        self.conv2 = nn.Conv3d(out_ch, out_ch, (kernel, 1, 1), padding=pad, bias=False)
        self.bn2 = nn.BatchNorm3d(out_ch)
        self.short = nn.Identity() if in_ch == out_ch else nn.Sequential(nn.Conv3d(in_ch, out_ch, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + self.short(x))


class FTCNLite(Detector):
    """A fully temporal convolution network (every spatial kernel 1) and a small transformer over time.

    In the spirit of FTCN (Zheng et al., "Exploring Temporal Coherence for More General Video Face Forgery
    Detection", ICCV 2021): convolutions whose spatial kernel size is 1 and temporal kernel size is kept see one pixel
    position through time, so the network must learn from temporal incoherence rather than the look of a frame; a
    Temporal Transformer on the per-time-step features then models longer-range coherence, its class token giving
    the logit. What differs from the paper: the paper turns a whole 3D ResNet-50 into FTCN; this is a small residual
    network (a (5, 1, 1) stem and one block of two (k, 1, 1) convolutions per stage), spatial resolution is halved
    between stages by 2 x 2 average pooling (the paper keeps ResNet's strided convolutions, which with a 1 x 1 kernel
    skip pixels), time is never downsampled, and the per-step token is the spatial average of the last map.

    Args:
        img_size: frame side (default 112).
        widths: channels of the stages.
        temporal_kernel: temporal kernel size k of the blocks.
        d_model, num_layers, heads: the transformer over time.
        dropout: inside the transformer and before the head.

    Input (B, T, C, H, W) for any T >= 1; output (B,) fake logits.
    """

    explanation = "temporal_gradcam"

    def __init__(
        self,
        img_size: int = 112,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        temporal_kernel: int = 3,
        d_model: int = 128,
        num_layers: int = 1,
        heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        self.default_cfg = ModelCfg(
            input_size=(3, int(img_size), int(img_size)),
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            temporal=True,
            channels_last=False,
        )
        self.stem = nn.Sequential(
            nn.Conv3d(3, widths[0], (5, 1, 1), padding=(2, 0, 0), bias=False), nn.BatchNorm3d(widths[0]), nn.ReLU()
        )
        stages, ch = [], widths[0]
        for i, w in enumerate(widths):
            pool = nn.AvgPool3d((1, 2, 2), ceil_mode=True) if i > 0 else nn.Identity()
            stages.append(nn.Sequential(pool, _TemporalBlock(ch, w, temporal_kernel)))
            ch = w
        self.stages = nn.Sequential(*stages)
        self.cam_point = nn.Identity()
        self.proj = nn.Linear(ch, d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, 1)
        self.num_features = d_model
        nn.init.normal_(self.cls_token, std=0.02)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Transformer outputs (B, 1 + T, d_model) of windows (B, T, C, H, W); position 0 is the class token."""
        if x.ndim != 5:
            raise ValueError(f"{self.name or 'ftcn_lite'} takes windows (B, T, C, H, W), got {tuple(x.shape)}")
        fmap = self.cam_point(self.stages(self.stem(x.transpose(1, 2))))  # (B, C, T, h, w)
        tokens = self.proj(fmap.mean(dim=(3, 4)).transpose(1, 2))  # (B, T, d_model)
        tokens = tokens + sinusoidal_positions(tokens.shape[1], tokens.shape[2], tokens.device).to(tokens.dtype)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype)
        return self.encoder(torch.cat([cls, tokens], dim=1))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        final = self.norm(features[:, 0])
        return final if pre_logits else self.head(self.drop(final))

    def gradcam_layer(self) -> nn.Module:
        """The last temporal-convolution map (B, C, T, h, w), before the transformer."""
        return self.cam_point

    def frame_cams(self, cam: torch.Tensor, frames: int) -> torch.Tensor:
        return frame_cams_over_time(cam, frames)

    def get_classifier(self) -> nn.Module:
        return self.head


@register_model
def ftcn_lite(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> FTCNLite:
    """Temporal convolutions only (spatial kernel 1) + a transformer over time, trained from scratch (as FTCN)."""
    if pretrained:
        raise ValueError("ftcn_lite has no pretrained weights (FTCN trains from scratch); pass weights= a checkpoint")
    return FTCNLite(**kwargs)
