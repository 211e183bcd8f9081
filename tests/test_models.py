"""Model zoo: forward pass of every registered model, Keras import, checkpoints, weight-loading errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepfakeforensics.models import WeightsError, create_model, list_models, load_model, save_checkpoint
from deepfakeforensics.models._weights import load_weights

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


def test_unknown_model_lists_close_matches():
    with pytest.raises(ValueError, match="mesonet4"):
        create_model("mesonet5")


def test_registry_lists_every_family():
    names = list_models()
    assert {"mesonet4", "mesoinception4"} <= set(names)
    assert list_models("meso*") == ["mesoinception4", "mesonet4"]


@pytest.mark.parametrize("name", ["mesonet4", "mesoinception4"])
def test_mesonet_forward(name):
    model = create_model(name).eval()
    c, h, w = model.default_cfg.input_size
    with torch.no_grad():
        out = model(torch.rand(1, c, h, w))
    assert out.shape == (1,) and torch.isfinite(out).all()


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
