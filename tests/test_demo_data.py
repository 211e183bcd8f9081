"""The demo dataset: FF++ layout and splits, determinism, resumable/skip logic, detectable faces, where fakes differ."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from deepfakeforensics.cli import main as dff_main
from deepfakeforensics.data.video import iter_frames
from deepfakeforensics.demo import DemoConfig, build_demo_dataset, is_complete, make_pairs, read_demo_manifest
from deepfakeforensics.demo.build import _rng
from deepfakeforensics.demo.scenes import apply_affine, face_mask, make_background, similarity
from deepfakeforensics.indexing import index_dataset

TINY = DemoConfig(seed=3, n_identities=6, n_frames=6, size=(256, 192), face_range=(84, 104))


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.mp4"))}


def _frames(path: Path) -> np.ndarray:
    return np.stack([rgb for _, rgb in iter_frames(path, None)])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return build_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", TINY, progress=False)


def _videos(root: Path) -> tuple[list[Path], dict[str, list[Path]]]:
    reals = sorted((root / "original_sequences/youtube/c23/videos").glob("*.mp4"))
    fakes = {m.name: sorted((m / "c23/videos").glob("*.mp4")) for m in (root / "manipulated_sequences").iterdir()}
    return reals, fakes


def test_layout_and_splits_follow_faceforensics(demo):
    reals, fakes = _videos(demo)
    assert [p.stem for p in reals] == [f"{i:03d}" for i in range(TINY.n_identities)]
    assert set(fakes) == {"FaceSwap", "SelfBlended"}
    splits = {s: json.loads((demo / "splits" / f"{s}.json").read_text()) for s in ("train", "val", "test")}
    split_of = {}
    for split, pairs in splits.items():
        assert pairs and all(isinstance(p, list) and len(p) == 2 and all(isinstance(i, str) for i in p) for p in pairs)
        for a, b in pairs:
            for i in (a, b):
                assert i not in split_of, f"identity {i} listed twice"
                split_of[i] = split
    assert set(split_of) == {p.stem for p in reals}  # every identity in exactly one split
    partners = {a: b for pairs in splits.values() for p in pairs for a, b in (p, p[::-1])}
    for method, files in fakes.items():
        assert len(files) == TINY.n_identities, method  # one fake per real and method
        for f in files:
            target, source = f.stem.split("_")
            assert partners[target] == source and split_of[target] == split_of[source]
    assert is_complete(demo, TINY)
    manifest = read_demo_manifest(demo)
    assert all((demo / rel).is_file() for rel in manifest["files"])
    assert not list(demo.rglob(".*.partial.mp4"))
    info = [_frames(p).shape for p in (reals[0], fakes["FaceSwap"][0])]
    assert info[0] == info[1] == (TINY.n_frames, TINY.size[1], TINY.size[0], 3)


@pytest.mark.slow
def test_same_seed_gives_identical_files_and_a_deleted_file_is_rebuilt(demo, tmp_path):
    again = build_demo_dataset(tmp_path / "again", TINY, progress=False)
    assert _hashes(again) == _hashes(demo)
    # A deleted video is rebuilt, identical, by the next call (resumable build).
    victim = next((again / "manipulated_sequences/SelfBlended/c23/videos").glob("*.mp4"))
    victim.unlink()
    assert not is_complete(again, TINY)
    build_demo_dataset(again, TINY, progress=False)
    assert _hashes(again) == _hashes(demo)
    # Another seed: other backgrounds, paths and pairs.
    other = replace(TINY, seed=4)
    assert not np.array_equal(make_background(_rng(other, 2, 0), 64, 48), make_background(_rng(TINY, 2, 0), 64, 48))
    assert make_pairs(other) != make_pairs(TINY)


def test_complete_folder_is_skipped_and_foreign_folders_refused(demo, tmp_path):
    stamps = {p: p.stat().st_mtime_ns for p in demo.rglob("*.mp4")}
    assert build_demo_dataset(demo, TINY, progress=False) == demo
    assert {p: p.stat().st_mtime_ns for p in demo.rglob("*.mp4")} == stamps
    with pytest.raises(FileExistsError, match="another config"):
        build_demo_dataset(demo, TINY, progress=False, n_frames=7)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="other files"):
        build_demo_dataset(tmp_path / "busy", TINY, progress=False)
    with pytest.raises(TypeError, match="unknown"):
        build_demo_dataset(tmp_path / "x", TINY, progress=False, n_people=3)
    with pytest.raises(ValueError, match="even"):
        DemoConfig(n_identities=7)


def test_cli_builds_skips_and_refuses(demo, tmp_path, capsys):
    args = ["--seed", "3", "--identities", "6", "--frames", "6", "--size", "256x192", "--face-range", "84", "104"]
    assert dff_main(["demo-data", "--out", str(demo), *args]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert dff_main(["demo-data", "--out", str(demo), *args[2:], "--seed", "5", "--quiet"]) == 2
    assert "another config" in capsys.readouterr().out


def test_mtcnn_detects_the_face_in_real_and_fake_frames(demo):
    from facenet_pytorch import MTCNN

    detector = MTCNN(keep_all=True, device="cpu")
    reals, fakes = _videos(demo)
    boxes = read_demo_manifest(demo)["face_boxes"]
    for path in (reals[1], fakes["FaceSwap"][1], fakes["SelfBlended"][1]):
        frames = _frames(path)
        truth = boxes[path.stem.split("_")[0]]
        for t in (0, len(frames) - 1):
            found, probs = detector.detect(frames[t])
            assert found is not None, f"{path} frame {t}: no face"
            k = int(np.argmax(np.asarray(probs, dtype=float)))
            assert float(probs[k]) > 0.95
            x0, y0, x1, y1 = np.asarray(found[k], dtype=float)
            tx0, ty0, tx1, ty1 = truth[t]
            inter = max(0, min(x1, tx1) - max(x0, tx0)) * max(0, min(y1, ty1) - max(y0, ty0))
            union = (x1 - x0) * (y1 - y0) + (tx1 - tx0) * (ty1 - ty0) - inter
            assert inter / union > 0.5, f"{path} frame {t}: detection {found[k]} far from the true face {truth[t]}"


def test_fakes_differ_from_their_real_inside_the_face_only(demo):
    reals, fakes = _videos(demo)
    boxes = read_demo_manifest(demo)["face_boxes"]
    for method, files in fakes.items():
        for fake in files[:2]:
            target = fake.stem.split("_")[0]
            diff = np.abs(_frames(fake).astype(float) - _frames(reals[int(target)]).astype(float)).sum(-1)
            inside = np.zeros(diff.shape, bool)
            for t, (x0, y0, x1, y1) in enumerate(boxes[target]):
                # The face box grown 1.3 times about its centre, as face crops are cut.
                cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, 0.65 * (x1 - x0), 0.65 * (y1 - y0)
                inside[t, max(0, int(cy - hh)) : int(cy + hh) + 1, max(0, int(cx - hw)) : int(cx + hw) + 1] = True
            # Video coding spreads faint differences over the frame (rate control); marked changes stay in the face.
            assert diff[inside].mean() > 10 * diff[~inside].mean(), f"{method} {fake.name}: not a face manipulation"
            strong = diff > 30
            assert strong[inside].sum() > 0.95 * strong.sum(), f"{method} {fake.name}: changes outside the face"
            assert diff[inside].mean() > 5, f"{method} {fake.name}: face barely changed"


def test_ffpp_indexer_accepts_the_folder(demo):
    result = index_dataset(demo, "ffpp")
    videos = result.videos
    assert result.failures == []
    assert len(videos) == 3 * TINY.n_identities
    assert (videos.label == 1).sum() == 2 * TINY.n_identities
    assert set(videos.method) == {"original", "FaceSwap", "SelfBlended"}
    # The official split files decide every video's split, and no group spans two splits.
    split_of = {
        i: s for s in ("train", "val", "test") for p in json.loads((demo / f"splits/{s}.json").read_text()) for i in p
    }
    stems = videos.path.map(lambda p: Path(p).stem.split("_")[0])
    assert (videos.split == stems.map(split_of)).all()
    assert (videos.groupby("group").split.nunique() == 1).all()


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, size=(5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = similarity(pts, pts @ rot.T + shift)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-6)
    np.testing.assert_allclose(apply_affine(m, pts), pts @ rot.T + shift, atol=1e-4)


def test_similarity_is_the_least_squares_fit_over_every_landmark():
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 100, size=(5, 2))
    target = pts * 1.2 + 3.0
    target[0] += 20.0  # one badly placed landmark: pulls the fit, is not dropped as an outlier
    m = similarity(pts, target)
    assert m[0, 0] == pytest.approx(m[1, 1]) and m[0, 1] == pytest.approx(-m[1, 0])  # rotation and uniform scale
    residual = ((apply_affine(m, pts) - target) ** 2).sum()
    for step in ([1e-2, 0, 0], [0, 0, 1e-1], [0, 1e-2, 0]):  # any small change of scale, shift or rotation fits worse
        nudged = m + np.array([[step[0], -step[1], step[2]], [step[1], step[0], 0]])
        assert ((apply_affine(nudged, pts) - target) ** 2).sum() > residual
    assert np.abs(apply_affine(m, pts[1:]) - target[1:]).max() > 1.0  # the four good points share the error


def test_face_mask_covers_the_inner_face_and_fades_out():
    landmarks = np.array([[80.0, 90], [120, 90], [100, 112], [85, 130], [115, 130]])
    mask = face_mask(landmarks, (200, 200), feather=0.1)
    assert mask[105, 100] > 0.99  # between eyes and mouth
    assert mask[90, 80] > 0.9 and mask[130, 115] > 0.9  # eyes and mouth corners
    assert mask[20, 100] == 0 and mask[190, 100] == 0 and mask[105, 10] == 0  # far outside
    row = mask[105]
    assert ((row > 0.05) & (row < 0.95)).sum() >= 4  # soft edges at both cheeks, not a hard cut
