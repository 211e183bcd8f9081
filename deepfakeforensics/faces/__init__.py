"""Face detection, tracking and extraction: MTCNN on downscaled batched frames, IoU tracks, square RGB crops.

Example:
    >>> from deepfakeforensics.faces import ExtractionConfig, iter_face_crops
    >>> for crop in iter_face_crops("video.mp4", ExtractionConfig()):
    ...     crop.track, crop.frame, crop.box, crop.image.shape  # (256, 256, 3) RGB
"""

from deepfakeforensics.faces.assembler import FaceCrop
from deepfakeforensics.faces.config import ExtractionConfig
from deepfakeforensics.faces.crop import (
    ALIGN_TEMPLATE,
    LANDMARK_COLUMNS,
    aligned_crop,
    crop_face,
    encode_jpeg,
    landmarks_in_crop,
    read_rgb,
    write_jpeg,
)
from deepfakeforensics.faces.dense import DenseLandmarker, LandmarkModelError
from deepfakeforensics.faces.dense_sidecar import (
    StaleLandmarksError,
    dense_landmarks_path,
    read_dense_landmarks,
    write_dense_landmarks,
)
from deepfakeforensics.faces.extract import extract_faces
from deepfakeforensics.faces.extraction_settings import MixedExtractionError, crops_aligned
from deepfakeforensics.faces.finder import Detections, FaceFinder
from deepfakeforensics.faces.merge import MANIFEST_COLUMNS, merge_parts
from deepfakeforensics.faces.parts import faces_csv_for, failures_csv_for, shard_of
from deepfakeforensics.faces.profiles import PROFILES, CropProfile, get_profile
from deepfakeforensics.faces.stream import iter_face_crops
from deepfakeforensics.faces.tracking import IoUTracker, box_iou, greedy_match

__all__ = [
    "ALIGN_TEMPLATE",
    "LANDMARK_COLUMNS",
    "MANIFEST_COLUMNS",
    "MixedExtractionError",
    "PROFILES",
    "CropProfile",
    "DenseLandmarker",
    "Detections",
    "ExtractionConfig",
    "FaceCrop",
    "FaceFinder",
    "IoUTracker",
    "LandmarkModelError",
    "StaleLandmarksError",
    "aligned_crop",
    "box_iou",
    "crop_face",
    "dense_landmarks_path",
    "crops_aligned",
    "encode_jpeg",
    "extract_faces",
    "faces_csv_for",
    "failures_csv_for",
    "get_profile",
    "greedy_match",
    "iter_face_crops",
    "landmarks_in_crop",
    "merge_parts",
    "read_dense_landmarks",
    "read_rgb",
    "shard_of",
    "write_dense_landmarks",
    "write_jpeg",
]
