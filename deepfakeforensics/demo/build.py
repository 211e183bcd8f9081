"""Build the demo dataset: a small FaceForensics++-shaped folder of real and manipulated face videos.

Layout (as FaceForensics++ ships it)::

    OUT/original_sequences/youtube/c23/videos/000.mp4 ...            real videos, one per identity
    OUT/manipulated_sequences/FaceSwap/c23/videos/000_001.mp4 ...    <target>_<source>: source's face on target
    OUT/manipulated_sequences/SelfBlended/c23/videos/000_001.mp4 ... target's own face blended back (the pair's name)
    OUT/splits/{train,val,test}.json                                 [["000", "001"], ...] pairs, as the official ones
    OUT/demo_manifest.json                                           config, files, per-frame true face boxes

Identities are paired; each pair gives two fakes per method (``a_b`` and ``b_a``) and belongs to one split.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from deepfakeforensics._io import write_json_atomic
from deepfakeforensics.demo import scenes
from deepfakeforensics.demo.faces import Identity, make_identities

MANIFEST = "demo_manifest.json"
_BUILDING = ".demo_building.json"  # marker of an unfinished build (resumable with the same config)
_FORMAT_VERSION = 1
METHODS = ("FaceSwap", "SelfBlended")


@dataclass(frozen=True)
class DemoConfig:
    """What the demo dataset holds; the same config (and machine) always gives the same frames."""

    seed: int = field(
        default=0, metadata={"help": "everything random (identities, backgrounds, motion, fakes) derives from it"}
    )
    n_identities: int = field(default=16, metadata={"help": "people, i.e. real videos; even, paired for the fakes"})
    n_frames: int = field(default=48, metadata={"help": "frames per video"})
    fps: float = field(default=24.0, metadata={"help": "frame rate written in the files"})
    size: tuple[int, int] = field(default=(384, 288), metadata={"help": "frame (width, height), pixels"})
    face_range: tuple[int, int] = field(
        default=(110, 150), metadata={"help": "face box height range over the motion, pixels"}
    )
    methods: tuple[str, ...] = field(
        default=METHODS, metadata={"help": "manipulations to make, one fake per (target, source) pair direction each"}
    )
    split_fractions: tuple[float, float, float] = field(
        default=(0.5, 0.25, 0.25), metadata={"help": "train / val / test share of the pairs"}
    )
    compression: str = field(
        default="c23", metadata={"help": "name of the quality folder (OpenCV mp4v encodes every video)"}
    )

    def __post_init__(self) -> None:
        if self.n_identities < 6 or self.n_identities % 2:
            raise ValueError(f"n_identities must be even and >= 6 (3 splits of pairs), got {self.n_identities}")
        if self.n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {self.n_frames}")
        unknown = set(self.methods) - set(METHODS)
        if unknown or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {self.methods}")
        w, h = self.size
        if self.face_range[0] > self.face_range[1] or 0.9 * self.face_range[1] > w or 1.25 * self.face_range[1] > h:
            raise ValueError(f"face_range {self.face_range} does not fit frames of size {self.size}")

    def to_json(self) -> dict:
        """Plain-JSON form (tuples as lists), as stored in the manifest."""
        return json.loads(json.dumps(asdict(self)))


def video_id(index: int) -> str:
    """The demo's video id of identity `index`: three digits, as FaceForensics++ names its videos."""
    return f"{index:03d}"


def make_pairs(config: DemoConfig) -> dict[str, list[tuple[str, str]]]:
    """Identities shuffled, paired and the pairs split: {"train": [("003", "011"), ...], "val": ..., "test": ...}."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0]))
    order = rng.permutation(config.n_identities)
    pairs = [(video_id(int(a)), video_id(int(b))) for a, b in zip(order[::2], order[1::2], strict=True)]
    n = len(pairs)
    n_val = max(1, round(config.split_fractions[1] * n))
    n_test = max(1, round(config.split_fractions[2] * n))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(f"{n} pairs cannot fill train/val/test with fractions {config.split_fractions}")
    return {"train": pairs[:n_train], "val": pairs[n_train : n_train + n_val], "test": pairs[n_train + n_val :]}


def video_paths(config: DemoConfig) -> dict[str, dict[str, str]]:
    """Per target identity: {"real": relative path, method: relative path of the fake with that target, ...}."""
    partner = {}
    for split in make_pairs(config).values():
        for a, b in split:
            partner[a], partner[b] = b, a
    out = {}
    for i in range(config.n_identities):
        t = video_id(i)
        paths = {"real": f"original_sequences/youtube/{config.compression}/videos/{t}.mp4"}
        for method in config.methods:
            paths[method] = f"manipulated_sequences/{method}/{config.compression}/videos/{t}_{partner[t]}.mp4"
        out[t] = paths
    return out


def _rng(config: DemoConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([config.seed, *key]))


class _Writer:
    """An mp4v writer that renames its file into place only when closed successfully (a reader never sees half)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise RuntimeError(f"{self.tmp}: OpenCV cannot write mp4v video here")

    def write(self, rgb: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()
        os.replace(self.tmp, self.path)


def render_target(
    config: DemoConfig, index: int, identities: list[Identity], partner: int, out_dir: Path, paths: dict[str, str]
) -> list[list[float]]:
    """Write the real video of identity `index` and its fakes (missing files only); return its true face boxes."""
    width, height = config.size
    identity = identities[index]
    background = scenes.make_background(_rng(config, 2, index), width, height)
    motion = scenes.make_motion(_rng(config, 3, index), config.n_frames, width, height, config.face_range)
    todo = {kind: out_dir / rel for kind, rel in paths.items() if not (out_dir / rel).is_file()}
    writers = {kind: _Writer(path, config.fps, config.size) for kind, path in todo.items()}
    rngs = {m: _rng(config, 4, k, index) for k, m in enumerate(METHODS)}
    swap = scenes.draw_swap_params(rngs["FaceSwap"])
    blend = scenes.draw_blend_params(rngs["SelfBlended"])
    boxes = []
    try:
        for t in range(config.n_frames):
            matrix = scenes.frame_transform(identity, motion, t)
            landmarks = scenes.apply_affine(matrix, identity.landmarks)
            boxes.append(scenes.frame_face_box(identity, motion, t))
            if not writers:
                continue
            real = scenes.render_real(identity, background, matrix)
            for kind, writer in writers.items():
                if kind == "real":
                    writer.write(real)
                elif kind == "FaceSwap":
                    writer.write(scenes.swap_face(real, landmarks, identities[partner], swap, rngs["FaceSwap"]))
                else:
                    writer.write(scenes.self_blend(real, landmarks, blend))
        for writer in writers.values():
            writer.close()
    finally:
        for writer in writers.values():
            writer.writer.release()
            writer.tmp.unlink(missing_ok=True)
    return boxes


def read_demo_manifest(out_dir: str | os.PathLike) -> dict | None:
    """The demo's ``demo_manifest.json`` in `out_dir` (config, files, per-frame true face boxes); None if absent."""
    path = Path(out_dir) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def is_complete(out_dir: str | os.PathLike, config: DemoConfig) -> bool:
    """True when `out_dir` holds a finished build of exactly `config` with every file present."""
    manifest = read_demo_manifest(out_dir)
    if manifest is None or manifest.get("config") != config.to_json() or manifest.get("version") != _FORMAT_VERSION:
        return False
    return all((Path(out_dir) / rel).is_file() for rel in manifest["files"])


def build_demo_dataset(
    out_dir: str | os.PathLike, config: DemoConfig | None = None, *, progress: bool = True, **overrides: object
) -> Path:
    """Build (or resume, or find already built) the demo dataset in `out_dir`; returns its path.

    Args:
        out_dir: destination folder; it must be absent, empty, or hold a build of the same config.
        config: the dataset's config (defaults: `DemoConfig()`).
        progress: show a tqdm progress bar.
        **overrides: `DemoConfig` fields replacing those of `config`, e.g. ``seed=1, n_identities=8, n_frames=24``.

    Raises:
        FileExistsError: `out_dir` holds other files, or a demo built with another config.

    Example:
        >>> root = build_demo_dataset("demo", seed=0)  # doctest: +SKIP
        >>> # dff index demo --dataset ffpp
    """
    config = _with_overrides(config or DemoConfig(), overrides)
    out = Path(out_dir)
    if is_complete(out, config):
        return out
    _check_destination(out, config)
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / _BUILDING, {"config": config.to_json(), "version": _FORMAT_VERSION})
    for stale in out.glob("**/.*.partial.mp4"):
        stale.unlink()
    splits = make_pairs(config)
    paths = video_paths(config)
    faces = _render_videos(config, splits, paths, out, progress)
    for split, pairs in splits.items():
        write_json_atomic(out / "splits" / f"{split}.json", [list(p) for p in pairs])
    files = sorted(p for per in paths.values() for p in per.values())
    files += [f"splits/{s}.json" for s in splits]
    manifest = {
        "version": _FORMAT_VERSION,
        "config": config.to_json(),
        "files": files,
        "landmark_detector": "facenet-pytorch MTCNN on each identity's photo",
        "base_photo": "matplotlib sample_data/grace_hopper.jpg",
        "face_boxes": faces,  # per real video (and its fakes): per-frame true face box x0, y0, x1, y1
        "build_seconds": round(time.perf_counter() - start, 2),
    }
    write_json_atomic(out / MANIFEST, manifest)
    (out / _BUILDING).unlink(missing_ok=True)
    return out


def _with_overrides(config: DemoConfig, overrides: dict[str, object]) -> DemoConfig:
    """`config` with `DemoConfig` fields replaced (lists become tuples); unknown names refused."""
    unknown = set(overrides) - {f.name for f in fields(DemoConfig)}
    if unknown:
        raise TypeError(f"unknown DemoConfig fields: {sorted(unknown)}")
    return replace(config, **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})


def _render_videos(
    config: DemoConfig,
    splits: dict[str, list[tuple[str, str]]],
    paths: dict[str, dict[str, str]],
    out: Path,
    progress: bool,
) -> dict[str, list[list[float]]]:
    """Render each identity's real video and its fakes (face swapped with its split partner); their face boxes."""
    identities = make_identities(config.n_identities, config.seed)
    partner = {}
    for pairs in splits.values():
        for a, b in pairs:
            partner[int(a)], partner[int(b)] = int(b), int(a)
    faces = {}
    for index in tqdm(range(config.n_identities), desc="demo videos", unit="identity", disable=not progress):
        t = video_id(index)
        faces[t] = render_target(config, index, identities, partner[index], out, paths[t])
    return faces


def _check_destination(out: Path, config: DemoConfig) -> None:
    """Refuse to write into a folder holding anything but an unfinished (resumable) build of the same config."""
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder")
    if not any(out.iterdir()):
        return
    manifest = read_demo_manifest(out)
    if manifest is not None:
        if manifest.get("config") != config.to_json():
            raise FileExistsError(
                f"{out}: holds a demo dataset built with another config ({manifest.get('config')}); "
                "choose another folder or delete it"
            )
        return  # same config, some files missing: rebuild them
    marker = out / _BUILDING
    if marker.is_file() and json.loads(marker.read_text()).get("config") == config.to_json():
        return  # unfinished build of the same config: resume
    raise FileExistsError(f"{out}: exists and holds other files (no {MANIFEST} of this config); choose an empty folder")
