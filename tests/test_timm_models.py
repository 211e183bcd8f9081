"""timm backbones: registered names and ``timm/<name>``, configs from timm, local and offline pretrained weights,
checkpoints, and the temporal heads (LSTM and transformer) over any frame model."""

from __future__ import annotations

import time

import pytest
import timm
import torch
from safetensors.torch import save_file

from deepfakeforensics.models import (
    WeightsError,
    create_model,
    init_backbone,
    is_model,
    list_options,
    load_model,
    save_checkpoint,
    timm_models,
)
from deepfakeforensics.models.temporal import TemporalDetector, TransformerTemporalDetector

TINY_VIT = {"img_size": 32, "depth": 2}  # vit_tiny: 192-d, 3 heads; 2 blocks at 32x32 (4 patches)


def _tiny_vit(**kwargs):
    return create_model("timm/vit_tiny_patch16_224", **TINY_VIT, **kwargs)


@pytest.mark.parametrize(
    ("name", "size", "mean", "features"),
    [
        ("xception", 299, (0.5, 0.5, 0.5), 2048),
        ("convnext_tiny", 224, (0.485, 0.456, 0.406), 768),
        ("resnet50", 224, (0.485, 0.456, 0.406), 2048),
        ("tf_efficientnet_b4", 380, (0.485, 0.456, 0.406), 1792),
        ("clip_vit_b16", 224, (0.48145466, 0.4578275, 0.40821073), 768),
        ("clip_vit_l14", 224, (0.48145466, 0.4578275, 0.40821073), 1024),
    ],
)
def test_registered_timm_models_take_their_config_from_timm(name, size, mean, features):
    with torch.device("meta"):  # shapes only
        model = create_model(name)
    timm_name = timm_models.TIMM_MODELS[name]
    assert model.net.pretrained_cfg["tag"] == timm_name.split(".")[1]
    assert model.default_cfg.input_size == (3, size, size) and model.default_cfg.mean == pytest.approx(mean)
    assert model.num_features == features and model.get_classifier().out_features == 1
    assert model.default_cfg.channels_last == (not name.startswith("clip"))


@pytest.mark.parametrize("name", ["xception", "tf_efficientnet_b0", "resnet50"])  # convnext_tiny: on meta above
def test_registered_timm_cnns_run_and_have_a_gradcam_map(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    with torch.no_grad():
        feats = model.forward_features(torch.rand(1, 3, 64, 64))
        assert feats.ndim == 4 and model.forward_head(feats, pre_logits=True).shape == (1, model.num_features)
        assert model(torch.rand(1, 3, 64, 64)).shape == (1,)
    assert model.explanation == "gradcam" and isinstance(model.gradcam_layer(), torch.nn.Module)


@pytest.mark.parametrize("name", ["clip_vit_b16", "clip_vit_l14"])
def test_clip_encoders_take_224_crops_and_give_one_logit(name):
    with torch.device("meta"):  # shapes only: 86 M and 303 M parameters
        model = create_model(name).eval()
        tokens = model.forward_features(torch.empty(2, 3, 224, 224))
        assert model.forward_head(tokens, pre_logits=True).shape == (2, model.num_features)
        assert model(torch.empty(2, 3, 224, 224)).shape == (2,)
    patches = (224 // (16 if name.endswith("b16") else 14)) ** 2
    assert tokens.shape[1] == patches + 1 and model.explanation == "attention_rollout"


def test_model_options_are_listed_in_the_order_they_apply():
    assert list_options() == ["srm", "frequency", "peft", "temporal", "methods", "boundary"]


def test_every_timm_efficientnet_is_distinct_from_efficientnet_pytorch():
    with torch.device("meta"):
        sizes = [create_model(f"tf_efficientnet_b{i}").default_cfg.input_size[1] for i in range(8)]
        assert type(create_model("efficientnet_b0")).__name__ == "EfficientNetDetector"
    assert sizes == [224, 240, 260, 300, 380, 456, 528, 600]


def test_generic_timm_name_builds_any_timm_model_and_refuses_unknown_ones():
    assert is_model("timm/resnet18") and is_model("timm/convnext_tiny.fb_in22k") and not is_model("timm/nonet")
    with pytest.raises(ValueError, match="'nonet' is not a model of the timm/ family"):
        create_model("timm/nonet")
    torch.manual_seed(0)
    model = create_model("timm/resnet18").eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (2, 512, 2, 2)
        assert model.forward_head(feats, pre_logits=True).shape == (2, model.num_features)
        assert model(x).shape == (2,)
    assert model.name == "timm/resnet18" and model.explanation == "gradcam"


def test_gradcam_layer_of_a_timm_cnn_is_its_last_feature_map():
    model = create_model("timm/resnet18", channels_last=False)
    seen = {}
    handle = model.gradcam_layer().register_forward_hook(lambda m, i, o: seen.setdefault("act", o))
    try:
        model(torch.rand(2, 3, 64, 64)).sum().backward()
    finally:
        handle.remove()
    assert seen["act"].shape == (2, 512, 2, 2)


def test_tiny_vit_forward_and_tokens():
    torch.manual_seed(0)
    model = _tiny_vit().eval()
    assert model.default_cfg.input_size == (3, 32, 32) and model.explanation == "attention_rollout"
    with torch.no_grad():
        tokens = model.forward_features(torch.rand(2, 3, 32, 32))
    assert tokens.shape == (2, 1 + 4, 192)
    assert model.forward_head(tokens, pre_logits=True).shape == (2, 192)


def test_checkpoint_of_a_timm_model_restores_exactly(tmp_path):
    torch.manual_seed(0)
    model = _tiny_vit(drop_path_rate=0.1).eval()
    save_checkpoint(tmp_path / "vit.pt", model)
    again = load_model(tmp_path / "vit.pt").eval()
    assert again.init_kwargs == {**TINY_VIT, "drop_path_rate": 0.1}
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_pretrained_local_file_loads_the_backbone_and_keeps_a_new_head(tmp_path, suffix):
    torch.manual_seed(1)
    imagenet = timm.create_model("resnet18", num_classes=1000)  # shaped like timm's published weights
    state = {k: v.contiguous() for k, v in imagenet.state_dict().items()}
    path = tmp_path / f"model{suffix}"
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    model = create_model("timm/resnet18", pretrained=path)
    own = model.net.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items() if not k.startswith("fc."))
    assert own["fc.weight"].shape == (1, 512)
    temporal = create_model("timm/resnet18", pretrained=str(path), temporal="lstm", hidden_size=4)
    assert torch.equal(temporal.backbone.net.conv1.weight, state["conv1.weight"])


def test_pretrained_file_of_another_architecture_fails_naming_it(tmp_path):
    path = tmp_path / "resnet34.safetensors"
    save_file(timm.create_model("resnet34", num_classes=0).state_dict(), path)
    with pytest.raises(WeightsError, match=r"resnet34\.safetensors.*do not fit.*unexpected"):
        create_model("timm/resnet18", pretrained=path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not weights")
    with pytest.raises(WeightsError, match="junk.pth"):
        create_model("timm/resnet18", pretrained=junk)


def test_pretrained_true_offline_fails_at_once_with_a_hint(monkeypatch):
    monkeypatch.setattr(timm_models, "try_to_load_from_cache", lambda *a, **k: None)  # nothing cached
    monkeypatch.setattr(timm_models, "internet_reachable", lambda url, timeout=3.0: False)

    def no_download(*args, **kwargs):
        raise AssertionError("must not try to download when offline")

    monkeypatch.setattr(timm_models, "hf_hub_download", no_download)
    started = time.perf_counter()
    with pytest.raises(ConnectionError, match=r'convnext_tiny\.fb_in1k.*pretrained="path/to/model\.safetensors"'):
        create_model("convnext_tiny", pretrained=True)
    assert time.perf_counter() - started < 5


def test_pretrained_true_uses_the_hugging_face_cache_without_the_network(monkeypatch, tmp_path):
    path = tmp_path / "model.safetensors"
    state = timm.create_model("resnet18", num_classes=1000).state_dict()
    save_file(state, path)
    seen = []
    monkeypatch.setattr(timm_models, "try_to_load_from_cache", lambda repo, f: seen.append(repo) or str(path))
    monkeypatch.setattr(timm_models, "internet_reachable", lambda url, timeout=3.0: pytest.fail("no network"))
    model = create_model("timm/resnet18", pretrained=True)
    assert seen == ["timm/resnet18.a1_in1k"] and torch.equal(model.net.conv1.weight, state["conv1.weight"])


# ---------------------------------------------------------------- temporal heads over any frame model


@pytest.mark.parametrize(("head", "cls"), [("lstm", TemporalDetector), ("transformer", TransformerTemporalDetector)])
def test_temporal_head_by_option_on_any_model(head, cls):
    torch.manual_seed(0)
    args = {"hidden_size": 8} if head == "lstm" else {"d_model": 16, "heads": 2}
    model = create_model("timm/resnet18", temporal=head, **args).eval()
    assert isinstance(model, cls) and model.default_cfg.temporal and model.backbone.name == "timm/resnet18"
    with torch.no_grad():
        for t in (1, 3):
            assert model(torch.rand(2, t, 3, 64, 64)).shape == (2,)
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        model(torch.rand(2, 3, 64, 64))


def test_transformer_head_uses_the_order_of_the_frames():
    torch.manual_seed(0)
    model = create_model("mesonet4_transformer", d_model=16, heads=2).eval()
    x = torch.rand(1, 3, 3, 256, 256)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x.flip(1)))


def test_transformer_variant_from_a_frame_checkpoint_round_trips(tmp_path):
    torch.manual_seed(0)
    frame = create_model("timm/resnet18")
    save_checkpoint(tmp_path / "frame.pt", frame)
    model = create_model("timm/resnet18", temporal="transformer", d_model=16, heads=2)
    init_backbone(model, tmp_path / "frame.pt")
    assert torch.equal(model.backbone.net.conv1.weight, frame.net.conv1.weight)
    save_checkpoint(tmp_path / "temporal.pt", model.eval())
    again = load_model(tmp_path / "temporal.pt").eval()
    x = torch.rand(1, 2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_temporal_option_refuses_unknown_heads_and_arguments():
    with pytest.raises(ValueError, match="lstm, transformer"):
        create_model("mesonet4", temporal="gru")
    with pytest.raises(TypeError, match="d_model"):
        create_model("mesonet4", temporal="transformer", hidden_size=8)
