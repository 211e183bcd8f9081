"""What a run recorded about how it is to be used, read for `runs.RunInfo`: windows, crops and frame sampling.

- `run_window_config`: the windows a temporal run trained on (its ``config.json``, or a package's record);
- `CropSettings` and `crops_of_checkpoint` / `package_crops` / `profile_crops`: how its faces are cut;
- `run_sampling` and `prediction_sampling`: the frames a video is scored on. A run trained on clips of consecutive
  frames (``dff extract --strategy clips``) is scored on such clips, as it trained; other runs on frames sampled
  uniformly, unless asked otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfakeforensics._io import load_table
from deepfakeforensics._package import PackageConfig, is_package_dir, read_package
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.faces import ExtractionConfig, crops_aligned
from deepfakeforensics.models.released import ReleasedSpec
from deepfakeforensics.training.config import RunConfigError, read_run_config, recorded_crops, recorded_sampling

log = logging.getLogger(__name__)

#: Frames sampled uniformly per video when neither the caller nor the run says otherwise.
DEFAULT_FRAMES = 32


@dataclass(frozen=True)
class CropSettings:
    """How the detector's faces are cut: a crop profile (``faces.profiles``) or plain/aligned square crops."""

    profile: str = "default"  # a released detector's crop profile; "default": the toolkit's square crops
    align: bool = False  # (default profile) aligned on the five landmarks, as the run trained
    source: str = "the toolkit's default crops (square, margin 1.3, 256 px)"

    def apply(self, extraction: ExtractionConfig) -> ExtractionConfig:
        """`extraction` cutting faces this way (sampling, detection and tracking unchanged)."""
        changes: dict[str, Any] = {"align": self.align}
        if any(f.name == "profile" for f in dataclasses.fields(extraction)):
            changes["profile"] = self.profile
        elif self.profile != "default":
            raise ValueError(f"crop profile {self.profile!r} is not available in this version")
        return dataclasses.replace(extraction, **changes)


def run_window_config(run_dir: str | os.PathLike) -> WindowConfig:
    """The windows a run was trained and validated on (`read_run_config`), or the defaults when it records none.

    A package folder gives the windows it recorded. A folder that is not a training run (no config.json, e.g. a
    checkpoint copied on its own) gets the defaults, with a warning: a temporal model scored on other windows than its
    own may score worse.

    Raises:
        RunConfigError: the run's config.json is damaged (truncated, not UTF-8, a field of the wrong type): a
            temporal model is never scored with windows it was not trained on (the message names file and field).
    """
    if is_package_dir(run_dir):
        return read_package(run_dir).windows or WindowConfig()
    try:
        _, data = read_run_config(run_dir)
    except RunConfigError:
        raise
    except (FileNotFoundError, ValueError) as e:
        log.warning("%s; windows of %s", e, WindowConfig())
        return WindowConfig()
    return data.window or WindowConfig()


def training_crop_settings(weights: str | os.PathLike) -> tuple[str, bool] | None:
    """The crop profile and alignment the run a checkpoint comes from trained on; None when that cannot be told.

    Read from the run's ``config.json``: the ``"crops"`` training recorded from its faces manifest, or, for runs
    before that record, the manifest it names and that manifest's extraction settings (`crops_aligned`, and
    ``profile``: manifests from before profiles are ``"default"``); a checkpoint outside its run folder, or an older
    run whose manifest has moved, gives None.

    Raises:
        RunConfigError: the run's config.json is damaged (naming the file and the field).
    """
    run_dir = Path(weights).parent
    try:
        recorded = recorded_crops(run_dir)
        if recorded is not None:
            return recorded
        _, data = read_run_config(run_dir)
    except RunConfigError:
        raise
    except (FileNotFoundError, ValueError):
        return None
    if not data.faces or not Path(data.faces).is_file():
        return None
    faces = load_table(data.faces)
    profile = str((faces.attrs.get("extraction") or {}).get("profile") or "default")
    return profile, crops_aligned(faces)


def training_crops_aligned(weights: str | os.PathLike) -> bool | None:
    """Whether the run a checkpoint comes from trained on aligned crops; None when that cannot be told."""
    settings = training_crop_settings(weights)
    return None if settings is None else settings[1]


def package_crops(package: PackageConfig) -> CropSettings:
    where = f"recorded in package {package.folder.name}"
    source = f"{package.crops_source} ({where})" if package.crops_source else where
    return CropSettings(profile=package.crop_profile, align=package.aligned, source=source)


def profile_crops(spec: ReleasedSpec) -> CropSettings:
    return CropSettings(profile=spec.profile, source=f"crop profile {spec.profile!r} of {spec.name} ({spec.repo})")


def crops_of_checkpoint(path: Path, spec: ReleasedSpec | None) -> CropSettings:
    """A checkpoint's crops: those its run trained on (profile and alignment, from its faces manifest), else a
    released architecture's profile, else the toolkit's default."""
    settings = training_crop_settings(path)
    if settings is None:
        if spec is not None:
            return profile_crops(spec)
        return CropSettings(source="the toolkit's default crops (the run's crop settings could not be read)")
    profile, aligned = settings
    where = f"as {path.parent.name} trained (its faces manifest)"
    if profile != "default":
        return CropSettings(profile=profile, source=f"crop profile {profile!r}, {where}")
    return CropSettings(align=aligned, source=f"{'aligned' if aligned else 'plain'} square crops, {where}")


def run_sampling(weights: str | os.PathLike) -> SamplingConfig | None:
    """The clips a checkpoint's run trained on (``"sampling"`` of its ``config.json``, strategy ``clips``); None for
    a run trained on other samplings, a run from before that record, or a file outside a run folder.

    Raises:
        RunConfigError: the run's config.json is damaged (naming the file and the field).
    """
    try:
        recorded = recorded_sampling(Path(weights).parent)
    except FileNotFoundError:
        return None
    return recorded if recorded is not None and recorded.strategy == "clips" else None


def describe_sampling(sampling: SamplingConfig) -> str:
    """``4 clips of 16 consecutive frames``, ``32 frames sampled uniformly``, ``every 10th frame``..."""
    if sampling.strategy == "clips":
        step = "consecutive frames" if sampling.clip_stride == 1 else f"frames {sampling.clip_stride} apart"
        return f"{sampling.clips} clips of {sampling.clip_length} {step}"
    if sampling.strategy == "every_k":
        return f"every {sampling.every_k}th frame"
    if sampling.strategy == "uniform":
        return f"{sampling.n_frames} frames sampled uniformly"
    return f"{sampling.strategy} sampling"


def prediction_sampling(
    trained: SamplingConfig | None,
    *,
    frames: int | None = None,
    every_k: int | None = None,
    clips: int | None = None,
    clip_length: int | None = None,
    clip_stride: int | None = None,
) -> tuple[SamplingConfig, str]:
    """The frames a video is scored on, and why: as asked (`every_k`, `frames` uniformly, or clips: any of `clips`,
    `clip_length`, `clip_stride`, the others from `trained` or the defaults), else the clips the run `trained` on
    (`run_sampling`), else `DEFAULT_FRAMES` uniformly.

    Example:
        >>> prediction_sampling(SamplingConfig("clips", clip_length=8, clips=2))[1]
        '2 clips of 8 consecutive frames (as the run trained)'
        >>> prediction_sampling(None, clips=3)[1]
        '3 clips of 16 consecutive frames (asked)'

    Raises:
        ValueError: clip options asked together with `frames` or `every_k` (one sampling per call).
    """
    asked = {"clips": clips, "clip_length": clip_length, "clip_stride": clip_stride}
    asked_clips = {k: v for k, v in asked.items() if v is not None}
    if asked_clips and (frames or every_k):
        raise ValueError(
            "choose one sampling: clip options (--clips, --clip-length, --clip-stride) or --frames/--every-k"
        )
    if every_k:
        sampling, why = SamplingConfig("every_k", every_k=every_k), "asked"
    elif frames:
        sampling, why = SamplingConfig("uniform", n_frames=frames), "asked"
    elif asked_clips:
        sampling, why = dataclasses.replace(trained or SamplingConfig(), strategy="clips", **asked_clips), "asked"
    elif trained is not None:
        sampling, why = trained, "as the run trained"
    else:
        sampling, why = SamplingConfig("uniform", n_frames=DEFAULT_FRAMES), "default"
    return sampling, f"{describe_sampling(sampling)} ({why})"
