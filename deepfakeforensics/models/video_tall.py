"""TALL (Xu et al., "TALL: Thumbnail Layout for Deepfake Video Detection", ICCV 2023): a clip as one image.

The T consecutive frames of a window are resized to sub-images and laid out row by row in a sqrt(T) x sqrt(T) grid,
a thumbnail at the 2D backbone's input size, so any frame model of the zoo sees space and time in one image: a
flicker or a jump between frames becomes a difference between neighbouring cells. The paper uses Swin-B and 4 frames
in a 2 x 2 layout; in training each clip is masked at one random position, the same in every frame (its "fixed
position" masking, for generalisation).

``create_model("tall", backbone="efficientnet_b0")`` (any registered frame model, ``timm/<name>`` included; the
default is the paper's Swin-B, timm ``swin_base_patch4_window7_224``). ``default_cfg.input_size`` is one sub-image
(the backbone's side / sqrt(frames)), so the data pipeline resizes each crop once, to its cell. Model options
(``srm=``, ``frequency=``...) and ``pretrained`` go to the backbone; ``init_backbone(model, frame_checkpoint)`` starts
it from a trained frame model.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from deepfakeforensics.models._base import Detector
from deepfakeforensics.models._factory import create_model
from deepfakeforensics.models._registry import forwards_options, register_model

#: the paper's backbone (Swin-B, window 7, 224 x 224)
DEFAULT_BACKBONE = "timm/swin_base_patch4_window7_224"
TALL_ARGS = ("frames", "thumbnail_size", "mask_prob", "mask_ratio")


def tile(x: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, grid * grid, C, h, w) frames -> (B, C, grid * h, grid * w) thumbnails, frames laid out row by row."""
    b, t, c, h, w = x.shape
    return x.reshape(b, grid, grid, c, h, w).permute(0, 3, 1, 4, 2, 5).reshape(b, c, grid * h, grid * w)


def untile(maps: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, grid * h, grid * w) maps over thumbnails -> (B * grid * grid, h, w), one per frame in order."""
    b, hh, ww = maps.shape
    if hh % grid or ww % grid:  # a feature map not divisible by the grid: resample it first
        hh, ww = -(-hh // grid) * grid, -(-ww // grid) * grid
        maps = F.interpolate(maps[:, None], size=(hh, ww), mode="bilinear", align_corners=False)[:, 0]
    h, w = hh // grid, ww // grid
    return maps.reshape(b, grid, h, grid, w).permute(0, 1, 3, 2, 4).reshape(b * grid * grid, h, w)


class TALLDetector(Detector):
    """A 2D frame detector fed thumbnails of `frames` consecutive frames (TALL).

    Args:
        backbone: any frame Detector (its input size is the thumbnail's, unless `thumbnail_size`).
        frames: frames per clip T, a square (4: 2 x 2, the paper's; 9: 3 x 3; 16: 4 x 4).
        thumbnail_size: thumbnail side (default: the backbone's input size, e.g. 224); must be divisible by
            sqrt(frames). For CNN backbones, which take any size; a ViT's size is set by its own ``img_size``.
        mask_prob: in training, the probability that a clip is masked (0 disables masking).
        mask_ratio: side of the masked square as a fraction of a sub-image's side.

    Input (B, T, C, H, W) with T = `frames` and H, W the sub-image size (``default_cfg.input_size``); (B,) logits.
    """

    def __init__(
        self,
        backbone: Detector,
        frames: int = 4,
        thumbnail_size: int | None = None,
        mask_prob: float = 0.5,
        mask_ratio: float = 0.25,
    ) -> None:
        super().__init__()
        grid = math.isqrt(int(frames))
        if frames < 1 or grid * grid != frames:
            raise ValueError(f"TALL lays frames out in a square grid: frames must be 1, 4, 9, 16..., not {frames}")
        if backbone.default_cfg.temporal:
            raise ValueError(f"TALL needs a frame backbone; {backbone.name or type(backbone).__name__} is temporal")
        if not 0.0 <= mask_prob <= 1.0 or not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_prob must be in [0, 1] and mask_ratio in [0, 1), not {mask_prob}, {mask_ratio}")
        c, h, w = backbone.default_cfg.input_size
        if thumbnail_size is not None:
            h = w = int(thumbnail_size)
        if h % grid or w % grid:
            raise ValueError(f"a {h} x {w} thumbnail does not split into a {grid} x {grid} grid of frames")
        self.backbone, self.frames, self.grid = backbone, int(frames), grid
        self.mask_prob, self.mask_ratio = float(mask_prob), float(mask_ratio)
        self.default_cfg = replace(backbone.default_cfg, input_size=(c, h // grid, w // grid), temporal=True)
        self.num_features = backbone.num_features
        self.explanation = getattr(backbone, "explanation", "gradcam")

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """Each clip, with probability `mask_prob`, gets one square zeroed at the same place in every frame."""
        b, _, _, h, w = x.shape
        side = max(1, round(self.mask_ratio * min(h, w)))
        if self.mask_ratio == 0 or self.mask_prob == 0:
            return x
        draw = torch.rand(b, 3, device=x.device)
        top = (draw[:, 1] * (h - side + 1)).long().clamp(max=h - side)
        left = (draw[:, 2] * (w - side + 1)).long().clamp(max=w - side)
        rows = torch.arange(h, device=x.device)[None, :, None]
        cols = torch.arange(w, device=x.device)[None, None, :]
        inside = (rows >= top[:, None, None]) & (rows < top[:, None, None] + side)
        inside = inside & (cols >= left[:, None, None]) & (cols < left[:, None, None] + side)
        inside = inside & (draw[:, 0] < self.mask_prob)[:, None, None]
        return x.masked_fill(inside[:, None, None], 0.0)  # 0 after normalisation: the mean colour

    def thumbnails(self, x: torch.Tensor) -> torch.Tensor:
        """Windows (B, T, C, h, w) -> thumbnails (B, C, H, W) the backbone takes (masked in training)."""
        name = self.name or "tall"
        if x.ndim != 5:
            raise ValueError(f"{name} takes windows (B, T, C, H, W), got {tuple(x.shape)}")
        if x.shape[1] != self.frames:
            raise ValueError(
                f"{name} lays out {self.frames} frames ({self.grid} x {self.grid}), got windows of {x.shape[1]}: "
                f"train and predict with --window {self.frames}, or build it with frames={x.shape[1]} (a square)"
            )
        if self.training:
            x = self.mask(x)
        return tile(x, self.grid)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(self.thumbnails(x))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return self.backbone.forward_head(features, pre_logits=True)
        return self.backbone.forward_head(features)

    def gradcam_layer(self) -> nn.Module:
        """The backbone's Grad-CAM layer, over the whole thumbnail (`frame_cams` cuts it into frames)."""
        return self.backbone.gradcam_layer()

    def frame_cams(self, cam: torch.Tensor, frames: int) -> torch.Tensor:
        """Class-activation maps over thumbnails (B, H', W') -> one per frame (B * frames, H' / grid, W' / grid)."""
        return untile(cam, self.grid)

    def get_classifier(self) -> nn.Module:
        return self.backbone.get_classifier()


@register_model
@forwards_options
def tall(pretrained: bool | str | os.PathLike = False, backbone: str = DEFAULT_BACKBONE, **kwargs: Any) -> Detector:
    """TALL: `frames` consecutive frames tiled into one thumbnail for a 2D `backbone` (any frame model of the zoo).

    Keywords ``frames``, ``thumbnail_size``, ``mask_prob``, ``mask_ratio`` are TALL's; the others (``drop_rate``,
    ``img_size`` of a ViT, model options) and `pretrained` go to the backbone.
    """
    own = {k: kwargs.pop(k) for k in TALL_ARGS if k in kwargs}
    return TALLDetector(create_model(backbone, pretrained=pretrained, **kwargs), **own)
