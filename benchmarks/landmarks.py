"""Dense landmarks (dlib, 68 points) on real face crops: time per face, and agreement with MTCNN's eyes by face box.

Extracts `--n-frames` faces from each sample video of ``../shared/samples`` (FF++ 519 real and 519_515 Deepfakes,
640x480; DFDC brtujopkby, 1080x1920), then fits the 68 points on every crop from three starting boxes:

- ``five-point`` (what `deepfakeforensics.faces.dense` uses): the box dlib's detector would draw, predicted from the
  five MTCNN points;
- ``dlib HOG``: dlib's own frontal detector run on the crop (the box the predictor was trained with; the
  five-point box where it finds nothing);
- ``MTCNN box``: the detection box mapped into the crop.

Agreement: distance between dlib's eye centres (means of points 36-41 and 42-47) and MTCNN's eyes, in interocular
distances (MTCNN's), per video and overall. Time: the predictor alone on decoded crops, and ``dff landmarks``' whole
run (JPEG reading and the sidecar included) per face.

Run:
    .venv/bin/python benchmarks/landmarks.py --out /tmp/landmarks_bench

Measured (2 shared CPU cores, busy with other jobs; 40 frames per video, 256-pixel crops, 120 faces): predictor
2.1-3.5 ms/face, ``dff landmarks``' whole run 4-6 ms/face. Eye error, mean (max) over all faces: five-point box
0.071 (0.32); dlib HOG box 0.072 (0.32), but the detector costs 5-6 ms a crop and finds 113 of 120 faces (the
five-point box stands in for the 7 others); MTCNN box 0.262 (1.6). By video (five-point box): FF++ 519 0.040,
519_515 0.042 (frontal faces: every box does as well), DFDC brtujopkby 0.131 (a small, turned face: the MTCNN box
gives 0.70 there, the predictor lands on the wrong features).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deepfakeforensics import _io
from deepfakeforensics.data.manifest import read_manifest
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.faces import ExtractionConfig, extract_faces
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS, landmarks_in_crop, read_jpeg_strict
from deepfakeforensics.faces.dense import DenseLandmarker, dlib, face_box_in_crop
from deepfakeforensics.faces.dense_sidecar import write_dense_landmarks

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
VIDEOS = [
    ("519", "ffpp/original_sequences/youtube/c23/videos/519.mp4", 0),
    ("519_515", "ffpp/manipulated_sequences/Deepfakes/c23/videos/519_515.mp4", 1),
    ("brtujopkby", "dfdc/dfdc_train_part_0/brtujopkby.mp4", 1),
]


def extracted_faces(out: Path, n_frames: int) -> Path:
    """The faces manifest of the sample videos (extracted once into `out`)."""
    faces_csv = out / "labels" / "samples_faces.csv"
    if not faces_csv.is_file():
        index = pd.DataFrame(
            [(v, p, y, "samples", "m", v, "test") for v, p, y in VIDEOS],
            columns=["video_id", "path", "label", "dataset", "method", "group", "split"],
        )
        _io.save_table(index, out / "labels" / "samples.csv", root=SAMPLES)
        config = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=n_frames))
        extract_faces(out / "labels" / "samples.csv", out / "extracted", config, progress=False)
    return faces_csv


def boxes(faces: pd.DataFrame, crops: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The three starting boxes of every crop, (n, 4) in crop pixels."""
    five = faces[LANDMARK_COLUMNS].to_numpy(np.float64).reshape(-1, 5, 2)
    margin = float(faces.attrs.get("extraction", {}).get("margin", 1.3))
    ours = np.array([face_box_in_crop(p, c.shape[0], margin) for p, c in zip(five, crops, strict=True)])
    detector = dlib.get_frontal_face_detector()
    hog, n_found, start = ours.copy(), 0, time.perf_counter()
    for i, crop in enumerate(crops):
        found = list(detector(crop, 0))
        if found:
            r = max(found, key=lambda r: r.area())
            hog[i], n_found = (r.left(), r.top(), r.right(), r.bottom()), n_found + 1
    ms = 1000 * (time.perf_counter() - start) / len(crops)
    print(f"dlib HOG detector: {ms:.1f} ms/crop, found a face in {n_found} of {len(crops)} crops")
    mtcnn = np.array(
        [
            landmarks_in_crop(np.array([[r.x0, r.y0], [r.x1, r.y1]]), (r.x0, r.y0, r.x1, r.y1), margin, c.shape[0])
            for r, c in zip(faces.itertuples(), crops, strict=True)
        ]
    ).reshape(-1, 4)
    return {"five-point": ours, "dlib HOG": hog, "MTCNN box": mtcnn}


def eye_error(points: np.ndarray, five: np.ndarray) -> np.ndarray:
    """Mean distance of dlib's two eye centres to MTCNN's, in MTCNN interocular distances, per face."""
    eyes = np.stack([points[:, 36:42].mean(1), points[:, 42:48].mean(1)], 1)
    interocular = np.linalg.norm(five[:, 1] - five[:, 0], axis=1)
    return np.linalg.norm(eyes - five[:, :2], axis=2).mean(1) / interocular


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/landmarks_bench"), help="work folder")
    parser.add_argument("--n-frames", type=int, default=40, help="frames sampled per video")
    args = parser.parse_args()
    faces_csv = extracted_faces(args.out, args.n_frames)
    faces = read_manifest(faces_csv)
    crops = [read_jpeg_strict(Path(faces.attrs["root"]) / p) for p in faces["path"]]
    five = faces[LANDMARK_COLUMNS].to_numpy(np.float64).reshape(-1, 5, 2)
    landmarker = DenseLandmarker()
    videos = faces["video_id"].to_numpy()
    for name, box in boxes(faces, crops).items():
        start = time.perf_counter()
        points = landmarker.batch(crops, box)
        ms = 1000 * (time.perf_counter() - start) / len(crops)
        error = eye_error(points, five)
        per_video = ", ".join(f"{v} {error[videos == v].mean():.3f}" for v in dict.fromkeys(videos))
        print(f"{name:>10}: {ms:.2f} ms/face, eye error mean {error.mean():.3f} max {error.max():.3f} ({per_video})")
    dense_csv = faces_csv.with_name(faces_csv.stem + "_landmarks68.npz")
    dense_csv.unlink(missing_ok=True)
    run = write_dense_landmarks(faces_csv, landmarker)
    print(f"dff landmarks: {run.n_new} faces, {run.ms_per_face:.2f} ms/face (JPEG reading included) -> {run.path}")


if __name__ == "__main__":
    main()
