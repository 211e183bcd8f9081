"""Check GenD's DINOv3 release (yermandy/GenD_DINOv3_L) against their authors' Hugging Face class.

Their ``GenD`` (``src/hf/modeling_gend.py``, run from their clone, never copied) is built from a ``GenDConfig``
(backbone ``facebook/dinov3-vitl16-pretrain-lvd1689m``) with ``AutoModel.from_pretrained`` replaced by a
``DINOv3ViTModel`` of `FACEBOOK_VITL16` (the public model's configuration, written out here on its own, not taken from
the toolkit) with seeded random weights (no internet), and ``AutoImageProcessor.from_pretrained`` by the DINOv3 image
processor of that model's preprocessing (224 x 224, bilinear, ImageNet mean/std). The LayerNorms (what GenD tunes) are
perturbed, the 2-class head spread over the inputs, and the model saved with ``save_pretrained``. transformers 5.x saves
the blocks as ``feature_extractor.backbone.model.layer.N``; the release (saved with transformers 4.56, which GenD pins)
has ``feature_extractor.backbone.layer.N``: the check writes that layout (the folder) and keeps the 5.x one (a bare
``model.safetensors`` with ``config.json`` beside it). Both are read back (unnamed and named), for both heads, and
P(fake) (their ``softmax[:, 1]``, our ``sigmoid``) compared on the same normalised 224 px tensor.

It also prints the crop gap: their processor on an aligned face of 320 px (pixels to floats, bilinear antialiased
resize) against this toolkit's gend_dinov3 profile resize (the same on floats, rounded to uint8 crops), in pixels and
in P(fake) of the model.

``--reduced``: a small model of the same layout (hidden 256, 4 layers, 4 heads) instead of ViT-L (ViT-L takes some
minutes on two cores); the fixture is written only by a full-size run.

Usage: ``python benchmarks/released_checks/gend_dinov3.py --repo /path/to/GenD [--reduced]``. It writes
``tests/fixtures/released/gend_dinov3_vit_l16.json`` (key -> shape of the release's ``model.safetensors``, config).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepfakeforensics.faces.profiles import float_bilinear_resize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import N_INPUTS, normalise, save_fixture, smooth_crops  # noqa: E402
from effort import spread_head  # noqa: E402
from gend import _perturb_layernorms  # noqa: E402

REPO = "yermandy/GenD"
NAME = "gend_dinov3_vit_l16"
BACKBONE = "facebook/dinov3-vitl16-pretrain-lvd1689m"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# facebook/dinov3-vitl16-pretrain-lvd1689m as transformers' convert_dinov3_vit_to_hf.py get_dinov3_config("vitl")
# builds it (mlp_ratio 4 -> intermediate 4096, 4 registers, mask_k_bias -> no key bias, rope base 100, rescale 2).
FACEBOOK_VITL16 = {
    "patch_size": 16,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "num_register_tokens": 4,
    "layerscale_value": 1.0,
    "use_gated_mlp": False,
    "layer_norm_eps": 1e-5,
    "rope_theta": 100.0,
    "pos_embed_rescale": 2.0,
    "key_bias": False,
}
REDUCED = {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 4}
HEADS = ("linear", "LinearNorm")
FACE_PX = 320  # the aligned face's own size in the crop-gap figure


def _import_gend(repo_dir: Path, overrides: dict):
    """Their ``src/hf/modeling_gend.py``, with the DINOv3 model and image processor built offline."""
    from transformers import AutoImageProcessor, AutoModel, DINOv3ViTConfig, DINOv3ViTImageProcessor, DINOv3ViTModel

    def backbone(cls, name, *args, **kwargs):
        assert name == BACKBONE, name
        return DINOv3ViTModel(DINOv3ViTConfig(**{**FACEBOOK_VITL16, **overrides})).eval()

    def processor(cls, name, *args, **kwargs):
        assert name == BACKBONE, name
        return DINOv3ViTImageProcessor(size={"height": 224, "width": 224}, resample=2)  # 2: bilinear

    AutoModel.from_pretrained = classmethod(backbone)
    AutoImageProcessor.from_pretrained = classmethod(processor)
    path = Path(repo_dir) / "src" / "hf" / "modeling_gend.py"
    spec = importlib.util.spec_from_file_location("gend_authors_modeling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _release_layouts(saved: Path, tmp: Path) -> tuple[Path, Path]:
    """The folder in the release's layout (4.56: ``backbone.layer.N``) and a bare file in the layout as saved (5.x)."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(saved / "model.safetensors"))
    old = {
        k.replace("feature_extractor.backbone.model.layer.", "feature_extractor.backbone.layer."): v
        for k, v in state.items()
    }
    assert any(".backbone.layer." in k for k in old), "no DINOv3 block keys"
    release, bare = tmp / "GenD_DINOv3_L", tmp / "as_saved"
    for folder, tensors in ((release, old), (bare, state)):
        folder.mkdir()
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        (folder / "config.json").write_text((saved / "config.json").read_text())
    return release, bare / "model.safetensors"


def _write_fixture(folder: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        state = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    config = json.loads((folder / "config.json").read_text())
    fixture = {
        "repo": REPO,
        "authors_class": "src/hf/modeling_gend.py GenD (save_pretrained), blocks at backbone.layer.N (transformers 4.56)",
        "config": {k: config[k] for k in ("backbone", "head", "model_type") if k in config},
        "config_keys": sorted(config),
        "state": state,
    }
    save_fixture(NAME, fixture)


def _ours(path: Path, given: str | None, overrides: dict):
    from deepfakeforensics.models import create_model
    from deepfakeforensics.models.released import load_released

    if not overrides:
        return load_released(path, given)
    return create_model(NAME, weights=path, **overrides).eval()  # a reduced model: its layout is not the release's


def _check_head(module, head: str, seed: int, tmp: Path, overrides: dict) -> tuple[float, str, object]:
    torch.manual_seed(seed)
    model = module.GenD(module.GenDConfig(backbone=BACKBONE, head=head)).eval()
    _perturb_layernorms(model.feature_extractor, seed)
    x = normalise(smooth_crops(seed, 224, 16), IMAGENET_MEAN, IMAGENET_STD)
    with torch.no_grad():
        feats = model.feature_extractor(x)
        spread_head(
            model.model.linear, torch.nn.functional.normalize(feats, dim=1) if head != "linear" else feats, seed
        )
        theirs = model(x).softmax(dim=1)[:, 1]
    model.save_pretrained(str(tmp / f"saved_{head}"))
    release, bare = _release_layouts(tmp / f"saved_{head}", tmp / head)
    if head == "LinearNorm" and not overrides:
        _write_fixture(release)
    diffs = []
    for path, given in ((release, None), (bare, NAME)):
        ours = _ours(path, given, overrides)
        assert ours.name == NAME, f"{path} recognised as {ours.name}"
        assert bool(ours.l2_normalize) == (head == "LinearNorm")
        with torch.no_grad():
            diffs.append(float((torch.sigmoid(ours(x)) - theirs).abs().max()))
        del ours
    return max(diffs), f"{head}: P(fake) " + ", ".join(f"{p:.3f}" for p in theirs.tolist()), model


def crop_gap(model, seed: int) -> str:
    """Their processor vs the gend_dinov3 profile's resize on `N_INPUTS` aligned faces of `FACE_PX`: pixels and P(fake)."""
    faces = (smooth_crops(seed, FACE_PX, 24) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    theirs = torch.stack([model.feature_extractor.preprocess(Image.fromarray(f)) for f in faces])
    ours = np.stack([float_bilinear_resize(f, (224, 224)) for f in faces])  # the gend_dinov3 profile's resize
    ours = normalise(torch.from_numpy(ours).permute(0, 3, 1, 2).float() / 255, IMAGENET_MEAN, IMAGENET_STD)
    levels = float(((theirs - ours) * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)).abs().max() * 255)
    with torch.no_grad():
        dp = float((model(theirs).softmax(1)[:, 1] - model(ours).softmax(1)[:, 1]).abs().max())
    return f"crop gap (their processor vs gend_dinov3 profile, {FACE_PX} px faces): max {levels:.1f}/255 levels, max|dP| {dp:.2e}"


def check(repo_dir: Path, reduced: bool = False) -> dict:
    overrides = REDUCED if reduced else {}
    module = _import_gend(Path(repo_dir), overrides)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, head in enumerate(HEADS):
            (Path(tmp) / head).mkdir()
            diff, note, model = _check_head(module, head, 500 + i, Path(tmp), overrides)
            results.append((diff, note))
    gap = crop_gap(model, 520)
    note = "; ".join(n for _, n in results) + "; release layout (unnamed) and 5.x layout (named); " + gap
    size = "reduced (hidden 256, 4 layers)" if reduced else "ViT-L/16"
    return {"name": NAME, "max_abs_diff": max(d for d, _ in results), "n_inputs": N_INPUTS, "size": size, "note": note}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help=f"a clone of {REPO}")
    parser.add_argument("--reduced", action="store_true", help="a small model of the same layout (fast)")
    args = parser.parse_args(argv)
    row = check(args.repo, args.reduced)
    print(f"{row['name']:28s} max|dP| {row['max_abs_diff']:.2e}  n={row['n_inputs']}  {row['size']}  {row['note']}")


if __name__ == "__main__":
    main()
