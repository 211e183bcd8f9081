"""Model zoo: forward pass of every registered model, Keras import, checkpoints, weight-loading errors, registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deepfakeforensics.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Detector,
    ModelCfg,
    WeightsError,
    create_model,
    efficientnet,
    init_backbone,
    is_model,
    list_models,
    load_checkpoint,
    load_model,
    register_model,
    save_checkpoint,
    timm_models,
    video,
)
from deepfakeforensics.models._registry import get_factory
from deepfakeforensics.models._weights import load_weights
from deepfakeforensics.models.efficientnet import EfficientNetDetector

KERAS_FILES = {
    "Meso4_DF": "mesonet4",
    "Meso4_F2F": "mesonet4",
    "MesoInception_DF": "mesoinception4",
    "MesoInception_F2F": "mesoinception4",
}


def _load_reference_images(mesonet_dir) -> tuple[torch.Tensor, dict]:
    """The authors' crops prepared as the README says: RGB, bilinear resize to 256x256, scaled to [0, 1].

    PIL's bilinear (which averages over the source pixels when shrinking) is what the reference used: OpenCV's
    INTER_LINEAR differs by up to ~0.4 logits on the 342x342 crop.
    """
    from PIL import Image

    ref = json.loads((mesonet_dir / "keras_reference.json").read_text())
    images = []
    for name in ref["images"]:
        with Image.open(mesonet_dir / "images" / name) as im:
            arr = np.asarray(im.convert("RGB").resize((256, 256), Image.BILINEAR), dtype=np.float32) / 255.0
        images.append(torch.from_numpy(arr).permute(2, 0, 1))
    return torch.stack(images), ref


@pytest.mark.parametrize("stem", sorted(KERAS_FILES))
def test_keras_import_matches_reference(mesonet_dir, stem):
    x, ref = _load_reference_images(mesonet_dir)
    model = create_model(KERAS_FILES[stem], weights=mesonet_dir / "weights" / f"{stem}.h5").eval()
    with torch.no_grad():
        logits = model(x)
    # The authors' models output P(real); ours the fake logit: exactly minus theirs.
    np.testing.assert_allclose(logits.numpy(), -np.array(ref[f"{stem}_logit"]), atol=1e-4, rtol=0)
    # P(fake) is 1 - P(real) (compare where the reference sigmoid is not saturated).
    p_real = np.array(ref[stem])
    ok = p_real < 0.999
    np.testing.assert_allclose(torch.sigmoid(logits).numpy()[ok], 1 - p_real[ok], atol=1e-4)


def test_keras_file_of_other_architecture_fails_and_leaves_model_untouched(mesonet_dir):
    model = create_model("mesoinception4")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = mesonet_dir / "weights" / "Meso4_DF.h5"
    with pytest.raises(WeightsError, match="Meso4_DF.h5.*conv layers"):
        load_weights(model, path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_truncated_keras_file_fails_naming_it(mesonet_dir, tmp_path):
    bad = tmp_path / "Meso4_cut.h5"
    bad.write_bytes((mesonet_dir / "weights" / "Meso4_DF.h5").read_bytes()[:5000])
    with pytest.raises(WeightsError, match="Meso4_cut.h5"):
        create_model("mesonet4", weights=bad)


def test_checkpoint_round_trip(tmp_path):
    model = create_model("mesonet4", drop_rate=0.3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, epoch=3)
    loaded = load_model(path).eval()
    assert loaded.name == "mesonet4" and loaded.fc1.in_features == 1024 and loaded.drop1.p == 0.3
    x = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))


def test_checkpoint_of_other_model_and_truncated_file_fail(tmp_path):
    path = tmp_path / "inc.pt"
    save_checkpoint(path, create_model("mesoinception4"))
    with pytest.raises(WeightsError, match="inc.pt"):
        create_model("mesonet4", weights=path)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="cut.pt"):
        create_model("mesoinception4", weights=cut)


# ---------------------------------------------------------------- registry, configs and forward of every model


FRAME_MODELS = ["mesonet4", "mesoinception4"] + [f"efficientnet_b{i}" for i in range(8)]


def test_registry_lists_every_frame_model_and_its_temporal_variants():
    from deepfakeforensics.models.released import released_specs

    released = [s.name for s in released_specs()]  # the authors' detectors, frame models without temporal variants
    library = [n for n in list_models() if not n.startswith("tiny_test_")]  # tests/tiny_data.py registers those
    frame = FRAME_MODELS + list(timm_models.MODEL_NAMES)
    expected = frame + [f"{n}_{head}" for n in frame for head in ("lstm", "transformer")]
    expected += [*video.MODEL_NAMES, "ftcn_lite", "tall"]  # video models (tests/test_video_models.py)
    assert [n for n in library if n not in released] == sorted(expected)
    assert set(released) <= set(library) and len(released) == 13
    assert list_models("meso*4") == ["mesoinception4", "mesonet4"]


def test_unknown_model_lists_close_matches():
    with pytest.raises(ValueError, match="did you mean.*mesonet4"):
        create_model("mesonet5")
    with pytest.raises(ValueError, match="efficientnet_b4_lstm"):
        create_model("efficientnet_b4_lsmt")


def _test_input_size(model) -> tuple[int, int, int]:
    c, h, w = model.default_cfg.input_size
    # EfficientNet is size-agnostic: the big ones run at 64x64 to keep the suite fast on 2 CPUs. MesoNet's flatten
    # fixes its input at 256x256.
    if isinstance(model.backbone if model.default_cfg.temporal else model, EfficientNetDetector) and h > 300:
        return c, 64, 64
    return c, h, w


@pytest.mark.parametrize("name", sorted(FRAME_MODELS + [f"{n}_lstm" for n in FRAME_MODELS]))
def test_forward_every_registered_model(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    assert model.name == name
    assert model.default_cfg.temporal == name.endswith("_lstm")
    c, h, w = _test_input_size(model)
    with torch.no_grad():
        if model.default_cfg.temporal:
            for t in (1, 2):
                out = model(torch.rand(1, t, c, h, w))
                assert out.shape == (1,) and torch.isfinite(out).all()
            with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
                model(torch.rand(1, c, h, w))
        else:
            out = model(torch.rand(1, c, h, w))
            assert out.shape == (1,) and torch.isfinite(out).all()
            feats = model.forward_features(torch.rand(1, c, h, w))
            assert feats.ndim == 4
            assert model.forward_head(feats, pre_logits=True).shape == (1, model.num_features)


def test_mesonet_rejects_other_input_sizes_clearly():
    with pytest.raises(ValueError, match="mesonet4 takes 256x256"):
        create_model("mesonet4")(torch.rand(1, 3, 224, 224))


def test_default_cfgs_follow_the_contract():
    meso = create_model("mesonet4").default_cfg
    assert (meso.input_size, meso.mean, meso.std, meso.temporal) == ((3, 256, 256), (0.0,) * 3, (1.0,) * 3, False)
    with torch.device("meta"):  # configs only: skip allocating B7's weights
        sizes = [create_model(f"efficientnet_b{i}").default_cfg.input_size[1] for i in (0, 4, 7)]
    assert sizes == [224, 380, 600]
    eff = create_model("efficientnet_b0").default_cfg
    assert eff.mean == IMAGENET_MEAN and eff.std == IMAGENET_STD
    lstm = create_model("efficientnet_b0_lstm").default_cfg
    assert lstm.temporal and lstm.input_size == eff.input_size and lstm.mean == eff.mean


@pytest.mark.parametrize("name", ["mesoinception4", "efficientnet_b0"])
def test_channels_last_gives_the_same_logits(name):
    torch.manual_seed(0)
    fast = create_model(name, channels_last=True).eval()
    plain = create_model(name, channels_last=False).eval()
    plain.load_state_dict(fast.state_dict())
    conv = next(m for m in fast.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(2, 3, 128 if name.startswith("eff") else 256, 128 if name.startswith("eff") else 256)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["mesonet4", "efficientnet_b0"])
def test_gradcam_layer_is_a_conv_map_that_receives_gradients(name):
    model = create_model(name, channels_last=False)
    layer = model.gradcam_layer()
    seen = {}
    handle = layer.register_forward_hook(lambda m, i, o: seen.setdefault("act", o))
    try:
        model(torch.rand(2, 3, 256, 256) if name == "mesonet4" else torch.rand(2, 3, 64, 64)).sum().backward()
    finally:
        handle.remove()
    assert seen["act"].ndim == 4 and seen["act"].shape[0] == 2
    assert seen["act"].shape[-1] == (32 if name == "mesonet4" else 2)  # MesoNet: before the last 4x4 pool
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


def test_temporal_model_trains_end_to_end_and_uses_the_sequence():
    torch.manual_seed(0)
    model = create_model("mesonet4_lstm", hidden_size=8, bidirectional=True)
    x = torch.rand(2, 4, 3, 256, 256)
    model.train()
    model(x).sum().backward()
    assert model.backbone.block1.conv.weight.grad.abs().sum() > 0
    assert model.lstm.weight_ih_l0.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        # the window logit depends on frames at both ends (both LSTM directions are read)
        base = model(x)
        for t in (0, 3):
            y = x.clone()
            y[:, t] = torch.rand_like(y[:, t])
            assert not torch.allclose(model(y), base)


# ---------------------------------------------------------------- checkpoints and init_backbone


def _perturb(model) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))


def test_temporal_checkpoint_round_trip_keeps_kwargs(tmp_path):
    model = create_model("mesoinception4_lstm", hidden_size=12, num_layers=2, bidirectional=True, drop_rate=0.2)
    _perturb(model)
    save_checkpoint(tmp_path / "t.pt", model)
    loaded = load_model(tmp_path / "t.pt").eval()
    assert loaded.lstm.hidden_size == 12 and loaded.lstm.num_layers == 2 and loaded.lstm.bidirectional
    assert loaded.backbone.drop1.p == 0.2
    x = torch.rand(1, 2, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded(x))


def test_init_backbone_loads_frame_checkpoint_and_keeps_lstm_and_head(tmp_path):
    frame = create_model("mesonet4")
    _perturb(frame)
    save_checkpoint(tmp_path / "frame.pt", frame)
    temporal = create_model("mesonet4_lstm", hidden_size=8)
    lstm_before = {k: v.clone() for k, v in temporal.state_dict().items() if not k.startswith("backbone.")}
    assert init_backbone(temporal, tmp_path / "frame.pt") is temporal
    for k, v in frame.state_dict().items():
        assert torch.equal(temporal.backbone.state_dict()[k], v), k
    for k, v in temporal.state_dict().items():
        if not k.startswith("backbone."):
            assert torch.equal(lstm_before[k], v), k


def test_init_backbone_rejects_other_model_and_leaves_model_untouched(tmp_path):
    save_checkpoint(tmp_path / "inception.pt", create_model("mesoinception4"))
    temporal = create_model("mesonet4_lstm")
    before = {k: v.clone() for k, v in temporal.state_dict().items()}
    with pytest.raises(WeightsError, match="inception.pt.*mesoinception4"):
        init_backbone(temporal, tmp_path / "inception.pt")
    with pytest.raises(WeightsError, match="frame.pt.*temporal model"):
        init_backbone(create_model("mesonet4"), tmp_path / "frame.pt")
    assert all(torch.equal(before[k], v) for k, v in temporal.state_dict().items())


def test_temporal_backbone_from_authors_keras_weights(mesonet_dir):
    path = mesonet_dir / "weights" / "Meso4_DF.h5"
    frame = create_model("mesonet4", weights=path)
    via_pretrained = create_model("mesonet4_lstm", pretrained=path)
    via_init = init_backbone(create_model("mesonet4_lstm"), path)
    for temporal in (via_pretrained, via_init):
        for k, v in frame.state_dict().items():
            assert torch.equal(temporal.backbone.state_dict()[k], v), k


def test_mesonet_has_no_download(tmp_path):
    with pytest.raises(ValueError, match=r"no ImageNet weights.*\.h5"):
        create_model("mesonet4", pretrained=True)


# ---------------------------------------------------------------- EfficientNet ImageNet weights


@pytest.fixture(scope="module")
def imagenet_like_b0(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A file shaped like efficientnet-pytorch's ImageNet B0 weights (1000-class fc), with random values."""
    from efficientnet_pytorch import EfficientNet

    torch.manual_seed(1)
    state = EfficientNet.from_name("efficientnet-b0").state_dict()
    path = tmp_path_factory.mktemp("hub") / "efficientnet-b0-355c32eb.pth"
    torch.save(state, path)
    return path, state


def _assert_backbone_equals(model, state) -> None:
    own = model.net.state_dict()
    for k, v in state.items():
        if k.startswith("_fc."):
            assert own[k].shape[0] == 1  # one-logit head, not the 1000 classes
        else:
            assert torch.equal(own[k], v), k


def test_efficientnet_pretrained_local_file(imagenet_like_b0):
    path, state = imagenet_like_b0
    _assert_backbone_equals(create_model("efficientnet_b0", pretrained=path), state)
    _assert_backbone_equals(create_model("efficientnet_b0_lstm", pretrained=str(path)).backbone, state)


def test_efficientnet_pretrained_file_of_other_variant_fails_naming_it(imagenet_like_b0, tmp_path):
    path, _ = imagenet_like_b0
    with pytest.raises(WeightsError, match=r"efficientnet-b0-355c32eb\.pth.*efficientnet_b1.*shape"):
        create_model("efficientnet_b1", pretrained=path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="junk.pth"):
        create_model("efficientnet_b0", pretrained=junk)


def test_efficientnet_pretrained_offline_fails_at_once_with_a_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # empty cache
    monkeypatch.setattr(efficientnet, "_internet_reachable", lambda url, timeout=3.0: False)

    def no_download(*args, **kwargs):
        raise AssertionError("must not try to download when offline")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    with pytest.raises(ConnectionError, match=r'pretrained="path/to/efficientnet-b0-355c32eb\.pth"'):
        create_model("efficientnet_b0", pretrained=True)


def test_efficientnet_pretrained_downloads_into_and_reuses_the_hub_cache(monkeypatch, tmp_path, imagenet_like_b0):
    path, state = imagenet_like_b0
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(efficientnet, "_internet_reachable", lambda url, timeout=3.0: True)
    urls = []

    def fake_download(url, dst, progress=True):
        urls.append(url)
        Path(dst).write_bytes(path.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    _assert_backbone_equals(create_model("efficientnet_b0", pretrained=True), state)
    _assert_backbone_equals(create_model("efficientnet_b0", pretrained=True), state)  # from the cache
    assert urls == [
        "https://github.com/lukemelas/EfficientNet-PyTorch/releases/download/1.0/efficientnet-b0-355c32eb.pth"
    ]
    assert (tmp_path / "checkpoints" / "efficientnet-b0-355c32eb.pth").is_file()


# ---------------------------------------------------------------- dff models


def test_dff_models_lists_names_params_and_sizes(capsys):
    from deepfakeforensics.cli import main

    assert main(["models", "meso*"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(lines) == {f"{n}{v}" for n in ("mesonet4", "mesoinception4") for v in ("", "_lstm", "_transformer")}
    assert f"{sum(p.numel() for p in create_model('mesonet4').parameters()):,}" in lines["mesonet4"]
    assert "3x256x256" in lines["mesonet4"] and "temporal" in lines["mesonet4_lstm"]
    assert main(["models", "nosuchnet*"]) == 1


def test_frame_checkpoint_as_temporal_weights_points_to_init_backbone(tmp_path):
    save_checkpoint(tmp_path / "frame.pt", create_model("mesonet4"))
    with pytest.raises(WeightsError, match="frame.pt.*'mesonet4', not 'mesonet4_lstm'.*init_backbone"):
        create_model("mesonet4_lstm", weights=tmp_path / "frame.pt")


def test_weights_of_wrong_format_fail_naming_the_file(tmp_path):
    not_h5 = tmp_path / "notes.h5"
    not_h5.write_text("just text")
    with pytest.raises(WeightsError, match=r"notes\.h5.*Keras"):
        create_model("mesonet4", weights=not_h5)
    bare = tmp_path / "bare_state_dict.pt"
    torch.save(create_model("mesonet4").state_dict(), bare)  # a state dict, not a checkpoint of this project
    with pytest.raises(WeightsError, match=r"bare_state_dict\.pt.*not a deepfakeforensics checkpoint"):
        create_model("mesonet4", weights=bare)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        create_model("mesonet4", weights=tmp_path / "missing.pt")


def test_keras_weights_into_non_mesonet_fail(mesonet_dir):
    path = mesonet_dir / "weights" / "Meso4_DF.h5"
    with pytest.raises(WeightsError, match=r"Meso4_DF\.h5: mesonet4_lstm cannot read \.h5.*init_backbone"):
        create_model("mesonet4_lstm", weights=path)
    with pytest.raises(WeightsError, match=r"Meso4_DF\.h5.*not a deepfakeforensics checkpoint"):
        create_model("efficientnet_b0", weights=path)


# ---------------------------------------------------------------- damaged files, foreign-weight hook, registry


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    path = tmp_path / "real.pt"
    save_checkpoint(path, create_model("mesonet4"))
    return path


def test_checkpoint_cut_to_half_says_truncated(checkpoint, tmp_path):
    half = tmp_path / "half.pt"
    data = checkpoint.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    for load in (load_checkpoint, load_model, lambda p: create_model("mesonet4", weights=p)):
        with pytest.raises(WeightsError, match=r"half\.pt: is truncated \([\d,]+ bytes.*copy or save it again") as info:
            load(half)
        assert "Errno" not in str(info.value)


def test_text_file_named_pt_is_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("epoch 3: val auc 0.91\n")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for load in (load_checkpoint, load_model, lambda p: create_model("mesonet4", weights=p)):
        with pytest.raises(WeightsError, match=r"notes\.pt: is not a deepfakeforensics checkpoint \(not a PyTorch"):
            load(text)
        with pytest.raises(WeightsError, match=r"empty\.pt: is empty \(0 bytes\), not a deepfakeforensics checkpoint"):
            load(empty)


def test_checkpoint_of_unregistered_model_fails_naming_file_and_model(tmp_path):
    model = create_model("mesonet4")
    model.name = "mesonet9"
    save_checkpoint(tmp_path / "odd.pt", model)
    with pytest.raises(WeightsError, match=r"odd\.pt: checkpoint of model 'mesonet9', which is not registered"):
        load_model(tmp_path / "odd.pt")


class _NpzDetector(Detector):
    """A model that imports a foreign format (``.npz``) through its own converter, as MesoNet does for ``.h5``."""

    def __init__(self) -> None:
        super().__init__()
        self.default_cfg = ModelCfg(input_size=(3, 4, 4))
        self.fc = torch.nn.Linear(48, 1)

    @staticmethod
    def _from_npz(model: Detector, path: Path) -> dict[str, torch.Tensor]:
        with np.load(path) as npz:
            return {"fc.weight": torch.from_numpy(npz["w"]), "fc.bias": torch.from_numpy(npz["b"])}

    weight_converters = {".npz": _from_npz}


def test_generic_loader_uses_the_models_own_converter(tmp_path):
    w, b = np.full((1, 48), 0.5, np.float32), np.array([2.0], np.float32)
    np.savez(tmp_path / "foreign.npz", w=w, b=b)
    model = _NpzDetector()
    assert load_weights(model, tmp_path / "foreign.npz") is model
    assert torch.equal(model.fc.weight, torch.from_numpy(w)) and torch.equal(model.fc.bias, torch.from_numpy(b))
    np.savez(tmp_path / "wrong.npz", w=np.zeros((1, 12), np.float32), b=b)
    with pytest.raises(WeightsError, match=r"wrong\.npz.*shape mismatches"):
        load_weights(model, tmp_path / "wrong.npz")
    assert torch.equal(model.fc.weight, torch.from_numpy(w))  # untouched
    # A model without a converter for a suffix reads such a file as a project checkpoint (and refuses it).
    with pytest.raises(WeightsError, match=r"foreign\.npz.*not a deepfakeforensics checkpoint"):
        load_weights(create_model("mesonet4"), tmp_path / "foreign.npz")


def test_registry_only_maps_names():
    assert is_model("mesonet4") and is_model("efficientnet_b0_lstm") and not is_model("mesonet5")
    assert get_factory("mesonet4").__name__ == "mesonet4"
    with pytest.raises(ValueError, match="registered twice"):
        register_model(get_factory("mesonet4"))
