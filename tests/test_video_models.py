"""Video models (models/video.py, video_builds.py, video_tall.py): shapes, size limits, reduced builds, Kinetics
weights from a file or a clear error offline, TALL's layout and masking, checkpoints, Grad-CAM over time, and the
window path (evaluate, streaming)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_data import standard_manifest
from torchvision.models import video as tv_video

from deepfakeforensics.data.transforms import to_tensor
from deepfakeforensics.data.windows import WindowConfig
from deepfakeforensics.evaluation.gradcam import TemporalGradCAM, can_explain, explainer
from deepfakeforensics.inference.predict import StreamScorer
from deepfakeforensics.models import (
    WeightsError,
    create_model,
    init_backbone,
    load_model,
    save_checkpoint,
    video_builds,
)
from deepfakeforensics.models import video as video_module
from deepfakeforensics.models.video_tall import DEFAULT_BACKBONE, tile, untile

# reduced builds of the same torchvision classes (fewer, narrower blocks): see VideoCNN
SMALL_SWIN = {"img_size": 32, "embed_dim": 24, "depths": (1, 1, 1, 1)}
SMALL_MVIT = {"img_size": 32, "frames": 4, "embed_dim": 24, "depths": (1, 1, 1, 1)}

# (name, kwargs, frames, side): small sizes so a CPU forward takes well under a second
SMALL = [
    ("r3d_18", {"img_size": 32}, 4, 32),
    pytest.param("r2plus1d_18", {"img_size": 32}, 4, 32, marks=pytest.mark.slow),
    ("mc3_18", {"img_size": 32}, 4, 32),
    pytest.param("s3d", {"img_size": 32}, 5, 32, marks=pytest.mark.slow),
    pytest.param("swin3d_t", {"img_size": 32}, 2, 32, marks=pytest.mark.slow),
    ("swin3d_t", SMALL_SWIN, 4, 32),
    ("mvit_v2_s", SMALL_MVIT, 4, 32),
    ("ftcn_lite", {"img_size": 32, "widths": (8, 16)}, 4, 32),
    ("tall", {"backbone": "timm/resnet10t", "thumbnail_size": 64}, 4, 32),
]


@pytest.mark.parametrize("name, kwargs, frames, side", SMALL)
def test_one_logit_per_window_that_depends_on_frame_order(name, kwargs, frames, side):
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    assert model.default_cfg.temporal and model.default_cfg.input_size == (3, side, side)
    x = torch.randn(3, frames, 3, side, side)
    order = torch.roll(torch.arange(frames), 1)
    logits = []
    for clip in (x, x[:, order]):  # batch statistics (train mode): a random init's eval-mode features can die
        torch.manual_seed(0)  # the same TALL mask draw for both
        logits.append(model(clip).detach())
    assert logits[0].shape == (3,) and torch.isfinite(logits[0]).all()
    assert not torch.allclose(logits[0], logits[1], atol=1e-6)  # shuffling the frames of a clip changes its score
    with pytest.raises(ValueError, match=r"windows \(B, T, C, H, W\)"):
        model(torch.randn(2, 3, side, side))


def test_kinetics_sizes_and_the_limits_of_each_architecture():
    with torch.device("meta"):  # shapes only
        sizes = {name: create_model(name).default_cfg.input_size[1] for name in video_module.ARCHS}
    assert sizes == {
        "r3d_18": 112,
        "r2plus1d_18": 112,
        "mc3_18": 112,
        "s3d": 224,
        "mvit_v2_s": 224,
        "swin3d_t": 224,
    }
    mvit = create_model("mvit_v2_s")
    with pytest.raises(ValueError, match=r"exactly 16 frames of 224 x 224 \(train with --window 16\)"):
        mvit(torch.zeros(1, 8, 3, 224, 224))
    with pytest.raises(ValueError, match="built for 224 x 224"):
        create_model("mvit_v2_s", img_size=112)
    with pytest.raises(ValueError, match="at least 5 frames"):
        create_model("s3d", img_size=32)(torch.zeros(1, 4, 3, 32, 32))
    assert not can_explain(mvit)  # tokens: no Grad-CAM map


def test_reduced_builds_are_torchvisions_classes_and_default_to_kinetics_layout():
    with torch.device("meta"):  # shapes only
        for arch, defaults in (("mvit_v2_s", video_builds.MVIT_V2_S), ("swin3d_t", video_builds.SWIN3D_T)):
            kinetics = getattr(tv_video, arch)(weights=None)
            default, reduced = create_model(arch), create_model(arch, **defaults)  # spelt out: the same layout
            assert not default.reduced and reduced.reduced
            assert repr(reduced.net) == repr(default.net)
            layout = {k: v.shape for k, v in kinetics.state_dict().items() if not k.startswith("head.")}
            assert {k[4:]: v.shape for k, v in reduced.state_dict().items() if k.startswith("net.")} == layout
            small = create_model(arch, **(SMALL_MVIT if arch == "mvit_v2_s" else SMALL_SWIN))
            assert type(small.net) is type(kinetics) and small.reduced
        assert len(create_model("mvit_v2_s", **SMALL_MVIT).net.blocks) == 4
    assert [b.stride_q for b in video_builds.mvit_block_setting(96, (1, 2, 11, 2))].count([1, 2, 2]) == 3
    with pytest.raises(ValueError, match=r"exactly 4 frames of 32 x 32 \(train with --window 4\)"):
        create_model("mvit_v2_s", **SMALL_MVIT)(torch.zeros(1, 8, 3, 32, 32))


@pytest.mark.parametrize(
    "arch, kwargs, message",
    [
        ("r3d_18", {"embed_dim": 32}, "r3d_18 takes no embed_dim"),
        ("swin3d_t", {"frames": 4}, "frames= is for mvit_v2_s only"),
        ("swin3d_t", {"embed_dim": 32}, "multiple of 3"),
        ("swin3d_t", {"depths": (1, 1, 1)}, "4 block counts"),
        ("mvit_v2_s", {"depths": (1, 0, 1, 1)}, "at least 1 block"),
        ("mvit_v2_s", {"frames": 5}, "even number"),
        ("mvit_v2_s", {"frames": 4, "img_size": 48}, "multiple of 32"),
        ("mvit_v2_s", {"embed_dim": 0}, "positive integer"),
        ("s3d", {"bn_momentum": 0}, r"bn_momentum must be in \(0, 1\]"),
        ("swin3d_t", {"img_size": 8, "embed_dim": 24}, "at least 16 x 16"),
    ],
)
def test_build_arguments_are_checked(arch, kwargs, message):
    with torch.device("meta"), pytest.raises(ValueError, match=message):
        create_model(arch, **kwargs)


def test_bn_momentum_replaces_s3ds_slow_one():
    """s3d's BatchNorm momentum is 0.001: its running statistics barely move in a short run from scratch."""
    with torch.device("meta"):
        momenta = {m.momentum for m in create_model("s3d").modules() if isinstance(m, torch.nn.BatchNorm3d)}
        assert momenta == {0.001}
        model = create_model("s3d", bn_momentum=0.1)
        assert {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d)} == {0.1}
        slow = create_model("s3d")
    # training says so (train_model logs it) from scratch only, and only for s3d's slow default
    assert "bn_momentum=0.1" in slow.training_advice(from_scratch=True)
    assert slow.training_advice(from_scratch=False) is None and model.training_advice(from_scratch=True) is None
    assert create_model("r3d_18", img_size=32).training_advice(from_scratch=True) is None


def test_a_reduced_build_takes_no_kinetics_weights(tmp_path):
    with pytest.raises(ValueError, match="fit only its default build"):
        create_model("swin3d_t", pretrained=True, **SMALL_SWIN)  # before any download
    torch.manual_seed(0)
    path = tmp_path / "mvit_small.pth"
    torch.save(create_model("mvit_v2_s", **SMALL_MVIT).net.state_dict(), path)
    model = create_model("mvit_v2_s", pretrained=path, **SMALL_MVIT)  # a file of the same build fits
    assert torch.equal(model.net.conv_proj.weight, torch.load(path)["conv_proj.weight"])
    for other in ({**SMALL_MVIT, "frames": 8}, {**SMALL_MVIT, "embed_dim": 32}):  # another size: refused by shapes
        with pytest.raises(WeightsError, match=r"mvit_small\.pth: .*shape mismatches"):
            create_model("mvit_v2_s", pretrained=path, **other)


def test_kinetics_weights_load_from_a_local_file(tmp_path):
    torch.manual_seed(0)
    net = tv_video.mc3_18(weights=None)
    path = tmp_path / "mc3_18-a90a0ba3.pth"
    torch.save(net.state_dict(), path)
    model = create_model("mc3_18", pretrained=path)
    assert torch.equal(model.net.layer4[1].conv2[0].weight, net.layer4[1].conv2[0].weight)
    assert model.head.out_features == 1 and "net.fc.weight" not in model.state_dict()
    with pytest.raises(WeightsError, match=str(path.name)):
        create_model("r3d_18", pretrained=path)  # another architecture's file: refused, naming it


def test_pretrained_offline_fails_at_once_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(video_module, "internet_reachable", lambda url: False)
    with pytest.raises(ConnectionError, match=r'pretrained="path/to/r3d_18-b3b3357e.pth"'):
        create_model("r3d_18", pretrained=True)


def test_ftcn_lite_convolves_time_only():
    model = create_model("ftcn_lite")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs and all(tuple(c.kernel_size[1:]) == (1, 1) for c in convs)
    assert any(c.kernel_size[0] > 1 for c in convs)
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_model("ftcn_lite", pretrained=True)


def test_tall_tiles_frames_row_by_row_and_cuts_maps_back():
    x = torch.arange(4.0).view(1, 4, 1, 1, 1).expand(1, 4, 1, 2, 2)  # frame k is all k
    thumb = tile(x, 2)[0, 0]
    assert thumb.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    assert torch.equal(untile(thumb[None], 2), x[:, :, 0].reshape(4, 2, 2))


def test_tall_config_window_checks_and_masking():
    with torch.device("meta"):  # the paper's Swin-B by default (shapes only)
        paper = create_model("tall")
    assert paper.backbone.name == DEFAULT_BACKBONE and paper.default_cfg.input_size == (3, 112, 112)
    with pytest.raises(ValueError, match="square grid"):
        create_model("tall", backbone="timm/resnet10t", frames=6)
    model = create_model("tall", backbone="timm/resnet10t", thumbnail_size=96, frames=9, mask_prob=1.0, mask_ratio=0.5)
    assert model.default_cfg.input_size == (3, 32, 32)
    with pytest.raises(ValueError, match="--window 9"):
        model(torch.zeros(1, 4, 3, 32, 32))
    x = torch.ones(3, 9, 3, 32, 32)
    masked = model.mask(x)
    zero = masked == 0
    assert torch.equal(zero, zero[:, :1].expand_as(zero))  # the same place in every frame of a clip
    assert (zero.flatten(1).sum(1) == 9 * 3 * 16 * 16).all()  # a 16 x 16 square per frame
    model.eval()
    with torch.no_grad():  # no masking outside training
        assert torch.equal(model.backbone.forward_features(model.thumbnails(x)), model.forward_features(x))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("ftcn_lite", {"img_size": 32, "widths": (8, 16)}),
        ("tall", {"backbone": "timm/resnet10t", "thumbnail_size": 64}),
        ("mvit_v2_s", SMALL_MVIT),
    ],
)
def test_checkpoint_round_trip(tmp_path, name, kwargs):
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    save_checkpoint(tmp_path / "m.pt", model)
    again = load_model(tmp_path / "m.pt").eval()
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_tall_starts_from_a_trained_frame_model(tmp_path):
    torch.manual_seed(0)
    frame = create_model("timm/resnet10t")
    save_checkpoint(tmp_path / "frame.pt", frame)
    model = init_backbone(create_model("tall", backbone="timm/resnet10t"), tmp_path / "frame.pt")
    assert torch.equal(model.backbone.get_classifier().weight, frame.get_classifier().weight)


@pytest.mark.parametrize(
    "name, kwargs, frames",
    [
        ("mc3_18", {"img_size": 32}, 4),
        ("ftcn_lite", {"img_size": 32, "widths": (8, 16)}, 4),
        ("tall", {"backbone": "timm/resnet10t", "thumbnail_size": 64}, 4),
    ],
)
def test_gradcam_gives_a_map_per_frame(name, kwargs, frames):
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    cam = explainer(model, window=frames)
    assert isinstance(cam, TemporalGradCAM)
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 255, (40, 48, 3), dtype=np.uint8) for _ in range(frames)]
    heat, p_fake = cam.window_maps(clip)
    assert len(heat) == frames and all(h.shape == (40, 48) for h in heat) and 0 <= p_fake <= 1
    assert all(0 <= h.min() and h.max() <= 1 for h in heat)
    stills, scores = cam(clip[:2])  # crops explained as stills (windows of copies), as dff serve does
    assert len(stills) == 2 and stills[0].shape == (40, 48) and scores.shape == (2,)


def test_streaming_windows_score_as_the_model_does():
    torch.manual_seed(0)
    model = create_model("tall", backbone="timm/resnet10t", thumbnail_size=64).eval()
    scorer = StreamScorer(model, batch_size=2, windows=WindowConfig(window=4, stride=2))
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(8)]
    for f, crop in enumerate(crops):
        scorer.add(0, f * 5, crop)
    got = scorer.finish().set_index("start_frame")["logit"]
    assert list(got.index) == [0, 10, 20]
    with torch.no_grad():
        expected = model(to_tensor(crops[2:6], model.default_cfg)[None]).item()
    assert got[10] == pytest.approx(expected, abs=1e-4)


@pytest.mark.slow
def test_a_trained_video_run_evaluates_at_window_and_file_level(tmp_path):
    from deepfakeforensics.evaluation import evaluate
    from deepfakeforensics.training import train_model
    from deepfakeforensics.training.config import DataConfig, TrainConfig

    csv = standard_manifest(tmp_path, n_videos=12, frames=4, size=32)
    data = DataConfig(faces=str(csv), window=WindowConfig(window=4))
    config = TrainConfig(run="ftcn", checkpoints_dir=str(tmp_path / "ck"), epochs=1, batch_size=4, num_workers=0)
    train_model("ftcn_lite", data, config, model_kwargs={"img_size": 32, "widths": (8, 16)}, callbacks=[])
    res = evaluate([tmp_path / "ck" / "ftcn"], csv, tmp_path / "eval", split="test", batch_size=4, progress=False)
    assert set(res.metrics["level"]) == {"window", "file"}
    windows = res.scores[("ftcn", "window")]
    assert (windows["n_frames"] <= 4).all() and "start_frame" in windows
    assert res.metrics.query("level == 'file'")["n"].item() == 2
