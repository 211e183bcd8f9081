"""DeepfakeBench's released detectors: files built as their trainer saves them, from committed key/shape facts.

The fixtures (``tests/fixtures/released/dfb_*.json``, written by ``benchmarks/released_checks/deepfakebench.py`` from
the authors' own detector classes) hold every key and shape of their raw ``detector.state_dict()``; the files here
are filled with random tensors. The authors' code is not needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from released_helpers import random_state as _random_state
from released_helpers import read_fixture as _fixture

from deepfakeforensics.models import WeightsError, create_model
from deepfakeforensics.models.released import get_released, identify_released, load_released

NAMES = ("dfb_meso4", "dfb_meso4_inception", "dfb_xception", "dfb_efficientnet_b4")
HEAD = {  # their 2-class head inside the backbone
    "dfb_meso4": "backbone.fc2",
    "dfb_meso4_inception": "backbone.fc2",
    "dfb_xception": "backbone.last_linear",
    "dfb_efficientnet_b4": "backbone.last_layer",
}
SIZE = {"dfb_meso4": 256, "dfb_meso4_inception": 256, "dfb_xception": 64, "dfb_efficientnet_b4": 64}


def _save(path: Path, state: dict[str, torch.Tensor]) -> Path:
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Each detector's file as released (``<x>_best.pth``: the raw state dict), plus a DDP ``module.`` one."""
    root = tmp_path_factory.mktemp("dfb")
    out = {name: _save(root / _fixture(name)["file"], _random_state(name, i)) for i, name in enumerate(NAMES)}
    out["module"] = _save(root / "ddp.pth", {f"module.{k}": v for k, v in _random_state("dfb_meso4", 0).items()})
    return out


def _inputs(name: str, n: int = 3) -> torch.Tensor:
    return torch.randn(n, 3, SIZE[name], SIZE[name], generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", NAMES)
def test_the_authors_file_loads_by_name_and_is_recognised_without(files, name):
    assert _fixture(name)["container_keys"] == []  # the file is the state dict itself
    named = create_model(name, weights=files[name])
    unnamed = load_released(files[name])
    assert unnamed.name == name
    state = _random_state(name, NAMES.index(name))
    w = state[f"{HEAD[name]}.weight"]
    for model in (named, unnamed):
        assert torch.equal(model.get_classifier().weight, (w[1] - w[0]).unsqueeze(0))
    assert [m.name for m in identify_released(files[name]) if m.distance == 0] == [name]


def test_ddp_module_prefix_is_read(files):
    model = load_released(files["module"])
    assert model.name == "dfb_meso4"
    assert torch.equal(model.conv1.weight, _random_state("dfb_meso4", 0)["backbone.conv1.weight"])


@pytest.mark.parametrize("name", NAMES)
def test_fold_is_exact(files, name):
    """sigmoid(our one logit) == softmax of their 2-class head, computed explicitly on the same features."""
    model = load_released(files[name], name)
    state = _random_state(name, NAMES.index(name))
    w, b = state[f"{HEAD[name]}.weight"], state[f"{HEAD[name]}.bias"]
    x = _inputs(name)
    with torch.no_grad():
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
        theirs = F.linear(pre, w, b)
        ours = model(x)
    assert torch.allclose(ours, theirs[:, 1] - theirs[:, 0], atol=1e-5)
    assert torch.allclose(torch.sigmoid(ours), torch.softmax(theirs, dim=1)[:, 1], atol=1e-6)


def _meso4_by_hand(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Their Meso4 written out: bias-free conv, ReLU, then a BatchNorm shared by two convolutions, then pooling."""
    s = {k.removeprefix("backbone."): v for k, v in state.items()}

    def bn(h, name):
        return F.batch_norm(
            h, s[f"{name}.running_mean"], s[f"{name}.running_var"], s[f"{name}.weight"], s[f"{name}.bias"]
        )

    for conv, norm, pool in (("conv1", "bn1", 2), ("conv2", "bn1", 2), ("conv3", "bn2", 2), ("conv4", "bn2", 4)):
        weight = s[f"{conv}.weight"]
        x = F.max_pool2d(bn(F.relu(F.conv2d(x, weight, padding=weight.shape[-1] // 2)), norm), pool)
    hidden = F.leaky_relu(F.linear(x.flatten(1), s["fc1.weight"], s["fc1.bias"]), 0.1)
    return torch.softmax(F.linear(hidden, s["fc2.weight"], s["fc2.bias"]), dim=1)[:, 1]


def test_meso4_is_deepfakebench_layout_not_keras(files):
    state = _random_state("dfb_meso4", 0)
    assert not any(k.startswith("backbone.conv") and k.endswith(".bias") for k in state)  # bias-free convolutions
    model = load_released(files["dfb_meso4"])
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 2  # bn1 and bn2, each used twice
    x = _inputs("dfb_meso4")
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(model(x)), _meso4_by_hand(state, x), atol=1e-6)


def test_meso4_and_meso4_inception_layouts_exclude_each_other(files):
    for name, other in (("dfb_meso4", "dfb_meso4_inception"), ("dfb_meso4_inception", "dfb_meso4")):
        fits = {m.name: m.distance for m in identify_released(files[name])}
        assert fits[name] == 0 and fits[other] > 0


@pytest.mark.parametrize("size", [256, 380])
def test_efficientnet_b4_stem_is_unpadded(size):
    """The wrong-stem trap: their stem has no padding (256 -> 127, 380 -> 189); the usual B4 pads (128, 190)."""
    ours = create_model("dfb_efficientnet_b4", channels_last=False).eval()
    usual = create_model("efficientnet_b4", channels_last=False).eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        unpadded, padded = ours.net._conv_stem(x), usual.net._conv_stem(x)
    assert unpadded.shape[-1] == (size - 3) // 2 + 1 and padded.shape[-1] == (size + 1) // 2
    assert unpadded.shape[-1] == padded.shape[-1] - 1
    assert ours.net._conv_stem.weight.shape == usual.net._conv_stem.weight.shape  # same key and shape: silent


def _calibrated(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """BatchNorm statistics measured on `x`: with made-up ones a deep random network gives every input one output."""
    model.eval()
    for bn in model.modules():
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
    with torch.no_grad():
        model(x)
    return model.eval()


def test_efficientnet_b4_padded_stem_would_score_differently(files):
    """The trap's consequence: the same weights behind the usual padded stem give other scores."""
    model = load_released(files["dfb_efficientnet_b4"])
    x = _inputs("dfb_efficientnet_b4", 4)
    _calibrated(model, x)
    with torch.no_grad():
        right = model(x)
        usual_stem = create_model("efficientnet_b4").net._conv_stem
        usual_stem.weight.copy_(model.net._conv_stem.weight)
        model.net._conv_stem = usual_stem
        wrong = model(x)
    assert right.std() > 0.01  # the inputs are told apart: the comparison means something
    assert (right - wrong).abs().max() > 0.1 * right.std()


def test_xception_unused_adjust_channel_is_dropped_and_nothing_else(files, tmp_path):
    state = _random_state("dfb_xception", NAMES.index("dfb_xception"))
    unused = [k for k in state if k.startswith("backbone.adjust_channel.")]
    assert len(unused) == 7  # the file as released carries them
    assert load_released(files["dfb_xception"]).name == "dfb_xception"
    without = _save(tmp_path / "no_adjust.pth", {k: v for k, v in state.items() if k not in unused})
    assert load_released(without).name == "dfb_xception"
    for extra in ("backbone.adjust_channel.2.weight", "backbone.iid_head.weight"):
        path = _save(tmp_path / "extra.pth", {**state, extra: torch.zeros(3)})
        shown = extra.removeprefix("backbone.")
        with pytest.raises(WeightsError, match=shown.replace(".", r"\.")):
            create_model("dfb_xception", weights=path)
        with pytest.raises(WeightsError, match=shown.replace(".", r"\.")):
            load_released(path, "dfb_xception")
        with pytest.raises(WeightsError, match="not a released detector"):
            load_released(path)


def test_truncated_file_is_refused_naming_it(files, tmp_path):
    broken = tmp_path / "effnb4_best-cut.pth"
    broken.write_bytes(files["dfb_efficientnet_b4"].read_bytes()[:1_000_000])
    with pytest.raises(WeightsError, match="truncated") as err:
        load_released(broken)
    assert str(broken) in str(err.value)
    with pytest.raises(WeightsError, match=broken.name):
        create_model("dfb_efficientnet_b4", weights=broken)


@pytest.mark.parametrize(
    ("given", "actual"),
    [
        ("dfb_meso4", "dfb_meso4_inception"),
        ("dfb_meso4_inception", "dfb_meso4"),
        ("dfb_efficientnet_b4", "dfb_xception"),
        ("dfb_xception", "dfb_efficientnet_b4"),
    ],
)
def test_file_of_another_detector_is_refused_naming_both(files, given, actual):
    with pytest.raises(WeightsError) as err:
        load_released(files[actual], name=given)
    assert given in str(err.value) and actual in str(err.value)
    with pytest.raises(WeightsError, match=given):
        create_model(given, weights=files[actual])


def test_b4_files_of_other_prefixes_are_refused(tmp_path):
    """Same shapes, other prefixes: SBI's ``{"model": net.*}`` and a plain ``efficientnet.*`` file."""
    state = _random_state("dfb_efficientnet_b4", 3)
    bare = {k.removeprefix("backbone.efficientnet."): v for k, v in state.items() if ".efficientnet." in k}
    sbi = _save(tmp_path / "FFraw.tar", {"model": {f"net.{k}": v for k, v in bare.items()}})
    plain = _save(tmp_path / "plain.pth", {f"efficientnet.{k}": v for k, v in bare.items()})
    for path in (sbi, plain):
        with pytest.raises(WeightsError):
            create_model("dfb_efficientnet_b4", weights=path)
        assert "dfb_efficientnet_b4" not in [m.name for m in identify_released(path) if m.distance == 0]
    three_class = dict(state)  # DeepfakeBench's own SBI detector: the same prefix, a 3-class head
    three_class["backbone.last_layer.weight"] = torch.zeros(3, 1792)
    three_class["backbone.last_layer.bias"] = torch.zeros(3)
    with pytest.raises(WeightsError, match="2-class"):
        create_model("dfb_efficientnet_b4", weights=_save(tmp_path / "sbi_best.pth", three_class))


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape_config_and_spec(name):
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(_inputs(name, 2))
    assert out.shape == (2,) and bool(torch.isfinite(out).all())
    cfg = model.default_cfg
    assert cfg.input_size == (3, 256, 256) and cfg.mean == cfg.std == (0.5, 0.5, 0.5)
    spec = get_released(name)
    assert spec.profile == "deepfakebench" and spec.files == (_fixture(name)["file"],)
    assert spec.published and all(p.level == "frame" and p.metric == "auc" for p in spec.published)
    assert "INTER_CUBIC" in spec.notes
    with pytest.raises(ValueError, match="weights="):
        create_model(name, pretrained=True)
