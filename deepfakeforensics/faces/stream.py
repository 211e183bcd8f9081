"""The streaming core shared by extraction and prediction: video in, tracked face crops out, in bounded memory.

This module decodes the sampled frames and batches their detection; ``assembler`` turns detection rounds into crops
(tracks, interpolation, cutting); ``config`` holds the settings (`ExtractionConfig`).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import numpy as np

from deepfakeforensics._memory import release_free_memory
from deepfakeforensics.data.video import VideoError, iter_frames, plan_clips, plan_frames, probe_video
from deepfakeforensics.faces.assembler import CropAssembler, FaceCrop
from deepfakeforensics.faces.config import ExtractionConfig
from deepfakeforensics.faces.finder import FaceFinder


def resolve_detect_every(indices: Sequence[int], config: ExtractionConfig) -> int:
    """The detection stride over sampled frames: explicit, or so detections fall about `detect_gap` frames apart."""
    if config.detect_every is not None:
        return max(1, config.detect_every)
    if len(indices) < 2:
        return 1
    step = (indices[-1] - indices[0]) / (len(indices) - 1)
    return max(1, int(round(config.detect_gap / max(step, 1e-9))))


def _sampled_indices(
    video_path: str | os.PathLike, config: ExtractionConfig, frame_indices: Sequence[int] | None
) -> list[int]:
    """The sorted frame indices to decode: `frame_indices` within the video, or those `config.sampling` plans."""
    info = probe_video(video_path)
    if frame_indices is None:
        indices = plan_frames(video_path, config.sampling, info)
    else:
        indices = sorted({int(i) for i in frame_indices if 0 <= int(i) < info.n_frames})
    if not indices:
        raise VideoError(video_path, "no frames to sample")
    return indices


def confirm_hits(n_sampled: int, every: int, config: ExtractionConfig) -> int:
    """Detections a track needs to be kept, given `n_sampled` frames with detection on every `every`-th and the last."""
    n_detect = len(set(range(0, n_sampled, every)) | {n_sampled - 1})
    return max(
        1,
        min(config.min_track_detections, n_detect),
        min(config.track_confirm_hits, math.ceil(config.min_track_fraction * n_detect)),
    )


def iter_face_crops(
    video_path: str | os.PathLike,
    config: ExtractionConfig | None = None,
    finder: FaceFinder | None = None,
    frame_indices: Sequence[int] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[FaceCrop]:
    """Yield every tracked face crop of a video, decoding only the sampled frames.

    Detection runs on every `detect_every`-th sampled frame and always on the last one. A track starts with a face
    of probability >= `min_prob`; once detected `min_track_detections` times it is established and continues with
    faces down to `track_prob` (hysteresis), and when a detection frame misses it, the region around its last box is
    searched again at full resolution (`redetect`). A track missed for at most `patience` detection frames and then
    found again is bridged: its boxes on the sampled frames in between, missed detection frames included, are
    interpolated linearly, so nothing is extrapolated. Tracks detected fewer than ``max(min(min_track_detections,
    detection frames), min(track_confirm_hits, ceil(min_track_fraction * detection frames)))`` times are dropped as
    false positives.
    Look-back (`track_lookback`): weak faces (>= `track_prob`) that continue no track are followed as candidates by
    the same matching and `patience` rules; when a strict detection continues one, the new track adopts the
    candidate's detections and the frames between them (interpolated like any gap) from at most `track_lookback`
    detection rounds back, so a face first seen dim starts where it was first seen. Which tracks are kept does not
    change: the adopted detections do not count towards the rules above, and a candidate that no strict detection
    continues gives nothing.
    Each crop is cut by `cut_face`: square around the box, or aligned on the face's landmarks (`align`; interpolated
    frames use interpolated landmarks), or as a released detector's authors cut it (`profile`).
    With the clips sampling strategy (``config.sampling.strategy == "clips"``, no `frame_indices`), each clip is
    tracked on its own, as if it were a video: a track never spans two clips (no bridge or interpolation over the
    frames between them), so a track cannot jump to another person across the gap; track ids still count on from
    clip to clip (unique in the video) and each crop carries its clip's number (`FaceCrop.clip`).
    Memory is bounded by about `buffer_mb` plus one batch plus the frames since a live track's last detection (at most
    ``(patience + 1) * detect_every``) plus each candidate's crops in the look-back (at most about ``track_lookback *
    detect_every`` crops), whatever the video's length. Crops of one track come in frame order (a track is never
    yielded before it is confirmed, so adopted crops come first); tracks interleave.

    Args:
        video_path: the video file.
        config: extraction settings (defaults: `ExtractionConfig()`).
        finder: a finder to reuse across videos (default: built from `config`).
        frame_indices: explicit frame indices to use instead of `config.sampling`.
        stop: asked after each decoded frame; when it returns True the work ends (`InterruptedError`), e.g. when
            the server's time limit ran out.

    Raises:
        VideoError: the video is missing, empty, unreadable or has no frames.
        InterruptedError: `stop` returned True.
    """
    config = config or ExtractionConfig()
    if frame_indices is None and config.sampling.strategy == "clips":
        yield from _iter_clip_crops(video_path, config, finder, stop)
        return
    indices = _sampled_indices(video_path, config, frame_indices)
    frames = iter_frames(video_path, indices, prefetch=config.prefetch)
    try:
        yield from _track_crops(video_path, frames, indices, config, finder or config.make_finder(), stop)
    finally:
        frames.close()


def _iter_clip_crops(
    video_path: str | os.PathLike, config: ExtractionConfig, finder: FaceFinder | None, stop: Callable[[], bool] | None
) -> Iterator[FaceCrop]:
    """The crops of the clips strategy: each clip tracked on its own (fresh tracks, no interpolation across the gap
    between clips), its crops marked with the clip's number; track ids count on across clips (unique in the video)."""
    clips = plan_clips(video_path, config.sampling)
    finder = finder or config.make_finder()
    frames = iter_frames(video_path, [i for clip in clips for i in clip], prefetch=config.prefetch)
    offset = 0
    try:
        for number, clip in enumerate(clips):
            part = itertools.islice(frames, len(clip))
            n_tracks = 0
            for crop in _track_crops(video_path, part, clip, config, finder, stop, required=number == 0):
                n_tracks = max(n_tracks, crop.track + 1)
                yield replace(crop, track=offset + crop.track, clip=number)
            offset += n_tracks
    finally:
        frames.close()


def _track_crops(
    video_path: str | os.PathLike,
    frames: Iterator[tuple[int, np.ndarray]],
    indices: Sequence[int],
    config: ExtractionConfig,
    finder: FaceFinder,
    stop: Callable[[], bool] | None,
    required: bool = True,
) -> Iterator[FaceCrop]:
    """Detect, track and cut the faces of `frames` (the decoded frames `indices`, in order); `required`: a stream
    that gives no frame at all is a `VideoError` (otherwise, e.g. a later clip past the real end, nothing)."""
    every = resolve_detect_every(indices, config)
    n = len(indices)
    assembler = CropAssembler(config, confirm_hits(n, every, config), finder)
    limit = config.buffer_mb * 2**20
    buffer: list[tuple[int, np.ndarray, bool]] = []
    n_buffered_detections = 0
    buffered_bytes = 0

    def flush() -> Iterator[FaceCrop]:
        results = iter(finder.detect([rgb for _, rgb, is_det in buffer if is_det], min_prob=config.keep_prob))
        release_free_memory()  # the batch's freed buffers: keeps long videos' peak memory flat
        for frame, rgb, is_det in buffer:
            if is_det:
                yield from assembler.on_detection(frame, rgb, next(results))
            else:
                assembler.add_frame(frame, rgb)

    decoded = 0
    for pos, (frame, rgb) in enumerate(frames):
        decoded += 1
        if stop is not None and stop():
            raise InterruptedError(f"{video_path}: stopped after {decoded} decoded frames (asked to stop)")
        is_det = pos % every == 0 or pos == n - 1
        buffer.append((frame, rgb, is_det))
        buffered_bytes += rgb.nbytes
        n_buffered_detections += is_det
        if is_det and (n_buffered_detections >= finder.batch_size or buffered_bytes >= limit):
            yield from flush()
            buffer, n_buffered_detections, buffered_bytes = [], 0, 0
    if decoded == 0 and required:
        raise VideoError(video_path, "no decodable frames")
    if buffer:
        if not buffer[-1][2]:  # the stream ended before the promised last frame: detect on the last one we have
            buffer[-1] = (buffer[-1][0], buffer[-1][1], True)
        yield from flush()
