"""Blending-boundary auxiliary target (Face X-ray style): the datasets' ``boundary=`` targets, the ``boundary=True``
model option (a 1x1-conv head on the last feature map), its masked BCE (``TrainConfig.boundary_weight``) and
``dff train --pseudo-fakes sbi --boundary-weight 1`` end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch
from tiny_data import TINY_CFG, make_manifest
from torch import nn
from torch.utils.data import DataLoader

from deepfakeforensics import cli
from deepfakeforensics._io import load_table, save_table
from deepfakeforensics.data.collate import collate_readable
from deepfakeforensics.data.crops import read_crop
from deepfakeforensics.data.datasets import FrameDataset, WindowDataset
from deepfakeforensics.data.sbi import self_blend
from deepfakeforensics.data.transforms import AugmentConfig
from deepfakeforensics.faces.crop import LANDMARK_COLUMNS
from deepfakeforensics.models import Detector, create_model, load_model, register_model, save_checkpoint
from deepfakeforensics.models.heads import BoundaryDetector
from deepfakeforensics.training import TrainConfig
from deepfakeforensics.training.objectives import Objective, TrainNet, boundary_loss

POINTS = np.array([[34, 40], [62, 40], [48, 54], [37, 68], [59, 68]], np.float32) * 0.5  # in a 48-px crop
TRACKS = {("r1", 0): 4, ("r2", 0): 3, ("f1", 0): 3}
LABELS = {"r1": 0, "r2": 0, "f1": 1}
GRID = 8
NO_AUGMENT = AugmentConfig(**{f: 0.0 for f in AugmentConfig.__dataclass_fields__ if f.startswith("p_")})


class TinySpatial(Detector):
    """32x32 input -> an (8, 8, 8) feature map -> pooled -> one logit: the smallest model with a spatial map."""

    default_cfg = TINY_CFG
    num_features = 8

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8, 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = features.mean(dim=(2, 3))
        return pooled if pre_logits else self.head(pooled)


@register_model
def tiny_test_boundary_detector(pretrained: bool = False, **kwargs) -> TinySpatial:
    return TinySpatial(**kwargs)


def _manifest(root, splits=None) -> str:
    """48-px crops with landmarks on every row: two real videos and a fake."""
    csv = make_manifest(root, TRACKS, LABELS, splits or dict.fromkeys(LABELS, "train"))
    df = load_table(csv)
    df[LANDMARK_COLUMNS] = np.tile(POINTS.reshape(1, 10), (len(df), 1))
    save_table(df, csv, root=root)
    return str(csv)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> str:
    return _manifest(tmp_path_factory.mktemp("boundary"))


def _expected(ds: FrameDataset, index: int) -> np.ndarray:
    """4M(1-M) of the pseudo-fake `index`'s own draw, area-averaged to the grid."""
    base = int(ds.blended_from[index])
    crop = read_crop(ds._paths[base])
    edge = self_blend(crop, ds._points.of([base])[0], (ds.seed, 0, base, 2)).boundary  # a pair's draw: its real's
    return cv2.resize(edge, (GRID, GRID), interpolation=cv2.INTER_AREA)


def test_pseudo_fake_target_is_its_own_boundary_reals_zero_fakes_unknown(faces):
    ds = FrameDataset(faces, "train", TINY_CFG, pseudo_fakes="sbi", boundary=GRID)
    n_base = 10
    assert len(ds) == n_base + 7
    for i in range(len(ds)):
        x, y, targets = ds[i]
        assert set(targets) == {"boundary", "has_boundary"} and targets["boundary"].shape == (GRID, GRID)
        if i >= n_base:  # a pseudo-fake: its own blend's boundary, known
            assert float(targets["has_boundary"]) == 1.0 and float(targets["boundary"].max()) > 0.1
            np.testing.assert_allclose(targets["boundary"].numpy(), _expected(ds, i), atol=1e-6)
        else:  # manifest items: no boundary; known (zero) for reals, unknown for fakes
            assert float(targets["boundary"].abs().sum()) == 0.0
            assert float(targets["has_boundary"]) == float(1 - y)
    plain = FrameDataset(faces, "train", TINY_CFG, pseudo_fakes="sbi")
    assert torch.equal(plain[n_base][0], ds[n_base][0])  # the input is the same with or without targets


def test_the_target_follows_the_augmentations_flip(faces):
    kwargs = {"train": True, "pseudo_fakes": "sbi", "boundary": GRID, "vary_pseudo_fakes": False}
    still = FrameDataset(faces, "train", TINY_CFG, augment=NO_AUGMENT, **kwargs)
    flip = FrameDataset(faces, "train", TINY_CFG, augment=replace(NO_AUGMENT, p_flip=1.0), **kwargs)
    i = len(still) - 1
    kept, flipped = still[i][2]["boundary"].numpy(), flip[i][2]["boundary"].numpy()
    np.testing.assert_allclose(kept, _expected(still, i), atol=1e-6)
    np.testing.assert_allclose(flipped, kept[:, ::-1], atol=1e-5)
    assert torch.allclose(flip[i][0], still[i][0].flip(-1), atol=1e-5)


def test_windows_carry_one_boundary_per_frame_and_collate(faces):
    ds = WindowDataset(faces, "train", TINY_CFG, window=2, pseudo_fakes="sbi", boundary=GRID, return_meta=True)
    x, y, ids = ds[len(ds) - 1]
    assert float(y) == 1.0 and ids["boundary"].shape == (2, GRID, GRID) and float(ids["has_boundary"]) == 1.0
    assert (ids["boundary"].flatten(1).amax(1) > 0.1).all() and "video_id" in ids  # every frame has its boundary
    batch = next(iter(DataLoader(ds, batch_size=len(ds), collate_fn=collate_readable)))
    assert batch.ids["boundary"].shape == (len(ds), 2, GRID, GRID)
    assert batch.ids["has_boundary"].tolist() == [float(v) for v in (ds.labels == 0) | (ds.blended_from >= 0)]


@pytest.mark.parametrize(
    ("name", "kwargs", "grid"),
    [("mesonet4", {}, (8, 8)), ("efficientnet_b0", {}, (7, 7)), ("timm/resnet18", {}, (7, 7))],
)
def test_boundary_head_gives_a_map_per_crop(name, kwargs, grid):
    model = create_model(name, boundary=True, **kwargs)
    x = torch.zeros(2, *model.default_cfg.input_size)
    model.eval()
    assert isinstance(model, BoundaryDetector) and model(x).shape == (2,)
    assert model.boundary_logits(model.forward_features(x)).shape == (2, *grid)
    assert model.boundary_map(x).shape == (2, *grid)


def test_families_without_a_spatial_map_are_refused_and_method_heads_stay_reachable():
    with pytest.raises(ValueError, match="feature map"):
        create_model("timm/vit_tiny_patch16_224", boundary=True)
    with pytest.raises(ValueError, match="temporal"):
        create_model("mesonet4", temporal="lstm", boundary=True)
    with pytest.raises(ValueError, match="mesonet4_lstm is temporal"):
        create_model("mesonet4_lstm", boundary=True)  # the named variant too: no head hidden on the frame backbone
    with pytest.raises(ValueError, match="boundary must be True"):
        create_model("mesonet4", boundary="yes")
    both = create_model("tiny_test_boundary_detector", methods=["real", "sbi"], boundary=True)
    assert both.methods == ["real", "sbi"] and both.method_probabilities(torch.zeros(3, 3, 32, 32)).shape == (3, 2)


def test_checkpoint_with_a_boundary_head_reloads(tmp_path):
    torch.manual_seed(0)
    model = create_model("mesonet4", boundary=True).eval()
    nn.init.normal_(model.boundary_head.weight)
    save_checkpoint(tmp_path / "m.pt", model)
    again = load_model(tmp_path / "m.pt").eval()
    x = torch.rand(2, 3, 256, 256)
    assert isinstance(again, BoundaryDetector) and again.init_kwargs == {"boundary": True}
    assert torch.equal(again.boundary_map(x), model.boundary_map(x)) and torch.equal(again(x), model(x))


def test_boundary_loss_ignores_unknown_items():
    logits, target = torch.randn(3, 4, 4), torch.rand(3, 8, 8)
    other = target.clone()
    other[2] = 1 - other[2]
    known = torch.tensor([1.0, 1.0, 0.0])
    assert torch.equal(boundary_loss(logits, target, known), boundary_loss(logits, other, known))
    assert float(boundary_loss(logits, target, torch.zeros(3))) == 0.0
    pooled = nn.functional.avg_pool2d(target[:1, None], 2)[:, 0]
    expected = nn.functional.binary_cross_entropy_with_logits(logits[:1], pooled)
    assert torch.isclose(boundary_loss(logits[:1], target[:1], torch.ones(1)), expected)


def test_a_training_step_trains_the_head_and_adds_the_term(faces):
    ds = FrameDataset(faces, "train", TINY_CFG, pseudo_fakes="sbi", boundary=GRID, return_meta=True)
    x, y, ids, _ = collate_readable([ds[i] for i in range(len(ds))])
    torch.manual_seed(0)
    model = create_model("tiny_test_boundary_detector", boundary=True)
    net = TrainNet(model, boundary=True)
    out = net(x)
    assert out["boundary"].shape == (len(ds), 8, 8)
    with_term = Objective(TrainConfig(boundary_weight=1.0))(out, y.float(), ids)
    without = Objective(TrainConfig(boundary_weight=0.0))(out, y.float(), ids)
    term = boundary_loss(out["boundary"], ids["boundary"], ids["has_boundary"])
    assert float(term.detach()) > 0 and torch.isclose(with_term - without, term)
    before = model.boundary_head.weight.detach().clone()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    with_term.backward()
    optimizer.step()
    assert not torch.equal(before, model.boundary_head.weight)


def test_dff_train_with_pseudo_fakes_and_a_boundary_weight(tmp_path, capsys):
    splits = {"r1": "train", "r2": "val", "f1": "val"}
    csv = _manifest(tmp_path, splits)
    args = ["train", "--model", "tiny_test_boundary_detector", "--faces", csv, "--run", "b"]
    args += ["--checkpoints-dir", str(tmp_path / "ck"), "--epochs", "1", "--batch-size", "4", "--num-workers", "0"]
    assert cli.main([*args, "--pseudo-fakes", "sbi", "--boundary-weight", "1"]) == 0
    conf = json.loads((tmp_path / "ck" / "b" / "config.json").read_text())
    assert conf["model"]["kwargs"] == {"boundary": True} and conf["train"]["boundary_weight"] == 1.0
    assert conf["train_data"]["boundary"] > 0 and conf["val_data"]["boundary"] == 0
    model = load_model(tmp_path / "ck" / "b" / "best.pt")
    assert isinstance(model, BoundaryDetector)
    # validation holds r2, f1 and r2's pseudo-fake: three files for the file-level thresholds, not two
    recorded = json.loads((tmp_path / "ck" / "b" / "thresholds.json").read_text())
    assert recorded["levels"]["file"]["n"] == 3 and recorded["levels"]["file"]["n_fake"] == 2
    temporal = ["--model", "tiny_test_temporal", "--run", "t", "--window", "2"]
    assert cli.main([*args, *temporal, "--pseudo-fakes", "sbi", "--boundary-weight", "1"]) != 0
    assert "tiny_test_temporal is temporal" in capsys.readouterr().err
