"""The published SBI recipe beside the authors' own functions (issue 26): the same faces, the same landmarks, many draws.

The authors' code (mapooon/SelfBlendedImages, non-commercial licence) is imported at run time from ``--repo`` only,
never copied: ``src/utils/sbi.py`` (``SBI_Dataset.self_blending``, ``get_source_transforms``), ``blend.py``,
``funcs.py``. It needs albumentations 1.x (its code uses ``alpha_affine``, gone in 2.x) and scikit-image: install them
into a folder of their own and pass it as ``--deps`` (``pip install --target DIR albumentations==1.3.1 qudida
scikit-image scikit-learn``). Their training installs Face X-ray's landmark-augmentation library beside it
(``random_get_hull``); here its "facehull" type is emulated (the convex hull as a float mask), which is what makes
their first mask blur an erosion (without the library the mask is uint8 and the blur only rounds).

Faces: frame 100 of each sample video under ``--samples`` (FF++ and DFDC), found by dlib's detector, 68 points by
`deepfakeforensics.faces.dense`, the 81-point layout by `deepfakeforensics.data.sbi_masks.with_forehead` (both sides get the same
81 points), cut as the authors cut before blending (landmark box, wide margins: their ``crop_face(margin=True)``).

Printed side by side (means over draws and faces): share of ratio-1 blends; share of draws whose real is altered;
mask edge band (0.05 < M < 0.95) as a width in interocular distances; mask area (M > 0.5) relative to the 81-point
hull; forehead coverage (share of the 81-hull outside the 68-hull with M > 0.5); |change| of the high- to mid-frequency
energy ratio in the blended core (log, where r * M > 0.9); mean pixel change (grey levels) of the colour step and of
each frequency step on the crop; and the forehead points against the 81 points drawn on the 81-point model's reference
image (``--reference`` with its 13 forehead markers as ``--reference-points``), when given.

Run:
    .venv/bin/python benchmarks/sbi_fidelity.py --repo /work/authors/mapooon+SelfBlendedImages --deps /tmp/sbi_deps
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import cv2
import numpy as np

from deepfakeforensics.data.sbi import SBIConfig, apply_sbi, colour_step, draw_sbi, frequency_step
from deepfakeforensics.data.sbi_masks import hull_polygon, with_forehead
from deepfakeforensics.faces.dense import DenseLandmarker

FRAME = 100


def load_official(repo: Path, deps: Path | None):
    """The authors' ``SBI_Dataset`` class, its ``funcs`` and ``blend`` modules, imported from `repo`."""
    if deps is not None:
        sys.path.insert(0, str(deps))  # their albumentations 1.x ahead of ours (numpy and cv2 are already loaded)
        for name in [m for m in sys.modules if m == "albumentations" or m.startswith("albumentations.")]:
            del sys.modules[name]
    sys.path.insert(0, str(repo / "src"))
    sbi = importlib.import_module("utils.sbi")
    funcs = importlib.import_module("utils.funcs")
    blend = importlib.import_module("utils.blend")

    def facehull(landmark, img):  # Face X-ray library's "facehull" type: the hull, as a float mask (H, W, 3)
        mask = np.zeros(img.shape[:2], np.float64)
        cv2.fillConvexPoly(mask, cv2.convexHull(landmark.astype(np.int32)), 1.0)
        return np.repeat(mask[..., None], 3, 2)

    sbi.exist_bi, sbi.random_get_hull = True, facehull
    return sbi, funcs, blend


def sample_faces(samples: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB frame, 68 points) of frame `FRAME` of each sample video with a face dlib finds."""
    import dlib

    detector, landmarker = dlib.get_frontal_face_detector(), DenseLandmarker()
    out = []
    for path in sorted(samples.rglob("*.mp4")):
        cap = cv2.VideoCapture(str(path))
        cap.set(cv2.CAP_PROP_POS_FRAMES, FRAME)
        ok, frame = cap.read()
        cap.release()
        if not ok:
            continue
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        faces = detector(rgb, 1)
        if not faces:
            print(f"{path.name}: no face found at frame {FRAME}; skipped")
            continue
        r = max(faces, key=lambda b: b.width())
        out.append((path.name, rgb, landmarker(rgb, (r.left(), r.top(), r.right(), r.bottom()))))
    return out


def wide_crop(funcs, rgb: np.ndarray, points68: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The authors' pre-blend crop (their ``crop_face`` with ``margin=True`` around the landmarks) and 81 points in it
    (integers, as their landmark files hold)."""
    points = np.round(with_forehead(points68)).astype(np.int64)
    img, lm, _, _ = funcs.crop_face(rgb, points, None, margin=True, crop_by_bbox=False)
    return np.ascontiguousarray(img), np.asarray(lm, np.int64)


def _fill(points: np.ndarray, shape) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(m, np.round(hull_polygon(points)).astype(np.int32), 1)
    return m.astype(bool)


def _hf_mf(grey: np.ndarray, where: np.ndarray) -> float:
    """High- to mid-frequency energy in `where`: (image - blur 1) over (blur 1 - blur 4), mean squares."""
    g = grey.astype(np.float32)
    b1, b4 = cv2.GaussianBlur(g, (0, 0), 1.0), cv2.GaussianBlur(g, (0, 0), 4.0)
    return float(((g - b1)[where] ** 2).mean() / max(((b1 - b4)[where] ** 2).mean(), 1e-6))


def blend_stats(real_in, real, fake, mask, points81) -> dict[str, float]:
    """The statistics of one pair (see the module docstring)."""
    shape = mask.shape
    iod = float(np.linalg.norm(points81[36:42].mean(0) - points81[42:48].mean(0)))
    hull81, hull68 = _fill(points81, shape), _fill(points81[:68], shape)
    ratio = float(mask.max())
    soft = mask / ratio if ratio > 0 else mask
    perimeter = cv2.arcLength(np.round(hull_polygon(points81)).astype(np.float32).reshape(-1, 1, 2), True)
    band = ((soft > 0.05) & (soft < 0.95)).sum() / perimeter / iod
    inside = soft > 0.5
    forehead = hull81 & ~hull68
    core = mask > 0.9
    stats = {
        "ratio 1": float(ratio > 0.99),
        "real altered": float(not np.array_equal(real, real_in)),
        "edge band (IOD)": float(band),
        "area / 81-hull": float(inside.sum() / hull81.sum()),
        "forehead coverage": float((inside & forehead).sum() / max(forehead.sum(), 1)),
    }
    if core.sum() > 100:
        grey = [cv2.cvtColor(np.ascontiguousarray(x, np.uint8), cv2.COLOR_RGB2GRAY) for x in (real, fake)]
        stats["|dlog HF/MF| core"] = abs(np.log(_hf_mf(grey[1], core) / _hf_mf(grey[0], core)))
    return stats


def step_changes_official(sbi_mod, img: np.ndarray, n: int) -> dict[str, float]:
    """Mean |change| (grey levels) of the authors' colour Compose and of each frequency transform on `img`."""
    source = sbi_mod.SBI_Dataset.get_source_transforms(None)
    colour, (down, sharpen) = source.transforms[0], source.transforms[1].transforms
    out = {"colour step": [], "downscale step": [], "sharpen step": []}
    for _ in range(n):
        out["colour step"].append(np.abs(colour(image=img)["image"].astype(float) - img).mean())
        out["downscale step"].append(np.abs(down(image=img)["image"].astype(float) - img).mean())
        out["sharpen step"].append(np.abs(sharpen(image=img)["image"].astype(float) - img).mean())
    return {k: float(np.mean(v)) for k, v in out.items()}


def step_changes_ours(img: np.ndarray, n: int, seed: int) -> dict[str, float]:
    out = {"colour step": [], "downscale step": [], "sharpen step": []}
    for i in range(n):
        d = draw_sbi((seed, 99, i))
        out["colour step"].append(np.abs(colour_step(img, d).astype(float) - img).mean())
        key = "sharpen step" if d.sharpen is not None else "downscale step"
        out[key].append(np.abs(frequency_step(img, d).astype(float) - img).mean())
    return {k: float(np.mean(v)) for k, v in out.items()}


def reference_check(reference: Path, markers: np.ndarray) -> None:
    """The extended forehead against the 81-point model's forehead markers on its reference image."""
    import dlib

    rgb = cv2.cvtColor(cv2.imread(str(reference)), cv2.COLOR_BGR2RGB)
    r = dlib.get_frontal_face_detector()(rgb, 1)[0]
    lm = DenseLandmarker()(rgb, (r.left(), r.top(), r.right(), r.bottom()))
    ours = with_forehead(lm)[68:]
    iod = np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0))
    shape = rgb.shape[:2]
    ref81, ext81, only68 = _fill(np.r_[lm, markers], shape), _fill(np.r_[lm, ours], shape), _fill(lm, shape)
    iou = lambda a, b: (a & b).sum() / (a | b).sum()  # noqa: E731
    forehead = ref81 & ~only68
    print(f"\nforehead vs the 81-point reference image ({reference.name}):")
    print(f"  mean point distance {np.linalg.norm(ours - markers, axis=1).mean() / iod:.3f} IOD")
    print(f"  hull IoU: extended 68 vs 81 {iou(ext81, ref81):.3f}; plain 68 vs 81 {iou(only68, ref81):.3f}")
    print(
        f"  forehead covered {(ext81 & forehead).sum() / forehead.sum():.3f}; area ratio {ext81.sum() / ref81.sum():.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True, help="the authors' repository (a checkout)")
    parser.add_argument("--deps", type=Path, default=None, help="folder with albumentations 1.x and scikit-image")
    parser.add_argument("--samples", type=Path, default=Path("/work/shared/samples"))
    parser.add_argument("--draws", type=int, default=100, help="draws per face and side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", type=Path, default=None, help="the 81-point model's reference image")
    parser.add_argument("--reference-points", default=None, help="its 13 forehead markers: x,y;x,y;...")
    args = parser.parse_args(argv)
    sbi_mod, funcs, _ = load_official(args.repo, args.deps)
    np.random.seed(args.seed)
    import random

    random.seed(args.seed)
    official_ds = sbi_mod.SBI_Dataset.__new__(sbi_mod.SBI_Dataset)
    official_ds.source_transforms = official_ds.get_source_transforms()
    cfg = SBIConfig()
    rows = {"official": [], "ours": []}
    steps = {"official": [], "ours": []}
    faces = sample_faces(args.samples)
    for k, (name, rgb, lm68) in enumerate(faces):
        img, lm = wide_crop(funcs, rgb, lm68)
        print(
            f"{name}: crop {img.shape[1]}x{img.shape[0]}, IOD {np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)):.0f} px"
        )
        for i in range(args.draws):
            real, fake, mask = official_ds.self_blending(img.copy(), lm.copy())
            rows["official"].append(blend_stats(img, real, fake, mask[..., 0], lm))
            pair = apply_sbi(img, lm[:68].astype(np.float32), draw_sbi((args.seed, k, i)), cfg)
            rows["ours"].append(blend_stats(img, pair.real, pair.fake, pair.mask, lm))
        steps["official"].append(step_changes_official(sbi_mod, img, args.draws))
        steps["ours"].append(step_changes_ours(img, args.draws, args.seed + k))
    print(f"\n{len(faces)} faces x {args.draws} draws a side")
    print(f"{'statistic':<22}{'official':>10}{'ours':>10}{'ours/off':>10}")
    keys = list(rows["official"][0]) + ["|dlog HF/MF| core"] * ("|dlog HF/MF| core" not in rows["official"][0])
    for key in dict.fromkeys(keys):
        off = np.nanmean([r.get(key, np.nan) for r in rows["official"]])
        our = np.nanmean([r.get(key, np.nan) for r in rows["ours"]])
        print(f"{key:<22}{off:>10.3f}{our:>10.3f}{our / off if off else np.nan:>10.2f}")
    for key in steps["official"][0]:
        off = np.mean([s[key] for s in steps["official"]])
        our = np.mean([s[key] for s in steps["ours"]])
        print(f"{key + ' (grey)':<22}{off:>10.2f}{our:>10.2f}{our / off:>10.2f}")
    if args.reference is not None and args.reference_points:
        markers = np.array([[float(v) for v in p.split(",")] for p in args.reference_points.split(";")], np.float32)
        reference_check(args.reference, markers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
