"""Check the SBI detector (mapooon/SelfBlendedImages) against its authors' own model class.

The authors' training ``Detector`` (``src/model.py``: efficientnet-pytorch B4 at ``net``, 2-class ``_fc``, SAM over
SGD) is built with seeded random weights, takes one SAM training step (so its optimizer holds the state their
checkpoints hold), gets random BatchNorm statistics, and is saved as ``src/train_sbi.py`` saves it:
``{"model": state_dict, "optimizer": SAM state, "epoch": int}``. The file is read back through
``load_released(path)`` without a name (layout recognition) and with it, and P(fake) (their ``softmax[:, 1]``, our
``sigmoid``) is compared on the same inputs.

Both sides take pixels / 255 with no mean or std (their ``inference_*.py``: ``tensor.float() / 255``; our
``default_cfg``: asserted), so the same [0, 1] float tensor is fed to both. Their code is imported at run time only;
``EfficientNet.from_pretrained`` becomes ``from_name`` (no internet; the weights are random anyway).

Usage: ``python benchmarks/released_checks/sbi.py --repo /path/to/SelfBlendedImages``. It also writes the fixture the
tests use (``tests/fixtures/released/sbi_efficientnet_b4.json``: key -> shape of the authors' ``"model"`` state dict,
the container keys, and the optimizer state's layout).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import N_INPUTS, randomise_bn, run_main, save_fixture, smooth_crops  # noqa: E402

REPO = "mapooon/SelfBlendedImages"
NAMES = ("sbi_efficientnet_b4",)
SIZE = 380  # their inference code's image_size


def _import_detector(repo_dir: Path):
    """Their training ``model.Detector`` (with SAM), ImageNet download replaced by random initialisation."""
    from efficientnet_pytorch import EfficientNet

    EfficientNet.from_pretrained = classmethod(
        lambda cls, name, advprop=False, **kw: cls.from_name(name, **kw)  # advprop only picks the download
    )
    src = str(Path(repo_dir) / "src")
    sys.path.insert(0, src)
    try:
        for mod in ("utils", "utils.sam"):  # their package name is generic: use theirs, not a cached other one
            sys.modules.pop(mod, None)
        spec = importlib.util.spec_from_file_location("sbi_authors_model", Path(src) / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(src)
    return module.Detector


def _spread_head(det: torch.nn.Module, x: torch.Tensor, seed: int) -> None:
    """Set the 2-class ``_fc`` so that logit differences on `x` spread over about +-2 (P(fake) not saturated)."""
    net = det.net
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        feats = net._avg_pooling(net.extract_features(x)).flatten(1)
        w = torch.randn(net._fc.weight.shape, generator=gen)
        z = feats @ (w[1] - w[0])
        scale = 2.0 / z.std()
        assert torch.isfinite(scale) and float(z.std()) > 1e-3 * float(z.abs().mean()), "features do not vary"
        net._fc.weight.copy_(w * scale)
        net._fc.bias.copy_(torch.tensor([0.3, 0.3 - float(z.mean() * scale)]))


def _inputs(seed: int) -> torch.Tensor:
    """`N_INPUTS` smooth random 380 px RGB crops as their test code feeds them: uint8 -> float / 255."""
    return smooth_crops(seed, SIZE, 19)


def _train_one_step(det: torch.nn.Module, seed: int) -> None:
    """One SAM step of their ``training_step`` on two small crops, so the optimizer state is as in their files."""
    torch.manual_seed(seed)
    det.train()
    det.training_step(torch.rand(2, 3, 96, 96), torch.tensor([0, 1]))
    det.eval()


def _write_fixture(name: str, path: Path) -> None:
    raw = torch.load(path, map_location="cpu", weights_only=True)
    opt = raw["optimizer"]
    fixture = {
        "repo": REPO,
        "authors_class": "src/model.py Detector (saved by src/train_sbi.py)",
        "container_keys": sorted(raw),
        "optimizer_keys": sorted(opt),
        "optimizer_param_group": {k: v for k, v in opt["param_groups"][0].items() if k != "params"},
        "optimizer_state_keys": sorted({k for s in opt["state"].values() for k in s}),
        "state": {k: list(v.shape) for k, v in raw["model"].items()},
    }
    save_fixture(name, fixture)


def _check_one(detector_cls, name: str, seed: int) -> dict:
    from deepfakeforensics.models.released import load_released

    torch.manual_seed(seed)
    det = detector_cls()
    _train_one_step(det, seed)
    x = _inputs(seed)
    randomise_bn(det, x, seed)
    _spread_head(det, x, seed + 1)
    with torch.no_grad():
        theirs = det(x).softmax(1)[:, 1]
    diffs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "FFraw.tar"
        torch.save({"model": det.state_dict(), "optimizer": det.optimizer.state_dict(), "epoch": 99}, path)
        _write_fixture(name, path)
        for given in (None, name):
            ours = load_released(path, given)
            assert ours.name == name, f"file recognised as {ours.name}, not {name}"
            assert ours.default_cfg.mean == (0.0, 0.0, 0.0) and ours.default_cfg.std == (1.0, 1.0, 1.0)
            assert ours.default_cfg.input_size == (3, SIZE, SIZE)
            with torch.no_grad():
                mine = torch.sigmoid(ours(x))
            diffs.append(float((mine - theirs).abs().max()))
    probs = ", ".join(f"{p:.3f}" for p in theirs.tolist())
    note = f"P(fake) {probs}; file {{'model', 'optimizer' (SAM after one step), 'epoch'}}, loaded unnamed and named"
    return {"name": name, "max_abs_diff": max(diffs), "n_inputs": N_INPUTS, "note": note}


def check(repo_dir: Path, names=None) -> list[dict]:
    """One row per name: max |P(fake) ours - P(fake) theirs| over `N_INPUTS` crops."""
    detector_cls = _import_detector(Path(repo_dir))
    return [_check_one(detector_cls, name, seed=200 + i) for i, name in enumerate(NAMES) if not names or name in names]


def main(argv: list[str] | None = None) -> None:
    run_main(__doc__, REPO, check, argv)


if __name__ == "__main__":
    main()
