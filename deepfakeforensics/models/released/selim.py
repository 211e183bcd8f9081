"""The DFDC winner (Selim Seferbekov, Kaggle Deepfake Detection Challenge 2020) as its author releases it.

The author's ``DeepFakeClassifier``: timm ``tf_efficientnet_b7_ns`` (noisy-student ImageNet initialisation; timm 1.0
calls it ``tf_efficientnet_b7.ns_jft_in1k``) whose ``forward_features`` map is average-pooled, passed through dropout
and a ``fc`` Linear(2560, 1): one logit, P(fake) = sigmoid. The encoder keeps timm's unused 1000-class
``classifier``. Training saves ``{"epoch", "state_dict", "bce_best"}`` from a DistributedDataParallel model, so every
key starts with ``module.``. The test code feeds 380x380 faces (isotropic resize, zero padding) normalised with
ImageNet mean and std, and turns the face scores of a video into one with `aggregation.confident_strategy`
(``--aggregation confident``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD, Detector, ModelCfg
from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models.released._catalog import Published, ReleasedSpec, register_released
from deepfakeforensics.models.released._convert import drop_prefix_if_all, unwrap

NAME = "selim_efficientnet_b7"
SIZE = 380
FEATURES = 2560
_UNUSED = ("encoder.classifier.weight", "encoder.classifier.bias")  # timm's ImageNet head, never called


def convert_selim(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """The author's checkpoint (``{"state_dict": {"module.encoder.*", "module.fc.*"}, "epoch", "bce_best"}``) as
    this model's state dict: ``module.`` removed where every key has it, timm's unused ImageNet classifier dropped.

    Raises:
        WeightsError: no state dict in the file (the layout check then names what else does not fit).
    """
    state = drop_prefix_if_all(unwrap(raw, path, ("state_dict",)), "module.")
    return {k: v for k, v in state.items() if k not in _UNUSED}


class SelimDetector(Detector):
    """timm ``tf_efficientnet_b7`` + average pool + dropout + ``fc`` (2560 -> 1): the author's network and keys.

    Input: 380x380 RGB, ImageNet mean and std (the author's ``kernel_utils``). Grad-CAM reads ``encoder.conv_head``.

    Args:
        channels_last: channels_last convolutions (faster on some CPUs; off by default to match the author's sums).
    """

    released_convert = staticmethod(convert_selim)

    def __init__(self, channels_last: bool = False) -> None:
        super().__init__()  # NCHW as the author runs it: channels_last reorders the sums (P(fake) ~1e-5 apart)
        self.default_cfg = ModelCfg(
            input_size=(3, SIZE, SIZE), mean=IMAGENET_MEAN, std=IMAGENET_STD, channels_last=channels_last
        )
        # num_classes=0: timm's ImageNet classifier (in the author's file, unused) is left out.
        self.encoder = timm.create_model("tf_efficientnet_b7", pretrained=False, num_classes=0)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(FEATURES, 1)
        self.num_features = FEATURES
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.default_cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.encoder.forward_features(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.avg_pool(features).flatten(1)
        return x if pre_logits else self.fc(self.dropout(x))

    def gradcam_layer(self) -> nn.Module:
        """The 1x1 head convolution producing the final feature map."""
        return self.encoder.conv_head

    def get_classifier(self) -> nn.Module:
        return self.fc


@register_model
def selim_efficientnet_b7(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> SelimDetector:
    """The DFDC winner's EfficientNet-B7, 380x380, ImageNet mean/std; load one of the author's files with ``weights=``."""
    if pretrained:
        raise ValueError(
            f"{NAME}: the author's weights are not downloaded automatically (download_weights.sh in the repository); "
            "pass a file as weights= (create_model) or to load_released"
        )
    return SelimDetector(**kwargs)


_FILES = tuple(
    f"final_{seed}_DeepFakeClassifier_tf_efficientnet_b7_ns_0_{epoch}"
    for seed, epoch in ((111, 36), (555, 19), (777, 29), (777, 31), (888, 37), (888, 40), (999, 23))
)

register_released(
    ReleasedSpec(
        name=NAME,
        title="DFDC winner (Selim Seferbekov, Kaggle Deepfake Detection Challenge 2020), EfficientNet-B7 noisy student",
        repo="https://github.com/selimsef/dfdc_deepfake_challenge",
        files=_FILES,
        code_licence="MIT",
        weights_licence="MIT (released with the repository, no separate weights licence)",
        profile="selim",
        output="sigmoid of the one fc logit",
        convert=convert_selim,
        published=(
            Published(
                "DFDC private test set (Kaggle)",
                "log_loss",
                "video",
                0.42798,
                "DFDC train",
                "Kaggle DFDC private leaderboard, 1st place (the repository README does not print it); "
                "Dolhansky et al. 2020, arXiv:2006.07397 (0.4280)",
            ),
        ),
        aggregation="mean",
        notes=(
            "The published figure is the 7-file ensemble (predict_submission.sh): each file scores every face crop "
            "of 32 evenly spaced frames in fp16, confident_strategy (aggregation ``confident``) turns one file's crop scores into "
            "a video score, and the video's score is the mean over the 7 files; a video that fails scores 0.5. "
            "confident_strategy pools all faces of all frames (not per face track). Faces: MTCNN (thresholds 0.7, "
            "0.8, 0.8) on the frame halved, box doubled, 1/3 of the box width and height added on each side, isotropic resize to 380 "
            "(INTER_AREA down, INTER_CUBIC up) and zero padding to the centre; at most 127 crops per video."
        ),
        extra={"video_rule": "confident (--aggregation confident; the mean unless asked)", "ensemble": _FILES},
    )
)
