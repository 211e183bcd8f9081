"""Check the GenD detectors (yermandy/GenD, CLIP and Perception Encoder) against their authors' Hugging Face class.

Their ``GenD`` (``src/hf/modeling_gend.py``, the class their hub releases load with) is built from a ``GenDConfig``
(backbone ``openai/clip-vit-large-patch14``, or ``vit_pe_core_large_patch14_336`` for the PE release) with
``CLIPModel.from_pretrained`` replaced by a ``CLIPModel`` of ViT-L/14's configuration with seeded random weights (no
internet), ``CLIPProcessor.from_pretrained`` by a stand-in (the check feeds tensors) and timm's ``pretrained=True``
(their ``PerceptionEncoder``) by seeded random weights. The LayerNorms (what GenD tunes) are perturbed, the 2-class head spread over the inputs, and the
model saved with ``save_pretrained`` (``config.json`` + ``model.safetensors``, as on the hub). The folder, and its
``model.safetensors`` alone (``config.json`` beside it), are read back through ``load_released`` without a name and
with it, for both heads (``linear`` and ``LinearNorm``), and P(fake) (their ``softmax[:, 1]``, our ``sigmoid``) is
compared on the same 224 px tensor, normalised as each backbone's preprocessing does (CLIP's mean/std; PE's 0.5).

Usage: ``python benchmarks/released_checks/gend.py --repo /path/to/GenD``. It also writes the fixture the tests use
(``tests/fixtures/released/{gend_clip_vit_l14,gend_pe_vit_l14}.json``: key -> shape of ``model.safetensors`` and the
config keys).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import N_INPUTS, run_main, save_fixture  # noqa: E402
from effort import clip_inputs, clip_l14_model, spread_head  # noqa: E402

REPO = "yermandy/GenD"
NAMES = ("gend_clip_vit_l14", "gend_pe_vit_l14", "gend_dinov3_vit_l16")  # the DINOv3 release: gend_dinov3.py
BACKBONES = {"gend_clip_vit_l14": "openai/clip-vit-large-patch14", "gend_pe_vit_l14": "vit_pe_core_large_patch14_336"}


def _import_gend(repo_dir: Path):
    """Their ``src/hf/modeling_gend.py``, with CLIP's ``from_pretrained`` and timm's ``pretrained=True`` offline."""
    import timm
    from transformers import CLIPModel, CLIPProcessor

    create = timm.create_model
    timm.create_model = lambda name, pretrained=False, **kwargs: create(name, pretrained=False, **kwargs)
    CLIPModel.from_pretrained = classmethod(lambda cls, *a, **k: clip_l14_model())
    CLIPProcessor.from_pretrained = classmethod(lambda cls, *a, **k: None)  # preprocess is not called here
    path = Path(repo_dir) / "src" / "hf" / "modeling_gend.py"
    spec = importlib.util.spec_from_file_location("gend_authors_modeling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _perturb_layernorms(model: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.mul_(torch.rand(m.weight.shape, generator=gen) * 0.4 + 0.8)
                m.bias.add_(torch.randn(m.bias.shape, generator=gen) * 0.05)


def _write_fixture(name: str, folder: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        state = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    config = json.loads((folder / "config.json").read_text())
    fixture = {
        "repo": REPO,
        "authors_class": "src/hf/modeling_gend.py GenD (save_pretrained)",
        "config": {k: config[k] for k in ("backbone", "head", "model_type") if k in config},
        "config_keys": sorted(config),
        "state": state,
    }
    save_fixture(name, fixture)


def _inputs(name: str, seed: int) -> torch.Tensor:
    """The check's crops, normalised as `name`'s backbone preprocessing does (CLIP's mean/std; PE's 0.5, 0.5)."""
    x = clip_inputs(seed)
    if name == "gend_clip_vit_l14":
        return x
    from deepfakeforensics.models.released._clip import CLIP_MEAN, CLIP_STD

    pixels = x * torch.tensor(CLIP_STD).view(1, 3, 1, 1) + torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    return (pixels - 0.5) / 0.5


def _check_head(module, name: str, head: str, seed: int, tmp: Path) -> tuple[float, str]:
    from deepfakeforensics.models.released import load_released

    torch.manual_seed(seed)
    model = module.GenD(module.GenDConfig(backbone=BACKBONES[name], head=head)).eval()
    _perturb_layernorms(model.feature_extractor, seed)
    x = _inputs(name, seed)
    with torch.no_grad():
        feats = model.feature_extractor(x)
        spread_head(
            model.model.linear, torch.nn.functional.normalize(feats, dim=1) if head != "linear" else feats, seed
        )
        theirs = model(x).softmax(dim=1)[:, 1]
    folder = tmp / f"{name}_{head}"
    model.save_pretrained(str(folder))
    del model
    if head == "LinearNorm":
        _write_fixture(name, folder)
    diffs = []
    for path in (folder, folder / "model.safetensors"):
        for given in (None, name):
            ours = load_released(path, given)
            assert ours.name == name, f"{path} recognised as {ours.name}, not {name}"
            assert bool(ours.l2_normalize) == (head == "LinearNorm")
            with torch.no_grad():
                diffs.append(float((torch.sigmoid(ours(x)) - theirs).abs().max()))
            del ours
    return max(diffs), f"{head}: P(fake) " + ", ".join(f"{p:.3f}" for p in theirs.tolist())


def check(repo_dir: Path, names=None) -> list[dict]:
    """One row per name: max |P(fake) ours - P(fake) theirs| over `N_INPUTS` crops and both heads."""
    module = _import_gend(Path(repo_dir))
    rows = []
    for k, name in enumerate(NAMES):
        if names and name not in names:
            continue
        if name == "gend_dinov3_vit_l16":
            from gend_dinov3 import check as check_dinov3  # imports this module: not at the top

            rows.append(check_dinov3(Path(repo_dir)))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            results = [_check_head(module, name, head, 400 + 10 * k + i, Path(tmp)) for i, head in enumerate(HEADS)]
        note = "; ".join(n for _, n in results) + "; folder and bare model.safetensors, loaded unnamed and named"
        rows.append({"name": name, "max_abs_diff": max(d for d, _ in results), "n_inputs": N_INPUTS, "note": note})
    return rows


HEADS = ("linear", "LinearNorm")


def main(argv: list[str] | None = None) -> None:
    run_main(__doc__, REPO, check, argv)


if __name__ == "__main__":
    main()
