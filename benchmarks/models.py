"""Training and inference throughput (images/s) of the frame models, with and without channels_last.

Usage:
    .venv/bin/python benchmarks/models.py                      # mesonet4, mesoinception4, efficientnet_b0 (~2 min)
    .venv/bin/python benchmarks/models.py --models efficientnet_b4 --steps 1
    .venv/bin/python benchmarks/models.py --all                 # every frame model: B5-B7 take tens of minutes

Each figure is batch x steps / time over `steps` timed steps after one warm-up step, at the model's native input
size (or --image-size), float32 on CPU. Training = forward + BCE loss + backward + SGD step; inference = forward
under torch.inference_mode() in eval mode. The ratio column is channels_last / NCHW measured in the same process.
"""

from __future__ import annotations

import argparse
import time

import torch

from deepfakeforensics.models import create_model, list_models

DEFAULT_MODELS = ("mesonet4", "mesoinception4", "efficientnet_b0")


def throughput(name: str, channels_last: bool, batch: int, steps: int, image_size: int | None) -> tuple[float, float]:
    """(training images/s, inference images/s) of model `name`."""
    torch.manual_seed(0)
    model = create_model(name, channels_last=channels_last)
    c, h, w = model.default_cfg.input_size
    if image_size:
        h = w = image_size
    x = torch.rand(batch, c, h, w)
    y = torch.randint(0, 2, (batch,)).float()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def train_step() -> None:
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    train_step()  # warm-up: oneDNN kernel selection, allocator
    start = time.perf_counter()
    for _ in range(steps):
        train_step()
    train_ips = batch * steps / (time.perf_counter() - start)

    model.eval()
    with torch.inference_mode():
        model(x)
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        infer_ips = batch * steps / (time.perf_counter() - start)
    return train_ips, infer_ips


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="frame models to measure")
    parser.add_argument("--all", action="store_true", help="every registered frame model (slow: B5-B7)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per measurement (after one warm-up)")
    parser.add_argument("--image-size", type=int, default=None, help="override the native input size (H = W)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n for n in list_models() if not n.endswith("_lstm")] if args.all else args.models

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, {args.steps} steps")
    header = f"{'model':<18}{'input':>9} | {'train NCHW':>11}{'train CL':>10}{'ratio':>7} | {'infer NCHW':>11}{'infer CL':>10}{'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name in names:
        size = args.image_size or create_model(name).default_cfg.input_size[1]
        nchw = throughput(name, False, args.batch_size, args.steps, args.image_size)
        cl = throughput(name, True, args.batch_size, args.steps, args.image_size)
        print(
            f"{name:<18}{size:>9} | {nchw[0]:>11.1f}{cl[0]:>10.1f}{cl[0] / nchw[0]:>7.2f} | "
            f"{nchw[1]:>11.1f}{cl[1]:>10.1f}{cl[1] / nchw[1]:>7.2f}",
            flush=True,
        )
    print("images/s; CL = channels_last; ratio = CL / NCHW (>1: channels_last faster)")


if __name__ == "__main__":
    main()
