"""SBI (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022) as its authors release it.

The authors train an efficientnet-pytorch EfficientNet-B4 (advprop ImageNet initialisation, a 2-class ``_fc``) on
self-blended images and save ``{"model": state_dict, "optimizer": SAM's state, "epoch": int}``; the network sits at
``net`` in their module, so every key starts with ``net.``. Their test code feeds RetinaFace crops resized to 380x380
as pixels / 255 with no mean or std (advprop only changes which ImageNet weights initialise training; the released
file replaces them all), and scores softmax[:, 1]. Here the 2-class head is folded into one logit exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from deepfakeforensics.models._base import ModelCfg
from deepfakeforensics.models._registry import register_model
from deepfakeforensics.models.efficientnet import EfficientNetDetector
from deepfakeforensics.models.released._catalog import Published, ReleasedSpec, register_released
from deepfakeforensics.models.released._convert import fold_two_class, strip_prefix, unwrap

NAME = "sbi_efficientnet_b4"
SIZE = 380


def convert_sbi(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """The SBI authors' file (``{"model": {"net.*": ...}, "optimizer", "epoch"}``) as this model's state dict.

    The state dict may also be given on its own (``torch.load(f)["model"]``). The optimizer state is not read.

    Raises:
        WeightsError: no ``"model"`` state dict, a key outside ``net.``, or ``net._fc`` not a 2-class head.
    """
    state = unwrap(raw, path, ("model",))
    state = {f"net.{k}": v for k, v in strip_prefix(state, "net.", path).items()}
    return fold_two_class(state, "net._fc.weight", "net._fc.bias", path)


class SBIDetector(EfficientNetDetector):
    """EfficientNet-B4 (efficientnet-pytorch) with SBI's input: 380x380 RGB scaled to [0, 1], no mean or std.

    The same network and state-dict keys (``net.*``) as the authors' ``Detector``; its one logit is their
    ``softmax[:, 1]`` folded (``sigmoid(logit) == softmax(theirs)[:, 1]``). Grad-CAM reads ``net._conv_head``.

    Args:
        channels_last: channels_last convolutions (faster on some CPUs; off by default to match the authors' sums).
    """

    released_convert = staticmethod(convert_sbi)

    def __init__(self, channels_last: bool = False) -> None:
        # NCHW as the authors run it: channels_last reorders the convolution sums (P(fake) ~1e-5 apart from theirs).
        super().__init__("b4", channels_last=channels_last)
        self.default_cfg = ModelCfg(input_size=(3, SIZE, SIZE), channels_last=channels_last)


@register_model
def sbi_efficientnet_b4(pretrained: bool | str | os.PathLike = False, **kwargs: Any) -> SBIDetector:
    """SBI's EfficientNet-B4, 380x380, pixels / 255; load the authors' ``FFraw.tar`` with ``weights=``."""
    if pretrained:
        raise ValueError(
            f"{NAME}: the authors' weights are not downloaded automatically (Google Drive links in their README); "
            "pass the file as weights= (create_model) or to load_released"
        )
    return SBIDetector(**kwargs)


_README = "SelfBlendedImages README, cross-dataset table (video-level AUC, 32 frames per video)"
_DATASETS = (("Celeb-DF v2", 0.9382, 0.9287), ("DFD", 0.9787, 0.9816), ("DFDC", 0.7301, 0.7196))
_DATASETS += (("DFDC preview", 0.8570, 0.8551), ("FFIW", 0.8452, 0.8322))

register_released(
    ReleasedSpec(
        name=NAME,
        title="SBI: Self-Blended Images (Shiohara & Yamasaki, CVPR 2022), EfficientNet-B4",
        repo="https://github.com/mapooon/SelfBlendedImages",
        files=("FFraw.tar", "FFc23.tar"),
        code_licence="SBI software licence: academic or non-profit non-commercial research only (LICENSE)",
        weights_licence="the same: research use only, commercial use needs a licence from the authors (README)",
        profile="sbi",
        output="softmax[:, 1] of the 2-class _fc, folded into one logit (w1 - w0, b1 - b0)",
        convert=convert_sbi,
        published=tuple(
            Published(data, "auc", "video", value, training, _README)
            for data, raw, c23 in _DATASETS
            for training, value in (("FF++ raw (FFraw.tar)", raw), ("FF++ c23 (FFc23.tar)", c23))
        ),
        aggregation="frame_max",  # their video score: the most fake-looking face of each frame, mean over frames
        notes=(
            "Video score as src/inference/inference_dataset.py: 32 frames evenly spaced (np.linspace over the frame "
            "count), RetinaFace faces whose box area is at least half the largest in that frame, each scored; "
            "a frame's score is the max over its faces, the video's the mean over frames (aggregation 'frame_max', "
            "which does not drop the faces smaller than half the frame's largest; 'mean' is the same with one face "
            "per frame); a video that fails "
            "(no face at all) scores 0.5. Input: crop resized to 380x380 (cv2 bilinear, not square-preserving), "
            "float pixels / 255, no normalisation. The README names only FFraw.tar; the c23 file is a second Drive "
            "link (its name here, FFc23.tar, is the one the checkpoints are commonly saved under)."
        ),
    )
)
