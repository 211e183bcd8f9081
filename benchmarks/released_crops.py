"""Crop profiles against the authors' own crop functions: the same frame and face box through both, pixel difference.

For every face our MTCNN finds on a few frames of the shared sample videos, each profile's crop
(`deepfakeforensics.faces.profiles`) is compared with the crop the authors' code cuts from the same frame and box,
their functions imported at run time from the repository folders given with ``--repo`` (none of their code lives in
this project). Only what the authors' detector would have given is replaced: the box (and, for DeepfakeBench, the
dlib rectangle the 68-point predictor starts from, so both sides fit the same points with dlib).

- sbi: ``src/utils/funcs.py`` crop_face(phase="test", crop_by_bbox) then ``cv2.resize`` to 380, as
  ``src/inference/preprocess.py``;
- deepfakebench: ``preprocessing/preprocess.py`` extract_aligned_face_dlib (BGR in and out, as there) with a
  stand-in face detector returning our rectangle, the real dlib predictor; the loader's bicubic resize to 256 is a
  no-op. Needs scikit-image: ``--extra-path DIR`` appends a folder holding it to ``sys.path``
  (``pip install --target DIR scikit-image``; never into the project's venv); imutils' one helper is stubbed;
- selim: ``kernel_utils.py`` FaceExtractor.process_videos with a stand-in MTCNN returning our box at half
  resolution (they detect on half-size frames and double it), then isotropically_resize_image and put_to_center;
- polimi: ``blazeface/face_extract.py`` FaceExtractor._add_margin_to_detections, the 512-pixel square of
  ``extract_faces.py`` (their adapt_bb and a PIL crop), then ``isplutils/utils.py`` extract_bb(scale="scale",
  224). Their JPEG storage of the 512 square is left out (it is lossy: no crop function could match it); their test
  transformer's PadIfNeeded and Resize to 224 are no-ops on a 224 crop.

Run:
    .venv/bin/python -m pip install --target /tmp/authors_deps scikit-image   # once, outside the venv
    .venv/bin/python benchmarks/released_crops.py --extra-path /tmp/authors_deps \\
        --repo sbi=/work/authors/mapooon+SelfBlendedImages --repo deepfakebench=/work/authors/SCLBD+DeepfakeBench \\
        --repo selim=/work/authors/selimsef+dfdc_deepfake_challenge --repo polimi=/work/authors/polimi-ispl+icpr2020dfdc

Each face is compared where it was found, and again with its box moved half a box past the frame's top-left and
bottom-right corners (clipping and padding rules).

Measured (FF++ 519 and 519_515, DFDC brtujopkby, 6 frames each: 19 faces, 38 moved to the borders; scikit-image
0.26), max |ours - theirs| in grey levels (mean): sbi 0 (0), 0 at the borders; deepfakebench 1 (0.0001), 1 at the
borders (their template and points are float32, ours float64); selim 0, 0; polimi 0, 0. None dropped by theirs.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from deepfakeforensics.data.video import SamplingConfig, iter_frames, plan_frames
from deepfakeforensics.faces import FaceFinder, get_profile
from deepfakeforensics.faces.dense import DenseLandmarker, face_box_from_points

SAMPLES = Path(__file__).resolve().parents[2] / "shared/samples"
VIDEOS = (
    "ffpp/original_sequences/youtube/c23/videos/519.mp4",
    "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4",
    "dfdc/dfdc_train_part_0/brtujopkby.mp4",
)
Theirs = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (RGB frame, box, five points) -> RGB crop


def load_file(name: str, path: Path) -> types.ModuleType:
    """Import one file of an authors' repository under a private module name."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def stub_module(name: str, **attrs: object) -> None:
    """Stand in for a module the authors' file imports but the function compared never uses."""
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules.setdefault(name, module)


def sbi(repo: Path) -> Theirs:
    funcs = load_file("sbi_funcs", repo / "src/utils/funcs.py")

    def cut(rgb, box, points):
        bbox = np.array([[box[0], box[1]], [box[2], box[3]]])
        face = funcs.crop_face(rgb, None, bbox, False, crop_by_bbox=True, only_img=True, phase="test")
        return cv2.resize(face, dsize=(380, 380))

    return cut


def dlib_rectangle(box, points):
    """The rectangle our profile starts dlib's predictor from (rounded as `DenseLandmarker` rounds it)."""
    import dlib

    usable = points is not None and np.isfinite(points).all()
    start = face_box_from_points(points) if usable else np.asarray(box, np.float64)
    return dlib.rectangle(*(int(round(float(v))) for v in start))


def deepfakebench(repo: Path) -> Theirs:
    import dlib

    def shape_to_np(shape):
        return np.array([(p.x, p.y) for p in shape.parts()], np.int64)

    stub_module("imutils")
    stub_module("imutils.face_utils", shape_to_np=shape_to_np)
    sys.modules["imutils"].face_utils = sys.modules["imutils.face_utils"]
    pre = load_file("dfb_preprocess", repo / "preprocessing/preprocess.py")
    predictor = dlib.shape_predictor(str(DenseLandmarker().model_file))

    def cut(rgb, box, points):
        rect = dlib_rectangle(box, points)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        face, _, _ = pre.extract_aligned_face_dlib(lambda image, upsample: [rect], predictor, bgr, res=256)
        if face is None:
            return None
        return cv2.resize(cv2.cvtColor(face, cv2.COLOR_BGR2RGB), (256, 256), interpolation=cv2.INTER_CUBIC)

    return cut


def selim(repo: Path) -> Theirs:
    stub_module("albumentations.augmentations.functional", image_compression=None)
    kernel = load_file("selim_kernel_utils", repo / "kernel_utils.py")

    class HalfResolutionBox:  # their MTCNN runs on the frame at half size; they double its box
        box: np.ndarray

        def detect(self, img, landmarks=False):
            return np.asarray([self.box]) / 2, np.asarray([1.0])

    extractor = kernel.FaceExtractor.__new__(kernel.FaceExtractor)
    extractor.detector = HalfResolutionBox()

    def cut(rgb, box, points):
        extractor.detector.box = np.asarray(box, np.float64)
        extractor.video_read_fn = lambda path: ([rgb], [0])
        face = extractor.process_videos("", ["frame"], [0])[0]["faces"][0]
        return kernel.put_to_center(kernel.isotropically_resize_image(face, 380), 380)

    return cut


def polimi(repo: Path) -> Theirs:
    import torch
    from PIL import Image

    sys.path.insert(0, str(repo))
    from blazeface.face_extract import FaceExtractor  # noqa: PLC0415  (the authors' package, found at run time)
    from isplutils.utils import adapt_bb, extract_bb  # noqa: PLC0415

    def cut(rgb, box, points):
        height, width = rgb.shape[:2]
        detection = torch.zeros((1, 17), dtype=torch.float32)
        detection[0, :4] = torch.tensor([box[1], box[0], box[3], box[2]], dtype=torch.float32)
        ymin, xmin, ymax, xmax = FaceExtractor._add_margin_to_detections(None, detection, (width, height), 0.2)[
            0, :4
        ].numpy()
        frame = Image.fromarray(rgb)
        stored = adapt_bb(height, width, 512, 512, xmin, ymin, xmax, ymax)  # extract_faces.py, face_size = 512
        face = frame.crop(stored)
        bb = (xmin - stored[0], ymin - stored[1], xmax - stored[0], ymax - stored[1])
        return np.asarray(extract_bb(face, bb, "scale", 224))

    return cut


LOADERS: dict[str, Callable[[Path], Theirs]] = {
    "sbi": sbi,
    "deepfakebench": deepfakebench,
    "selim": selim,
    "polimi": polimi,
}


def sample_faces(n_frames: int) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(video name, RGB frame, box, five points) of every face our MTCNN finds on `n_frames` frames of each video."""
    finder = FaceFinder()
    faces = []
    for rel in VIDEOS:
        path = SAMPLES / rel
        if not path.is_file():
            print(f"skipped (not found): {path}")
            continue
        indices = plan_frames(path, SamplingConfig("uniform", n_frames=n_frames))
        frames = [rgb for _, rgb in iter_frames(path, indices)]
        for rgb, dets in zip(frames, finder.detect(frames), strict=True):
            for box, points in zip(dets.boxes, dets.landmarks(), strict=True):
                faces.append((path.name, rgb, box.astype(np.float64), points.astype(np.float64)))
    return faces


def at_borders(faces: list) -> list:
    """Each face again with its box (and points) moved half a box past the top-left and the bottom-right corners
    of the frame: where clipping and padding rules show."""
    moved = []
    for video, rgb, box, points in faces:
        height, width = rgb.shape[:2]
        w, h = box[2] - box[0], box[3] - box[1]
        for shift in ((-box[0] - w / 2, -box[1] - h / 2), (width - box[2] + w / 2, height - box[3] + h / 2)):
            moved.append((video, rgb, box + np.tile(shift, 2), points + shift))
    return moved


def compare(name: str, theirs: Theirs, faces: list) -> dict:
    """Max and mean absolute pixel difference between the profile's crops and the authors' over `faces`."""
    profile = get_profile(name)
    worst, means, n, skipped, shapes = 0, [], 0, 0, set()
    for _, rgb, box, points in faces:
        reference = theirs(rgb, box, points)
        if reference is None:  # their code drops the face (DeepfakeBench: no dlib face on the aligned crop)
            skipped += 1
            continue
        ours = profile.cut(rgb, box, points)[0]
        shapes.add((ours.shape, reference.shape))
        if ours.shape != reference.shape:
            raise AssertionError(f"{name}: crop shape {ours.shape} here, {reference.shape} in the authors' code")
        diff = np.abs(ours.astype(np.int16) - reference.astype(np.int16))
        worst, n = max(worst, int(diff.max())), n + 1
        means.append(float(diff.mean()))
    return {"profile": name, "faces": n, "dropped": skipped, "max": worst, "mean": float(np.mean(means or [0.0]))}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", action="append", default=[], help="NAME=DIR of an authors' repository")
    parser.add_argument("--extra-path", action="append", default=[], help="folder appended to sys.path")
    parser.add_argument("--frames", type=int, default=6, help="frames per sample video")
    args = parser.parse_args(argv)
    sys.path.extend(args.extra_path)
    repos = dict(item.split("=", 1) for item in args.repo)
    unknown = set(repos) - set(LOADERS)
    if unknown:
        parser.error(f"unknown --repo names {sorted(unknown)}: use {', '.join(LOADERS)}")
    faces = sample_faces(args.frames)
    print(f"{len(faces)} faces on {args.frames} frames of each of {len(VIDEOS)} sample videos (boxes: our MTCNN)")
    rows = []
    for name, folder in repos.items():
        theirs = LOADERS[name](Path(folder))
        for where, cases in (("as found", faces), ("at borders", at_borders(faces))):
            row = {"where": where, **compare(name, theirs, cases)}
            rows.append(row)
            print(
                f"{name:14s} {where:10s} faces {row['faces']:3d}  dropped by theirs {row['dropped']:2d}  "
                f"max |ours - theirs| {row['max']:3d} grey levels  mean {row['mean']:.4f}"
            )
    return rows


if __name__ == "__main__":
    main()
