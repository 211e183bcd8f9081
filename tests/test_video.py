"""Frame sampling, probing and decoding of only the sampled frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepfakeforensics.data.video import (
    SamplingConfig,
    VideoError,
    find_scene_cuts,
    iter_frames,
    plan_frames,
    probe_video,
    sample_frame_indices,
)

SCENE_COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]  # RGB, 10 frames each


def write_scene_video(path, frames_per_scene: int = 10, size: tuple[int, int] = (160, 120)) -> None:
    """Three scenes of textured solid colours (RGB listed above), with a little per-frame change inside a scene."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    rng = np.random.default_rng(0)
    for colour in SCENE_COLOURS:
        for t in range(frames_per_scene):
            frame = np.empty((h, w, 3), np.uint8)
            frame[:] = colour
            frame[: h // 4, (t * 7) % w : (t * 7) % w + 10] = 255  # a small moving white bar
            noise = rng.integers(-8, 8, frame.shape)
            frame = np.clip(frame.astype(int) + noise, 0, 255).astype(np.uint8)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "scenes.mp4"
    write_scene_video(path)
    return path


def test_uniform_spreads_over_the_whole_video():
    idx = sample_frame_indices(751, SamplingConfig("uniform", n_frames=32))
    assert len(idx) == 32 and idx == sorted(set(idx))
    assert idx[0] == 0 and idx[-1] == 750
    gaps = np.diff(idx)
    assert gaps.min() >= 23 and gaps.max() <= 25


def test_short_video_gives_all_its_frames():
    assert sample_frame_indices(10, SamplingConfig("uniform", n_frames=32)) == list(range(10))
    assert sample_frame_indices(0, SamplingConfig()) == []
    assert sample_frame_indices(5, SamplingConfig("uniform", n_frames=1)) == [2]


def test_every_k_and_all():
    assert sample_frame_indices(25, SamplingConfig("every_k", every_k=10)) == [0, 10, 20]
    assert sample_frame_indices(4, SamplingConfig("all")) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="strategy"):
        SamplingConfig("first_n")


def test_scene_sampling_takes_up_to_n_per_scene():
    idx = sample_frame_indices(30, SamplingConfig("scene", n_frames=3), cuts=[10, 20])
    assert idx == [0, 4, 9, 10, 14, 19, 20, 24, 29]
    idx = sample_frame_indices(30, SamplingConfig("scene", n_frames=20), cuts=[28])
    assert len(idx) == 22 and idx[0] == 0 and idx[19] == 27 and idx[-2:] == [28, 29]  # short scene: all its frames


def test_probe_video(scene_video):
    info = probe_video(scene_video)
    assert (info.n_frames, info.width, info.height) == (30, 160, 120)
    assert info.fps == pytest.approx(25.0)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "file not found"), (b"", "empty file"), (b"\x00garbage, not a video\x17" * 50, "unreadable")],
)
def test_bad_files_raise_video_error_naming_the_file(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError, match=reason) as err:
        probe_video(path)
    assert str(path) in str(err.value) and err.value.path == str(path)
    if content is not None:
        with pytest.raises(VideoError):
            list(iter_frames(path, [0]))


def test_iter_frames_decodes_only_sampled_frames_in_rgb(scene_video):
    everything = dict(iter_frames(scene_video, None))
    assert sorted(everything) == list(range(30))
    some = list(iter_frames(scene_video, [25, 3, 14, 3]))
    assert [i for i, _ in some] == [3, 14, 25]
    for i, rgb in some:
        np.testing.assert_array_equal(rgb, everything[i])
    # RGB, not BGR: each scene's dominant channel is the one written
    for i, colour in zip([3, 14, 25], SCENE_COLOURS, strict=True):
        mean = everything[i][60:].reshape(-1, 3).mean(axis=0)
        assert int(np.argmax(mean)) == int(np.argmax(colour))
        np.testing.assert_allclose(mean, colour, atol=12)


def test_iter_frames_stops_at_the_real_end(scene_video):
    assert [i for i, _ in iter_frames(scene_video, [28, 29, 30, 500])] == [28, 29]


def test_scene_cuts_found_by_histogram_distance(scene_video):
    assert find_scene_cuts(scene_video) == [10, 20]
    idx = plan_frames(scene_video, SamplingConfig("scene", n_frames=2))
    assert idx == [0, 9, 10, 19, 20, 29]


def test_prefetch_gives_the_same_frames_and_errors(scene_video, tmp_path):
    plain = list(iter_frames(scene_video, [1, 12, 29]))
    ahead = list(iter_frames(scene_video, [1, 12, 29], prefetch=2))
    assert [i for i, _ in ahead] == [1, 12, 29]
    for (_, a), (_, b) in zip(plain, ahead, strict=True):
        np.testing.assert_array_equal(a, b)
    frames = iter_frames(scene_video, None, prefetch=1)
    assert next(frames)[0] == 0
    frames.close()  # stopping early must not hang the background thread
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        list(iter_frames(tmp_path / "empty.mp4", None, prefetch=2))
