"""Dense (68-point) face landmarks with dlib's shape predictor: the model file, the face box it starts from, and
`DenseLandmarker` on RGB crops. ``dense_sidecar`` fits them on every crop of a faces manifest and stores them beside it.

Self-blended images (`deepfakeforensics.data.sbi`) cut their mask from the convex hull of dense landmarks, as the paper
does; without them the mask is an ellipse fitted to MTCNN's five points. The 68 points follow iBUG 300-W's layout: jaw
0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.

Why dlib: its ``dlib-bin`` wheel installs beside numpy 2 with no other dependency, its model ships inside the
``face-recognition-models`` package (works offline once installed), it takes 2-4 ms a face on one CPU core,
and it is the predictor DeepfakeBench and the SBI paper use. mediapipe 0.10.21 (478 points, model inside the wheel)
pins numpy<2 and pulls jax and a second OpenCV (opencv-contrib-python); mediapipe 1.x ships no model file;
face-alignment's models are downloads.

Where the face is: dlib's predictor starts from the box its own HOG detector draws (tighter than MTCNN's, roughly
brows to chin). Each crop's box is predicted from its five MTCNN points (`face_box_from_points`): a square centred
0.40 eye-to-mouth distances below the eyes' midpoint, 2.3 such distances wide, the mean relation measured between the
five points and dlib's detector on real crops. On the sample videos it places the eye centres as close to MTCNN's
eyes as dlib's own detector box does (without the detector's 5-6 ms a crop, nor its misses: 7 of 120 crops), and far
closer than the MTCNN box on a small, turned face (see ``benchmarks/landmarks.py``). It holds for aligned crops too
(``dff extract --align``: their five points are in the aligned crop's pixels; 0.069 on 30 of them).
Crops without five points use the centred square of side ``size / margin`` (the detection box, for a square one).

Licence: the 68-point model was trained on the iBUG 300-W data set, whose licence excludes commercial use; dlib's
author advises asking Imperial College London (300-W's owner) before using the model in a commercial product. dlib
itself is Boost-licensed; the five-point path (MTCNN) has no such restriction.
Install with ``pip install 'deepfakeforensics[landmarks]'`` (dlib-bin and face-recognition-models), or point
``--model-file`` / ``DFF_DLIB_LANDMARKS`` at a local ``shape_predictor_68_face_landmarks.dat``.
Example:
    >>> landmarker = DenseLandmarker()  # doctest: +SKIP
    >>> points = landmarker(crop, face_box_in_crop(five_points, crop.shape[0]))  # (68, 2) in crop pixels
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepfakeforensics.errors import DFFError

try:
    import dlib
except ImportError:  # optional: pip install 'deepfakeforensics[landmarks]'
    dlib = None

N_DENSE = 68
MODEL_ENV = "DFF_DLIB_LANDMARKS"
MODEL_NAME = "shape_predictor_68_face_landmarks.dat"
MODEL_PACKAGE = "face_recognition_models"  # found, never imported (its __init__ needs pkg_resources)
INSTALL_HINT = (
    "install it with `pip install 'deepfakeforensics[landmarks]'` (dlib-bin and face-recognition-models), or pass "
    f"--model-file / set {MODEL_ENV} to a local {MODEL_NAME} (its training data, iBUG 300-W, excludes commercial use)"
)
#: dlib's detector box relative to the five MTCNN points, in eye-to-mouth distances (measured on real crops).
BOX_SIDE = 2.3
BOX_CENTRE = 0.40


class LandmarkModelError(DFFError, RuntimeError):
    """dlib or its 68-point model file is not available (the message says what is missing and how to install it)."""


def packaged_model_file() -> Path | None:
    """The model file inside the installed ``face-recognition-models`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_NAME
    return path if path.is_file() else None


def find_model_file(model_file: str | os.PathLike | None = None) -> Path:
    """The predictor's file: `model_file`, else ``$DFF_DLIB_LANDMARKS``, else the packaged one.

    Raises:
        LandmarkModelError: the named file does not exist, or none is given and none is installed.
    """
    given = model_file or os.environ.get(MODEL_ENV) or None
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            origin = "--model-file" if model_file else f"${MODEL_ENV}"
            raise LandmarkModelError(f"{path}: no such 68-point landmark model (given by {origin}); {INSTALL_HINT}")
        return path
    path = packaged_model_file()
    if path is None:
        raise LandmarkModelError(f"{MODEL_NAME} not found (package {MODEL_PACKAGE} is not installed); {INSTALL_HINT}")
    return path


def face_box_from_points(points: np.ndarray) -> np.ndarray:
    """The box dlib's detector would draw around a face, predicted from its five MTCNN points.

    Args:
        points: (5, 2) left eye, right eye, nose, left and right mouth corners.

    Returns:
        (x0, y0, x1, y1) float64: a square of side `BOX_SIDE` eye-to-mouth distances, centred `BOX_CENTRE` of that
        distance from the eyes' midpoint towards the mouth's.
    """
    points = np.asarray(points, np.float64)
    eyes, mouth = points[:2].mean(0), points[3:].mean(0)
    half = BOX_SIDE * max(float(np.linalg.norm(mouth - eyes)), 1.0) / 2
    centre = eyes + BOX_CENTRE * (mouth - eyes)
    return np.concatenate([centre - half, centre + half])


def face_box_in_crop(points: np.ndarray | None, size: int, margin: float = 1.3) -> np.ndarray:
    """The face box of a crop: from its five points when they are all known, else the centred detection square."""
    if points is not None and np.isfinite(points).all():
        return face_box_from_points(points)
    half = size / margin / 2
    c = (size - 1) / 2
    return np.array([c - half, c - half, c + half, c + half])


class DenseLandmarker:
    """dlib's 68-point shape predictor on RGB face crops.

    Args:
        model_file: ``shape_predictor_68_face_landmarks.dat``; default ``$DFF_DLIB_LANDMARKS``, else the file of the
            installed ``face-recognition-models`` package. Trained on iBUG 300-W: no commercial use.

    Raises:
        LandmarkModelError: dlib is not installed, or the model file is missing or unreadable.
    """

    def __init__(self, model_file: str | os.PathLike | None = None) -> None:
        if dlib is None:
            raise LandmarkModelError(f"dense landmarks need dlib, which is not installed; {INSTALL_HINT}")
        self.model_file = find_model_file(model_file)
        try:
            self._predictor = dlib.shape_predictor(str(self.model_file))
        except RuntimeError as e:
            raise LandmarkModelError(f"{self.model_file}: not a dlib shape predictor ({e}); {INSTALL_HINT}") from e

    def __call__(self, crop_rgb: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """The 68 points (68, 2) float32 in crop pixels of the face inside `box` (x0, y0, x1, y1 in crop pixels)."""
        image = np.ascontiguousarray(crop_rgb, dtype=np.uint8)
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        shape = self._predictor(image, dlib.rectangle(x0, y0, x1, y1))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def batch(self, crops: Sequence[np.ndarray], boxes: Sequence[Sequence[float]]) -> np.ndarray:
        """`__call__` on each crop: (n, 68, 2) float32."""
        out = np.empty((len(crops), N_DENSE, 2), np.float32)
        for i, (crop, box) in enumerate(zip(crops, boxes, strict=True)):
            out[i] = self(crop, box)
        return out
