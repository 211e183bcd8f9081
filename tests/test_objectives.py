"""Losses, the method head, phased fine-tuning: unit behaviour and one run that trains and resumes with all of them."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from tiny_data import standard_manifest

from deepfakeforensics.models import create_model, load_model
from deepfakeforensics.training import Callback, DataConfig, TrainConfig
from deepfakeforensics.training.objectives import focal_loss, method_classes, method_targets, supcon_loss
from deepfakeforensics.training.optim import bce_loss
from deepfakeforensics.training.phases import Phase, parse_phases, part_parameters, phase_at
from deepfakeforensics.training.run import train_model

VIT = {"img_size": 32, "depth": 1}
NAME = "timm/vit_tiny_patch16_224"


def test_focal_loss_is_bce_at_gamma_0_and_discounts_easy_items():
    logits, labels = torch.tensor([4.0, -4.0, 0.3, -0.2]), torch.tensor([1.0, 0.0, 0.0, 1.0])
    torch.testing.assert_close(focal_loss(0.0)(logits, labels), bce_loss()(logits, labels))
    easy, hard = torch.tensor([4.0]), torch.tensor([-1.0])
    one = torch.tensor([1.0])
    ratio_easy = focal_loss(2.0)(easy, one) / bce_loss()(easy, one)
    ratio_hard = focal_loss(2.0)(hard, one) / bce_loss()(hard, one)
    assert ratio_easy < 1e-3 < 0.5 < ratio_hard < 1


def test_supcon_loss_is_lower_when_labels_cluster():
    labels = torch.tensor([0, 0, 1, 1])
    clustered = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    mixed = clustered[[0, 2, 1, 3]]
    assert supcon_loss(clustered, labels) < supcon_loss(mixed, labels)
    assert supcon_loss(clustered, torch.tensor([0, 1, 2, 3])) == 0  # no positive pair: nothing to pull together


def test_method_classes_and_targets_from_a_manifest_column():
    meta = pd.DataFrame({"label": [0, 1, 1, 1, 0], "method": ["original", "FaceSwap", "Deepfakes", None, "x"]})
    classes = method_classes(meta, "method")
    assert classes == ["real", "Deepfakes", "FaceSwap"]
    assert method_targets(meta, "method", classes).tolist() == [0, 2, 1, -1, 0]
    with pytest.raises(ValueError, match="'manipulation' is not a column"):
        method_classes(meta, "manipulation")


def test_phases_parse_and_choose_parts():
    phases = parse_phases("head:2:1e-3, last:1:3e-4, all:0:1e-4")
    assert phases == [Phase("head", 2, 1e-3), Phase("last", 1, 3e-4), Phase("all", 0, 1e-4)]
    assert [phase_at(phases, e).part for e in range(1, 6)] == ["head", "head", "last", "all", "all"]
    for bad in ("top:1:1e-3", "head:1", "all:0:1e-3,head:1:1e-3"):
        with pytest.raises(ValueError):
            parse_phases(bad)
    model = create_model("timm/resnet18", frequency="fft", frequency_dim=16, fusion_hidden=8, temporal="lstm")
    head, last = part_parameters(model, "head"), part_parameters(model, "last")
    assert "lstm.weight_ih_l0" in head and "backbone.fuse.0.weight" in head and "backbone.branch.cnn.0.0.weight" in head
    assert not any(n.startswith("backbone.inner.net.layer4") for n in head)
    assert "backbone.inner.net.layer4.1.conv2.weight" in last and "backbone.inner.net.layer3.0.conv1.weight" not in last
    assert part_parameters(model, "all") == {n for n, _ in model.named_parameters()}


class _StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, state, row) -> None:
        if row["epoch"] == self.epoch:
            raise KeyboardInterrupt("simulated interruption")


def test_run_with_method_head_supcon_focal_and_phases_resumes_exactly(tmp_path):
    faces = standard_manifest(tmp_path / "data", n_videos=12, frames=3, size=32)
    cfg = TrainConfig(
        checkpoints_dir=str(tmp_path / "runs"),
        epochs=2,
        batch_size=8,
        num_workers=0,
        lr=1e-3,
        warmup_epochs=0.5,
        patience=0,
        loss="focal",
        supcon_weight=0.2,
        method_column="method",
        phases="head:1:2e-3,all:0:5e-4",
    )

    def run(name, callbacks, resume=False):
        model, _ = train_model(
            NAME,
            DataConfig(faces=str(faces)),
            cfg.replace(run=name, resume=resume),
            model_kwargs=dict(VIT),
            callbacks=callbacks,
        )
        return model

    full = run("full", [])
    assert full.methods == ["real", "Fake"] and full.init_kwargs["methods"] == ["real", "Fake"]
    torch.manual_seed(cfg.seed)
    start = create_model(NAME, **VIT, methods=["real", "Fake"]).state_dict()
    first = load_model(tmp_path / "runs" / "full" / "epoch_001.pt").state_dict()
    block = "inner.net.blocks.0.attn.qkv.weight"
    assert torch.equal(first[block], start[block])  # backbone frozen in the head phase
    assert not torch.equal(first["method_head.weight"], start["method_head.weight"])
    assert not torch.equal(first["inner.net.head.weight"], start["inner.net.head.weight"])
    assert not torch.equal(full.state_dict()[block], start[block])  # then everything trains
    with pytest.raises(KeyboardInterrupt):
        run("cut", [_StopAfter(1)])
    resumed = run("cut", [], resume=True)
    for k, v in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k
    probs = load_model(tmp_path / "runs" / "full" / "last.pt").method_probabilities(torch.rand(2, 3, 32, 32))
    assert probs.shape == (2, 2) and torch.allclose(probs.sum(1), torch.ones(2))
