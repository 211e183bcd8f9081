"""SRM stem and frequency branch: the kernels, the spectra, composition with any model, checkpoints."""

from __future__ import annotations

import pytest
import torch

from deepfakeforensics.models import create_model, load_model, save_checkpoint
from deepfakeforensics.models.branches import (
    FrequencyFusion,
    SRMStem,
    _dct_matrix,
    log_spectra,
    srm_kernels,
)


@pytest.mark.parametrize(("which", "count"), [("basic", 3), ("rich", 30)])
def test_srm_kernels_are_distinct_high_pass_filters(which, count):
    k = srm_kernels(which)
    assert k.shape == (count, 5, 5)
    torch.testing.assert_close(k.sum(dim=(1, 2)), torch.zeros(count), atol=1e-6, rtol=0)  # flat image -> 0
    flat = k.flatten(1)
    assert len({tuple(row.tolist()) for row in flat}) == count


def test_srm_stem_removes_flat_colour_and_has_fixed_kernels():
    model = create_model("timm/resnet18", srm=True)
    assert isinstance(model, SRMStem) and "srm_weight" in model.state_dict()
    assert not any("srm_weight" in n for n, _ in model.named_parameters())  # fixed, never trained
    residuals = model.residuals(torch.full((1, 3, 32, 32), 0.7))
    assert residuals[..., 2:-2, 2:-2].abs().max() < 1e-5
    noisy = model.residuals(torch.randn(1, 3, 32, 32) * 10)
    assert noisy.abs().max() <= 3.0  # truncated
    rich = create_model("timm/resnet18", srm="rich")
    assert rich.residuals(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="basic or rich"):
        create_model("timm/resnet18", srm="fancy")


def test_spectra_put_a_flat_image_s_energy_at_zero_frequency():
    x = torch.full((1, 3, 16, 16), 0.5) + 0.01 * torch.rand(1, 3, 16, 16)
    fft, dct = log_spectra(x, ("fft", "dct"))[0]
    assert divmod(int(fft.argmax()), 16) == (8, 8)  # centred
    assert divmod(int(dct.argmax()), 16) == (0, 0)
    d = _dct_matrix(12, torch.device("cpu"))
    torch.testing.assert_close(d @ d.T, torch.eye(12), atol=1e-5, rtol=0)


def test_frequency_branch_fuses_with_any_backbone_and_round_trips(tmp_path):
    torch.manual_seed(0)
    model = create_model("timm/resnet18", frequency="fft+dct", srm="rich", frequency_dim=16, fusion_hidden=8)
    assert isinstance(model, FrequencyFusion) and isinstance(model.inner, SRMStem)
    assert model.default_cfg == model.inner.inner.default_cfg and model.num_features == 8
    x = torch.rand(2, 3, 64, 64)
    assert model.forward_features(x).shape == (2, 512 + 16)
    model(x).sum().backward()
    assert model.branch.cnn[0][0].weight.grad.abs().sum() > 0  # the branch learns
    save_checkpoint(tmp_path / "fused.pt", model.eval())
    again = load_model(tmp_path / "fused.pt").eval()
    assert again.init_kwargs == {"frequency": "fft+dct", "srm": "rich", "frequency_dim": 16, "fusion_hidden": 8}
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_frequency_option_on_a_temporal_name_goes_to_the_frame_backbone():
    model = create_model("mesonet4_lstm", frequency="dct", hidden_size=4, frequency_dim=16, fusion_hidden=8)
    assert isinstance(model.backbone, FrequencyFusion) and model.lstm.input_size == 8
    assert model(torch.rand(1, 2, 3, 256, 256)).shape == (1,)
    with pytest.raises(ValueError, match="fft, dct or fft\\+dct"):
        create_model("mesonet4", frequency="wavelet")


def test_gradcam_layer_of_a_fused_model_is_the_backbone_s_and_gets_gradients():
    model = create_model("timm/resnet18", frequency="fft", channels_last=False)
    layer = model.gradcam_layer()
    assert layer is model.inner.gradcam_layer()
    seen = {}
    handle = layer.register_forward_hook(lambda m, i, o: seen.setdefault("act", o))
    try:
        model(torch.rand(2, 3, 64, 64)).sum().backward()
    finally:
        handle.remove()
    assert seen["act"].ndim == 4 and any(p.grad is not None for p in layer.parameters())
