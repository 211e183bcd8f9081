"""Our MTCNN stage runner (`deepfakeforensics.faces._mtcnn`) against facenet-pytorch's own ``MTCNN.detect``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from synth_videos import write_face_video

from deepfakeforensics.data.video import iter_frames
from deepfakeforensics.faces import FaceFinder, box_iou
from deepfakeforensics.faces._mtcnn import crop_windows, detect_faces, pyramid, pyramid_scales, resize_windows

THRESHOLDS = (0.6, 0.7, 0.7)


@pytest.fixture(scope="module")
def mtcnn():
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, thresholds=list(THRESHOLDS), device="cpu")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """Two frames with two faces each, and one with none (all 360x640 RGB), and the pasted photos' rectangles."""
    root = tmp_path_factory.mktemp("mtcnn")
    rects = write_face_video(root / "faces.mp4", n_faces=2, n_frames=8, face_size=130)
    write_face_video(root / "empty.mp4", n_faces=0, n_frames=2)
    faces = [rgb for _, rgb in iter_frames(root / "faces.mp4", [0, 5])]
    [(_, empty)] = list(iter_frames(root / "empty.mp4", [0]))
    return np.stack([*faces, empty]), [rects[0], rects[5], []]


@pytest.fixture(scope="module")
def frames(video):
    return video[0]


def assert_on_the_photos(boxes: np.ndarray, rects: list) -> None:
    """One box per pasted photo: centred in it, and its side between a quarter and all of the photo's side."""
    assert len(boxes) == len(rects)
    for x0, y0, x1, y1 in rects:
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        inside = (x0 <= cx) & (cx <= x1) & (y0 <= cy) & (cy <= y1)
        assert inside.sum() == 1
        side = np.maximum(boxes[inside, 2] - boxes[inside, 0], boxes[inside, 3] - boxes[inside, 1])[0]
        assert (x1 - x0) / 4 <= side <= x1 - x0


def test_crop_windows_follow_facenet_and_flag_boxes_outside_the_frame():
    boxes = torch.tensor(
        [[10.7, 5.2, 40.1, 33.9], [-8.0, -3.5, 20.0, 30.0], [60.0, 40.0, 90.0, 65.0], [100.0, 10.0, 120.0, 30.0]]
    )
    windows, valid = crop_windows(boxes, 50, 70)
    # facenet crops rows/columns from int(coordinate) - 1 (at least 0) to int(end) (at most the frame side).
    assert windows[:3].tolist() == [[4, 33, 9, 40], [0, 30, 0, 20], [39, 50, 59, 70]]
    assert valid.tolist() == [True, True, True, False]


def test_resize_windows_is_area_interpolation(frames):
    index = np.array([0, 1, 0, 2])
    # row start, row end, column start, column end: 4x the output, a non-multiple, smaller than the output, one row.
    windows = np.array([[10, 106, 20, 116], [50, 187, 300, 421], [0, 13, 0, 17], [100, 101, 0, 48]])
    for size in (24, 48):
        got = resize_windows(frames, index, windows, size)
        assert got.shape == (4, 3, size, size) and got.dtype == torch.float32
        for k, (r0, r1, c0, c1) in enumerate(windows.tolist()):
            crop = torch.as_tensor(frames[index[k], r0:r1, c0:c1]).permute(2, 0, 1)[None].float()
            want = F.interpolate(crop, size=(size, size), mode="area")[0]
            diff = (got[k] - want).abs()
            if (r1 - r0) % size == 0 and (c1 - c0) % size == 0:  # whole-pixel bins: the same averages
                assert diff.max() <= 0.5  # OpenCV rounds its uint8 output
            else:
                assert diff.mean() <= 3.0


def test_progressive_pyramid_is_close_to_the_direct_one(frames):
    images = torch.as_tensor(frames).permute(0, 3, 1, 2).float()
    scales = pyramid_scales(360, 640, 30.0, 0.709)
    assert scales[0] == pytest.approx(0.4) and all(
        b / a == pytest.approx(0.709) for a, b in zip(scales[:-1], scales[1:], strict=True)
    )
    assert min(360, 640) * scales[-1] >= 12 > min(360, 640) * scales[-1] * 0.709
    direct, progressive = pyramid(images, scales, False), pyramid(images, scales, True)
    for scale, a, b in zip(scales, direct, progressive, strict=True):
        assert a.shape == b.shape == (3, 3, int(360 * scale + 1), int(640 * scale + 1))
        assert (a - b).abs().mean() <= 5.0  # grey levels, of 255: rounding that builds up over the levels
    torch.testing.assert_close(direct[0], progressive[0])


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("min_face_size", [20.0, 60.0])
def test_detect_faces_agrees_with_facenet_detect(video, mtcnn, min_face_size, progressive):
    frames, rects = video
    mtcnn.min_face_size = min_face_size
    ref_boxes, ref_probs = mtcnn.detect(frames)
    ours = detect_faces(
        frames, mtcnn.pnet, mtcnn.rnet, mtcnn.onet, min_face_size, THRESHOLDS, 0.709, progressive=progressive
    )
    assert len(ours) == len(frames)
    for ref_b, ref_p, (boxes, probs), photos in zip(ref_boxes, ref_probs, ours, rects, strict=True):
        assert boxes.dtype == np.float32 and probs.dtype == np.float32
        assert_on_the_photos(boxes[probs >= 0.95], photos)
        assert np.all(np.diff(probs) <= 0)  # highest probability first, as facenet
        if ref_b is None:
            assert boxes.shape == (0, 4) and probs.shape == (0,)
            continue
        sure = np.asarray(ref_p) >= 0.95  # the faces; candidates near the threshold may come and go
        assert_on_the_photos(np.asarray(ref_b)[sure], photos)
        # The same face, moved by MTCNN's candidate jitter (a slightly different winning window) at most.
        iou = box_iou(np.asarray(ref_b, np.float64)[sure], boxes.astype(np.float64))
        assert iou.max(axis=1).min() >= 0.7
        np.testing.assert_allclose(probs[iou.argmax(axis=1)], np.asarray(ref_p)[sure], atol=0.02)


def test_detect_faces_without_candidates_or_room_for_a_face(frames, mtcnn):
    nets = mtcnn.pnet, mtcnn.rnet, mtcnn.onet
    [(boxes, probs)] = detect_faces(frames[2:], *nets, 20.0, THRESHOLDS, 0.709)
    assert boxes.shape == (0, 4) and probs.shape == (0,)
    tiny = detect_faces(frames[:2, :20, :20], *nets, 40.0, THRESHOLDS, 0.709)  # smaller than the smallest face
    assert [b.shape for b, _ in tiny] == [(0, 4), (0, 4)]


def test_face_detector_engines_agree(video):
    frames, rects = video
    batched = FaceFinder(detect_size=320, device="cpu").detect(list(frames))
    facenet = FaceFinder(detect_size=320, device="cpu", engine="facenet").detect(list(frames))
    assert [len(d) for d in batched] == [len(d) for d in facenet] == [2, 2, 0]
    for a, b, photos in zip(batched, facenet, rects, strict=True):
        assert_on_the_photos(a.boxes, photos)  # full-resolution pixels, though detected at 320
        if len(a):
            assert box_iou(a.boxes, b.boxes).max(axis=1).min() >= 0.7
    with pytest.raises(ValueError, match="engine"):
        FaceFinder(engine="dlib")
