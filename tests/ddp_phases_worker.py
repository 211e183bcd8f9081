"""Worker of tests/test_ddp_phases.py, launched by torchrun: phased fine-tuning (head, then all) under DDP.

Each rank trains a run uninterrupted (rank 0 copies the run folder after epoch 1, as an interruption would leave it),
then resumes that copy to the end; each rank saves its initial, final and resumed weights for the test to compare.

Usage: python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_phases_worker.py FACES_CSV OUT_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from tiny_data import TinyDetector
from torch import nn

from deepfakeforensics.data.datasets import build_dataset
from deepfakeforensics.models import create_model, register_model
from deepfakeforensics.training import Callback, TrainConfig, setup_distributed, train
from deepfakeforensics.training.distributed import barrier, cleanup_distributed

PHASES = "head:1:3e-3,all:0:3e-3"


class TinyHeadDetector(TinyDetector):
    """The tiny detector with a classifier (`get_classifier`), so that the ``head`` phase trains something."""

    def get_classifier(self) -> nn.Module:
        return self.head


@register_model
def tiny_test_phased_detector(pretrained: bool = False, **kwargs) -> TinyHeadDetector:
    return TinyHeadDetector(**kwargs)


class CopyRunAfter(Callback):
    """Rank 0, after epoch `epoch`'s files: copy the run folder to `dest` (what an interruption there leaves)."""

    def __init__(self, epoch: int, dest: Path) -> None:
        self.epoch, self.dest = epoch, dest

    def on_epoch_end(self, state, row) -> None:
        if row["epoch"] == self.epoch:
            shutil.copytree(state.run_dir, self.dest)


def main(faces: str, out: str) -> None:
    info = setup_distributed("cpu")
    cfg = TrainConfig(
        run="full",
        checkpoints_dir=out,
        epochs=3,
        batch_size=4,
        num_workers=0,
        device="cpu",
        lr=3e-3,
        warmup_epochs=0.5,
        patience=0,
        phases=PHASES,
    )
    tag = f"rank{info.rank}"
    Path(out).mkdir(parents=True, exist_ok=True)
    for run, resume in (("full", False), ("cut", True)):
        torch.manual_seed(0)
        model = create_model("tiny_test_phased_detector")
        if run == "full":
            torch.save(model.state_dict(), Path(out) / f"init_{tag}.pt")
        train_ds = build_dataset(faces, "train", model, train=True)
        val_ds = build_dataset(faces, "val", model)
        callbacks = [CopyRunAfter(1, Path(out) / "cut")] if run == "full" else []
        train(model, train_ds, val_ds, cfg.replace(run=run, resume=resume), callbacks=callbacks)
        torch.save(model.state_dict(), Path(out) / f"{run}_{tag}.pt")
        barrier(info)
    cleanup_distributed()


if __name__ == "__main__":
    main(*sys.argv[1:3])
