"""The streaming core shared by extraction and prediction: video in, tracked face crops out, in bounded memory."""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from deepfakeforensics._memory import release_free_memory
from deepfakeforensics.data.video import SamplingConfig, VideoError, iter_frames, plan_clips, plan_frames, probe_video
from deepfakeforensics.faces.crop import aligned_crop, crop_face, landmarks_in_crop
from deepfakeforensics.faces.finder import Detections, FaceFinder
from deepfakeforensics.faces.profiles import PROFILES, ProfileName, get_profile
from deepfakeforensics.faces.tracking import IoUTracker, Track, box_iou, interpolate_box

MtcnnEngine = Literal["batched", "facenet"]


@dataclass(frozen=True)
class ExtractionConfig:
    """How faces are found, followed and cut out of a video."""

    sampling: SamplingConfig = field(
        default_factory=SamplingConfig, metadata={"help": "which frames of a video to use"}
    )
    detect_size: int | None = field(
        default=800, metadata={"help": "long side (pixels) of the frames MTCNN sees; 0 or None: full resolution"}
    )
    detect_every: int | None = field(
        default=None, metadata={"help": "detect on every k-th sampled frame (and the last); default: from detect_gap"}
    )
    detect_gap: int = field(
        default=5, metadata={"help": "automatic detect_every: detections about this many video frames apart"}
    )
    batch_size: int = field(default=16, metadata={"help": "detection frames per MTCNN call"})
    buffer_mb: int = field(
        default=256, metadata={"help": "flush the detection batch early once buffered frames take this many MB"}
    )
    margin: float = field(default=1.3, metadata={"help": "crop side = margin * max(box width, box height)"})
    crop_size: int = field(default=256, metadata={"help": "crops are crop_size x crop_size pixels"})
    align: bool = field(
        default=False,
        metadata={
            "help": "aligned crops: rotate and scale each face so its five landmarks lie on the ArcFace template "
            "(eyes level; same margin and size; as DeepfakeBench); a face without landmarks gets the plain crop"
        },
    )
    profile: ProfileName = field(
        default="default",
        metadata={
            "help": "whose crop to cut: default (this toolkit's: margin, crop_size, align); sbi, deepfakebench, "
            "selim or polimi: as that released detector's authors' test code cuts it (its own size; margin, "
            "crop_size and align are then unused; deepfakebench fits dlib's 68 points on each face, 2-4 ms)"
        },
    )
    min_face_size: int = field(
        default=40, metadata={"help": "smallest face kept: longer box side in full-resolution pixels"}
    )
    min_face_fraction: float = field(
        default=1 / 16, metadata={"help": "...and at least this share of the frame's short side (sets detection cost)"}
    )
    min_prob: float = field(
        default=0.95, metadata={"help": "smallest MTCNN face probability kept (0.9 lets through many false positives)"}
    )
    thresholds: tuple[float, float, float] = field(
        default=(0.6, 0.7, 0.7), metadata={"help": "MTCNN P-, R- and O-net thresholds"}
    )
    iou_threshold: float = field(
        default=0.3, metadata={"help": "smallest IoU to continue a track from one detection frame to the next"}
    )
    max_shift: float = field(
        default=1.0, metadata={"help": "...or, failing that, the centre moved at most this many box sides"}
    )
    patience: int = field(
        default=2,
        metadata={"help": "detection rounds a track may be missed before it ends (a gap it comes back from is filled)"},
    )
    track_prob: float = field(
        default=0.8,
        metadata={"help": "hysteresis: a track detected min_track_detections times continues down to this probability"},
    )
    track_lookback: int = field(
        default=10,
        metadata={
            "help": "a new track adopts the earlier detections down to track_prob that chain to its first strict one, "
            "from at most this many detection rounds back (0: a track starts at its first strict detection)"
        },
    )
    redetect: bool = field(
        default=True,
        metadata={"help": "search again at full resolution around a missed established track's last box"},
    )
    min_track_detections: int = field(
        default=2, metadata={"help": "tracks detected fewer times are dropped (capped at the detection frames)"}
    )
    min_track_fraction: float = field(
        default=0.1, metadata={"help": "tracks detected in fewer than this share of detection frames are dropped"}
    )
    track_confirm_hits: int = field(
        default=5, metadata={"help": "...but a track detected this many times is always kept (bounds held memory)"}
    )
    jpeg_quality: int = field(default=95, metadata={"help": "JPEG quality of the written crops"})
    prefetch: int = field(
        default=8, metadata={"help": "frames decoded ahead in a background thread (overlaps decoding and detection)"}
    )
    device: str = field(
        default="auto",
        metadata={"help": "torch device for MTCNN (cpu, cuda, cuda:1...); auto: a GPU when there is one"},
    )
    channels_last: bool = field(
        default=True, metadata={"help": "MTCNN's networks in channels_last memory (about 30 percent faster on CPU)"}
    )
    mtcnn_engine: MtcnnEngine = field(
        default="batched",
        metadata={
            "help": "batched: this project's MTCNN stage runner (faster); facenet: facenet-pytorch's detect",
            "aliases": ("--mtcnn",),
        },
    )

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            get_profile(self.profile)  # raises ValueError listing the known profiles

    def make_finder(self) -> FaceFinder:
        """The `FaceFinder` this config describes."""
        return FaceFinder(
            detect_size=self.detect_size or None,
            min_face_size=self.min_face_size,
            min_face_fraction=self.min_face_fraction,
            min_prob=self.min_prob,
            thresholds=self.thresholds,
            batch_size=self.batch_size,
            device=None if self.device in (None, "auto") else self.device,
            channels_last=self.channels_last,
            engine=self.mtcnn_engine,
        )

    @property
    def keep_prob(self) -> float:
        """The weakest detection extraction asks the finder for: new tracks still need `min_prob`."""
        return min(self.min_prob, self.track_prob)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FaceCrop:
    """One face in one frame."""

    track: int  # face id within the video: 0, 1, ... in order of confirmation
    frame: int  # frame index in the decoded stream
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in full-resolution pixels
    prob: float  # MTCNN probability (linearly interpolated between detections)
    image: np.ndarray  # RGB uint8 crop, crop_size x crop_size x 3 (or the profile's size)
    detected: bool  # True: the box comes from a detection on this frame; False: interpolated
    landmarks: np.ndarray | None = None  # (5, 2) float32 MTCNN's five points in crop pixels (interpolated like box)
    aligned: bool = False  # aligned on landmarks (`ExtractionConfig.align`, the deepfakebench profile), not a box crop
    clip: int | None = None  # the clip (0, 1, ...) of the clips sampling strategy; None for the other strategies


def resolve_detect_every(indices: Sequence[int], config: ExtractionConfig) -> int:
    """The detection stride over sampled frames: explicit, or so detections fall about `detect_gap` frames apart."""
    if config.detect_every is not None:
        return max(1, config.detect_every)
    if len(indices) < 2:
        return 1
    step = (indices[-1] - indices[0]) / (len(indices) - 1)
    return max(1, int(round(config.detect_gap / max(step, 1e-9))))


class _Assembler:
    """Turns detection rounds into crops: tracking, re-detection of missed tracks, interpolation over the frames
    between a track's detections, and dropping tracks too short to be faces."""

    def __init__(self, config: ExtractionConfig, confirm_hits: int, finder: FaceFinder):
        self.config = config
        self.confirm_hits = confirm_hits
        self.finder = finder
        self.tracker = IoUTracker(
            config.iou_threshold,
            config.patience,
            config.max_shift,
            start_prob=config.min_prob,
            established_hits=max(1, min(config.min_track_detections, confirm_hits)),
            candidates=config.track_lookback > 0,
        )
        self.last: dict[
            int, tuple[int, np.ndarray, float, np.ndarray]
        ] = {}  # live track -> last (frame, box, prob, points)
        self.recent: list[tuple[int, np.ndarray]] = []  # sampled frames after the oldest of those detections
        self.public: dict[int, int] = {}  # internal track id -> public id (confirmed tracks)
        self.pending: dict[int, list[FaceCrop]] = {}  # crops of unconfirmed tracks and of candidates
        self.rounds: deque[int] = deque(maxlen=max(0, config.track_lookback) + 1)  # the look-back's detection frames
        self.next_public = 0

    def _crop(
        self,
        track: Track,
        frame: int,
        rgb: np.ndarray,
        box: np.ndarray,
        prob: float,
        detected: bool,
        points: np.ndarray,
    ) -> Iterator[FaceCrop]:
        image, crop_points, aligned = cut_face(rgb, box, points, self.config)
        crop = FaceCrop(-1, frame, tuple(float(v) for v in box), float(prob), image, detected, crop_points, aligned)
        if track.id in self.public:
            yield _with_track(crop, self.public[track.id])
            return
        self.pending.setdefault(track.id, []).append(crop)
        if track.hits >= self.confirm_hits and not self.tracker.is_candidate(track):
            self.public[track.id] = self.next_public
            self.next_public += 1
            for held in self.pending.pop(track.id):
                yield _with_track(held, self.public[track.id])

    def add_frame(self, frame: int, rgb: np.ndarray) -> None:
        """A sampled frame without detection: kept while a live track may still need it interpolated."""
        if self.last:
            self.recent.append((frame, rgb))

    def _recover(self, rgb: np.ndarray, dets: Detections) -> Detections:
        """`dets` plus what a full-resolution search around each missed established track's last box finds."""
        if not self.config.redetect:
            return dets
        boxes, probs, points = [dets.boxes], [dets.probs], [dets.landmarks()]
        for track in self.tracker.unmatched(dets.boxes, dets.probs):
            if not self.tracker.is_established(track):
                continue
            found = self.finder.detect_near(rgb, track.box, min_prob=self.config.keep_prob)
            if len(found):
                best = int(np.argmax(box_iou(track.box, found.boxes)[0] + found.probs))
                boxes.append(found.boxes[best : best + 1])
                probs.append(found.probs[best : best + 1])
                points.append(found.landmarks()[best : best + 1])
        return Detections(np.concatenate(boxes), np.concatenate(probs), np.concatenate(points))

    def _start_of_look_back(self, frame: int) -> int:
        """Count detection frame `frame` into the look-back; the first frame a candidate may still give a track, its
        older crops dropped (the last `track_lookback` detection rounds before this one are kept)."""
        self.rounds.append(frame)
        start = self.rounds[0]
        for track in self.tracker.live:
            if self.tracker.is_candidate(track) and track.id in self.pending:
                self.pending[track.id] = [c for c in self.pending[track.id] if c.frame >= start]
        return start

    def on_detection(self, frame: int, rgb: np.ndarray, dets: Detections) -> Iterator[FaceCrop]:
        """Take one detection frame; yield the crops it completes (a track's frames since its last detection, and a
        track that starts from a candidate: the candidate's crops in the look-back)."""
        dets = self._recover(rgb, dets)
        start = self._start_of_look_back(frame)
        candidates = {t.id for t in self.tracker.live if self.tracker.is_candidate(t)}
        tracks, ended = self.tracker.update(frame, dets.boxes, dets.probs)
        for track in ended:
            self.pending.pop(track.id, None)
            self.last.pop(track.id, None)
        found = zip(tracks, dets.boxes.astype(np.float64), dets.probs.astype(float), dets.landmarks(), strict=True)
        for track, box, prob, points in found:
            if track is None:
                continue
            if track.id in self.last:  # the frames since its last detection, missed detection frames included
                first = start if track.id in candidates else 0  # a candidate's crops stay in the look-back
                f0, box0, p0, pts0 = self.last[track.id]
                for f, img in self.recent:
                    if f0 < f and f >= first:
                        t = (f - f0) / (frame - f0)
                        mid = ((1 - t) * pts0 + t * points).astype(np.float32)
                        yield from self._crop(
                            track, f, img, interpolate_box(box0, box, t), (1 - t) * p0 + t * prob, False, mid
                        )
            yield from self._crop(track, frame, rgb, box, prob, True, points)
            self.last[track.id] = (frame, box, prob, points)
        oldest = min((f for f, *_ in self.last.values()), default=frame)
        self.recent = [(f, img) for f, img in self.recent if f > oldest]
        if oldest < frame:
            self.recent.append((frame, rgb))


def cut_face(
    rgb: np.ndarray, box: np.ndarray, points: np.ndarray, config: ExtractionConfig
) -> tuple[np.ndarray, np.ndarray, bool]:
    """A face's crop as `config` asks (a released detector's `profile`; else aligned on its landmarks, or plain), its
    five points in the crop's pixels, and whether it is aligned (a face without landmarks gets the plain crop even
    with `config.align`)."""
    if config.profile != "default":
        return get_profile(config.profile).cut(rgb, box, points)
    if config.align:
        return aligned_crop(rgb, points, box, config.margin, config.crop_size)
    image = crop_face(rgb, box, config.margin, config.crop_size)
    return image, landmarks_in_crop(points, box, config.margin, config.crop_size), False


def _with_track(crop: FaceCrop, track: int) -> FaceCrop:
    return replace(crop, track=track)


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
    assembler = _Assembler(config, confirm_hits(n, every, config), finder)
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
