"""Check the DFDC winner's detector (selimsef/dfdc_deepfake_challenge) against the author's own model class.

The author's ``DeepFakeClassifier(encoder="tf_efficientnet_b7_ns")`` (``training/zoo/classifiers.py``) is built
with seeded random weights and BatchNorm statistics and saved as ``training/pipelines/train_classifier.py`` saves it
from a DistributedDataParallel model: ``{"epoch": int, "state_dict": {"module.*": ...}, "bce_best": numpy float}``
(the mean of two sklearn ``log_loss`` values, a numpy float64), once with torch's zip format and once with the legacy
format of the torch 1.4 the challenge ran on; plus the bare state dict without ``module.``. Each file is read back
through ``load_released(path)`` without a name (layout recognition) and with it, and P(fake) (sigmoid of the one
logit on both sides) is compared on the same inputs.

Both sides normalise with ImageNet mean and std (their ``kernel_utils.normalize_transform`` after ``/ 255.``; our
``default_cfg``: asserted), so the same normalised float tensor is fed to both, in float32 (the author's
``predict_folder.py`` runs the models in fp16 on a GPU: that rounding is not reproduced). Their code is imported at
run time only; the encoder is built with ``pretrained=False`` (no internet; the weights are random anyway).

Usage: ``python benchmarks/released_checks/selim.py --repo /path/to/dfdc_deepfake_challenge``. It also writes the
fixture the tests use (``tests/fixtures/released/selim_efficientnet_b7.json``: key -> shape of the author's
``"state_dict"`` with its ``module.`` prefix, and the container keys).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import N_INPUTS, normalise, randomise_bn, run_main, save_fixture, smooth_crops  # noqa: E402

REPO = "selimsef/dfdc_deepfake_challenge"
NAMES = ("selim_efficientnet_b7",)
ENCODER = "tf_efficientnet_b7_ns"
SIZE = 380  # predict_folder.py's input_size
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _import_classifiers(repo_dir: Path):
    """Their ``training/zoo/classifiers.py`` with the B7 encoder built without its ImageNet download."""
    path = Path(repo_dir) / "training" / "zoo" / "classifiers.py"
    spec = importlib.util.spec_from_file_location("selim_authors_classifiers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    params = module.encoder_params[ENCODER]
    kwargs = {**params["init_op"].keywords, "pretrained": False}
    params["init_op"] = functools.partial(params["init_op"].func, **kwargs)
    return module


def _spread_head(net: torch.nn.Module, x: torch.Tensor, seed: int) -> None:
    """Set ``fc`` so that the logits on `x` spread over about +-2 (P(fake) not saturated at 0 or 1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        feats = net.avg_pool(net.encoder.forward_features(x)).flatten(1)
        w = torch.randn(net.fc.weight.shape, generator=gen)
        z = feats @ w[0]
        assert float(z.std()) > 1e-3 * float(z.abs().mean()), "features do not vary over the inputs"
        scale = 2.0 / z.std()
        net.fc.weight.copy_(w * scale)
        net.fc.bias.fill_(float(-(z.mean() * scale)))


def _inputs(seed: int) -> torch.Tensor:
    """`N_INPUTS` smooth random 380 px RGB crops, uint8 -> / 255 -> ImageNet-normalised, as their kernel_utils."""
    return normalise(smooth_crops(seed, SIZE, 19), MEAN, STD)


def _save_as_author(net: torch.nn.Module, folder: Path) -> dict[str, Path]:
    """train_classifier.py's checkpoint from a DDP model (zip and legacy format) and the bare state dict."""
    state = net.state_dict()
    ckpt = {"epoch": 37, "state_dict": {f"module.{k}": v for k, v in state.items()}, "bce_best": np.float64(0.1937)}
    name = "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36"
    files = {"ddp": folder / name, "ddp_legacy": folder / f"{name}_legacy", "bare": folder / f"{name}_bare"}
    torch.save(ckpt, files["ddp"])
    torch.save(ckpt, files["ddp_legacy"], _use_new_zipfile_serialization=False)
    torch.save(state, files["bare"])
    return files


def _write_fixture(name: str, path: Path) -> None:
    raw = torch.load(path, map_location="cpu", weights_only=False)  # our own file; numpy float inside
    fixture = {
        "repo": REPO,
        "authors_class": f"training/zoo/classifiers.py DeepFakeClassifier(encoder={ENCODER!r})",
        "container_keys": sorted(raw),
        "container_types": {
            k: type(v).__module__ + "." + type(v).__name__ for k, v in raw.items() if k != "state_dict"
        },
        "state": {k: list(v.shape) for k, v in raw["state_dict"].items()},
    }
    save_fixture(name, fixture)


def _check_one(classifiers, name: str, seed: int) -> dict:
    from deepfakeforensics.models.released import load_released

    torch.manual_seed(seed)
    net = classifiers.DeepFakeClassifier(encoder=ENCODER).eval()
    x = _inputs(seed)
    randomise_bn(net, x, seed)
    _spread_head(net, x, seed + 1)
    with torch.no_grad():
        theirs = torch.sigmoid(net(x))[:, 0]
    diffs = []
    with tempfile.TemporaryDirectory() as tmp:
        files = _save_as_author(net, Path(tmp))
        _write_fixture(name, files["ddp"])
        for kind, path in files.items():
            ours = load_released(path)  # recognised from the layout
            named = load_released(path, name)
            assert ours.name == named.name == name, f"{kind} file recognised as {ours.name}, not {name}"
            assert ours.default_cfg.mean == MEAN and ours.default_cfg.std == STD, "normalisation differs"
            assert ours.default_cfg.input_size == (3, SIZE, SIZE)
            same = all(
                torch.equal(a, b) for a, b in zip(ours.state_dict().values(), named.state_dict().values(), strict=True)
            )
            assert same, f"{kind}: loading with and without the name gives different weights"
            with torch.no_grad():
                diffs.append(float((torch.sigmoid(ours(x)) - theirs).abs().max()))
    probs = ", ".join(f"{p:.3f}" for p in theirs.tolist())
    note = (
        f"P(fake) {probs}; files: DDP checkpoint (zip, legacy) with numpy bce_best, bare state dict; each loaded "
        "unnamed and named (same weights); float32 (the author runs fp16)"
    )
    return {"name": name, "max_abs_diff": max(diffs), "n_inputs": N_INPUTS, "note": note}


def check(repo_dir: Path, names=None) -> list[dict]:
    """One row per name: max |P(fake) ours - P(fake) theirs| over `N_INPUTS` crops and three files."""
    classifiers = _import_classifiers(Path(repo_dir))
    return [_check_one(classifiers, name, seed=300 + i) for i, name in enumerate(NAMES) if not names or name in names]


def main(argv: list[str] | None = None) -> None:
    run_main(__doc__, REPO, check, argv)


if __name__ == "__main__":
    main()
