"""Heatmaps of where in the face crop the fake logit comes from: one call, `explain`, for every frame model.

CNNs get Grad-CAM (Selvaraju et al. 2017) on their declared ``gradcam_layer()``; ViTs (``model.explanation ==
"attention_rollout"``: timm ViTs and CLIP encoders, tuned or fused) get attention rollout (Abnar & Zuidema 2020):
the head-averaged attention of every block, plus the residual identity, multiplied through the depth, read from the
class token to the patches. `explainer(model)` picks the method; both return heatmaps in [0, 1] at crop size and
P(fake).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import nn

from deepfakeforensics._io import atomic_path
from deepfakeforensics.data.crops import read_crop
from deepfakeforensics.data.transforms import resize_to, to_tensor
from deepfakeforensics.faces import iter_face_crops
from deepfakeforensics.models._layout import CHANNELS_FIRST, CHANNELS_LAST, known_channels, module_layout


class Explainer:
    """Heatmaps of a batch of RGB crops: subclasses implement `maps` on the model's input tensor."""

    model: nn.Module
    method: str = ""

    def maps(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps (B, h, w) at the method's resolution, each scaled to [0, 1], and the logits (B,)."""
        raise NotImplementedError

    def __call__(self, crops: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """Heatmaps resized to each RGB crop's size, and P(fake) of each crop."""
        x = to_tensor(list(crops), self.model.default_cfg)
        cams, logits = self.maps(x)
        heat = [
            cv2.resize(c, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
            for c, img in zip(cams, crops, strict=True)
        ]
        return heat, 1.0 / (1.0 + np.exp(-logits))


def _scale_each(cam: torch.Tensor) -> torch.Tensor:
    """Scale each map of a (B, h, w) batch to [0, 1]."""
    flat = cam.flatten(1)
    lo, hi = flat.min(dim=1).values[:, None, None], flat.max(dim=1).values[:, None, None]
    return (cam - lo) / (hi - lo).clamp_min(1e-8)


class GradCAM(Explainer):
    """Class-activation maps of the fake logit on ``model.gradcam_layer()`` (forward and backward hooks).

    A video model (``models.video``: a 3D map (B, C, t, h, w), or TALL's thumbnail) turns its maps into one per frame
    of each window with its ``frame_cams(cam, frames)``, so `TemporalGradCAM` gives a map per frame for it too.
    Channels-last layers (timm's Swin stages, (B, h, w, C), declared by timm's ``output_fmt``) are read as such
    (`models._layout.module_layout`), whether the model is a frame model, TALL over Swin or a wrapper around them.

    Example:
        >>> cam = GradCAM(model)  # doctest: +SKIP
        >>> heatmaps, scores = cam(crops)  # crops: RGB uint8 face crops; heatmaps in [0, 1] at crop size
    """

    method = "Grad-CAM"

    def __init__(self, model: nn.Module, layer: nn.Module | None = None) -> None:
        if layer is None:
            if not hasattr(model, "gradcam_layer"):
                raise TypeError(f"{type(model).__name__} has no gradcam_layer(); Grad-CAM needs a frame model")
            layer = model.gradcam_layer()
        self.model = model
        self.layer = layer
        self.layout = module_layout(model, layer)
        if self.layout not in (CHANNELS_FIRST, CHANNELS_LAST):
            raise TypeError(f"{type(model).__name__}: its Grad-CAM layer gives {self.layout} tokens, not a spatial map")
        self.channels = known_channels(model, layer)
        self._acts: torch.Tensor | None = None
        self._grads: torch.Tensor | None = None

    def _forward_hook(self, _module: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        self._acts = out
        out.register_hook(self._save_grad)

    def _save_grad(self, grad: torch.Tensor) -> None:
        self._grads = grad

    def maps(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps (B, h, w) at the layer's resolution, each scaled to [0, 1], and the logits (B,)."""
        handle = self.layer.register_forward_hook(self._forward_hook)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.enable_grad():
                x = x.clone().requires_grad_(True)  # so the hooked activations carry gradients even if frozen
                logits = self.model(x)
                self.model.zero_grad(set_to_none=True)
                logits.sum().backward()  # items are independent (eval mode): each gets its own gradient
        finally:
            handle.remove()
            self.model.train(was_training)
        acts, grads = self._channels_first(self._acts), self._channels_first(self._grads)
        weights = grads.mean(dim=tuple(range(2, grads.ndim)), keepdim=True)  # pooled gradients per channel
        cam = torch.relu((weights * acts).sum(dim=1))
        per_frame = _frame_cut(self.model, self.layer)  # a video model: a map per frame of each window
        if per_frame is not None and x.ndim == 5:
            cam = per_frame(cam, x.shape[1])
        return _scale_each(cam).cpu().numpy(), logits.detach().float().cpu().numpy()

    def _channels_first(self, t: torch.Tensor) -> torch.Tensor:
        """The hooked activations or gradients as (B, C, ...) floats, checked against the declared channel count."""
        t = t.detach().float()
        if self.layout == CHANNELS_LAST:
            t = t.movedim(-1, 1)
        if self.channels is not None and t.shape[1] != self.channels:
            raise ValueError(
                f"{type(self.model).__name__}: its Grad-CAM layer declares {self.channels} channels but gives "
                f"{tuple(t.shape)} read as {self.layout}: its layout is not what the model declares"
            )
        return t


def _frame_cut(model: nn.Module, layer: nn.Module) -> Callable[[torch.Tensor, int], torch.Tensor] | None:
    """The ``frame_cams`` of the video model whose Grad-CAM layer `layer` is: `model`'s own, else that of the nearest
    module around `layer` that has one (an ensemble's first member); None for frame and per-frame temporal models."""
    if hasattr(model, "frame_cams"):
        return model.frame_cams
    path = next((name for name, m in model.named_modules(remove_duplicate=False) if m is layer), "")
    parts = path.split(".") if path else []
    for depth in range(len(parts) - 1, 0, -1):
        cut = getattr(model.get_submodule(".".join(parts[:depth])), "frame_cams", None)
        if cut is not None:
            return cut
    return None


def _explained(model: nn.Module) -> nn.Module:
    """The detector a heatmap of `model` explains: an ensemble's first member (its Grad-CAM layer's), else `model`."""
    members = getattr(model, "members", None)
    return _explained(members[0]) if isinstance(members, nn.ModuleList) and len(members) else model


def _is_attention(module: nn.Module) -> bool:
    """A timm self-attention block (fused qkv projection, heads): the kind attention rollout reads."""
    return all(hasattr(module, a) for a in ("qkv", "num_heads", "head_dim", "scale", "q_norm", "k_norm"))


class AttentionRollout(Explainer):
    """Attention rollout of a ViT's class token over its patches (Abnar & Zuidema 2020).

    Each timm attention block's weights are recomputed from its input (timm's fused kernel does not expose them),
    averaged over heads, mixed with the identity for the residual path (``(A + I) / 2`` row-normalised) and multiplied
    through the blocks; the class token's row over the patch tokens, on the patch grid, is the heatmap.

    Example:
        >>> heatmaps, scores = AttentionRollout(create_model("clip_vit_b16"))(crops)  # doctest: +SKIP
    """

    method = "attention rollout"

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.blocks = [m for m in _explained(model).modules() if _is_attention(m)]  # an ensemble: its first member's
        if not self.blocks:
            raise TypeError(f"{type(model).__name__} has no timm attention blocks: attention rollout needs a ViT")
        self.prefix = next(
            (
                int(m.num_prefix_tokens)
                for m in _explained(model).modules()
                if isinstance(getattr(m, "num_prefix_tokens", None), int)
            ),
            1,
        )
        self._attn: list[torch.Tensor] = []

    def _hook(self, module: nn.Module, inputs: tuple, _out: torch.Tensor) -> None:
        x = inputs[0]
        b, n, _ = x.shape
        qkv = module.qkv(x).reshape(b, n, 3, module.num_heads, module.head_dim).permute(2, 0, 3, 1, 4)
        q, k = module.q_norm(qkv[0]), module.k_norm(qkv[1])
        attn = ((q * module.scale) @ k.transpose(-2, -1)).float().softmax(dim=-1)
        self._attn.append(attn.mean(dim=1))

    def maps(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        handles = [m.register_forward_hook(self._hook) for m in self.blocks]
        was_training, self._attn = self.model.training, []
        self.model.eval()
        try:
            with torch.no_grad():
                logits = self.model(x)
        finally:
            for h in handles:
                h.remove()
            self.model.train(was_training)
        eye = torch.eye(self._attn[0].shape[-1])
        rollout = eye.expand_as(self._attn[0])
        for attn in self._attn:
            mixed = (attn.cpu() + eye) / 2
            rollout = (mixed / mixed.sum(dim=-1, keepdim=True)) @ rollout
        cls = rollout[:, 0, self.prefix :]
        gh = max(1, round((cls.shape[1] * x.shape[-2] / x.shape[-1]) ** 0.5))
        cam = _scale_each(cls.reshape(len(cls), gh, cls.shape[1] // gh))
        return cam.numpy(), logits.float().cpu().numpy()


class TemporalGradCAM(GradCAM):
    """Grad-CAM of a temporal model's window logit on its frame backbone's layer: one map per frame of a window.

    Called on crops (`Explainer.__call__`), each crop is explained as a still: a window of `window` copies of it (as
    ``dff predict`` scores an image), its maps averaged over the copies; `window_maps` explains one real window.

    Example:
        >>> heatmaps, p_fake = TemporalGradCAM(create_model("mesonet4_lstm"), window=8)(crops)  # doctest: +SKIP
    """

    method = "Grad-CAM (frame backbone, window logit)"

    def __init__(self, model: nn.Module, window: int = 1) -> None:
        super().__init__(model)
        self.window = max(int(window), 1)

    def maps(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(B, C, H, W) stills -> heatmaps (B, h, w) and the logits (B,) of their windows of repeated copies."""
        cams, logits = super().maps(x[:, None].expand(-1, self.window, -1, -1, -1).contiguous())
        cams = cams.reshape(len(x), self.window, *cams.shape[1:]).mean(axis=1)
        return cams, logits

    def window_maps(self, frames: Sequence[np.ndarray]) -> tuple[list[np.ndarray], float]:
        """One window of RGB crops (T, in order) -> a heatmap per frame at crop size and the window's P(fake)."""
        x = to_tensor(list(frames), self.model.default_cfg)[None]
        cams, logits = GradCAM.maps(self, x)
        size = [(f.shape[1], f.shape[0]) for f in frames]
        heat = [cv2.resize(c, wh, interpolation=cv2.INTER_LINEAR) for c, wh in zip(cams, size, strict=True)]
        return heat, float(1.0 / (1.0 + np.exp(-logits[0])))


def _explanation(model: nn.Module) -> str:
    """``gradcam`` or ``attention_rollout`` (the model's, or a temporal model's frame backbone's, with ``temporal_``;
    an ensemble's first member's)."""
    model = _explained(model)
    backbone = getattr(model, "backbone", None)
    if model.default_cfg.temporal and backbone is not None:
        return "temporal_" + getattr(backbone, "explanation", "gradcam")
    return getattr(model, "explanation", "gradcam")


def can_explain(model: nn.Module) -> bool:
    """Whether `explainer` has a heatmap for `model`: every frame model, and temporal models over a CNN backbone."""
    kind = _explanation(model)
    return kind == "attention_rollout" or (kind in ("gradcam", "temporal_gradcam") and hasattr(model, "gradcam_layer"))


def explainer(model: nn.Module, window: int = 1) -> Explainer:
    """The explanation of `model`: attention rollout for ViTs (``model.explanation``), Grad-CAM for CNNs, and for
    temporal models Grad-CAM of the window logit on the frame backbone (`TemporalGradCAM`, stills as windows of
    `window` copies).

    Raises:
        TypeError: a model `can_explain` says no to (a temporal model over a ViT), naming why.
    """
    if not can_explain(model):
        raise TypeError(f"{type(model).__name__}: no heatmap (a temporal model over a ViT has no Grad-CAM layer)")
    kind = _explanation(model)
    if kind == "attention_rollout":
        return AttentionRollout(model)
    return TemporalGradCAM(model, window) if kind == "temporal_gradcam" else GradCAM(model)


def explain(model: nn.Module, crops: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Heatmaps in [0, 1] at each RGB crop's size (Grad-CAM or attention rollout, as fits `model`) and P(fake)."""
    return explainer(model)(crops)


def overlay(img: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] heatmap (jet colours) over an RGB ``uint8`` image."""
    heat = resize_to(heatmap.astype(np.float32), img.shape[:2])
    coloured = (colormaps["jet"](heat)[..., :3] * 255).astype(np.float32)
    return np.clip((1 - alpha) * img.astype(np.float32) + alpha * coloured, 0, 255).astype(np.uint8)


def plot_gradcam_grid(
    model: nn.Module,
    crops: Sequence[np.ndarray],
    labels: Sequence[int] | None,
    path: str | os.PathLike,
    titles: Sequence[str] | None = None,
) -> Path:
    """A grid PNG: each crop above its heatmap overlay (Grad-CAM, or attention rollout for ViTs), titled with its true label (when known) and P(fake)."""
    method = explainer(model)
    heat, probs = method(crops)
    n = len(crops)
    fig = Figure(figsize=(2.2 * n, 4.6))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        name = "" if labels is None else ("fake, " if int(labels[i]) == 1 else "real, ")
        head = f"{titles[i]}\n" if titles is not None else ""
        axes[0, i].imshow(crops[i])
        axes[0, i].set_title(f"{head}{name}P(fake)={probs[i]:.2f}", fontsize=8)
        axes[1, i].imshow(overlay(crops[i], heat[i]))
        for ax in axes[:, i]:
            ax.axis("off")
    name = getattr(model, "name", "") or type(model).__name__
    fig.suptitle(f"{method.method} of the fake logit ({name})", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    return path


def plot_video_gradcam(
    model: nn.Module,
    videos: Sequence[str | os.PathLike],
    path: str | os.PathLike,
    labels: Sequence[int] | None = None,
    extraction_config=None,
) -> Path:
    """Grad-CAM grid of one face crop (the middle one of the first track) from each video, e.g. after prediction.

    Args:
        model: a frame model.
        videos: video files; one without a detected face is left out of the grid.
        path: the PNG to write.
        labels: the videos' true labels for the titles, when known.
        extraction_config: face detection settings (`ExtractionConfig`, default as extraction).
    """
    crops, names, kept = [], [], []
    for i, video in enumerate(videos):
        faces = [c for c in iter_face_crops(video, extraction_config) if c.track == 0]
        if faces:
            crops.append(faces[len(faces) // 2].image)
            names.append(Path(video).name)
            kept.append(i)
    if not crops:
        raise ValueError(f"no face found in any of {len(videos)} videos: nothing to plot")
    kept_labels = None if labels is None else [int(labels[i]) for i in kept]
    return plot_gradcam_grid(model, crops, kept_labels, path, titles=names)


def _pick_rows(scores: pd.DataFrame, per_class: int) -> list[int]:
    """Positions of up to `per_class` real and `per_class` fake rows, from different videos when there are enough."""
    picks: list[int] = []
    for label in (0, 1):
        idx = np.flatnonzero(scores["label"].to_numpy() == label)
        firsts = pd.Series(idx).groupby(scores["video_id"].to_numpy()[idx], sort=False).first().to_numpy()
        chosen = firsts if len(firsts) >= per_class else idx
        if len(chosen):
            picks += list(chosen[np.linspace(0, len(chosen) - 1, min(per_class, len(chosen))).astype(int)])
    return picks


def plot_scored_gradcam(
    model: nn.Module, scores: pd.DataFrame, root: str | os.PathLike, path: str | os.PathLike, per_class: int = 4
) -> Path:
    """Grad-CAM grid of `per_class` real and fake crops of a frame score table, taken from different videos.

    Args:
        model: the frame model that scored them.
        scores: frame scores with ``path`` (relative to `root`), ``label`` and ``video_id`` (e.g. from evaluation).
        root: the folder the crops' paths are relative to.
        path: the PNG to write.
        per_class: crops per class.
    """
    picks = _pick_rows(scores, per_class)
    crops = [read_crop(Path(root) / scores["path"].iat[i]) for i in picks]
    labels = [int(scores["label"].iat[i]) for i in picks]
    titles = [str(scores["video_id"].iat[i]) for i in picks]
    return plot_gradcam_grid(model, crops, labels, path, titles=titles)
