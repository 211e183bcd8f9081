"""CPU speed, memory and bfloat16 score drift of the released CLIP ViT-L/14 detectors (Effort, GenD).

Usage:
    .venv/bin/python benchmarks/released_clip_speed.py                     # batch 8, 2 timed steps
    .venv/bin/python benchmarks/models.py --released-clip --steps 2        # the same, from the models benchmark

Each model is built once with seeded random weights (the released files are not needed: speed and memory do not
depend on the values) and its head scaled so that its logits spread over about +-2 on the inputs (P(fake) not
saturated, so score differences mean something). Three ways to run it, on the same batch of 8 random 224 px images:

- ``float32``: as loaded;
- ``autocast bf16``: float32 weights, ``torch.autocast("cpu", torch.bfloat16)`` (matrix products in bfloat16);
- ``bf16 weights``: ``model.to(torch.bfloat16)`` and bfloat16 inputs (half the weight memory).

images/s = batch x steps / time of `steps` forwards under ``torch.inference_mode()`` after one warm-up, the three
variants of a model alternating step by step (ABBA) so that the machine's load affects them alike. Memory: the
weights' bytes, and the peak of the process's resident memory during the timed forwards above its level before
them (sampled every 2 ms from ``/proc/self/statm``: activations, workspace and autocast's bfloat16 weight copies).
So that resident memory follows what is allocated, glibc is told to serve every block of 64 KiB or more by ``mmap``
(``mallopt(M_MMAP_THRESHOLD)``, no dynamic threshold): freed tensors return to the system instead of staying in the
heap, where the next forward would reuse them unseen. |dP| is the largest absolute difference of sigmoid(logit) from
float32's over the batch (random weights: a trained model's drift may differ).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import threading
import time
from collections.abc import Callable

import torch

from deepfakeforensics.models import create_model

MODELS = ("effort_clip_vit_l14", "gend_clip_vit_l14")
VARIANTS = ("float32", "autocast bf16", "bf16 weights")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _mmap_large_blocks(threshold: int = 64 * 1024) -> bool:
    """glibc's ``mallopt(M_MMAP_THRESHOLD, threshold)``: blocks that large are mapped and unmapped on free; whether
    it took (False on a libc without it: the memory column then misses memory reused from the heap)."""
    name = ctypes.util.find_library("c")
    try:
        return bool(name) and ctypes.CDLL(name).mallopt(-3, threshold) == 1  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class _PeakRSS:
    """The largest resident set size seen while the block runs (a sampling thread)."""

    def __enter__(self) -> _PeakRSS:
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _spread_head(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Scale the one-logit head so that its logits on `x` have standard deviation 2 and mean 0."""
    head = model.get_classifier()
    with torch.no_grad():
        feats = model.forward_head(model.forward_features(x), pre_logits=True)
        z = feats @ head.weight[0]
        scale = 2.0 / z.std()
        head.weight.mul_(scale)
        head.bias.fill_(-float(z.mean() * scale))


def _runner(model: torch.nn.Module, x: torch.Tensor, variant: str) -> tuple[Callable[[], torch.Tensor], int]:
    """A no-argument forward of `variant` and the bytes of the weights it uses."""
    if variant == "bf16 weights":
        model = model.to(torch.bfloat16)
        xb = x.to(torch.bfloat16)
        return (lambda: model(xb).float()), sum(p.numel() * p.element_size() for p in model.parameters())
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    if variant == "autocast bf16":

        def forward() -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(x).float()

        return forward, weights
    return (lambda: model(x)), weights


def measure(name: str, batch: int = 8, steps: int = 2, seed: int = 0) -> list[dict]:
    """One row per variant: images/s, weight MB, forward peak RSS above the start (MB), max |dP(fake)| vs float32."""
    torch.manual_seed(seed)
    x = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(seed))
    mean = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
    x = (x - mean) / torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)
    base = create_model(name).eval()
    _spread_head(base, x)
    models = {"float32": base, "autocast bf16": base}
    models["bf16 weights"] = create_model(name).eval()
    models["bf16 weights"].load_state_dict(base.state_dict())
    runners = {v: _runner(models[v], x, v) for v in VARIANTS}
    seconds, peaks, scores = dict.fromkeys(VARIANTS, 0.0), dict.fromkeys(VARIANTS, 0), {}
    with torch.inference_mode():
        for v in VARIANTS:
            scores[v] = torch.sigmoid(runners[v][0]())  # warm-up
        for i in range(steps):
            for v in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                with _PeakRSS() as rss:
                    start = time.perf_counter()
                    runners[v][0]()
                    seconds[v] += time.perf_counter() - start
                peaks[v] = max(peaks[v], rss.peak - rss.start)
    return [
        {
            "model": name,
            "variant": v,
            "images_per_s": batch * steps / seconds[v],
            "weights_mb": runners[v][1] / 2**20,
            "forward_peak_mb": peaks[v] / 2**20,
            "max_abs_dp": float((scores[v] - scores["float32"]).abs().max()),
        }
        for v in VARIANTS
    ]


def report(names: tuple[str, ...] = MODELS, batch: int = 8, steps: int = 2) -> None:
    """Print `measure` of each model, with images/s relative to its float32 in the same process."""
    mapped = _mmap_large_blocks()
    cpu = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {cpu}, batch {batch}, {steps} steps")
    if not mapped:
        print("mallopt(M_MMAP_THRESHOLD) unavailable: fwd peak MB misses memory reused from the heap")
    header = (
        f"{'model':<22}{'variant':<15}{'images/s':>9}{'x fp32':>8}{'weights MB':>12}{'fwd peak MB':>13}{'max|dP|':>10}"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        rows = measure(name, batch, steps)
        fp32 = rows[0]["images_per_s"]
        for r in rows:
            print(
                f"{r['model']:<22}{r['variant']:<15}{r['images_per_s']:>9.2f}{r['images_per_s'] / fp32:>8.2f}"
                f"{r['weights_mb']:>12.0f}{r['forward_peak_mb']:>13.0f}{r['max_abs_dp']:>10.1e}",
                flush=True,
            )
    print("fwd peak MB: resident memory above the level before the forward (activations, workspace)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="timed forwards per variant (after one warm-up)")
    args = parser.parse_args(argv)
    report(tuple(args.models), args.batch_size, args.steps)


if __name__ == "__main__":
    main()
