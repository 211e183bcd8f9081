"""A prefetching frame reader stops when its caller stops reading, even in the middle of a long skip of frames
(`data.video._decode` grabs every frame up to the next wanted one: on a long video that is minutes of grabs)."""

from __future__ import annotations

import numpy as np

from deepfakeforensics.data import video

N_FRAMES = 3_000_000  # the stream's end: the reader would grab all of these before it noticed the caller left


class _LongVideo:
    """A stand-in for cv2.VideoCapture over a very long stream, counting its grabs."""

    def __init__(self) -> None:
        self.grabs = 0
        self.released = False

    def grab(self) -> bool:
        self.grabs += 1
        return self.grabs <= N_FRAMES

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, np.zeros((2, 2, 3), np.uint8)

    def release(self) -> None:
        self.released = True


def test_the_reader_thread_stops_mid_skip_when_the_caller_stops(monkeypatch):
    cap = _LongVideo()
    monkeypatch.setattr(video, "_open", lambda path: cap)
    frames = video.iter_frames("long.mp4", [0, N_FRAMES - 1], prefetch=2)
    index, rgb = next(frames)
    assert index == 0 and rgb.shape == (2, 2, 3)
    frames.close()  # joins the reader thread: it was skipping towards the last frame
    assert cap.released
    assert cap.grabs < N_FRAMES  # it stopped between two grabs, not at the end of the stream


def test_without_a_stop_every_wanted_frame_is_read(monkeypatch):
    cap = _LongVideo()
    monkeypatch.setattr(video, "_open", lambda path: cap)
    assert [i for i, _ in video.iter_frames("long.mp4", [0, 5, 9], prefetch=2)] == [0, 5, 9]
    assert cap.released and cap.grabs == 10
