"""The DeeperForensics-1.0 perturbations, applied to a whole VIDEO before face detection.

Seven distortions at five levels each, and random mixes of 2-4 of them, as defined by DeeperForensics-1.0 (Jiang et
al., CVPR 2020; the level values are those of ``perturbation/add_distortion_to_video.py`` and
``perturbation/distortions.py`` in github.com/EndlessSora/DeeperForensics-1.0, MIT licence). This is our own code
following those definitions:

| code | distortion | parameter per level 1..5 | what the parameter is |
| --- | --- | --- | --- |
| CS | colour saturation | 0.4, 0.3, 0.2, 0.1, 0.0 | factor on the chroma (Cb, Cr) around neutral |
| CC | colour contrast | 0.85, 0.725, 0.6, 0.475, 0.35 | factor on every pixel value (then truncated) |
| BW | block-wise | 16, 32, 48, 64, 80 | 8x8 grey (128) blocks per 256 px of the short side |
| GNC | Gaussian noise (colour) | 0.001, 0.002, 0.005, 0.01, 0.05 | variance of white noise on YCbCr in [0, 1] |
| GB | Gaussian blur | 7, 9, 13, 17, 21 | kernel side; sigma = side / 6 |
| JPEG | "JPEG compression" | 2, 3, 4, 5, 6 | downscale factor, then back up (the published code resamples; it does not JPEG-encode) |
| VC | video compression | 30, 32, 35, 38, 40 | H.264 CRF of a re-encode of the clip (ffmpeg with libx264, see below) |

Differences from the published script, on purpose: frames are RGB here (the conversions use the RGB formulas, so the
values are the same: CS scales chroma around the published centre, 0.5 of the rescaled [16, 240] / 255 range, which
is `CHROMA_CENTRE` = 0.49777 in OpenCV's float YCrCb); values are clipped to [0, 255] before the cast to uint8 (the
published cast of an out-of-range float is undefined); the distorted frames are written losslessly (FFV1) so the
only compression is the one asked for (the published script writes XVID then re-encodes with ffmpeg); that re-encode
keeps the source's pixel format (4:2:0 for a 4:2:0 source, as the published XVID intermediate gives), not the
lossless intermediate's 4:4:4. The random distortions (BW, GNC) draw from their own generator (numpy's
``default_rng(seed)``): a seed here does not reproduce the published script's draws (Python's ``random``, numpy's
global state).

The ffmpeg used for VC is ``$DFF_FFMPEG`` if set, else ``ffmpeg`` on the PATH, else the static build (with libx264)
that the ``imageio-ffmpeg`` wheel ships (installed by ``scripts/install.sh``; extra ``deepfakeforensics[video]``).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

try:  # optional: a static ffmpeg with libx264 from PyPI, for the VC distortion
    import imageio_ffmpeg
except ImportError:  # pragma: no cover - the install script installs it
    imageio_ffmpeg = None

from deepfakeforensics.data.video import VideoError, open_video
from deepfakeforensics.errors import DFFError

DISTORTIONS: tuple[str, ...] = ("CS", "CC", "BW", "GNC", "GB", "JPEG", "VC")
DISTORTION_NAMES = {
    "CS": "colour saturation",
    "CC": "colour contrast",
    "BW": "block-wise",
    "GNC": "Gaussian noise",
    "GB": "Gaussian blur",
    "JPEG": "JPEG (resampling)",
    "VC": "video compression (CRF)",
}
#: Parameter of each distortion at levels 1..5 (DeeperForensics-1.0, ``get_distortion_parameter``).
LEVEL_PARAMS: dict[str, tuple[float, ...]] = {
    "CS": (0.4, 0.3, 0.2, 0.1, 0.0),
    "CC": (0.85, 0.725, 0.6, 0.475, 0.35),
    "BW": (16, 32, 48, 64, 80),
    "GNC": (0.001, 0.002, 0.005, 0.01, 0.05),
    "GB": (7, 9, 13, 17, 21),
    "JPEG": (2, 3, 4, 5, 6),
    "VC": (30, 32, 35, 38, 40),
}
LEVELS = (1, 2, 3, 4, 5)
BLOCK = 8  # side of a block-wise patch
# YCbCr scaling of the published code: Y to [16, 235] / 255 and Cb, Cr to [16, 240] / 255 before the noise is added
_Y_RANGE, _C_RANGE = 219.0, 224.0
#: Neutral chroma of the published colour saturation: 0.5 of the rescaled range ``(c * 224 + 16) / 255``, in OpenCV's
#: float YCrCb (where grey is 0.5): (0.5 * 255 - 16) / 224 = 0.49777.
CHROMA_CENTRE = (0.5 * 255.0 - 16.0) / _C_RANGE


class PerturbationError(DFFError):
    """A perturbation cannot be applied here (e.g. no ffmpeg for video compression)."""


def level_param(kind: str, level: int) -> float:
    """The parameter of distortion `kind` at `level` (1-5)."""
    if kind not in LEVEL_PARAMS:
        raise ValueError(f"unknown distortion {kind!r}; choose one of {', '.join(DISTORTIONS)}")
    if level not in LEVELS:
        raise ValueError(f"level {level!r}: levels are 1 to 5")
    return LEVEL_PARAMS[kind][level - 1]


def _ycrcb(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2YCrCb)


def _to_uint8(ycrcb: np.ndarray) -> np.ndarray:
    return np.clip(cv2.cvtColor(ycrcb.astype(np.float32), cv2.COLOR_YCrCb2RGB), 0, 255).astype(np.uint8)


def color_saturation(rgb: np.ndarray, param: float) -> np.ndarray:
    """Chroma (Cb, Cr) scaled by `param` around the published neutral `CHROMA_CENTRE` (0: grey).

    Computed as the published code does (on BGR, in float32, with Y and chroma rescaled to [16, 235] / 255 and
    [16, 240] / 255 and back), so that the output is the same to the last bit (but clipped before the uint8 cast).
    """
    f32 = np.float32
    y = cv2.cvtColor(np.ascontiguousarray(rgb[..., ::-1]).astype(np.float32), cv2.COLOR_BGR2YCrCb)
    y[..., 0] = (y[..., 0] * f32(_Y_RANGE) + f32(16)) / f32(255)
    y[..., 1:] = (y[..., 1:] * f32(_C_RANGE) + f32(16)) / f32(255)
    y[..., 1:] = f32(0.5) + (y[..., 1:] - f32(0.5)) * f32(param)  # 0.5 here is `CHROMA_CENTRE` before rescaling
    y[..., 0] = (y[..., 0] * f32(255) - f32(16)) / f32(_Y_RANGE)
    y[..., 1:] = (y[..., 1:] * f32(255) - f32(16)) / f32(_C_RANGE)
    bgr = cv2.cvtColor(y, cv2.COLOR_YCrCb2BGR)
    return np.clip(bgr[..., ::-1], 0, 255).astype(np.uint8)


def color_contrast(rgb: np.ndarray, param: float) -> np.ndarray:
    """Every value times `param`, truncated to uint8 (as the published code)."""
    return (rgb.astype(np.float32) * param).astype(np.uint8)


def block_wise(rgb: np.ndarray, param: float, rng: np.random.Generator) -> np.ndarray:
    """``min(h, w) // 256 * param`` grey 8x8 blocks at uniformly random places (none on frames under 256 px)."""
    out = rgb.copy()
    h, w = rgb.shape[:2]
    for _ in range(min(h, w) // 256 * int(param)):
        x, y = int(rng.integers(0, w - 1 - BLOCK + 1)), int(rng.integers(0, h - 1 - BLOCK + 1))
        out[y : y + BLOCK, x : x + BLOCK] = 128
    return out


def noise_std(param: float) -> tuple[float, float]:
    """Standard deviation (0-255 units) of the noise the published definition adds to Y and to Cb/Cr."""
    s = 255.0 * 255.0 * np.sqrt(param)
    return s / _Y_RANGE, s / _C_RANGE


def gaussian_noise_color(rgb: np.ndarray, param: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise of variance `param` on YCbCr scaled to [0, 1] (in every channel)."""
    sy, sc = noise_std(param)
    y = _ycrcb(rgb)
    y += rng.standard_normal(y.shape).astype(np.float32) * np.array([sy, sc, sc], np.float32)
    return _to_uint8(y)


def gaussian_blur(rgb: np.ndarray, param: float) -> np.ndarray:
    """Gaussian blur with a `param` x `param` kernel and sigma = param / 6."""
    k = int(param)
    return cv2.GaussianBlur(rgb, (k, k), k / 6.0)


def jpeg_resample(rgb: np.ndarray, param: float) -> np.ndarray:
    """The published "JPEG compression": shrink to ``(w // param, h // param)`` and enlarge back (bilinear)."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (w // int(param), h // int(param)))
    return cv2.resize(small, (w, h))


_FRAME_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "CS": color_saturation,
    "CC": color_contrast,
    "GB": gaussian_blur,
    "JPEG": jpeg_resample,
}
_RANDOM_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {"BW": block_wise, "GNC": gaussian_noise_color}


def distort_frame(rgb: np.ndarray, kind: str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One frame-level distortion (every one but VC) at one level."""
    param = level_param(kind, level)
    if kind in _RANDOM_FUNCTIONS:
        return _RANDOM_FUNCTIONS[kind](rgb, param, rng)
    if kind in _FRAME_FUNCTIONS:
        return _FRAME_FUNCTIONS[kind](rgb, param)
    raise ValueError(f"{kind} is not a frame distortion (VC re-encodes the clip)")


@dataclass(frozen=True)
class Perturbation:
    """One or more (distortion, level) steps applied in order; VC (a re-encode) always runs last."""

    steps: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        for kind, level in self.steps:
            level_param(kind, level)

    @property
    def name(self) -> str:
        """``GB-3``, or ``mix:CS-1+GB-4`` for a mix; ``none`` when there is no step."""
        tags = "+".join(f"{k}-{lv}" for k, lv in self.steps)
        return "none" if not self.steps else tags if len(self.steps) == 1 else f"mix:{tags}"

    @property
    def crf(self) -> int | None:
        return next((int(level_param(k, lv)) for k, lv in self.steps if k == "VC"), None)


def single_perturbations(kinds: Sequence[str] = DISTORTIONS, levels: Sequence[int] = LEVELS) -> list[Perturbation]:
    """The 7 x 5 grid of single distortions (or the kinds and levels asked)."""
    return [Perturbation(((k, lv),)) for k in kinds for lv in levels]


def random_mix(rng: np.random.Generator, n_distortions: int | None = None) -> Perturbation:
    """A random mix: 2-4 different distortions (or `n_distortions`), each at a random level 1-5."""
    n = int(rng.integers(2, 5)) if n_distortions is None else n_distortions
    kinds = rng.choice(len(DISTORTIONS), size=n, replace=False)
    return Perturbation(tuple((DISTORTIONS[i], int(rng.integers(1, 6))) for i in sorted(kinds)))


def ffmpeg_binary() -> str | None:
    """An ffmpeg executable: ``$DFF_FFMPEG``, or ``ffmpeg`` on the PATH, or imageio-ffmpeg's bundled one, or None."""
    found = os.environ.get("DFF_FFMPEG") or shutil.which("ffmpeg")
    if found or imageio_ffmpeg is None:
        return found
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # the wheel has no binary for this platform
        return None


def _run_ffmpeg(command: list[str], src: Path, dst: Path) -> None:
    """Run an ffmpeg command writing `dst`; a failure removes any partial `dst` and raises `PerturbationError` naming
    the video and ffmpeg's own message (its bytes decoded with replacement: a non-UTF-8 file name never breaks it)."""
    done = subprocess.run(command, capture_output=True)
    if done.returncode != 0:
        dst.unlink(missing_ok=True)
        text = (done.stderr or done.stdout).decode("utf-8", errors="replace")
        message = text.strip().splitlines()
        reason = message[-1] if message else f"exit status {done.returncode}"
        raise PerturbationError(f"{src}: ffmpeg re-encoding failed ({command[0]}): {reason}")


def video_compression_command(
    src: Path, dst: Path, crf: int, ffmpeg: str = "ffmpeg", pix_fmt: str | None = None
) -> list[str]:
    """The ffmpeg command re-encoding `src` as H.264 at `crf` (the published ``ffmpeg -i in -crf N -y out``), in
    pixel format `pix_fmt` when given (the original video's, after a lossless 4:4:4 intermediate)."""
    command = [ffmpeg, "-v", "error", "-i", str(src), "-c:v", "libx264", "-crf", str(crf)]
    if pix_fmt:
        command += ["-pix_fmt", pix_fmt]
    return [*command, "-an", "-y", str(dst)]


_PIX_FMT = re.compile(r"Stream #\S+.*?: Video: [^,]*, ([a-z][a-z0-9_]*)")


def source_pixel_format(src: Path, ffmpeg: str) -> str | None:
    """The pixel format of `src`'s first video stream as ffmpeg reports it (``yuv420p``...); None when unknown."""
    done = subprocess.run([ffmpeg, "-hide_banner", "-i", str(src)], capture_output=True)  # exits 1: no output
    found = _PIX_FMT.search(done.stderr.decode("utf-8", errors="replace"))
    return found.group(1) if found else None


def _write_distorted(src: Path, dst: Path, frame_steps: list[tuple[str, int]], seed: int) -> None:
    """Decode `src`, distort every frame, write it losslessly (FFV1 in AVI); nothing is left at `dst` on failure.

    The writer writes an ASCII-named temporary file beside `dst` (OpenCV crashes on a non-UTF-8 name), renamed to
    `dst` when complete.
    """
    try:
        cap = open_video(src)
    except VideoError as e:
        raise PerturbationError(f"{src}: cannot be opened ({e.reason})") from e
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    tmp = dst.with_name(f".dff-{secrets.token_hex(6)}.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"FFV1"), fps, size)
    rng = np.random.default_rng(seed)
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            for kind, level in frame_steps:
                rgb = distort_frame(rgb, kind, level, rng)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        writer.release()
        os.replace(tmp, dst)
    finally:
        cap.release()
        writer.release()
        tmp.unlink(missing_ok=True)


def perturb_video(
    src: str | os.PathLike, dst_dir: str | os.PathLike, perturbation: Perturbation, seed: int = 0
) -> Path:
    """Write a perturbed copy of a video into `dst_dir` and return its path.

    Frame distortions are applied to every decoded frame (lossless FFV1 output, ``.avi``); VC then re-encodes the
    clip with ffmpeg/libx264 at its CRF (``.mp4``).

    Raises:
        PerturbationError: the video cannot be read, or VC is asked and no ffmpeg is available.
    """
    src, dst_dir = Path(src), Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    frame_steps = [(k, lv) for k, lv in perturbation.steps if k != "VC"]
    current = src
    ffmpeg = ffmpeg_binary() if perturbation.crf is not None else None
    if perturbation.crf is not None and ffmpeg is None:
        raise PerturbationError(
            "video compression (VC) needs an ffmpeg binary with libx264: pip install imageio-ffmpeg, "
            "or set DFF_FFMPEG to one"
        )
    if frame_steps:
        current = dst_dir / f"{src.stem}.avi"
        _write_distorted(src, current, frame_steps, seed)
    if perturbation.crf is not None:
        out = dst_dir / f"{src.stem}_crf{perturbation.crf}.mp4"
        pix_fmt = source_pixel_format(src, ffmpeg) if current != src else None  # the intermediate is 4:4:4
        try:
            _run_ffmpeg(video_compression_command(current, out, perturbation.crf, ffmpeg, pix_fmt), src, out)
        finally:
            if current != src:
                current.unlink(missing_ok=True)
        current = out
    return current
