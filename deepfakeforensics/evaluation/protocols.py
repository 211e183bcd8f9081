"""Evaluation protocols: which frames and faces are scored and how a video's score is made, named and stated.

A published number can only be put beside one of ours when both were measured the same way. A `Protocol` fixes what
DeepfakeBench's tables fix (Yan et al., NeurIPS 2023 Datasets and Benchmarks; github.com/SCLBD/DeepfakeBench,
``preprocessing/config.yaml`` and its test script): 32 frames per video spread over the whole video, one face per
frame cropped with a 1.3x margin, AUC over frames, and a video's score = the mean of its frame scores. Every table
`evaluate` writes carries the protocol's name in a ``protocol`` column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

import numpy as np
import pandas as pd

from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.faces.config import ExtractionConfig
from deepfakeforensics.scoring.aggregation import Aggregation

ProtocolName = Literal["own", "deepfakebench"]
PROTOCOL_NAMES: tuple[str, ...] = get_args(ProtocolName)


@dataclass(frozen=True)
class Protocol:
    """How frames are chosen and scores reported.

    Attributes:
        name: the name written in every table.
        frames_per_video: frames kept per video, spread evenly over the frames the manifest holds (None: all).
        one_face_per_frame: keep only the largest face of each frame (DeepfakeBench keeps one face per frame).
        margin: crop margin the faces must have been extracted with (None: any).
        aggregation: the file-level rule it imposes (None: the evaluation's own).
        description: one line for table headers.
    """

    name: str
    frames_per_video: int | None = None
    one_face_per_frame: bool = False
    margin: float | None = None
    aggregation: Aggregation | None = None
    description: str = ""


PROTOCOLS: dict[str, Protocol] = {
    "own": Protocol("own", description="every extracted face; the evaluation's aggregation rule"),
    "deepfakebench": Protocol(
        "deepfakebench",
        frames_per_video=32,
        one_face_per_frame=True,
        margin=1.3,
        aggregation="mean",
        description="DeepfakeBench: 32 frames per video over the whole video, largest face per frame, margin 1.3, "
        "frame AUC, video score = mean of frame scores",
    ),
}


def get_protocol(name: str) -> Protocol:
    """The protocol called `name` (one of `PROTOCOL_NAMES`)."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOL_NAMES)}")
    return PROTOCOLS[name]


def protocol_extraction_config(name: str, base: ExtractionConfig | None = None) -> ExtractionConfig:
    """The extraction settings a protocol needs (``dff extract`` options): uniform frames and its margin."""
    p = get_protocol(name)
    base = base or ExtractionConfig()
    if p.frames_per_video is not None:
        base = replace(base, sampling=SamplingConfig(strategy="uniform", n_frames=p.frames_per_video))
    return replace(base, margin=p.margin) if p.margin is not None else base


def _largest_face(faces: pd.DataFrame) -> pd.DataFrame:
    """One row per (video, frame): the face with the largest box (the lowest track when boxes are not recorded)."""
    if {"x0", "y0", "x1", "y1"} <= set(faces.columns):
        key = -((faces["x1"] - faces["x0"]) * (faces["y1"] - faces["y0"])).abs()
    else:
        key = faces["track"] if "track" in faces else pd.Series(0, index=faces.index)
    order = faces.assign(_key=key.to_numpy()).sort_values(["video_id", "frame", "_key"], kind="stable")
    return order.drop_duplicates(["video_id", "frame"]).drop(columns="_key").sort_index()


def spread_frames(faces: pd.DataFrame, n: int) -> pd.DataFrame:
    """The rows of at most `n` frames per video, evenly spaced over the video's frames in the manifest."""
    keep = []
    for _, g in faces.groupby("video_id", sort=False):
        frames = np.sort(g["frame"].unique())
        if len(frames) > n:
            frames = frames[np.unique(np.round(np.linspace(0, len(frames) - 1, n)).astype(int))]
        keep.append(g[g["frame"].isin(frames)])
    return pd.concat(keep).sort_index() if keep else faces


def apply_protocol(faces: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
    """The faces a protocol scores, and notes where the manifest cannot honour it (e.g. another crop margin).

    The manifest's ``attrs["extraction"]`` (written by `extract_faces`) tells the margin and sampling used.
    """
    p = get_protocol(name)
    notes: list[str] = []
    out = faces
    if p.one_face_per_frame:
        out = _largest_face(out)
    if p.frames_per_video is not None:
        out = spread_frames(out, p.frames_per_video)
    extraction = faces.attrs.get("extraction") or {}
    if p.margin is not None and "margin" not in extraction:
        notes.append(f"{p.name}: crop margin not recorded in the manifest (the protocol needs {p.margin})")
    elif p.margin is not None and float(extraction["margin"]) != p.margin:
        notes.append(f"{p.name}: faces cropped with margin {extraction['margin']}, the protocol needs {p.margin}")
    sampling = extraction.get("sampling") or {}
    if p.frames_per_video is not None and sampling.get("strategy", "uniform") != "uniform":
        notes.append(f"{p.name}: frames sampled by {sampling.get('strategy')!r}, not spread uniformly")
    out = out.copy()
    out.attrs = dict(faces.attrs)
    return out, notes
