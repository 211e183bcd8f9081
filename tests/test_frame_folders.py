"""Frame-folder videos: a folder of numbered frames is read, probed, sampled, extracted and predicted like a video."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from synth_videos import face_photo

from deepfakeforensics.data.frame_folders import (
    FrameFolderError,
    frame_number,
    frames_as_crops,
    list_frames,
    sort_frames,
)
from deepfakeforensics.data.manifest import validate_manifest
from deepfakeforensics.data.media_limits import check_media_size
from deepfakeforensics.data.video import SamplingConfig, VideoError, iter_frames, plan_frames, probe_video
from deepfakeforensics.faces import ExtractionConfig, iter_face_crops
from deepfakeforensics.inference.predict import PredictConfig, StreamScorer, predict_file, predict_folder
from deepfakeforensics.models import create_model


def write_frames(folder, numbers, size=(48, 64), ext=".png"):
    """Frames whose red channel is the frame number (so the order read back can be checked), written by OpenCV."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        rgb = np.zeros((*size, 3), np.uint8)
        rgb[..., 0] = n  # red = the number
        rgb[..., 2] = 200  # blue: catches a BGR/RGB mix-up
        cv2.imwrite(
            str(folder / f"{n}{ext}" if isinstance(n, int) else folder / n), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        )
    return folder


def test_frames_are_ordered_by_the_number_in_their_names(tmp_path):
    folder = write_frames(tmp_path / "seq", [10, 2, 0, 33])
    (tmp_path / "seq" / ".hidden.png").write_bytes(b"x")
    (tmp_path / "seq" / "notes.txt").write_text("not a frame")
    assert [p.name for p in list_frames(folder)] == ["0.png", "2.png", "10.png", "33.png"]  # not 0, 10, 2, 33
    assert frame_number("frame_0012.jpg") == 12 and frame_number("000.png") == 0 and frame_number("a.png") is None
    assert sort_frames(["x\\frames\\7\\010.png", "x\\frames\\7\\002.png"], "j") == [
        "x\\frames\\7\\002.png",
        "x\\frames\\7\\010.png",
    ]


def test_unorderable_frames_are_refused_naming_them(tmp_path):
    with pytest.raises(FrameFolderError, match="'cover.png' has no number"):
        sort_frames(["1.png", "cover.png"], tmp_path)
    with pytest.raises(FrameFolderError, match="'01.png' and '1.png' have the same number 1"):
        sort_frames(["01.png", "1.png"], tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="empty: no frames"):
        probe_video(tmp_path / "empty")


def test_a_frame_folder_is_probed_sampled_and_decoded_like_a_video(tmp_path):
    folder = write_frames(tmp_path / "seq", [0, 8, 16, 24, 32, 40])
    info = probe_video(folder)
    assert (info.n_frames, info.width, info.height) == (6, 64, 48)
    assert plan_frames(folder, SamplingConfig("uniform", n_frames=3)) == [0, 2, 5]
    decoded = list(iter_frames(folder, [5, 0, 2, 99]))
    assert [i for i, _ in decoded] == [0, 2, 5]  # positions; 99 is past the end: ignored, as a stream ends
    assert [int(rgb[0, 0, 0]) for _, rgb in decoded] == [0, 16, 40]  # the frames of those positions, in RGB
    assert all(int(rgb[0, 0, 2]) == 200 for _, rgb in decoded)
    assert list(iter_frames(folder, None, prefetch=2))[-1][0] == 5
    size = check_media_size(folder, "video", max_pixels=10_000)
    assert (size.width, size.height, size.n_frames) == (64, 48, 6)


def test_an_undecodable_frame_is_a_video_error_naming_it(tmp_path):
    folder = write_frames(tmp_path / "seq", [0, 1])
    (folder / "2.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match=r"2\.png: frame is not a decodable image"):
        list(iter_frames(folder, None))


def test_frames_as_crops_makes_a_valid_faces_manifest(tmp_path):
    write_frames(tmp_path / "real_test" / "0" / "3", [4, 0, 12, 8])
    (tmp_path / "fake_test" / "1" / "5").mkdir(parents=True)  # no frames: a failure, not a crash
    videos = pd.DataFrame(
        {"video_id": ["real_test/0/3", "fake_test/1/5"], "path": ["real_test/0/3", "fake_test/1/5"], "label": [0, 1]}
    )
    videos.attrs["root"] = str(tmp_path)
    faces, failures = frames_as_crops(videos, n_frames=3)
    faces = validate_manifest(faces)
    assert list(faces["frame"]) == [0, 8, 12]  # 3 of 4 spread over the video (first, middle, last), by name
    assert list(faces["path"]) == ["real_test/0/3/0.png", "real_test/0/3/8.png", "real_test/0/3/12.png"]
    assert set(faces["label"]) == {0} and set(faces["track"]) == {0}
    assert failures == [(str(tmp_path / "fake_test" / "1" / "5"), failures[0][1])] and "no frames" in failures[0][1]


def write_face_frames(folder):
    """Frames 000.png, 005.png, ... 035.png of a face photo moving right over a plain background."""
    photo = face_photo(120)
    folder.mkdir(parents=True)
    for n in range(0, 40, 5):
        frame = np.full((240, 320, 3), 90, np.uint8)
        frame[60:180, 100 + n : 220 + n] = photo
        cv2.imwrite(str(folder / f"{n:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


FACE_CONFIG = ExtractionConfig(sampling=SamplingConfig("uniform", n_frames=4), detect_size=320, min_face_size=30)


@pytest.mark.slow
def test_faces_are_extracted_from_a_frame_folder(tmp_path):
    """Detection and tracking run on a frame folder exactly as on a file."""
    folder = write_face_frames(tmp_path / "seq")
    crops = list(iter_face_crops(folder, FACE_CONFIG, FACE_CONFIG.make_finder()))
    assert [c.frame for c in crops] == [0, 2, 5, 7] and {c.track for c in crops} == {0}
    x0, _, x1, _ = crops[-1].box
    assert 100 + 35 - 20 < (x0 + x1) / 2 - 60 < 100 + 35 + 20  # the face of frame 035.png, where it was pasted


@pytest.mark.slow
def test_a_frame_folder_is_predicted_as_one_video(tmp_path):
    torch.manual_seed(0)
    folder = write_face_frames(tmp_path / "seq")
    scorer = StreamScorer(create_model("mesonet4").eval())
    row = predict_file(folder, "seq", scorer, PredictConfig(), FACE_CONFIG, FACE_CONFIG.make_finder())
    assert row["kind"] == "video" and row["error"] == "" and row["frames_used"] == 4 and 0 <= row["score"] <= 1


@pytest.mark.slow
def test_predict_folder_takes_frame_folders_as_videos_when_asked(tmp_path):
    torch.manual_seed(0)
    write_face_frames(tmp_path / "media" / "clips" / "seq")
    cv2.imwrite(str(tmp_path / "media" / "still.png"), np.full((64, 64, 3), 90, np.uint8))
    model, finder = create_model("mesonet4").eval(), FACE_CONFIG.make_finder()
    kwargs = dict(extraction_config=FACE_CONFIG, finder=finder, progress=False)
    preds, _ = predict_folder(tmp_path / "media", model, frame_folders=True, **kwargs)
    assert list(preds["path"]) == ["clips/seq", "still.png"] and list(preds["kind"]) == ["video", "image"]
    assert preds.set_index("path").loc["clips/seq", "frames_used"] == 4
    each, _ = predict_folder(tmp_path / "media", model, **kwargs)  # default: every frame is an image of its own
    assert len(each) == 9 and set(each["kind"]) == {"image"}


def test_frames_listed_as_crops_feed_the_datasets_whatever_their_size(tmp_path):
    """WildDeepfake's face sequences differ in size: the datasets resize each crop to the model's input."""
    from deepfakeforensics.data.datasets import build_dataset

    write_frames(tmp_path / "fake_test" / "0" / "1", [0, 3], size=(90, 70))
    write_frames(tmp_path / "real_test" / "2" / "4", [5], size=(40, 52))
    videos = pd.DataFrame({"video_id": ["f", "r"], "path": ["fake_test/0/1", "real_test/2/4"], "label": [1, 0]})
    videos.attrs["root"] = str(tmp_path)
    faces, _ = frames_as_crops(videos.assign(split="test"))
    dataset = build_dataset(validate_manifest(faces), "test", create_model("mesonet4"))
    items = [dataset[i] for i in range(len(dataset))]
    assert [tuple(x.shape) for x, _ in items] == [(3, 256, 256)] * 3 and [int(y) for _, y in items] == [1, 1, 0]
