"""Data: manifests (indexes of videos and of face crops), video decoding, datasets over face crops (frames, windows
of a track, windows of a clip), augmentations, temporal windows and self-blended pseudo-fakes.

The names a notebook reaches for are importable from here (``from deepfakeforensics.data import FrameDataset``); each
is defined once, in the module named beside it below. They are loaded on first use, so that importing
``deepfakeforensics.data.video`` (as face extraction does) does not import torch datasets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deepfakeforensics._lazy import lazy_exports

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "FrameDataset": "datasets",
    "WindowDataset": "window_dataset",
    "ClipDataset": "clips",
    "build_dataset": "datasets",
    "verify_crops": "datasets",
    "collate_readable": "collate",
    "read_crop": "crops",
    "CropReadError": "crops",
    "ManifestError": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "validate_manifest": "manifest",
    "AugmentConfig": "transforms",
    "to_tensor": "transforms",
    "WindowConfig": "windows",
    "make_windows": "windows",
    "SamplingConfig": "video",
    "VideoError": "video",
    "iter_frames": "video",
    "probe_video": "video",
    "open_video": "video",
    "SBIConfig": "sbi",
    "SBILiteConfig": "sbi_lite",
    "self_blend": "sbi",
}

__all__ = [
    "AugmentConfig",
    "ClipDataset",
    "CropReadError",
    "FrameDataset",
    "ManifestError",
    "SBIConfig",
    "SBILiteConfig",
    "SamplingConfig",
    "VideoError",
    "WindowConfig",
    "WindowDataset",
    "build_dataset",
    "collate_readable",
    "iter_frames",
    "make_windows",
    "open_video",
    "probe_video",
    "read_crop",
    "read_manifest",
    "self_blend",
    "to_tensor",
    "validate_manifest",
    "verify_crops",
    "write_manifest",
]

if TYPE_CHECKING:  # pragma: no cover
    from deepfakeforensics.data.clips import ClipDataset
    from deepfakeforensics.data.collate import collate_readable
    from deepfakeforensics.data.crops import CropReadError, read_crop
    from deepfakeforensics.data.datasets import FrameDataset, build_dataset, verify_crops
    from deepfakeforensics.data.manifest import ManifestError, read_manifest, validate_manifest, write_manifest
    from deepfakeforensics.data.sbi import SBIConfig, self_blend
    from deepfakeforensics.data.sbi_lite import SBILiteConfig
    from deepfakeforensics.data.transforms import AugmentConfig, to_tensor
    from deepfakeforensics.data.video import SamplingConfig, VideoError, iter_frames, open_video, probe_video
    from deepfakeforensics.data.window_dataset import WindowDataset
    from deepfakeforensics.data.windows import WindowConfig, make_windows


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
