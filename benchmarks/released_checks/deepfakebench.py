"""Check the DeepfakeBench detectors (Meso4, MesoInception4, Xception, EfficientNet-B4) against their own classes.

For each name, the authors' *detector* (``detectors.<x>_detector``, built from their ``config/detector/<x>.yaml``)
is built with seeded random weights and random BatchNorm statistics, saved as their trainer saves it
(``torch.save(self.model.state_dict(), ...)``: a raw state dict, keys ``backbone.*``; also DDP's ``module.``
variant), read back here through ``load_released(path)`` without a name (layout recognition) and with it, and P(fake)
(their ``pred_dict["prob"]`` = ``softmax(cls)[:, 1]``) is compared on the same inputs.

Both sides normalise identically (mean = std = 0.5 in their yaml, our ``default_cfg``; asserted together with the
256 px resolution), so the same normalised float tensor is fed to both. Their code is imported at run time only:
their package ``__init__``s (which import every detector and its dependencies) are replaced by bare packages,
``torch.utils.tensorboard`` (absent here, unused at test) by a stub, ``EfficientNet.from_pretrained`` by
``from_name``, and Xception's ImageNet file by a random one (no internet; the weights are random anyway).

Usage: ``python benchmarks/released_checks/deepfakebench.py --repo /path/to/DeepfakeBench``. It also writes the
fixtures the tests use (``tests/fixtures/released/<name>.json``: the key -> shape of the authors' file).
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import N_INPUTS, run_main, save_fixture, smooth_crops  # noqa: E402

REPO = "SCLBD/DeepfakeBench"
NAMES = ("dfb_meso4", "dfb_meso4_inception", "dfb_xception", "dfb_efficientnet_b4")
# name -> (their detector module, class, config yaml, the head inside their backbone, the released file's name)
AUTHORS = {
    "dfb_meso4": ("meso4_detector", "Meso4Detector", "meso4", "fc2", "meso4_best.pth"),
    "dfb_meso4_inception": (
        "meso4Inception_detector", "Meso4InceptionDetector", "meso4Inception", "fc2", "meso4Incep_best.pth"
    ),
    "dfb_xception": ("xception_detector", "XceptionDetector", "xception", "last_linear", "xception_best.pth"),
    "dfb_efficientnet_b4": ("efficientnetb4_detector", "EfficientDetector", "efficientnetb4", "last_layer", "effnb4_best.pth"),
}  # fmt: skip


def _import_training(repo_dir: Path) -> Path:
    """Make their ``training/`` importable module by module (bare packages, stubs for what the test never uses)."""
    from efficientnet_pytorch import EfficientNet

    EfficientNet.from_pretrained = classmethod(lambda cls, name, **kw: cls.from_name(name))
    training = repo_dir / "training"
    sys.path.insert(0, str(training))
    if "torch.utils.tensorboard" not in sys.modules:
        stub = types.ModuleType("torch.utils.tensorboard")
        stub.SummaryWriter = object
        sys.modules["torch.utils.tensorboard"] = stub
    registry = importlib.import_module("metrics.registry")
    for package, attr in (("networks", "BACKBONE"), ("detectors", "DETECTOR"), ("loss", "LOSSFUNC")):
        module = types.ModuleType(package)
        module.__path__ = [str(training / package)]
        setattr(module, attr, getattr(registry, attr))
        sys.modules[package] = module
    for module in ("networks.mesonet", "networks.xception", "networks.efficientnetb4", "loss.cross_entropy_loss"):
        importlib.import_module(module)
    return training


def _config(training: Path, yaml_name: str, tmp: Path) -> dict:
    import yaml

    config = yaml.safe_load((training / "config" / "detector" / f"{yaml_name}.yaml").read_text())
    if yaml_name == "xception":  # their build_backbone reads Cadene's ImageNet file (2-D pointwise weights)
        registry = importlib.import_module("metrics.registry")
        net = registry.BACKBONE["xception"](config["backbone_config"])
        state = {k: v.squeeze(-1).squeeze(-1) if "pointwise" in k else v for k, v in net.state_dict().items()}
        config["pretrained"] = str(tmp / "xception-b5690688.pth")
        torch.save(state, config["pretrained"])
    return config


def _randomise(net: torch.nn.Module, calibration: torch.Tensor, seed: int) -> None:
    """Seeded random BatchNorm affine parameters and running statistics, so no BatchNorm is an identity.

    The running statistics are first measured on `calibration` (train mode, cumulative average), then perturbed
    (mean +-0.2 sd, variance x0.6-1.4): with PyTorch's default initialisation and made-up statistics, a deep random
    network (B4, Xception) forgets its input, every image gets the same features to 1e-9, and the comparison says
    nothing.
    """
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in norms:
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) + 0.5)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=gen) * 0.1)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration pass
        net.eval()
        for bn in norms:  # only the BatchNorms learn statistics: no dropout or drop-connect in the pass
            bn.train()
        net({"image": calibration})
        net.eval()
        for bn in norms:
            sd = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn(sd.shape, generator=gen) * 0.05 * sd)
            bn.running_var.mul_(torch.rand(sd.shape, generator=gen) * 0.2 + 0.9)
            bn.momentum = 0.1


def _spread_head(detector: torch.nn.Module, head_name: str, x: torch.Tensor, seed: int) -> None:
    """A random 2-class head scaled so that z1 - z0 on `x` spreads over about +-2 (P(fake) not saturated)."""
    head = getattr(detector.backbone, head_name)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        feats = detector.features({"image": x})
        if head_name == "fc2":  # Meso: the head follows Linear 1024->16 and LeakyReLU(0.1) on the flat features
            hidden = torch.nn.functional.leaky_relu(detector.backbone.fc1(feats), 0.1)
        else:  # Xception applies a ReLU before pooling, B4 does not
            hidden = torch.relu(feats) if head_name == "last_linear" else feats
            hidden = torch.nn.functional.adaptive_avg_pool2d(hidden, 1).flatten(1)
        w = torch.randn(head.weight.shape, generator=gen)
        z = hidden @ (w[1] - w[0])
        scale = 2.0 / z.std().clamp_min(1e-6)
        head.weight.copy_(w * scale)
        head.bias.copy_(torch.tensor([0.0, float(-(z.mean() * scale))]))


def _inputs(seed: int, size: int, n: int = N_INPUTS) -> torch.Tensor:
    """`n` smooth random RGB crops, uint8 -> [0, 1] -> (x - 0.5) / 0.5 (their Normalize and ours)."""
    return (smooth_crops(seed, size, 16, n) - 0.5) / 0.5


def _write_fixture(name: str, cls_name: str, path: Path) -> None:
    raw = torch.load(path, map_location="cpu", weights_only=True)
    fixture = {
        "repo": REPO,
        "authors_class": f"training.detectors.{AUTHORS[name][0]}.{cls_name}",
        "file": path.name,
        "container_keys": [],  # the file is the raw state dict itself
        "state": {k: list(v.shape) for k, v in raw.items()},
    }
    save_fixture(name, fixture)


def _padded_stem_diff(detector: torch.nn.Module, path: Path, x: torch.Tensor, theirs: torch.Tensor) -> float:
    """max |dP| when their B4 file is loaded into the usual (padded-stem) B4: how wrong the silent load scores."""
    from deepfakeforensics.models.released import load_released

    model = load_released(path, "dfb_efficientnet_b4")
    from efficientnet_pytorch import EfficientNet

    usual = EfficientNet.from_name("efficientnet-b4")
    model.net._conv_stem = usual._conv_stem.to(memory_format=torch.channels_last)
    model.net._conv_stem.load_state_dict(detector.backbone.efficientnet._conv_stem.state_dict())
    with torch.no_grad():
        return float((torch.sigmoid(model.eval()(x)) - theirs).abs().max())


def _build_theirs(training: Path, name: str, seed: int, tmp: Path) -> tuple[torch.nn.Module, dict, torch.Tensor]:
    """Their detector with seeded random weights, calibrated-then-perturbed BatchNorms and a spread head; inputs."""
    module, cls_name, yaml_name, head_name, _ = AUTHORS[name]
    detector_cls = getattr(importlib.import_module(f"detectors.{module}"), cls_name)
    config = _config(training, yaml_name, tmp)
    torch.manual_seed(seed)
    detector = detector_cls(config).eval()
    x = _inputs(seed, config["resolution"])
    _randomise(detector, _inputs(seed + 7, config["resolution"], 8), seed)
    _spread_head(detector, head_name, x, seed + 1)
    return detector, config, x


def _p_fake(model: torch.nn.Module, x: torch.Tensor, theirs: bool) -> torch.Tensor:
    with torch.no_grad():
        return model({"image": x}, inference=True)["prob"] if theirs else torch.sigmoid(model(x))


def _check_one(training: Path, name: str, seed: int) -> dict:
    from deepfakeforensics.models.released import load_released

    diffs, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        detector, config, x = _build_theirs(training, name, seed, Path(tmp))
        theirs = _p_fake(detector, x, theirs=True)
        files = {"released": Path(tmp) / AUTHORS[name][4], "ddp": Path(tmp) / f"{name}_module.pth"}
        torch.save(detector.state_dict(), files["released"])  # trainer.save_ckpt
        torch.save({f"module.{k}": v for k, v in detector.state_dict().items()}, files["ddp"])
        _write_fixture(name, AUTHORS[name][1], files["released"])
        for kind, path in files.items():
            for given in (None, name):
                ours = load_released(path, given)
                assert ours.name == name, f"{kind} file recognised as {ours.name}, not {name}"
                assert list(ours.default_cfg.mean) == list(config["mean"]), "mean differs from their yaml"
                assert list(ours.default_cfg.std) == list(config["std"]), "std differs from their yaml"
                assert ours.default_cfg.input_size[1:] == (config["resolution"],) * 2, "size differs from their yaml"
                diffs.append(float((_p_fake(ours, x, theirs=False) - theirs).abs().max()))
        theirs64 = _p_fake(detector.double(), x.double(), theirs=True)
        diff64 = float((_p_fake(ours.double(), x.double(), theirs=False) - theirs64).abs().max())
        notes.append(f"float64 max|dP| {diff64:.1e} (theirs float32 vs float64: {(theirs64 - theirs).abs().max():.1e})")
        notes.append(f"P(fake) {', '.join(f'{p:.3f}' for p in theirs.tolist())}")
        if name == "dfb_efficientnet_b4":
            padded = _padded_stem_diff(detector.float(), files["released"], x, theirs)
            notes.append(f"the same file in a padded-stem B4: max|dP| {padded:.3f}")
    notes.append("files: raw detector.state_dict() and its module. variant, each loaded unnamed and named (float32)")
    return {
        "name": name,
        "max_abs_diff": max(diffs),
        "max_abs_diff_float64": diff64,
        "n_inputs": N_INPUTS,
        "note": "; ".join(notes),
    }


def check(repo_dir: Path, names=None) -> list[dict]:
    """One row per name: max |P(fake) ours - P(fake) theirs| over `N_INPUTS` crops and two file layouts (float32;
    ``max_abs_diff_float64``: both models in float64, which separates a real difference from float32 rounding)."""
    training = _import_training(Path(repo_dir))
    return [_check_one(training, n, seed=200 + i) for i, n in enumerate(NAMES) if not names or n in names]


def main(argv: list[str] | None = None) -> None:
    run_main(__doc__, REPO, check, argv)


if __name__ == "__main__":
    main()
