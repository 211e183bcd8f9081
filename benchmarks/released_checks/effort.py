"""Check the Effort detector (YZY-stack/Effort-AIGI-Detection) against its authors' own detector class.

Their ``EffortDetector`` (``DeepfakeBench/training/detectors/effort_detector.py``) is built as their code builds it:
``CLIPModel.from_pretrained`` (replaced by a ``CLIPModel`` of OpenAI ViT-L/14's configuration with seeded random
weights: no internet, and the released file replaces every weight anyway), then their
``apply_svd_residual_to_self_attn(vision_model, r=1023)``. The trainable SVD residuals (``U_residual``,
``S_residual``, ``V_residual``) and the LayerNorms are then perturbed (seeded) so that the fold and every mapped
weight matter, and the 2-class head is set so that P(fake) spreads over the inputs. The detector is saved as their
trainer saves it (``torch.save(model.state_dict())``: ``backbone.*``, ``head.*``), read back through
``load_released(path)`` without a name (layout recognition) and with it, and P(fake) (their ``forward``'s
``prob`` = ``softmax[:, 1]``, our ``sigmoid``) is compared on the same inputs.

Both sides take the same tensor: RGB in [0, 1] normalised by CLIP's mean and std (their ``effort.yaml``; our
``default_cfg``: asserted equal) at 224 x 224. Their module's imports that inference does not use (DeepfakeBench's
registries, metrics, losses, ``loralib``, tensorboard) are stubbed; their code is imported at run time only.

Usage: ``python benchmarks/released_checks/effort.py --repo /path/to/Effort-AIGI-Detection``. It also writes the
fixture the tests use (``tests/fixtures/released/effort_clip_vit_l14.json``: key -> shape of the saved file).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import N_INPUTS, normalise, run_main, save_fixture, smooth_crops  # noqa: E402

REPO = "YZY-stack/Effort-AIGI-Detection"
NAMES = ("effort_clip_vit_l14",)
SIZE = 224
CLIP_L14_VISION = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=224,
    patch_size=14,
    projection_dim=768,
    hidden_act="quick_gelu",
    layer_norm_eps=1e-5,
)  # fmt: skip  (openai/clip-vit-large-patch14 config.json, vision part)
CLIP_TINY_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2)  # unused


def clip_l14_model():
    """A ``CLIPModel`` of OpenAI ViT-L/14's vision configuration (a tiny text tower: neither author uses it)."""
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(vision_config=CLIP_L14_VISION, text_config=CLIP_TINY_TEXT, projection_dim=768)
    return CLIPModel(config).eval()


_STUBBED = (
    "metrics", "metrics.base_metrics_class", "detectors", "detectors.base_detector", "networks", "loss", "loralib",
    "torch.utils.tensorboard",
)  # fmt: skip


def _stubs() -> dict[str, types.ModuleType]:
    """Stand-ins for the imports of their module that inference does not use (DeepfakeBench's registries...)."""

    class _Registry:
        def register_module(self, module_name=None):
            return lambda cls: cls

    attrs = {
        "metrics.base_metrics_class": {"calculate_metrics_for_train": None},
        "detectors": {"DETECTOR": _Registry(), "__path__": []},
        "detectors.base_detector": {"AbstractDetector": torch.nn.Module},
        "networks": {"BACKBONE": _Registry()},
        "loss": {"LOSSFUNC": _Registry()},
        "torch.utils.tensorboard": {"SummaryWriter": None},
    }
    out = {}
    for name in _STUBBED:
        out[name] = types.ModuleType(name)
        out[name].__dict__.update(attrs.get(name, {}))
    return out


def _import_effort(repo_dir: Path):
    """Their ``effort_detector`` module, its unused imports stubbed (then restored), ``from_pretrained`` offline."""
    from transformers import CLIPModel

    CLIPModel.from_pretrained = classmethod(lambda cls, *a, **k: clip_l14_model())
    saved = {name: sys.modules.get(name) for name in _STUBBED}
    sys.modules.update(_stubs())
    try:
        path = Path(repo_dir) / "DeepfakeBench" / "training" / "detectors" / "effort_detector.py"
        spec = importlib.util.spec_from_file_location("detectors.effort_detector", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    return module


def _perturb(det: torch.nn.Module, module, seed: int) -> None:
    """Seeded changes to what training changes: the SVD residuals, and (for a stronger check) the LayerNorms."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in det.backbone.modules():
            if isinstance(m, module.SVDResidualLinear):
                m.S_residual.mul_(torch.rand(m.S_residual.shape, generator=gen) * 4 + 1)
                m.U_residual.add_(torch.randn(m.U_residual.shape, generator=gen) * 0.05)
                m.V_residual.add_(torch.randn(m.V_residual.shape, generator=gen) * 0.05)
                m.bias.add_(torch.randn(m.bias.shape, generator=gen) * 0.02)
            elif isinstance(m, torch.nn.LayerNorm):
                m.weight.mul_(torch.rand(m.weight.shape, generator=gen) * 0.4 + 0.8)
                m.bias.add_(torch.randn(m.bias.shape, generator=gen) * 0.05)


def spread_head(head: torch.nn.Linear, feats: torch.Tensor, seed: int) -> None:
    """Set a 2-class `head` so that its logit differences on `feats` spread over about +-2 (P(fake) not saturated)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = torch.randn(head.weight.shape, generator=gen)
        z = feats @ (w[1] - w[0])
        scale = 2.0 / z.std()
        assert torch.isfinite(scale) and float(z.std()) > 1e-3 * float(z.abs().mean()), "features do not vary"
        head.weight.copy_(w * scale)
        head.bias.copy_(torch.tensor([0.3, 0.3 - float(z.mean() * scale)]))


def clip_inputs(seed: int, n: int = N_INPUTS) -> torch.Tensor:
    """`n` smooth random 224 px RGB crops, uint8 -> [0, 1] -> CLIP mean/std (as both sides normalise)."""
    from deepfakeforensics.models.released._clip import CLIP_MEAN, CLIP_STD

    return normalise(smooth_crops(seed, SIZE, 16, n), CLIP_MEAN, CLIP_STD)


def _write_fixture(name: str, state: dict[str, torch.Tensor]) -> None:
    fixture = {
        "repo": REPO,
        "authors_class": "DeepfakeBench/training/detectors/effort_detector.py EffortDetector (trainer.py save_ckpt)",
        "container_keys": [],
        "state": {k: list(v.shape) for k, v in state.items()},
    }
    save_fixture(name, fixture)


def _check_one(module, name: str, seed: int) -> dict:
    from deepfakeforensics.models.released import load_released
    from deepfakeforensics.models.released._clip import CLIP_MEAN, CLIP_STD

    torch.manual_seed(seed)
    det = module.EffortDetector({}).eval()
    _perturb(det, module, seed)
    x = clip_inputs(seed)
    with torch.no_grad():
        spread_head(det.head, det.features({"image": x}), seed + 1)
        theirs = det({"image": x}, inference=True)["prob"]
    diffs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ckpt_best.pth"
        state = det.state_dict()
        torch.save(state, path)
        _write_fixture(name, state)
        del state
        for given in (None, name):
            ours = load_released(path, given)
            assert ours.name == name, f"file recognised as {ours.name}, not {name}"
            assert ours.default_cfg.mean == CLIP_MEAN and ours.default_cfg.std == CLIP_STD
            assert ours.default_cfg.input_size == (3, SIZE, SIZE)
            with torch.no_grad():
                diffs.append(float((torch.sigmoid(ours(x)) - theirs).abs().max()))
            del ours
    probs = ", ".join(f"{p:.3f}" for p in theirs.tolist())
    note = f"P(fake) {probs}; raw state dict with SVD residuals (r=1023), loaded unnamed and named"
    return {"name": name, "max_abs_diff": max(diffs), "n_inputs": N_INPUTS, "note": note}


def check(repo_dir: Path, names=None) -> list[dict]:
    """One row per name: max |P(fake) ours - P(fake) theirs| over `N_INPUTS` crops."""
    module = _import_effort(Path(repo_dir))
    return [_check_one(module, name, seed=300 + i) for i, name in enumerate(NAMES) if not names or name in names]


def main(argv: list[str] | None = None) -> None:
    run_main(__doc__, REPO, check, argv)


if __name__ == "__main__":
    main()
