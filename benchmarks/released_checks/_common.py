"""What every released-detector check shares: the fixture folder, the inputs, BatchNorm randomisation and the CLI.

Each check builds the authors' model from their code with seeded random weights, saves it as they release it, loads
it here and compares P(fake) on the same crops (`smooth_crops`); `save_fixture` records the file's layout (key ->
shape) for the tests, and `run_main` is each script's command line (``--repo DIR [--names ...]``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "released"
N_INPUTS = 4  # crops compared per check


def smooth_crops(seed: int, size: int, low: int, n: int = N_INPUTS) -> torch.Tensor:
    """`n` smooth random RGB crops (N, 3, size, size) in [0, 1], as a loader gives them: a `low` x `low` random image
    upsampled (bicubic) plus pixel noise, rounded to uint8 levels, divided by 255."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, size=(n, 3, low, low)).astype(np.float32)
    img = torch.nn.functional.interpolate(torch.from_numpy(small), size=(size, size), mode="bicubic")
    img = img + torch.from_numpy(rng.normal(0, 8, img.shape).astype(np.float32))
    return img.clamp(0, 255).round() / 255


def normalise(img: torch.Tensor, mean, std) -> torch.Tensor:
    """``(img - mean) / std`` per channel."""
    return (img - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def randomise_bn(net: torch.nn.Module, x: torch.Tensor, seed: int) -> None:
    """Seeded random BatchNorm affine parameters and running statistics near those of `x`'s activations.

    Purely random statistics let a random deep network's features collapse to the same vector for every input (the
    check would then compare float noise): the statistics are measured on `x` first, then jittered.
    """
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) + 0.5)
            bn.bias.copy_(torch.randn(bn.bias.shape, generator=gen) * 0.1)
            bn.reset_running_stats()
            bn.momentum, bn.saved_momentum = None, bn.momentum  # cumulative average over the batches seen
        net.train()
        net(x)
        net.eval()
        for bn in bns:
            bn.momentum = bn.saved_momentum
            del bn.saved_momentum
            std = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn(bn.running_mean.shape, generator=gen) * 0.1 * std)
            bn.running_var.mul_(torch.rand(bn.running_var.shape, generator=gen) * 0.4 + 0.8)


def save_fixture(name: str, fixture: dict) -> None:
    """Write ``tests/fixtures/released/<name>.json`` (the layout the tests check without the authors' code)."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / f"{name}.json").write_text(json.dumps(fixture, indent=1) + "\n")


def run_main(doc: str, repo: str, check: Callable[..., list[dict]], argv: list[str] | None = None) -> None:
    """A check script's command line: ``--repo`` (a clone of `repo`), ``--names``; one printed row per detector."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help=f"a clone of {repo}")
    parser.add_argument("--names", nargs="*", default=None)
    args = parser.parse_args(argv)
    for row in check(args.repo, args.names):
        print(f"{row['name']:28s} max|dP| {row['max_abs_diff']:.2e}  n={row['n_inputs']}  {row['note']}")
