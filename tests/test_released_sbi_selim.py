"""SBI and the DFDC winner's released detectors: files built as their authors save them, from committed facts.

The fixtures (``tests/fixtures/released/{sbi,selim}_*.json``, written by ``benchmarks/released_checks/{sbi,selim}.py``
from the authors' own classes) hold every key and shape of their state dicts and their checkpoint containers. The SBI
file here is an efficientnet-pytorch B4 with a 2-class head (the network the authors wrap, checked against the
fixture) saved in their container; the B7 file is filled from the fixture with constant tensors (stride-0, so the
file is small) and a random ``fc``. The authors' code is not needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from efficientnet_pytorch import EfficientNet
from released_helpers import read_fixture as _fixture

from deepfakeforensics.models import WeightsError, create_model
from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD
from deepfakeforensics.models.released import get_released, identify_released, load_released
from deepfakeforensics.models.released import sbi as sbi_module
from deepfakeforensics.models.released import selim as selim_module
from deepfakeforensics.scoring.aggregation import AGGREGATIONS, aggregate, confident_strategy

SBI, SELIM = "sbi_efficientnet_b4", "selim_efficientnet_b7"


def _sbi_file(path: Path) -> EfficientNet:
    """train_sbi.py's ``{"model", "optimizer" (SAM), "epoch"}`` around a random B4 with a 2-class ``_fc``."""
    torch.manual_seed(0)
    net = EfficientNet.from_name("efficientnet-b4", num_classes=2).eval()
    with torch.no_grad():
        net._fc.weight.normal_(0, 0.5)
        net._fc.bias.copy_(torch.tensor([0.3, -0.2]))
    fixture = _fixture(SBI)
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    assert {k: list(v.shape) for k, v in state.items()} == fixture["state"]  # the network their Detector wraps
    n = len(list(net.parameters()))
    group = {**fixture["optimizer_param_group"], "params": list(range(n))}
    sam = {"state": {i: {"e_w": torch.zeros(1)} for i in range(3)}, "param_groups": [group]}
    ckpt = {"model": state, "optimizer": sam, "epoch": 39}
    assert sorted(ckpt) == fixture["container_keys"] and sorted(sam) == fixture["optimizer_keys"]
    torch.save(ckpt, path)
    return net


def _selim_state(prefix: str = "module.") -> dict[str, torch.Tensor]:
    """The author's state dict from the fixture: constant stride-0 tensors, a random ``fc``."""
    gen = torch.Generator().manual_seed(1)
    state = {}
    for key, shape in _fixture(SELIM)["state"].items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(5)
        elif key.endswith(".fc.weight") or key.endswith(".fc.bias"):
            state[key] = torch.randn(shape, generator=gen)
        else:
            state[key] = torch.full((1,), 1.0 if key.endswith("running_var") else 0.01).expand(shape)
    assert all(k.startswith("module.") for k in state)
    return {prefix + k.removeprefix("module."): v for k, v in state.items()}


def _selim_file(path: Path, prefix: str = "module.", numpy_loss: bool = True) -> None:
    """train_classifier.py's ``{"epoch", "state_dict", "bce_best"}`` (bce_best: sklearn's numpy float64)."""
    ckpt = {"epoch": 37, "state_dict": _selim_state(prefix), "bce_best": np.float64(0.19) if numpy_loss else 0.19}
    assert sorted(ckpt) == _fixture(SELIM)["container_keys"]
    assert _fixture(SELIM)["container_types"]["bce_best"] == "numpy.float64"
    torch.save(ckpt, path)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Any]:
    """The authors' files (paths) and, under ``"sbi_net"``, the network saved in the SBI file (their side)."""
    root = tmp_path_factory.mktemp("sbi_selim")
    out = {"sbi": root / "FFraw.tar", "selim": root / "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36"}
    out["sbi_net"] = _sbi_file(out["sbi"])
    _selim_file(out["selim"])
    out["selim_bare"] = root / "selim_bare.pth"
    torch.save(_selim_state(prefix=""), out["selim_bare"])
    return out


def test_layouts_are_recognised_without_a_name(files):
    for key, name in (("sbi", SBI), ("selim", SELIM), ("selim_bare", SELIM)):
        exact = [m.name for m in identify_released(files[key]) if m.distance == 0]
        assert exact == [name], f"{key}: {exact}"


@pytest.fixture(scope="module")
def sbi_model(files):
    return load_released(files["sbi"])  # recognised from the layout


@pytest.fixture(scope="module")
def selim_model(files):
    return load_released(files["selim"])  # recognised from the layout


def test_sbi_file_loads_folded_exactly(files, sbi_model):
    net, model = files["sbi_net"], sbi_model
    assert model.name == SBI and not model.training
    cfg = model.default_cfg
    assert cfg.input_size == (3, 380, 380) and cfg.mean == (0.0, 0.0, 0.0) and cfg.std == (1.0, 1.0, 1.0)
    w = net._fc.weight
    assert torch.equal(model.net._fc.weight, (w[1] - w[0]).unsqueeze(0))
    x = torch.rand(2, 3, 64, 64)  # pixels / 255 on both sides
    with torch.no_grad():
        theirs = net(x).softmax(1)[:, 1]
        ours = torch.sigmoid(model(x))
    assert (ours - theirs).abs().max() < 1e-5
    assert model.gradcam_layer() is model.net._conv_head


def test_create_model_reads_the_authors_sbi_file_and_refuses_the_other(files):
    model = create_model(SBI, weights=files["sbi"])
    assert torch.equal(model.net._fc.bias, torch.tensor([-0.5]))  # b1 - b0 of (0.3, -0.2)
    with pytest.raises(WeightsError, match="final_111"):
        create_model(SBI, weights=files["selim"])


def test_selim_file_with_and_without_module_prefix(files, selim_model):
    expected_fc = _selim_state()["module.fc.weight"]
    model = selim_model
    assert model.name == SELIM and model.default_cfg.input_size == (3, 380, 380)
    assert (model.default_cfg.mean, model.default_cfg.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert torch.equal(model.fc.weight, expected_fc)
    assert model.gradcam_layer() is model.encoder.conv_head
    bare = selim_module.convert_selim(torch.load(files["selim_bare"], weights_only=True), files["selim_bare"])
    assert "encoder.classifier.weight" not in bare and torch.equal(bare["fc.weight"], expected_fc)
    assert set(bare) == set(model.state_dict())


def test_one_detectors_file_given_as_the_other_is_refused_naming_both(files):
    with pytest.raises(WeightsError, match=f"{SBI} file, not {SELIM}"):
        load_released(files["sbi"], name=SELIM)
    with pytest.raises(WeightsError, match=f"{SELIM} file, not {SBI}"):
        load_released(files["selim"], name=SBI)


def test_truncated_file_is_refused_naming_it(files, tmp_path):
    cut = tmp_path / "FFraw_cut.tar"
    cut.write_bytes(files["sbi"].read_bytes()[:100_000])
    with pytest.raises(WeightsError, match="FFraw_cut.tar.*truncated"):
        load_released(cut)


def test_a_file_holding_code_objects_is_refused(tmp_path):
    """weights_only reading: numpy floats pass (the DFDC winner's bce_best), arbitrary objects do not."""
    path = tmp_path / "odd.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(1, 2560)}, "bce_best": np.array(["x"], dtype=object)}, path)
    with pytest.raises(WeightsError, match="odd.pth"):
        load_released(path, name=SELIM)


def test_sbi_layout_with_another_head_is_refused(tmp_path):
    path = tmp_path / "one_logit.tar"
    state = {"net._fc.weight": torch.zeros(1, 1792), "net._fc.bias": torch.zeros(1)}
    torch.save({"model": state}, path)
    with pytest.raises(WeightsError, match="not a 2-class head"):
        sbi_module.convert_sbi(torch.load(path, weights_only=True), path)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.9] * 13 + [0.5] * 19, 0.9),  # 13 > 32 // 2.5 = 12 and > 11: the confident fakes decide
        ([0.9] * 12 + [0.5] * 20, (12 * 0.9 + 20 * 0.5) / 32),  # 12 is not more than 12: plain mean
        ([0.95] * 10, 0.95),  # all fake but not more than 11 frames: plain mean (the same here)
        ([0.9] * 10 + [0.1], (9.0 + 0.1) / 11),  # 10 confident fakes of 11 are not enough
        ([0.8] * 13 + [0.5] * 19, (13 * 0.8 + 19 * 0.5) / 32),  # t is exclusive
        ([0.9] * 13 + [0.5] * 18, 0.9),  # n = 31: 31 // 2.5 = 12
        ([0.1] * 30 + [0.5] * 2, 0.1),  # 30 > 0.9 * 32 confident reals: their mean
        ([0.1] * 28 + [0.5] * 4, (2.8 + 2.0) / 32),  # 28 is not more than 28.8
    ],
)
def test_confident_strategy(scores, expected):
    assert confident_strategy(np.array(scores)) == pytest.approx(expected, abs=1e-12)


def test_confident_strategy_threshold_and_empty():
    scores = np.array([0.7] * 13 + [0.5] * 19)
    assert confident_strategy(scores, t=0.6) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        confident_strategy(np.array([]))


def test_sbi_video_rule_takes_the_max_face_per_frame():
    frames, scores = [0, 0, 1, 2, 2], [0.2, 0.8, 0.4, 0.1, 0.3]
    table = pd.DataFrame({"video_id": "v", "frame": frames, "track": [0, 1, 0, 0, 1], "score": scores})
    assert aggregate(table, get_released(SBI).aggregation)["score"].iloc[0] == pytest.approx((0.8 + 0.4 + 0.3) / 3)


def test_specs_name_their_video_rules_and_files():
    assert get_released(SBI).aggregation == "frame_max" and get_released(SELIM).aggregation == "mean"
    assert "confident" in get_released(SELIM).extra["video_rule"]
    for name in (SBI, SELIM):
        assert get_released(name).aggregation in AGGREGATIONS and get_released(name).published
    assert get_released(SBI).profile == "sbi" and "FFraw.tar" in get_released(SBI).files
    assert get_released(SELIM).profile == "selim" and len(get_released(SELIM).files) == 7


def test_forward_shape_and_finite(sbi_model, selim_model):
    with torch.no_grad():
        # Smaller than their 380 to keep the suite fast on 2 CPUs: both networks take any size (SBI's static "same"
        # padding is computed for 380 and stays valid; timm pads dynamically).
        sbi_out = sbi_model(torch.rand(1, 3, 128, 128))
        selim_out = selim_model(torch.rand(1, 3, 64, 64))
    for out in (sbi_out, selim_out):
        assert out.shape == (1,) and torch.isfinite(out).all()
