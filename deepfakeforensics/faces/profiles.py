"""Per-detector face-crop profiles: each released detector's faces cut as its authors' test code cuts them.

A released detector only scores well on crops of the geometry it was trained on: SBI sees a face box widened by an
eighth on each side and stretched to 380 x 380; DeepfakeBench's models see faces aligned on five dlib landmarks;
the DFDC winner's see a box plus a third on each side, resized isotropically and zero-padded; polimi's see a square
around a box enlarged by a fifth of its height (two fifths above). `get_profile` gives the profile of a name;
`ExtractionConfig(profile=...)` (``dff extract --profile NAME``) makes extraction, prediction and the server cut
faces with it. "default" is this toolkit's own crop (`crop_face` with the config's margin and size, or
`aligned_crop` with ``align``).

Each geometry is re-derived from the authors' code, facts only (no code copied; see each profile's ``source``).
Every profile takes the face box of *this* toolkit's MTCNN (and, for DeepfakeBench, dlib's 68 points fitted inside
it): where the authors used another detector (``authors_detector``), the box differs somewhat
(``benchmarks/detector_difference.py`` measures how much); given the same box, the crop is theirs
(``benchmarks/released_crops.py`` compares pixels with the authors' functions).

Example:
    >>> profile = get_profile("sbi")
    >>> crop, points, aligned = profile.cut(frame, box, points5)  # doctest: +SKIP
    >>> crop.shape  # doctest: +SKIP
    (380, 380, 3)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from deepfakeforensics.faces.crop import crop_face, landmarks_in_crop, similarity_transform, template_in_crop
from deepfakeforensics.faces.dense import DenseLandmarker, face_box_from_points

ProfileName = Literal["default", "sbi", "deepfakebench", "selim", "polimi", "gend", "gend_dinov3"]
PROFILES: tuple[str, ...] = get_args(ProfileName)

#: DeepfakeBench's five points among dlib's 68 (0-based, as dlib's ``shape.part(i)``): the upper lid of the
#: image-left eye (37) and of the image-right eye (44), the nose tip (30), the upper lip beside the image-left mouth
#: corner (49) and the lower lip beside the image-right one (55). Not the eye centres nor the mouth corners (those
#: would be 36-41 averaged, 48, 54): the indices read like iBUG's 1-based numbering used 0-based.
DFB_POINTS = (37, 44, 30, 49, 55)
DFB_SCALE = 1.3  # img_align_crop's scale: the 112-pixel template canvas is 1/1.3 of the crop
DFB_WARP = 256  # the side their preprocessing warps to (res=256); the loader resizes it (bicubic) to the model's
POLIMI_MARGIN = 0.2  # _add_margin_to_detections: a fifth of the box height on each side, twice that above
POLIMI_STORED = 512  # extract_faces.py's face_size: the square stored around each face, which bounds the crop
#: GenD's template (detector.py align_face): the five points (eyes, nose tip, mouth corners) in a unit square
GEND_TEMPLATE = np.array([[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]], np.float32)
GEND_SCALE = 1.3  # align_face's scale: the template square is 1/1.3 of the crop, centred

Cutter = Callable[["CropProfile", np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None"], tuple]


@dataclass(frozen=True)
class CropProfile:
    """How one detector's authors cut a face out of a frame, given its box (and landmarks where they align).

    Attributes:
        name: the profile's name (`PROFILES`).
        title: one line: whose crop, how.
        crop_size: the output side (or (H, W)) of the crops it cuts.
        detector_here: the face detector this toolkit uses for it.
        authors_detector: the one the authors used.
        source: the file and function of the authors' repository the geometry comes from.
    """

    name: str
    title: str
    crop_size: int | tuple[int, int]
    detector_here: str
    authors_detector: str
    source: str
    cutter: Cutter = field(repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the crops."""
        size = self.crop_size
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    def cut(
        self, frame: np.ndarray, box: Sequence[float], points5: np.ndarray | None, dense68: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Cut one face as this profile's authors do.

        Args:
            frame: the RGB uint8 frame.
            box: x0, y0, x1, y1 of the face in frame pixels (floats).
            points5: (5, 2) MTCNN points in frame pixels (NaN allowed), or None.
            dense68: (68, 2) dlib points in frame pixels; DeepfakeBench fits them when None.

        Returns:
            (RGB uint8 crop of `shape`, the five points in crop pixels as float32 (5, 2), NaN where unknown,
            whether the crop is aligned on landmarks).
        """
        points = np.full((5, 2), np.nan) if points5 is None else np.asarray(points5, np.float64).reshape(5, 2)
        return self.cutter(self, frame, np.asarray(box, np.float64).reshape(4), points, dense68)


def _map_points(points: np.ndarray, origin: tuple[float, float], scale: tuple[float, float], shift=(0.0, 0.0)):
    """Frame points into the pixels of a region starting at `origin`, resized by `scale` (x, y), then shifted.

    Resizing maps pixel centres (``x' = (x + 0.5) * s - 0.5``), as OpenCV and PIL do.
    """
    moved = (points - origin + 0.5) * scale - 0.5 + shift
    return moved.astype(np.float32)


def _blank(profile: CropProfile, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """A black crop for a box with nothing of the frame inside it."""
    return np.zeros((*profile.shape, frame.shape[2]), frame.dtype), np.full((5, 2), np.nan, np.float32), False


def _cut_default(profile: CropProfile, frame, box, points, dense68):
    """This toolkit's plain crop with its default margin (1.3) at the profile's size."""
    size = profile.shape[0]
    return crop_face(frame, box, 1.3, size), landmarks_in_crop(points, box, 1.3, size), False


def _cut_sbi(profile: CropProfile, frame, box, points, dense68):
    """SBI at test time: the box plus 1/8 of its width and height on each side (truncated to integers, the far edges
    one pixel past, clipped at the frame: no padding, so not square), stretched to the output (bilinear)."""
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    left, top = max(0, int(x0 - w / 8)), max(0, int(y0 - h / 8))
    right, bottom = min(width, int(x1 + w / 8) + 1), min(height, int(y1 + h / 8) + 1)
    if right <= left or bottom <= top:
        return _blank(profile, frame)
    out_h, out_w = profile.shape
    crop = cv2.resize(frame[top:bottom, left:right], (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    return crop, _map_points(points, (left, top), (out_w / (right - left), out_h / (bottom - top))), False


def _cut_selim(profile: CropProfile, frame, box, points, dense68):
    """The DFDC winner: the box (truncated to integers) plus a third of its integer width and height (floor) on each
    side, clipped at the frame; the longer side resized to the output (INTER_AREA shrinking, INTER_CUBIC enlarging,
    the other side truncated), centred on a black square (offsets floored)."""
    height, width = frame.shape[:2]
    xmin, ymin, xmax, ymax = (int(v) for v in box)
    p_w, p_h = (xmax - xmin) // 3, (ymax - ymin) // 3
    left, top = max(xmin - p_w, 0), max(ymin - p_h, 0)
    right, bottom = min(xmax + p_w, width), min(ymax + p_h, height)
    if right <= left or bottom <= top:
        return _blank(profile, frame)
    region = frame[top:bottom, left:right]
    size = profile.shape[0]
    h, w = region.shape[:2]
    if max(w, h) != size:
        scale = size / w if w > h else size / h
        new_w, new_h = (size, h * scale) if w > h else (w * scale, size)
        interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
        region = cv2.resize(region, (int(new_w), int(new_h)), interpolation=interpolation)
    rh, rw = region.shape[:2]
    out = np.zeros((size, size, frame.shape[2]), frame.dtype)
    off_y, off_x = (size - rh) // 2, (size - rw) // 2
    out[off_y : off_y + rh, off_x : off_x + rw] = region
    return out, _map_points(points, (left, top), (rw / w, rh / h), (off_x, off_y)), False


def _adapt_bb(frame_h: int, frame_w: int, side_h, side_w, left, top, right, bottom) -> tuple:
    """polimi's square placement: centre floored, the square starts side // 2 before it, moved inside at the top
    and left edges and cut at the bottom and right ones (values stay floats, as theirs)."""
    x_ctr, y_ctr = (left + right) // 2, (bottom + top) // 2
    new_top = max(y_ctr - side_h // 2, 0)
    new_left = max(x_ctr - side_w // 2, 0)
    return new_left, new_top, min(new_left + side_w, frame_w), min(new_top + side_h, frame_h)


def polimi_region(box: Sequence[float], frame_h: int, frame_w: int, size: int = 224) -> tuple[int, int, int, int]:
    """The frame region (left, top, right, bottom) polimi's pipeline resizes to `size`, for a detector's box.

    Three steps of theirs: the box enlarged (`POLIMI_MARGIN` of its height, rounded half to even, on each side,
    twice above; clipped at the frame; float32 as their tensors); the `POLIMI_STORED` square stored around it
    (extract_faces.py); within that, the square on the enlarged box's longer side (extract_bb, scale "scale").
    """
    x0, y0, x1, y1 = (np.float32(v) for v in box)
    offset = np.round(np.float32(POLIMI_MARGIN) * (y1 - y0))
    top, left = max(y0 - 2 * offset, np.float32(0)), max(x0 - offset, np.float32(0))
    bottom, right = min(y1 + offset, np.float32(frame_h)), min(x1 + offset, np.float32(frame_w))
    l1, t1, r1, b1 = _adapt_bb(frame_h, frame_w, POLIMI_STORED, POLIMI_STORED, left, top, right, bottom)
    left, top, right, bottom = left - l1, top - t1, right - l1, bottom - t1  # in the stored square's pixels
    bb_w, bb_h = int(right) - int(left), int(bottom) - int(top)
    ratio = min(size / bb_h, size / bb_w) if (bb_w > 0 and bb_h > 0) else 1.0
    side = int(size / ratio)
    l2, t2, r2, b2 = _adapt_bb(int(b1 - t1), int(r1 - l1), side, side, left, top, right, bottom)
    return tuple(int(round(float(v))) for v in (l1 + l2, t1 + t2, l1 + r2, t1 + b2))


def _cut_polimi(profile: CropProfile, frame, box, points, dense68):
    """polimi (test_model.py, face policy "scale"): `polimi_region` resized to the output by PIL's bilinear
    filter (antialiased when shrinking, unlike OpenCV's)."""
    height, width = frame.shape[:2]
    left, top, right, bottom = polimi_region(box, height, width, profile.shape[0])
    if right <= left or bottom <= top:
        return _blank(profile, frame)
    out_h, out_w = profile.shape
    region = Image.fromarray(np.ascontiguousarray(frame[top:bottom, left:right]))
    crop = np.asarray(region.resize((out_w, out_h), Image.Resampling.BILINEAR))
    return crop, _map_points(points, (left, top), (out_w / (right - left), out_h / (bottom - top))), False


def deepfakebench_template(size: int = DFB_WARP, scale: float = DFB_SCALE) -> np.ndarray:
    """Where img_align_crop puts the five points, in the pixels of its `size` warp (pixel centres at integers).

    The ArcFace template on a 112-pixel canvas of ``size / scale`` pixels centred in the crop, as `template_in_crop`,
    but half a pixel lower and further right: they place it in continuous coordinates (canvas centre at size / 2)
    and hand that to ``cv2.warpAffine``, whose pixel centres are the integers.
    """
    return template_in_crop(scale, size) + np.float32(0.5)


@functools.lru_cache(maxsize=1)
def _landmarker():
    """dlib's 68-point predictor, loaded once (`DenseLandmarker`; raises `LandmarkModelError` without dlib)."""
    return DenseLandmarker()


def fit_dense68(frame: np.ndarray, box: Sequence[float], points5: np.ndarray | None = None) -> np.ndarray:
    """dlib's 68 points of the face in `box`, in frame pixels (about 2-4 ms a face on one CPU core).

    dlib's predictor starts from the box of dlib's own HOG detector, tighter than MTCNN's: that box is predicted from
    the five MTCNN points (`face_box_from_points`) when all are known, else the MTCNN box is used as it is.
    """
    usable = points5 is not None and np.isfinite(points5).all()
    start = face_box_from_points(points5) if usable else np.asarray(box, np.float64)
    return _landmarker()(frame, start)


def _cut_deepfakebench(profile: CropProfile, frame, box, points, dense68):
    """DeepfakeBench: the similarity (Umeyama, as skimage's SimilarityTransform) taking dlib points `DFB_POINTS`
    onto `deepfakebench_template`, one bilinear ``cv2.warpAffine`` to 256 x 256 (black outside, no prefilter), then
    their loader's bicubic resize to the model's size (none at 256). No usable landmarks: this toolkit's plain crop
    at margin 1.3, not aligned (their code drops such a face)."""
    if dense68 is None:
        dense68 = fit_dense68(frame, box, points)
    src = np.asarray(dense68, np.float64)[list(DFB_POINTS)]
    matrix = similarity_transform(src, deepfakebench_template()) if np.isfinite(src).all() else None
    out_h, out_w = profile.shape
    if matrix is None:
        return crop_face(frame, box, DFB_SCALE, out_h), landmarks_in_crop(points, box, DFB_SCALE, out_h), False
    crop = cv2.warpAffine(frame, matrix, (DFB_WARP, DFB_WARP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    moved = points @ matrix[:, :2].T + matrix[:, 2]
    if (out_h, out_w) != (DFB_WARP, DFB_WARP):
        crop = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_CUBIC)
        moved = _map_points(moved, (0, 0), (out_w / DFB_WARP, out_h / DFB_WARP))
    return crop, moved.astype(np.float32), True


def gend_geometry(points: np.ndarray, scale: float = GEND_SCALE) -> tuple[np.ndarray, int]:
    """GenD's alignment of five points: the similarity matrix (2x3) and the side of the square it warps to.

    The side is the face's own size (their ``--target_size none``): the mean ratio of the points' pairwise distances
    to the template's, times `scale`, rounded. The template, scaled to that side, is shrunk by `scale` about the
    centre; OpenCV's ``estimateAffinePartial2D`` (LMEDS, as theirs) fits the similarity.
    """
    src = np.asarray(points, np.float32).reshape(5, 2)
    pairs = np.triu_indices(5, k=1)
    src_d = np.linalg.norm(src[:, None] - src[None], axis=-1)[pairs]
    dst_d = np.linalg.norm(GEND_TEMPLATE[:, None] - GEND_TEMPLATE[None], axis=-1)[pairs]
    side = int(np.round(np.mean(src_d / dst_d) * scale))
    dst = GEND_TEMPLATE * np.float32(side)  # float32 throughout, as theirs
    dst += side * (scale - 1) / 2
    dst *= side / (side + side * (scale - 1))
    matrix = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)[0]
    return matrix, side


def _pil_bicubic(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """CLIP's (and PE's) resize: PIL's bicubic filter on the uint8 image, to (W, H) `size`."""
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


def float_bilinear_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """DINOv3's image processor: pixels rescaled to [0, 1] first, then resized bilinearly with antialiasing (torch's
    ``interpolate(mode="bilinear", antialias=True)``, which torchvision's resize runs), here rounded back to uint8:
    within half a grey level of the float pixels their model sees."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
    y = F.interpolate(x, size=(size[1], size[0]), mode="bilinear", align_corners=False, antialias=True)
    return (y[0].permute(1, 2, 0).clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


def _cut_gend(profile: CropProfile, frame, box, points, dense68, resize=_pil_bicubic):
    """GenD: the five points onto `GEND_TEMPLATE` (`gend_geometry`, bilinear warp at the face's own size), then the
    backbone's preprocessing, `resize` to the output: CLIP's shortest side with PIL's bicubic filter (a square: the
    centre crop keeps all), or DINOv3's float bilinear (`float_bilinear_resize`). No usable points: this toolkit's plain
    crop at margin 1.3, not aligned."""
    out_h, out_w = profile.shape
    matrix, side = gend_geometry(points) if np.isfinite(points).all() else (None, 0)
    if matrix is None or side < 2:
        return crop_face(frame, box, GEND_SCALE, out_h), landmarks_in_crop(points, box, GEND_SCALE, out_h), False
    warped = cv2.warpAffine(frame, matrix, (side, side), flags=cv2.INTER_LINEAR)
    crop = resize(warped, (out_w, out_h))
    moved = points @ matrix[:, :2].T + matrix[:, 2]
    return crop, _map_points(moved, (0, 0), (out_w / side, out_h / side)), True


_PROFILES = {
    p.name: p
    for p in (
        CropProfile(
            "default",
            "this toolkit's crop: a square of 1.3 box sides around the MTCNN box, 256 x 256 (see ExtractionConfig)",
            256,
            "MTCNN",
            "MTCNN",
            "deepfakeforensics.faces.crop.crop_face",
            _cut_default,
        ),
        CropProfile(
            "sbi",
            "Self-Blended Images: box + 1/8 of its width and height each side, clipped, stretched to 380 x 380",
            380,
            "MTCNN",
            "RetinaFace (retinaface_pytorch, resnet50_2020-07-20)",
            "mapooon/SelfBlendedImages src/inference/preprocess.py extract_frames; src/utils/funcs.py crop_face "
            "(crop_by_bbox=True, phase='test')",
            _cut_sbi,
        ),
        CropProfile(
            "deepfakebench",
            "DeepfakeBench: dlib points 37, 44, 30, 49, 55 onto the ArcFace template, scale 1.3, 256 x 256",
            256,
            "MTCNN, then dlib's 68-point predictor in the box predicted from MTCNN's five points",
            "dlib (HOG frontal face detector, upsampled once; 68-point shape predictor)",
            "SCLBD/DeepfakeBench preprocessing/preprocess.py get_keypts, extract_aligned_face_dlib.img_align_crop; "
            "training/dataset/abstract_dataset.py load_rgb (bicubic resize to the model's resolution)",
            _cut_deepfakebench,
        ),
        CropProfile(
            "selim",
            "DFDC winner (Seferbekov): box + 1/3 each side, longest side to 380, centred on black 380 x 380",
            380,
            "MTCNN",
            "MTCNN (facenet-pytorch, thresholds 0.7, 0.8, 0.8, on frames at half resolution)",
            "selimsef/dfdc_deepfake_challenge kernel_utils.py FaceExtractor.process_videos, "
            "isotropically_resize_image, put_to_center, predict_on_video",
            _cut_selim,
        ),
        CropProfile(
            "polimi",
            "polimi ICPR 2020: box + 0.2 of its height each side (0.4 above), square on the longer side, 224 x 224",
            224,
            "MTCNN",
            "BlazeFace (front model, 128 x 128 tiles)",
            "polimi-ispl/icpr2020dfdc blazeface/face_extract.py _add_margin_to_detections; extract_faces.py "
            "(512 square stored); isplutils/utils.py extract_bb (scale 'scale'), adapt_bb; test_model.py",
            _cut_polimi,
        ),
        CropProfile(
            "gend",
            "GenD: five points onto its template, scale 1.3, at the face's size; bicubic to 224 x 224 (CLIP)",
            224,
            "MTCNN",
            "RetinaFace (five points; detector.py, --target_size none)",
            "yermandy/GenD detector.py align_face; src/hf/modeling_gend.py CLIPEncoder.preprocess (CLIPProcessor)",
            _cut_gend,
        ),
        CropProfile(
            "gend_dinov3",
            "GenD DINOv3: GenD's alignment; rescaled to [0, 1], then bilinear with antialiasing to 224 x 224",
            224,
            "MTCNN",
            "RetinaFace (five points; detector.py, --target_size none)",
            "yermandy/GenD detector.py align_face; src/encoders/dino_encoder.py (AutoImageProcessor: transformers' "
            "DINOv3ViTImageProcessor, rescale then resize, bilinear, antialias)",
            functools.partial(_cut_gend, resize=float_bilinear_resize),
        ),
    )
}


def get_profile(name: str, size: int | None = None) -> CropProfile:
    """The crop profile called `name`, cutting crops of side `size` when given (the model's input size).

    polimi trained and tested every released model, Xception included, at 224 (scripts/test_all.sh:
    ``face-scale_size-224``); ``size`` serves a model fed at another size. DeepfakeBench warps at 256 and resizes
    (bicubic) to `size`, as their loader does for models of another resolution.

    Raises:
        ValueError: an unknown name (the message lists the known ones) or a size below 1.
    """
    if name not in _PROFILES:
        raise ValueError(f"unknown crop profile {name!r}: known profiles are {', '.join(PROFILES)}")
    profile = _PROFILES[name]
    if size is None:
        return profile
    if int(size) < 1:
        raise ValueError(f"crop profile {name}: size must be at least 1, got {size}")
    return replace(profile, crop_size=int(size))
