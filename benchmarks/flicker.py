"""The flicker test's figures over several training seeds: window-level test AUC of each video model, how much rolling
the frames of the test clips moves its logits, and the seconds it took.

``tests/test_flicker.py`` asserts AUC > 0.9 for training seed 0; this prints the margin for seeds 0..N-1 with the same
settings (its ``VIDEO_MODELS``), data (``tests/flicker_data.py``) and training path (``train_model``, as ``dff train``).

Usage:
    .venv/bin/python benchmarks/flicker.py [--models mvit_v2_s swin3d_t] [--seeds 3] 2>/dev/null  (hides the
    training progress bars)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # tests/ is not a package: its helpers are imported by path

import test_flicker as flicker  # noqa: E402  (after the path)

from deepfakeforensics.data.datasets import build_dataset  # noqa: E402
from deepfakeforensics.data.windows import WindowConfig  # noqa: E402
from deepfakeforensics.evaluation.scores import predict_scores  # noqa: E402
from deepfakeforensics.training import train_model  # noqa: E402
from deepfakeforensics.training.config import DataConfig, TrainConfig  # noqa: E402


def cases() -> dict[str, tuple]:
    """`VIDEO_MODELS` of the test by model name (pytest.param unwrapped)."""
    return {(c.values if hasattr(c, "values") else c)[0]: tuple(getattr(c, "values", c)) for c in flicker.VIDEO_MODELS}


def run(case: tuple, seed: int, root: Path) -> tuple[float, float, float]:
    """(test AUC, max |logit change| when the clips' frames are rolled, seconds) of one training seed."""
    name, kwargs, window, epochs, lr, batch, train = case
    csv = flicker.flicker_manifest(root, {**flicker.SPLITS, "train": train}, n_frames=2 * window)
    data = DataConfig(faces=str(csv), window=WindowConfig(window=window))
    config = TrainConfig(
        run=f"{name}_{seed}", checkpoints_dir=str(root / "checkpoints"), epochs=epochs, batch_size=batch, lr=lr,
        warmup_epochs=0, patience=0, num_workers=0, device="cpu", seed=seed,
    )  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1 if name in flicker.ONE_THREAD else threads)
    start = time.perf_counter()
    try:
        model, _ = train_model(name, data, config, model_kwargs=kwargs)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    ds = build_dataset(csv, "test", model, window=WindowConfig(window=window))
    scores = predict_scores(model, ds, batch_size=16, progress=False)
    seconds = time.perf_counter() - start
    clips = torch.stack([ds[i][0] for i in range(len(ds))])
    with torch.no_grad():
        change = (model(clips[:, torch.roll(torch.arange(window), 1)]) - model(clips)).abs().max().item()
    return roc_auc_score(scores["label"], scores["score"]), change, seconds


def main(argv: list[str] | None = None) -> None:
    known = cases()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(known), choices=list(known))
    parser.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 (the test uses 0)")
    args = parser.parse_args(argv)
    print("model | seed | test AUC | margin over 0.9 | max logit change (rolled frames) | seconds (train + test)")
    for name in args.models:
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                auc, change, seconds = run(known[name], seed, Path(tmp))
            print(f"{name} | {seed} | {auc:.3f} | {auc - 0.9:+.3f} | {change:.3g} | {seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
