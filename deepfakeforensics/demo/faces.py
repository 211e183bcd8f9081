"""Demo identities made from a real face photograph that ships inside an installed package.

Only one real portrait is available offline (matplotlib's ``grace_hopper.jpg``), so the demo makes many "identities"
from it by deterministic variation: smooth geometric warps of the face (eye spacing, face width, lower-face length,
nose and mouth), skin tone, hair/hat and clothing colour, and mirroring. Each identity's five facial landmarks are
detected once with facenet-pytorch MTCNN on its photo, which also guarantees that the face stays detectable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Outline of the person in grace_hopper.jpg (600 x 512), as "x,y" points: hat, face, shoulders. GrabCut refines it
# at build time.
_PERSON_POLYGON = np.array(
    [
        [int(v) for v in point.split(",")]
        for point in (
            "176,62 205,40 262,26 320,36 352,56 360,90 372,118 372,150 366,200 358,260 345,300 330,325 420,360 490,395 "
            "512,430 512,600 24,600 20,500 40,420 110,375 195,335 172,300 160,255 155,200 148,150 152,110 168,85"
        ).split()
    ],
    dtype=np.int32,
)
_PHOTO_SHAPE = (600, 512)
_MIN_PROB = 0.95  # an identity photo whose face MTCNN finds with less confidence is redrawn


@dataclass(frozen=True)
class Identity:
    """One demo person: an RGB photo, the person's soft silhouette and the face's five landmarks.

    Attributes:
        image: RGB uint8 (H, W, 3) photo.
        alpha: float32 (H, W) in [0, 1], 1 on the person (composited over a background).
        landmarks: float64 (5, 2) x, y of left eye, right eye, nose, left and right mouth corner (image left/right).
        box: MTCNN face box (x0, y0, x1, y1) in photo coordinates.
    """

    image: np.ndarray
    alpha: np.ndarray
    landmarks: np.ndarray
    box: tuple[float, float, float, float]


def base_photo_path() -> Path:
    """Path of matplotlib's bundled portrait of Grace Hopper."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def load_base_photo() -> np.ndarray:
    """The base portrait as RGB uint8; raises FileNotFoundError naming the path when matplotlib lacks it."""
    path = base_photo_path()
    bgr = cv2.imread(str(path))
    if bgr is None:
        raise FileNotFoundError(f"{path}: cannot read matplotlib's sample photo grace_hopper.jpg")
    if bgr.shape[:2] != _PHOTO_SHAPE:
        bgr = cv2.resize(bgr, _PHOTO_SHAPE[::-1], interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def person_alpha(rgb: np.ndarray, feather: float = 1.5) -> np.ndarray:
    """Soft silhouette of the person in the base photo: the hand-drawn outline refined by GrabCut (seeded)."""
    h, w = rgb.shape[:2]
    outline = np.zeros((h, w), np.uint8)
    cv2.fillPoly(outline, [_PERSON_POLYGON], 255)
    mask = np.where(outline > 0, cv2.GC_PR_FGD, cv2.GC_BGD).astype(np.uint8)
    mask[cv2.erode(outline, np.ones((25, 25), np.uint8)) > 0] = cv2.GC_FGD
    mask[(cv2.dilate(outline, np.ones((15, 15), np.uint8)) > 0) & (outline == 0)] = cv2.GC_PR_BGD
    cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's global RNG
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), mask, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    fg = np.isin(mask, [cv2.GC_FGD, cv2.GC_PR_FGD]).astype(np.uint8) * 255
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    fg = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.float32)
    return cv2.GaussianBlur(fg, (0, 0), feather)


def detect_landmarks(
    rgb: np.ndarray, detector, downscale: int = 2
) -> tuple[np.ndarray, tuple[float, float, float, float], float] | None:
    """Most confident face's (landmarks (5, 2), box, prob) found by a facenet-pytorch MTCNN, or None.

    Detection runs on the photo shrunk `downscale` times (the face is large; this is several times faster).
    """
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (w // downscale, h // downscale), interpolation=cv2.INTER_AREA)
    boxes, probs, points = detector.detect(small, landmarks=True)
    if boxes is None or len(boxes) == 0:
        return None
    probs = np.asarray(probs, dtype=np.float64)
    k = int(np.argmax(probs))
    # Rounded so that float noise in the detector cannot change a build (arrays may come back with object dtype).
    points = np.round(np.asarray(points[k], dtype=np.float64).reshape(5, 2) * downscale, 1)
    box = np.round(np.asarray(boxes[k], dtype=np.float64).reshape(4) * downscale, 1)
    return points, (float(box[0]), float(box[1]), float(box[2]), float(box[3])), float(probs[k])


def make_detector():
    """A CPU MTCNN for landmarks of large faces (facenet-pytorch ships its weights)."""
    from facenet_pytorch import MTCNN

    # The photos' faces are > 100 px at half size: a large minimum face size skips most of the image pyramid.
    return MTCNN(keep_all=True, min_face_size=60, device="cpu")


def _gauss(xx: np.ndarray, yy: np.ndarray, c: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * sigma**2))


def warp_face(rgb: np.ndarray, alpha: np.ndarray, lm: np.ndarray, params: dict[str, float]):
    """Smoothly reshape the face around its landmarks (a displacement field of Gaussian bumps), photo and silhouette.

    `params` (fractions): eyes (eye spacing), width (face width), lower (lower-face length), nose (nose width),
    mouth (mouth width).
    """
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    le, re, nose, lm_, rm = lm.astype(np.float32)
    d = float(np.linalg.norm(re - le))  # inter-ocular distance
    eye_y = (le[1] + re[1]) / 2
    mouth = (lm_ + rm) / 2
    centre = (le + re + mouth * 2) / 4
    dx = params["eyes"] * d / 2 * (_gauss(xx, yy, re, 0.4 * d) - _gauss(xx, yy, le, 0.4 * d))
    dx += params["width"] * (xx - centre[0]) * _gauss(xx, yy, centre, 0.9 * d)
    dx += params["nose"] * (xx - nose[0]) * _gauss(xx, yy, nose, 0.25 * d)
    dx += params["mouth"] * (xx - mouth[0]) * _gauss(xx, yy, mouth, 0.35 * d)
    dy = params["lower"] * np.clip(yy - eye_y, 0, None) * _gauss(xx, yy, mouth, 0.9 * d)
    # Forward displacement D moves p to p + D(p); sampling at q - D(q) inverts it to first order.
    map_x, map_y = xx - dx, yy - dy
    warped = cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    warped_alpha = cv2.remap(alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped, warped_alpha


def recolour(rgb: np.ndarray, alpha: np.ndarray, lm: np.ndarray, params: dict[str, np.ndarray | float]) -> np.ndarray:
    """Change skin tone (Lab shift on skin-coloured pixels), hair/hat colour and clothing colour of the person."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    skin = np.clip((cr - 133) / 8, 0, 1) * np.clip((173 - cr) / 8, 0, 1) * np.clip((cb - 77) / 8, 0, 1)
    skin *= np.clip((127 - cb) / 8, 0, 1) * alpha
    skin = cv2.GaussianBlur(skin, (0, 0), 2)
    lab += skin[..., None] * np.asarray(params["skin_lab"], np.float32)
    out = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)
    h = rgb.shape[0]
    above_mouth = (np.arange(h)[:, None] < lm[3:, 1].mean()).astype(np.float32)
    # Hair and the hat's light parts: bright, unsaturated, above the mouth, not skin.
    light = np.clip((hsv[..., 2] - 110) / 30, 0, 1) * np.clip((60 - hsv[..., 1]) / 20, 0, 1) * above_mouth
    light = cv2.GaussianBlur(light * alpha * (1 - skin), (0, 0), 1.5)[..., None]
    out = out * (1 - light) + light * out * np.asarray(params["hair_tint"], np.float32)
    # Clothing and the hat's dark parts: dark pixels lifted towards a colour.
    dark = np.clip((70 - hsv[..., 2]) / 30, 0, 1) * alpha
    dark = cv2.GaussianBlur(dark, (0, 0), 1.5)[..., None]
    out = out + dark * np.asarray(params["cloth_rgb"], np.float32)
    out = 255 * (np.clip(out, 0, 255) / 255) ** float(params["gamma"])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def draw_variant(rng: np.random.Generator) -> dict[str, object]:
    """Random identity parameters (warp, colours, mirroring)."""
    hair = [(1.0, 1.0, 1.0), (0.45, 0.32, 0.22), (0.25, 0.2, 0.18), (0.95, 0.8, 0.5), (0.75, 0.35, 0.2)]
    return {
        "eyes": rng.uniform(-0.08, 0.08),
        "width": rng.uniform(-0.1, 0.12),
        "lower": rng.uniform(-0.1, 0.1),
        "nose": rng.uniform(-0.15, 0.2),
        "mouth": rng.uniform(-0.12, 0.15),
        "skin_lab": np.array([rng.uniform(-40, 12), rng.uniform(-4, 10), rng.uniform(-6, 16)]),
        "hair_tint": np.array(hair[int(rng.integers(len(hair)))]) * rng.uniform(0.85, 1.1),
        "cloth_rgb": rng.uniform(0, 70, size=3),
        "gamma": rng.uniform(0.8, 1.2),
        "mirror": bool(rng.integers(2)),
    }


def make_identity(
    base: np.ndarray, base_alpha: np.ndarray, base_lm: np.ndarray, params: dict[str, object], detector
) -> Identity | None:
    """Apply one variant to the base photo and detect its landmarks; None when MTCNN is not confident of the face."""
    image, alpha = warp_face(base, base_alpha, base_lm, params)  # type: ignore[arg-type]
    image = recolour(image, alpha, base_lm, params)  # type: ignore[arg-type]
    if params["mirror"]:
        image, alpha = np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(alpha[:, ::-1])
    found = detect_landmarks(image, detector)
    if found is None or found[2] < _MIN_PROB:
        return None
    landmarks, box, _ = found
    return Identity(image=image, alpha=alpha, landmarks=landmarks, box=box)


def make_identities(n: int, seed: int, detector=None) -> list[Identity]:
    """`n` distinct identities from the base photo; identity 0 is the unmodified photo. Deterministic in `seed`."""
    detector = detector or make_detector()
    base = load_base_photo()
    alpha = person_alpha(base)
    found = detect_landmarks(base, detector)
    if found is None:
        raise RuntimeError(f"{base_photo_path()}: MTCNN finds no face in the base photo")
    base_lm, base_box, _ = found
    identities = [Identity(image=base, alpha=alpha, landmarks=base_lm, box=base_box)]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    attempts = 0
    while len(identities) < n:
        attempts += 1
        if attempts > 10 * n:
            raise RuntimeError("could not draw detectable identity variants; MTCNN keeps missing the face")
        identity = make_identity(base, alpha, base_lm, draw_variant(rng), detector)
        if identity is not None:
            identities.append(identity)
    return identities[:n]
