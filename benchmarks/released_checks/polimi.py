"""Check the polimi-ispl/icpr2020dfdc detectors against their authors' own model classes.

For each name, the authors' class (``architectures.fornet``: ``EfficientNetB4``, ``EfficientNetAutoAttB4``,
``Xception``) is built with seeded random weights and random BatchNorm statistics, saved the three ways their files
come (the released plain state dict that their notebooks load, the ``{"net", "opt", ...}`` checkpoint that
``train_binclass.save_model`` writes, and a DataParallel ``module.`` state dict), read back here through
``load_released(path)`` without a name (layout recognition) and with it, and P(fake) is compared on the same inputs.

Both sides normalise identically (ImageNet mean/std: their ``FeatureExtractor.get_normalizer``, our
``default_cfg``; asserted), so the same normalised float tensor is fed to both. Their code is imported at run time
only; ``EfficientNet.from_pretrained`` becomes ``from_name`` and Cadene's ``xception`` gets ``pretrained=None``
(no internet; the weights are random anyway).

Usage: ``python benchmarks/released_checks/polimi.py --repo /path/to/icpr2020dfdc``. It also writes the fixtures the
tests use (``tests/fixtures/released/ispl_<name>.json``: the key -> shape of the authors' file and the container
keys of their training checkpoint).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import N_INPUTS, normalise, run_main, save_fixture, smooth_crops  # noqa: E402

REPO = "polimi-ispl/icpr2020dfdc"
NAMES = ("ispl_efficientnet_b4", "ispl_efficientnet_b4_att", "ispl_xception")
AUTHORS_CLASS = {
    "ispl_efficientnet_b4": "EfficientNetB4",
    "ispl_efficientnet_b4_att": "EfficientNetAutoAttB4",
    "ispl_xception": "Xception",
}
SIZE = 224  # their --size for every network, Xception included


def _import_fornet(repo_dir: Path):
    """Their ``architectures.fornet`` with the downloads replaced by random initialisation."""
    from efficientnet_pytorch import EfficientNet

    EfficientNet.from_pretrained = classmethod(lambda cls, name, **kw: cls.from_name(name, **kw))
    sys.path.insert(0, str(repo_dir))
    from architectures import externals, fornet

    fornet.externals.xception = functools.partial(externals.xception, pretrained=None)
    return fornet


def _randomise(net: torch.nn.Module, seed: int) -> None:
    """Seeded random BatchNorm affine weights and running statistics, well conditioned.

    The running statistics are first measured on other random crops (train-mode passes), then perturbed: drawn
    independently of the activations, 30 blocks of random statistics blow the activations up until float rounding
    alone (NCHW vs channels_last) moves P(fake), which would test the arithmetic, not the layout.
    """
    gen = torch.Generator().manual_seed(seed)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in norms:
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) * 0.4 + 0.8)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=gen) * 0.05)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration passes
        net.train()
        for i in range(2):
            net(_inputs(seed + 1000 + i))
        net.eval()
        for bn in norms:
            bn.momentum = 0.1
            spread = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn(bn.running_mean.shape, generator=gen) * 0.1 * spread)
            bn.running_var.mul_(torch.rand(bn.running_var.shape, generator=gen) * 0.4 + 0.8)


def _spread_head(net: torch.nn.Module, x: torch.Tensor, seed: int) -> None:
    """Set the one-logit head so the logits on `x` spread over about +-2 (P(fake) not saturated at 0 or 1)."""
    head = net.classifier if hasattr(net, "classifier") else net.xception.last_linear
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        feats = net.features(x)
        w = torch.randn(head.weight.shape, generator=gen)
        z = feats @ w.T
        scale = 2.0 / z.std().clamp_min(1e-6)
        head.weight.copy_(w * scale)
        head.bias.fill_(float(-(z.mean() * scale)))


def _inputs(seed: int) -> torch.Tensor:
    """`N_INPUTS` smooth random 224 px RGB crops, uint8 -> [0, 1] -> ImageNet-normalised."""
    return normalise(smooth_crops(seed, SIZE, 14), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _save_as_authors(net: torch.nn.Module, folder: Path) -> dict[str, Path]:
    """The released plain state dict, train_binclass's ``{"net", "opt", ...}`` and a DataParallel state dict."""
    opt = torch.optim.Adam(net.get_trainable_parameters(), lr=1e-5)
    state = net.state_dict()
    files = {"released": folder / "bestval_released.pth", "training": folder / "bestval.pth"}
    torch.save(state, files["released"])
    torch.save(
        dict(
            net=state,
            opt=opt.state_dict(),
            train_loss=0.5,
            val_loss=0.4,
            iteration=1000,
            batch_size=32,
            epoch=3,
        ),
        files["training"],
    )
    files["dataparallel"] = folder / "bestval_module.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, files["dataparallel"])
    return files


def _write_fixture(name: str, cls_name: str, net: torch.nn.Module, training_file: Path) -> None:
    raw = torch.load(training_file, map_location="cpu", weights_only=True)
    fixture = {
        "repo": REPO,
        "authors_class": f"architectures.fornet.{cls_name}",
        "container_keys": sorted(raw),
        "state": {k: list(v.shape) for k, v in net.state_dict().items()},
    }
    save_fixture(name, fixture)


def _check_one(fornet, name: str, seed: int) -> dict:
    from deepfakeforensics.models.released import load_released

    torch.manual_seed(seed)  # their constructors draw the convolution weights
    net = getattr(fornet, AUTHORS_CLASS[name])().eval()
    x = _inputs(seed)
    _randomise(net, seed)
    _spread_head(net, x, seed + 1)
    with torch.no_grad():
        theirs = torch.sigmoid(net(x))[:, 0]
    diffs, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        files = _save_as_authors(net, Path(tmp))
        _write_fixture(name, AUTHORS_CLASS[name], net, files["training"])
        for kind, path in files.items():
            for given in (None, name):
                ours = load_released(path, given)
                assert ours.name == name, f"{kind} file recognised as {ours.name}, not {name}"
                norm = net.get_normalizer()
                assert tuple(ours.default_cfg.mean) == tuple(norm.mean), "mean differs from their normaliser"
                assert tuple(ours.default_cfg.std) == tuple(norm.std), "std differs from their normaliser"
                with torch.no_grad():
                    mine = torch.sigmoid(ours(x))
                diffs.append(float((mine - theirs).abs().max()))
        notes.append(f"P(fake) {', '.join(f'{p:.3f}' for p in theirs.tolist())}")
    notes.append("files: released plain sd, {'net', 'opt', ...}, module. prefix; each loaded unnamed and named")
    return {"name": name, "max_abs_diff": max(diffs), "n_inputs": N_INPUTS, "note": "; ".join(notes)}


def check(repo_dir: Path, names=None) -> list[dict]:
    """One row per name: max |P(fake) ours - P(fake) theirs| over `N_INPUTS` crops and three file layouts."""
    fornet = _import_fornet(Path(repo_dir))
    return [_check_one(fornet, name, seed=100 + i) for i, name in enumerate(NAMES) if not names or name in names]


def main(argv: list[str] | None = None) -> None:
    run_main(__doc__, REPO, check, argv)


if __name__ == "__main__":
    main()
