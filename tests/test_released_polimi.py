"""polimi-ispl/icpr2020dfdc released detectors: files built as the authors save them, from committed key/shape facts.

The fixtures (``tests/fixtures/released/ispl_*.json``, written by ``benchmarks/released_checks/polimi.py`` from the
authors' own classes) hold every key and shape of their state dicts and the container keys of their training
checkpoints; the files here are filled with random tensors. The authors' code is not needed.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from released_helpers import random_state
from released_helpers import read_fixture as _fixture

from deepfakeforensics.models import WeightsError, create_model
from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD
from deepfakeforensics.models.released import get_released, load_released

_random_state = functools.partial(random_state, scale=0.05)
NAMES = ("ispl_efficientnet_b4", "ispl_efficientnet_b4_att", "ispl_xception")


def _training_checkpoint(name: str, state: dict[str, torch.Tensor]) -> dict:
    """What their ``train_binclass.save_model`` writes: ``net`` plus optimiser state and plain numbers."""
    extra = {"opt": {"state": {}, "param_groups": [{"lr": 1e-5, "params": [0, 1]}]}, "train_loss": 0.3}
    extra.update({"val_loss": 0.2, "iteration": 10, "batch_size": 32, "epoch": 1})
    ckpt = {"net": state, **extra}
    assert sorted(ckpt) == _fixture(name)["container_keys"]
    return ckpt


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Released plain state dicts of each detector, plus a ``{"net"}`` checkpoint and a ``module.`` file."""
    root = tmp_path_factory.mktemp("ispl")
    out = {}
    for i, name in enumerate(NAMES):
        state = _random_state(name, seed=i)
        out[name] = root / f"{name}_bestval.pth"
        torch.save(state, out[name])
        if name == "ispl_efficientnet_b4_att":
            out["net"] = root / "bestval.pth"
            torch.save(_training_checkpoint(name, state), out["net"])
        if name == "ispl_xception":
            out["module"] = root / "xception_module.pth"
            torch.save(_training_checkpoint(name, {f"module.{k}": v for k, v in state.items()}), out["module"])
    return out


@pytest.mark.parametrize("name", NAMES)
def test_the_authors_file_loads_by_name_and_is_recognised_without(files, name):
    state = _random_state(name, seed=NAMES.index(name))
    head = "xception.last_linear.weight" if name == "ispl_xception" else "classifier.weight"
    stem = "xception.conv1.weight" if name == "ispl_xception" else "efficientnet._conv_stem.weight"
    named = create_model(name, weights=files[name])
    unnamed = load_released(files[name])
    assert unnamed.name == name
    for model in (named, unnamed):
        assert torch.equal(model.get_classifier().weight, state[head])
        assert torch.equal(model.state_dict()[stem], state[stem])


@pytest.mark.parametrize(
    ("kind", "name", "ours", "theirs"),
    [
        ("net", "ispl_efficientnet_b4_att", "classifier.bias", "classifier.bias"),
        ("module", "ispl_xception", "xception.fc.bias", "xception.last_linear.bias"),
    ],
)
def test_training_checkpoint_and_dataparallel_prefix_are_read(files, kind, name, ours, theirs):
    model = load_released(files[kind])
    assert model.name == name
    assert torch.equal(model.state_dict()[ours], _random_state(name, NAMES.index(name))[theirs])


def test_truncated_file_is_refused_naming_it(files, tmp_path):
    broken = tmp_path / "EfficientNetB4_DFDC_bestval-cut.pth"
    broken.write_bytes(files["ispl_efficientnet_b4"].read_bytes()[:1_000_000])
    with pytest.raises(WeightsError, match="truncated") as err:
        load_released(broken)
    assert str(broken) in str(err.value)
    with pytest.raises(WeightsError, match=str(broken.name)):
        create_model("ispl_efficientnet_b4", weights=broken)


@pytest.mark.parametrize(
    ("given", "actual"),
    [
        ("ispl_efficientnet_b4_att", "ispl_efficientnet_b4"),
        ("ispl_efficientnet_b4", "ispl_efficientnet_b4_att"),
        ("ispl_efficientnet_b4", "ispl_xception"),
    ],
)
def test_file_of_another_detector_is_refused_naming_both(files, given, actual):
    with pytest.raises(WeightsError) as err:
        load_released(files[actual], given)
    assert given in str(err.value) and actual in str(err.value)
    with pytest.raises(WeightsError, match=given):
        create_model(given, weights=files[actual])


def test_other_layouts_are_refused(tmp_path):
    siamese = {f"feat_ext.{k}": v for k, v in _random_state("ispl_efficientnet_b4").items()}
    siamese.update({"classifier.0.weight": torch.ones(1792), "classifier.1.weight": torch.ones(1, 1792)})
    path = tmp_path / "EfficientNetB4ST_DFDC_bestval.pth"
    torch.save(siamese, path)
    with pytest.raises(WeightsError, match="siamese"):
        create_model("ispl_efficientnet_b4", weights=path)
    with pytest.raises(WeightsError, match="not a released detector"):
        load_released(path)


def _gated_by_hand(model, x: torch.Tensor) -> torch.Tensor:
    """Their formula, written out: block 9's output x becomes x * sigmoid(attconv(x)); the rest runs on it."""
    net = model.efficientnet
    h = net._swish(net._bn0(net._conv_stem(x)))
    for idx, block in enumerate(net._blocks):
        h = block(h)
        if idx == 9:
            h = h * torch.sigmoid(net.attconv(h))
    h = net._swish(net._bn1(net._conv_head(h)))
    return model.classifier(h.mean((2, 3)))[:, 0]


def _calibrated(model, x: torch.Tensor):
    """BatchNorm statistics measured on `x` (default ones let the activations vanish: a constant output)."""
    for bn in model.modules():
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            bn.momentum = None
    with torch.no_grad():
        model.train()(x)
    return model.eval()


def test_attention_gates_block_9_output():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    att = _calibrated(create_model("ispl_efficientnet_b4_att"), torch.randn(4, 3, 32, 32))
    plain = create_model("ispl_efficientnet_b4").eval()
    assert set(att.state_dict()) - set(plain.state_dict()) == {
        "efficientnet.attconv.weight",
        "efficientnet.attconv.bias",
    }
    plain.load_state_dict({k: v for k, v in att.state_dict().items() if "attconv" not in k})
    with torch.no_grad():
        assert torch.allclose(att(x), _gated_by_hand(att, x), atol=1e-5)
        amap = att.attention_map(x)
        assert amap.shape == (2, 1, 4, 4) and bool(((amap > 0) & (amap < 1)).all())
        att.efficientnet.attconv.weight.zero_()
        att.efficientnet.attconv.bias.fill_(50.0)  # sigmoid = 1: no gating, the plain network
        assert torch.allclose(att(x), plain(x), atol=1e-5)
        att.efficientnet.attconv.bias.zero_()  # sigmoid = 0.5: block 9's output halved
        assert not torch.allclose(att(x), plain(x), atol=1e-3)
    with pytest.raises(ValueError, match="no attention"):
        plain.attention_map(x)


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape_config_and_spec(name):
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2,) and bool(torch.isfinite(out).all())
    cfg = model.default_cfg
    assert cfg.input_size == (3, 224, 224)  # Xception too: their scripts use --size 224 for every network
    assert (cfg.mean, cfg.std) == (IMAGENET_MEAN, IMAGENET_STD)
    spec = get_released(name)
    assert spec.profile == "polimi" and len(spec.files) == 2 and "mean of the frame logits" in spec.notes.lower()
    with pytest.raises(ValueError, match="weights="):
        create_model(name, pretrained=True)
