"""Square face crops around detected boxes (plain, or aligned on five landmarks), JPEG writing with exactly one RGB -> BGR conversion, and reading back.

Two readers: `read_rgb` reads any image a user hands in (OpenCV: every format, EXIF orientation applied);
`read_jpeg_strict` reads the crops this toolkit wrote, and refuses a JPEG that libjpeg can only decode by guessing
("Corrupt JPEG data", "Premature end of JPEG file"), which OpenCV and PIL decode silently into broken pixels.
`jpeg_header_problem` is the cheap check of a crop file (its header only, and its end-of-image marker).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
import simplejpeg

from deepfakeforensics.data.video import opencv_safe_name

JPEG_SOI = b"\xff\xd8"  # start-of-image marker: the first two bytes of every JPEG file
JPEG_EOI = b"\xff\xd9"  # end-of-image marker: the last two of a complete one
# MTCNN's five landmarks in a faces manifest, in crop pixels: left eye, right eye, nose, left and right mouth corners
# (image left first). Manifests written before these columns existed load without them.
LANDMARK_COLUMNS = [f"lm{i}_{axis}" for i in range(5) for axis in ("x", "y")]
# The canonical five points (image-left eye, image-right eye, nose tip, image-left and image-right mouth corners) of
# an aligned face, relative to a unit face box: (0, 0) is the box's centre, the box spans -0.5 .. 0.5 on both axes.
# Source: the ArcFace / InsightFace 112 x 112 template (`arcface_dst` in insightface's utils/face_align.py:
# (38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)), divided by
# 112 and centred. DeepfakeBench aligns onto the same template with the 112 x 112 canvas as the face box, a margin of
# 1.3 and 256 x 256 output (preprocessing/preprocess.py, img_align_crop): our defaults give the same geometry.
ALIGN_TEMPLATE = (
    np.array(
        [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
        np.float64,
    )
    / 112.0
    - 0.5
)


def square_region(box: Sequence[float], margin: float) -> tuple[int, int, int]:
    """The square (x0, y0, side) centred on `box` with side ``margin * max(box width, box height)``, in pixels."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(1, int(round(margin * max(x1 - x0, y1 - y0))))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def landmarks_in_crop(points: np.ndarray, box: Sequence[float], margin: float = 1.3, size: int = 256) -> np.ndarray:
    """Frame-pixel points (..., 2) mapped into the crop `crop_face` cuts for `box` with this `margin` and `size`.

    Args:
        points: x, y in the frame's pixels (NaN stays NaN).
        box: the face box the crop is centred on.
        margin: the crop's margin, as given to `crop_face`.
        size: the crop's side in pixels.

    Returns:
        float32 x, y in the crop's pixels (pixel centres at integer coordinates, as in the frame).
    """
    x, y, side = square_region(box, margin)
    scale = size / side  # cv2.resize maps pixel centres: x' = (x + 0.5) * scale - 0.5
    return ((np.asarray(points, np.float64) - (x, y) + 0.5) * scale - 0.5).astype(np.float32)


def crop_face(frame: np.ndarray, box: Sequence[float], margin: float = 1.3, size: int = 256) -> np.ndarray:
    """Cut a square of side ``margin * max(w, h)`` centred on `box` out of `frame` and resize it to `size` x `size`.

    Parts of the square outside the frame are padded with black, so the face stays centred and undistorted at the
    borders. Colours are not touched: an RGB frame gives an RGB crop.
    """
    h, w = frame.shape[:2]
    x, y, side = square_region(box, margin)
    sx0, sy0, sx1, sy1 = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
    if sx1 <= sx0 or sy1 <= sy0:  # entirely outside the frame
        return np.zeros((size, size, frame.shape[2]), dtype=frame.dtype)
    patch = frame[sy0:sy1, sx0:sx1]
    top, left, bottom, right = sy0 - y, sx0 - x, y + side - sy1, x + side - sx1
    if top or left or bottom or right:
        patch = cv2.copyMakeBorder(patch, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interpolation)


def template_in_crop(margin: float = 1.3, size: int = 256) -> np.ndarray:
    """`ALIGN_TEMPLATE` in the pixels of an aligned crop of this `margin` and `size` (pixel centres at integers).

    The unit face box becomes ``size / margin`` pixels wide, centred in the crop, as `crop_face` centres and scales a
    detection box: the aligned crop shows the same number of face boxes of surroundings as a plain one.
    """
    return (ALIGN_TEMPLATE * (size / margin) + (size / 2 - 0.5)).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """The least-squares similarity (rotation, uniform scale, translation) taking points `src` onto `dst`, as 2 x 3.

    Umeyama's closed form (IEEE TPAMI 13(4), 1991), reflections excluded: the exact least-squares optimum, and
    deterministic, unlike a RANSAC fit (`cv2.estimateAffinePartial2D`). None when `src` has no spread.
    """
    src, dst = np.asarray(src, np.float64).reshape(-1, 2), np.asarray(dst, np.float64).reshape(-1, 2)
    mu_src, mu_dst = src.mean(0), dst.mean(0)
    src0, dst0 = src - mu_src, dst - mu_dst
    variance = (src0**2).sum() / len(src)
    if not variance > 1e-12:
        return None
    u, singular, vt = np.linalg.svd(dst0.T @ src0 / len(src))
    signs = np.array([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = (u * signs) @ vt
    scale = float((singular * signs).sum() / variance)
    return np.hstack([scale * rotation, (mu_dst - scale * rotation @ mu_src)[:, None]])


def _warp(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """`frame` warped by the 2 x 3 similarity `matrix` into a `size` x `size` image, black outside the frame.

    A shrinking warp first low-passes the frame region it reads with a Gaussian of the variance of `crop_face`'s
    area averaging (a box 1/scale pixels wide, less the one pixel bilinear sampling spans): bilinear sampling alone
    aliases fine texture, and this keeps an upright aligned crop's pixels those of the plain crop. Black borders, as
    `crop_face` pads and as DeepfakeBench's warp does: replicated edge pixels would draw stripes a detector could
    learn.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 1:
        sigma = float(np.sqrt((scale**-2 - 1) / 12))
        h, w = frame.shape[:2]
        corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], np.float64)
        inverse = cv2.invertAffineTransform(matrix)
        seen = corners @ inverse[:, :2].T + inverse[:, 2]
        reach = int(np.ceil(3 * sigma)) + 2  # the blur near the region's edge sees real neighbours
        x0, y0 = np.maximum(np.floor(seen.min(0)).astype(int) - reach, 0)
        x1, y1 = np.minimum(np.ceil(seen.max(0)).astype(int) + reach + 1, (w, h))
        if x1 > x0 and y1 > y0:
            frame = cv2.GaussianBlur(frame[y0:y1, x0:x1], (0, 0), sigma)
            matrix = np.column_stack([matrix[:, :2], matrix[:, :2] @ (x0, y0) + matrix[:, 2]])  # region pixels in
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def aligned_crop(
    frame: np.ndarray, points: np.ndarray, box: Sequence[float], margin: float = 1.3, size: int = 256
) -> tuple[np.ndarray, np.ndarray, bool]:
    """A `size` x `size` crop in which the face's five landmarks lie on the canonical template (`template_in_crop`).

    The frame is mapped by the least-squares similarity from its five `points` onto the template, placed as a face
    box is placed by `crop_face` (centred, ``size / margin`` pixels): the eyes are level and the face has the
    canonical size, with the same margin of surroundings. Faces without landmarks (any point NaN) get the plain crop.

    Args:
        frame: the RGB (or any channels) frame.
        points: (5, 2) landmarks in frame pixels (MTCNN's order: image-left eye, right eye, nose, mouth corners).
        box: the face box, used only for the plain-crop fallback.
        margin: crop side in face boxes, as for `crop_face`.
        size: the crop's side in pixels.

    Returns:
        (crop, the five points in the crop's pixels as float32 (5, 2), whether the crop is aligned).
    """
    points = np.asarray(points, np.float64)
    usable = points.shape == (5, 2) and bool(np.isfinite(points).all())
    matrix = similarity_transform(points, template_in_crop(margin, size)) if usable else None
    if matrix is None:
        return crop_face(frame, box, margin, size), landmarks_in_crop(points, box, margin, size), False
    moved = points @ matrix[:, :2].T + matrix[:, 2]
    return _warp(frame, matrix, size), moved.astype(np.float32), True


def encode_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    """JPEG bytes of an RGB image (converted to OpenCV's BGR here, once)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def write_jpeg(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB image as a JPEG file (the file holds the image's true colours)."""
    with open(path, "wb") as f:
        f.write(encode_jpeg(rgb, quality))


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); a missing, unreadable or undecodable file raises ValueError naming
    it and why (``missing``, ``permission denied``, ``empty``, ``not a decodable image``).

    The bytes are read by Python and decoded in memory (``cv2.imdecode``, EXIF orientation applied as ``imread``
    does): OpenCV never sees the file name, so any name works (``imread`` crashes on a non-UTF-8 one).
    """
    data, problem = _file_problem(path)
    if problem is not None:
        raise ValueError(f"{path}: image {problem}")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: image unreadable (not a decodable image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _file_problem(path: str | os.PathLike) -> tuple[bytes, str | None]:
    """The file's bytes, or why there are none (missing, unreadable, empty)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return b"", "missing"
    except PermissionError:
        return b"", "unreadable (permission denied)"
    except IsADirectoryError:
        return b"", "unreadable (a folder, not a file)"
    except OSError as e:
        return b"", f"unreadable ({e.strerror or e})"
    return data, (None if data else "empty (0 bytes)")


def read_jpeg_strict(path: str | os.PathLike) -> np.ndarray:
    """Read a JPEG face crop as RGB uint8 (H, W, 3), refusing one whose data is corrupt; ValueError names the file.

    libjpeg-turbo (through simplejpeg) reports the recoverable errors that OpenCV only prints to stderr (a crop with
    garbage in its middle still "decodes" there), and it decodes straight to RGB: no BGR swap to forget. Pixels are
    identical to OpenCV's (the same libjpeg-turbo). EXIF orientation is not applied: the toolkit's crops carry none.
    A file that is not a JPEG is read by `read_rgb`.
    """
    data, problem = _file_problem(path)
    if problem is not None:
        raise ValueError(f"{path}: image {problem}")
    if not data.startswith(JPEG_SOI):
        return read_rgb(path)
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as e:
        raise ValueError(f"{path}: image unreadable (corrupt JPEG: {e})") from None


def jpeg_header_problem(path: str | os.PathLike) -> str | None:
    """Why a crop file cannot be read, from a cheap look (size, JPEG header, end marker); None when it looks sound.

    Finds missing, empty, truncated and non-image files without decoding pixels; garbage inside the compressed data
    is only found by decoding (`read_jpeg_strict`).
    """
    data, problem = _file_problem(path)
    if problem is not None:
        return problem
    if not data.startswith(JPEG_SOI):
        if opencv_safe_name(path):
            readable = cv2.haveImageReader(str(path))
        else:  # OpenCV crashes on a non-UTF-8 name: decode the bytes instead
            readable = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is not None
        return None if readable else "not a decodable image"
    try:
        simplejpeg.decode_jpeg_header(data, strict=True)
    except ValueError as e:
        return f"corrupt JPEG header ({e})"
    if not data.rstrip(b"\x00").endswith(JPEG_EOI):
        return "truncated JPEG (no end-of-image marker)"
    return None
