"""How faces are found, followed and cut out of a video (`ExtractionConfig`): the settings of ``dff extract``,
``dff predict`` and the server, recorded beside extracted faces."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.faces.finder import FaceFinder
from deepfakeforensics.faces.profiles import PROFILES, ProfileName, get_profile

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
