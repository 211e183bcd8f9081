"""Worker of tests/test_ddp.py, launched by torchrun: trains the tiny model, then each rank saves its weights.

Usage: python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_worker.py FACES_CSV OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tiny_data import TinyDetector  # registers the tiny test models in this process

from deepfakeforensics.data.datasets import build_dataset
from deepfakeforensics.models import create_model
from deepfakeforensics.training import TrainConfig, setup_distributed, train
from deepfakeforensics.training.distributed import cleanup_distributed


def main(faces: str, out: str) -> None:
    info = setup_distributed("cpu")
    torch.manual_seed(0)
    model: TinyDetector = create_model("tiny_test_detector")
    train_ds = build_dataset(faces, "train", model, train=True)
    val_ds = build_dataset(faces, "val", model)
    cfg = TrainConfig(run="ddp", checkpoints_dir=out, epochs=2, batch_size=4, num_workers=0, device="cpu", lr=3e-3)
    train(model, train_ds, val_ds, cfg, callbacks=None)
    torch.save(model.state_dict(), Path(out) / f"rank{info.rank}_of_{info.world_size}.pt")
    cleanup_distributed()


if __name__ == "__main__":
    main(*sys.argv[1:3])
