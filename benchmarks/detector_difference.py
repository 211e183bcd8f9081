"""How much the face detector matters: our MTCNN's box against each profile's own detector, and the score change.

Each crop profile (`deepfakeforensics.faces.profiles`) cuts the authors' crop from *our* MTCNN box. Where the
authors' detector runs offline, this measures on frames of the shared sample videos how often its box overlaps
ours at IoU >= 0.8, and how much a released model's frame score moves between the crop cut from our box and the one
cut from theirs (same profile, same frame):

- deepfakebench: dlib's HOG frontal face detector (upsampled once, the biggest face, as their preprocess.py), which
  ships with dlib; its box is compared with our MTCNN box and with the box our profile starts dlib's predictor from
  (`face_box_from_points`), and the two crops differ by the 68 points dlib fits from each start;
- selim: facenet-pytorch's MTCNN as their kernel_utils.py FaceExtractor runs it (thresholds 0.7, 0.8, 0.8, frames
  at half size, box doubled and truncated), its weights inside the package;
- polimi: BlazeFace with the weights and anchors of their repository (``blazeface/``), tiled and merged by their
  FaceExtractor's own steps (imported from ``--repo polimi=DIR``); detections as (ymin, xmin, ymax, xmax);
- sbi: RetinaFace (retinaface_pytorch) downloads its weights: not run offline.

Scores: `create_model(name)` of each profile's released model with seeded *random* weights (no released weights
here), so the score change shows only the geometry's effect on a random network, not on the trained detector.

Run:
    .venv/bin/python benchmarks/detector_difference.py --repo polimi=/work/authors/polimi-ispl+icpr2020dfdc

Measured (FF++ 519 and 519_515, DFDC brtujopkby, 6 frames each: 19 MTCNN faces; 2 shared CPU cores, about 15
minutes, mostly dlib's HOG on upsampled 1080 x 1920 frames and B7 at 380):

- deepfakebench: dlib HOG box vs our MTCNN box IoU >= 0.8 for 0 of 19 faces (median IoU 0.70: HOG's box is
  tighter, brows to chin), 1 face missed by HOG; vs the box our profile starts dlib's predictor from, IoU >= 0.8
  for 79 percent; the 68 points fitted from the two starts differ by 28.2 px on average (frame pixels, mean over
  faces, large faces of the 1080 x 1920 clip included); the two aligned crops differ by 6.95 grey levels on average.
- selim: their half-resolution MTCNN vs ours: IoU >= 0.8 for 95 percent (median 0.93), 1 missed; crops differ by
  12.0 grey levels on average.
- polimi: BlazeFace vs our MTCNN: IoU >= 0.8 for none (median 0.73), 1 missed; crops differ by 36.8 grey levels
  on average: the box, not the crop rule, is the main difference left for polimi's models.
- Scores with random weights: mean |logit change| 0 (dfb_efficientnet_b4, ispl_efficientnet_b4) and 7.6e-6
  (selim_efficientnet_b7): randomly initialised networks are nearly blind to their input, so these figures say
  nothing about the trained detectors; rerun with the released weights for the real effect.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from deepfakeforensics.faces import get_profile
from deepfakeforensics.faces.dense import face_box_from_points
from deepfakeforensics.faces.profiles import fit_dense68
from deepfakeforensics.faces.tracking import box_iou
from deepfakeforensics.models import create_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from released_crops import VIDEOS, sample_faces  # noqa: E402  (the sibling benchmark's sample faces)

MODELS = {
    "deepfakebench": "dfb_efficientnet_b4",
    "selim": "selim_efficientnet_b7",
    "polimi": "ispl_efficientnet_b4",
    "sbi": "sbi_efficientnet_b4",
}
Detector = Callable[[np.ndarray], np.ndarray]  # RGB frame -> (N, 4) boxes x0, y0, x1, y1


def dlib_hog() -> Detector:
    import dlib

    detector = dlib.get_frontal_face_detector()

    def detect(rgb):
        rects = sorted(detector(rgb, 1), key=lambda r: -r.width() * r.height())  # their pick: the biggest
        return np.array([(r.left(), r.top(), r.right(), r.bottom()) for r in rects], np.float64).reshape(-1, 4)

    return detect


def selim_mtcnn() -> Detector:
    from facenet_pytorch import MTCNN
    from PIL import Image

    mtcnn = MTCNN(margin=0, thresholds=[0.7, 0.8, 0.8], device="cpu")

    def detect(rgb):
        img = Image.fromarray(rgb)
        boxes, _ = mtcnn.detect(img.resize(size=[s // 2 for s in img.size]), landmarks=False)
        if boxes is None:
            return np.zeros((0, 4))
        return np.array([[int(b * 2) for b in box] for box in boxes], np.float64)

    return detect


def polimi_blazeface(repo: Path) -> Detector:
    sys.path.insert(0, str(repo))
    from blazeface import BlazeFace, FaceExtractor  # noqa: PLC0415  (the authors' package, found at run time)

    net = BlazeFace()
    net.load_weights(str(repo / "blazeface/blazeface.pth"))
    net.load_anchors(str(repo / "blazeface/anchors.npy"))
    steps = FaceExtractor(video_read_fn=None, facedet=net)

    def detect(rgb):  # FaceExtractor.process_image's steps, without its margin
        tiles, resize_info = steps._tile_frames(np.expand_dims(rgb, 0), net.input_size)
        found = steps._resize_detections(net.predict_on_batch(tiles, apply_nms=False), net.input_size, resize_info)
        found = net.nms(steps._untile_detections(1, (rgb.shape[1], rgb.shape[0]), found))[0]
        order = torch.argsort(found[:, 16], descending=True)
        return found[order][:, [1, 0, 3, 2]].cpu().numpy().astype(np.float64).reshape(-1, 4)

    return detect


def frame_logit(model: torch.nn.Module, crop: np.ndarray) -> float:
    """The fake logit of one crop, resized to the model's input and normalised by its config."""
    cfg = model.default_cfg
    _, h, w = cfg.input_size
    if crop.shape[:2] != (h, w):
        crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_CUBIC)
    x = torch.from_numpy(np.array(crop)).permute(2, 0, 1).float() / 255
    x = (x - torch.tensor(cfg.mean)[:, None, None]) / torch.tensor(cfg.std)[:, None, None]
    with torch.no_grad():
        return float(model(x[None]).item())


def compare(name: str, detect: Detector, faces: list, model: torch.nn.Module | None) -> dict:
    """IoU of their best-matching box with ours per face, and the score change between the two boxes' crops."""
    profile = get_profile(name)
    ious, start_ious, changes, moved, pixels = [], [], [], [], []
    for _, rgb, box, points in faces:
        theirs = detect(rgb)
        if not len(theirs):
            ious.append(0.0)
            continue
        overlap = box_iou(box[None], theirs)[0]
        best = theirs[int(np.argmax(overlap))]
        ious.append(float(overlap.max()))
        if name == "deepfakebench":  # their crop: dlib's points fitted from their HOG box
            start = face_box_from_points(points) if np.isfinite(points).all() else box
            start_ious.append(float(box_iou(start[None], best[None])[0, 0]))
            dense_ours, dense_theirs = fit_dense68(rgb, box, points), fit_dense68(rgb, best, None)
            moved.append(float(np.linalg.norm(dense_ours - dense_theirs, axis=1).mean()))
            ours, other = profile.cut(rgb, box, points, dense_ours)[0], profile.cut(rgb, best, None, dense_theirs)[0]
        else:
            ours, other = profile.cut(rgb, box, points)[0], profile.cut(rgb, best, None)[0]
        pixels.append(float(np.abs(ours.astype(np.int16) - other.astype(np.int16)).mean()))
        if model is not None:
            logits = frame_logit(model, ours), frame_logit(model, other)
            changes.append((abs(logits[0] - logits[1]), abs(torch.sigmoid(torch.tensor(logits)).diff().item())))
    row = {"profile": name, "faces": len(ious), "iou>=0.8": float(np.mean(np.asarray(ious) >= 0.8))}
    row.update({"median_iou": float(np.median(ious)), "missed": int(sum(i == 0 for i in ious))})
    if start_ious:
        row["dlib_start_iou>=0.8"] = float(np.mean(np.asarray(start_ious) >= 0.8))
        row["dlib_68_moved_px"] = float(np.mean(moved))
    row["crop_mean_abs_diff"] = float(np.mean(pixels))
    if changes:
        row["mean_abs_logit_change"], row["mean_abs_p_change"] = (float(v) for v in np.mean(changes, axis=0))
    return row


def load_model(name: str) -> torch.nn.Module | None:
    """The profile's released model with seeded random weights, or None when it is not registered (yet)."""
    try:
        torch.manual_seed(0)
        return create_model(MODELS[name]).eval()
    except (KeyError, ValueError, RuntimeError) as e:
        print(f"{name}: no score change ({MODELS.get(name)} unavailable: {e})")
        return None


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", action="append", default=[], help="polimi=DIR (BlazeFace's code and weights)")
    parser.add_argument("--frames", type=int, default=6, help="frames per sample video")
    args = parser.parse_args(argv)
    repos = dict(item.split("=", 1) for item in args.repo)
    detectors: dict[str, Callable[[], Detector]] = {"deepfakebench": dlib_hog, "selim": selim_mtcnn}
    if "polimi" in repos:
        detectors["polimi"] = lambda: polimi_blazeface(Path(repos["polimi"]))
    print("sbi: RetinaFace needs downloaded weights: not run")
    faces = sample_faces(args.frames)
    print(f"{len(faces)} faces (our MTCNN) on {args.frames} frames of each of {len(VIDEOS)} sample videos")
    print("scores: released models with RANDOM weights: the change shows the geometry's effect only")
    rows = []
    for name, make in detectors.items():
        row = compare(name, make(), faces, load_model(name))
        rows.append(row)
        print("  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    return rows


if __name__ == "__main__":
    main()
