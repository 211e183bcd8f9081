"""MTCNN's three stages run on a batch of frames, cheaper on CPU than facenet-pytorch's ``detect_face``.

Same networks (facenet-pytorch's P-, R- and O-net weights), thresholds, pyramid scales, box regression, squaring, crop
rules (boxes truncated to integers and clipped to the frame, no padding) and non-maximum suppression as
facenet-pytorch 2.5.3. Two things cost less:

- the image pyramid: each level is resized from the previous one (``progressive=True``) instead of from the full
  frame, so building it costs about one pass over the frame instead of one per level;
- the R-net and O-net candidate crops: one ``cv2.resize(INTER_AREA)`` per candidate on the uint8 frame instead of one
  ``F.interpolate(mode="area")`` torch call per candidate (hundreds per frame).

Both change pixel values by rounding only, but MTCNN's final box is the regression of whichever candidate window O-net
scores highest, so a slightly different candidate set moves it by a few pixels (``FaceFinder(engine="facenet")`` gives
facenet-pytorch's own boxes). ``benchmarks/extraction.py`` measures the time saved and the boxes' agreement with
``MTCNN.detect``; the README lists its figures.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

_NET_CHUNK = 256  # candidate crops per R-/O-net call: bounds the memory of a crowded frame (see benchmarks/)


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """Scales of MTCNN's image pyramid: the smallest face maps to P-net's 12-pixel window, then steps by `factor`.

    Args:
        height: frame height in pixels.
        width: frame width in pixels.
        min_face_size: smallest face side searched for, in the frame's pixels.
        factor: scale step between pyramid levels (< 1).

    Returns:
        The scales, largest first, down to the last one whose short side still holds a 12-pixel window.
    """
    scale = 12.0 / min_face_size
    short = min(height, width) * scale
    scales = []
    while short >= 12:
        scales.append(scale)
        scale *= factor
        short *= factor
    return scales


def _normalise(pixels: torch.Tensor) -> torch.Tensor:
    """Pixel values 0..255 to MTCNN's input range (about -1..1)."""
    return (pixels - 127.5) * 0.0078125


def pyramid(images: torch.Tensor, scales: list[float], progressive: bool = True) -> list[torch.Tensor]:
    """The image pyramid P-net scans: `images` (B, C, H, W) float resized by each scale with "area" interpolation.

    Level sizes follow facenet-pytorch (``int(side * scale + 1)``). With `progressive`, each level is resized from the
    previous one instead of from the full frame: the cost of the pyramid falls from one full-frame pass per level to
    about one in all, and the levels differ from the direct ones only by the rounding of "area" bins.
    """
    height, width = images.shape[2:]
    levels: list[torch.Tensor] = []
    for scale in scales:
        size = (int(height * scale + 1), int(width * scale + 1))
        source = levels[-1] if progressive and levels else images
        levels.append(F.interpolate(source, size=size, mode="area"))
    return levels


def _pnet_candidates(
    levels: list[torch.Tensor], pnet: torch.nn.Module, scales: list[float], threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 1: P-net over every pyramid level; windows above `threshold`, NMS-ed per level and frame.

    Returns:
        (boxes (N, 9): x0, y0, x1, y1, score, 4 regression offsets; frame index (N,)).
    """
    all_boxes, all_frames = [], []
    for level, scale in zip(levels, scales, strict=True):
        reg, prob = pnet(_normalise(level))
        hits = (prob[:, 1] >= threshold).nonzero()  # (n, 3): frame, row, column of each 12x12 window (stride 2)
        frames, rows, cols = hits.unbind(1)
        score = prob[frames, 1, rows, cols]
        offsets = reg[frames, :, rows, cols]
        xy = torch.stack([cols, rows], dim=1).to(level.dtype)
        top_left = ((2 * xy + 1) / scale).floor()
        bottom_right = ((2 * xy + 12) / scale).floor()
        boxes = torch.cat([top_left, bottom_right, score[:, None], offsets], dim=1)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], frames, 0.5)
        all_boxes.append(boxes[keep])
        all_frames.append(frames[keep])
    boxes, frames = torch.cat(all_boxes), torch.cat(all_frames)
    keep = batched_nms(boxes[:, :4], boxes[:, 4], frames, 0.7)
    boxes, frames = boxes[keep], frames[keep]
    # P-net's regression is relative to the window side without the +1 the later stages use.
    size = (boxes[:, 2:4] - boxes[:, 0:2]).repeat(1, 2)
    refined = boxes[:, :4] + boxes[:, 5:9] * size
    return _square(torch.cat([refined, boxes[:, 4:5]], dim=1)), frames


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes grown about their centre to squares of their longer side (columns past 4 kept)."""
    size = boxes[:, 2:4] - boxes[:, 0:2]
    side = size.max(dim=1, keepdim=True).values
    top_left = boxes[:, 0:2] + size * 0.5 - side * 0.5
    return torch.cat([top_left, top_left + side, boxes[:, 4:]], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Boxes moved by R-/O-net regression offsets, in units of the box side plus one pixel."""
    size = (boxes[:, 2:4] - boxes[:, 0:2] + 1).repeat(1, 2)
    return torch.cat([boxes[:, :4] + offsets * size, boxes[:, 4:]], dim=1)


def crop_windows(boxes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixel rectangles facenet-pytorch crops for boxes: truncated to integers, clipped to the frame.

    Args:
        boxes: (N, >=4) x0, y0, x1, y1 in pixels.
        height: frame height.
        width: frame width.

    Returns:
        (rectangles (N, 4) int64 as row start, row end, column start, column end, ends exclusive;
        valid (N,) bool, False where the clipped rectangle is empty).
    """
    corners = boxes[:, :4].trunc().long()
    x0 = corners[:, 0].clamp(min=1) - 1
    y0 = corners[:, 1].clamp(min=1) - 1
    x1 = corners[:, 2].clamp(max=width)
    y1 = corners[:, 3].clamp(max=height)
    return torch.stack([y0, y1, x0, x1], dim=1), (y1 > y0) & (x1 > x0)


def _run_chunked(net: torch.nn.Module, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`net` over `crops` in chunks of `_NET_CHUNK`, outputs concatenated."""
    outs = [net(crops[i : i + _NET_CHUNK]) for i in range(0, len(crops), _NET_CHUNK)]
    return tuple(torch.cat(parts) for parts in zip(*outs, strict=True))


def resize_windows(frames: np.ndarray, index: np.ndarray, windows: np.ndarray, size: int) -> torch.Tensor:
    """Each window of its frame resized to size x size with OpenCV's "area" interpolation: (N, C, size, size) float32.

    One small ``cv2.resize`` per window: it averages over exact fractional pixel areas where facenet-pytorch's
    ``F.interpolate(mode="area")`` averages over rounded integer bins, so values differ by a few grey levels at most
    (identical when the window side is a multiple of `size`); per call it costs a fraction of a torch call.

    Args:
        frames: (B, H, W, C) frames (uint8 or float32).
        index: (N,) frame index of each window.
        windows: (N, 4) non-empty row start, row end, column start, column end (ends exclusive).
        size: output side in pixels.
    """
    out = np.empty((len(windows), size, size, frames.shape[3]), np.float32)
    for k, (f, (r0, r1, c0, c1)) in enumerate(zip(index.tolist(), windows.tolist(), strict=True)):
        out[k] = cv2.resize(frames[f, r0:r1, c0:c1], (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def _refine(
    frames: np.ndarray,
    boxes: torch.Tensor,
    frame_index: torch.Tensor,
    net: torch.nn.Module,
    size: int,
    threshold: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stage 2 or 3: score each candidate's size x size crop with `net`, keep those above `threshold`.

    Returns:
        (kept boxes (M, 5) with the net's score in column 4, their frame indices (M,), their regression offsets (M, 4)).
    """
    height, width = frames.shape[1:3]
    windows, valid = crop_windows(boxes, height, width)
    boxes, frame_index, windows = boxes[valid], frame_index[valid], windows[valid]
    device = boxes.device
    if len(boxes) == 0:
        return boxes[:, :5], frame_index, boxes[:, :4]
    crops = resize_windows(frames, frame_index.cpu().numpy(), windows.cpu().numpy(), size).to(device)
    out = _run_chunked(net, _normalise(crops))
    offsets, score = out[0], out[-1][:, 1]
    keep = score > threshold
    kept = torch.cat([boxes[keep, :4], score[keep, None]], dim=1)
    if len(out) == 3:  # O-net also regresses the five landmarks, relative to the box before its own regression
        return kept, frame_index[keep], torch.cat([offsets[keep], _landmarks(kept, out[1][keep])], dim=1)
    return kept, frame_index[keep], offsets[keep]


def _landmarks(boxes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """O-net's landmark outputs (N, 10: five x then five y, in box units) to pixels (N, 10: x0, y0, ..., x4, y4).

    Same rule as facenet-pytorch: relative to the candidate box before regression, its side counted plus one pixel.
    """
    width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    xs = width * points[:, :5] + boxes[:, 0:1] - 1
    ys = height * points[:, 5:] + boxes[:, 1:2] - 1
    return torch.stack([xs, ys], dim=2).reshape(len(boxes), 10)


def min_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy NMS where overlap = intersection / smaller area (pixel-inclusive areas, as MTCNN's final stage).

    Returns:
        Indices of the kept boxes, highest score first.
    """
    x0, y0, x1, y1 = boxes.T
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]) + 1)
        overlap = w * h / np.minimum(area[best], area[rest])
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


@torch.no_grad()
def detect_faces(
    frames: np.ndarray,
    pnet: torch.nn.Module,
    rnet: torch.nn.Module,
    onet: torch.nn.Module,
    min_face_size: float,
    thresholds: tuple[float, float, float],
    factor: float,
    device: str | torch.device = "cpu",
    progressive: bool = True,
    landmarks: bool = False,
) -> list[tuple[np.ndarray, ...]]:
    """MTCNN face detection on a batch of equal-sized frames.

    Args:
        frames: (B, H, W, 3) uint8 RGB frames.
        pnet: MTCNN's P-net (e.g. ``facenet_pytorch.MTCNN().pnet``); likewise `rnet` and `onet`.
        rnet: MTCNN's R-net.
        onet: MTCNN's O-net.
        min_face_size: smallest face side searched for, in the frames' pixels (starts the pyramid).
        thresholds: P-, R- and O-net score thresholds.
        factor: pyramid scale step.
        device: torch device the networks are on.
        progressive: build each pyramid level from the previous one (see `pyramid`); False resizes every level from
            the frame, as facenet-pytorch does.
        landmarks: also return O-net's five landmarks (no extra cost: O-net computes them for every box anyway).

    Returns:
        One (boxes (N, 4) float32 x0, y0, x1, y1; probabilities (N,) float32) per frame, highest probability first;
        with `landmarks`, a third item: points (N, 5, 2) float32 x, y of the left eye, right eye, nose, left and right
        mouth corners (the subject's left/right as MTCNN labels them: image left first).

    Example:
        >>> mtcnn = MTCNN()
        >>> [(boxes, probs)] = detect_faces(rgb[None], mtcnn.pnet, mtcnn.rnet, mtcnn.onet, 20, (0.6, 0.7, 0.7), 0.709)
    """
    batch, height, width = frames.shape[:3]
    frames = np.ascontiguousarray(frames)
    dtype = next(pnet.parameters()).dtype
    images = torch.as_tensor(frames, device=device).permute(0, 3, 1, 2).to(dtype).contiguous()
    scales = pyramid_scales(height, width, min_face_size, factor)
    if not scales:  # frames smaller than the smallest face searched for
        return _per_frame(np.zeros((0, 15), np.float32), np.zeros((0,), np.int64), batch, landmarks)
    boxes, index = _pnet_candidates(pyramid(images, scales, progressive), pnet, scales, thresholds[0])
    if len(boxes):
        boxes, index, offsets = _refine(frames, boxes, index, rnet, 24, thresholds[1])
        keep = batched_nms(boxes[:, :4], boxes[:, 4], index, 0.7)
        boxes, index = _square(_regress(boxes[keep], offsets[keep])), index[keep]
    points = boxes.new_zeros((0, 10))
    if len(boxes):
        boxes, index, offsets = _refine(frames, boxes, index, onet, 48, thresholds[2])
        boxes, points = _regress(boxes, offsets[:, :4]), offsets[:, 4:]
    boxes, index = boxes[: len(points)], index[: len(points)]  # none survive when O-net did not run
    table = torch.cat([boxes[:, :5], points.reshape(len(boxes), 10)], dim=1).cpu().numpy().astype(np.float32)
    return _per_frame(table, index.cpu().numpy(), batch, landmarks)


def _per_frame(table: np.ndarray, index: np.ndarray, batch: int, landmarks: bool) -> list[tuple[np.ndarray, ...]]:
    """Rows (box, score, 10 landmark coordinates) split by frame, each frame's NMS-ed by min-area overlap."""
    results = []
    for i in range(batch):
        mine = table[index == i].reshape(-1, 15)
        mine = mine[min_nms(mine[:, :4], mine[:, 4], 0.7)] if len(mine) else mine
        found = (mine[:, :4].copy(), mine[:, 4].copy())
        results.append((*found, mine[:, 5:].reshape(-1, 5, 2).copy()) if landmarks else found)
    return results
