"""DistributedDataParallel on CPU: torchrun, gloo, 2 processes; only rank 0 writes; ranks end with equal weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from tiny_data import standard_manifest

from deepfakeforensics.data.datasets import build_dataset
from deepfakeforensics.models import load_model
from deepfakeforensics.training.epoch import binary_metrics, pass_epoch
from deepfakeforensics.training.optim import bce_loss

HERE = Path(__file__).resolve().parent


def _failure(stderr: str) -> str:
    """The lines of the workers' stderr that say what went wrong (torchrun's summary alone does not)."""
    keys = ("Error", "error", "terminate", "what()", "Traceback", "File ")
    lines = [line for line in stderr.splitlines() if any(k in line for k in keys)]
    return "\n".join(lines[-40:]) or stderr[-3000:]


@pytest.mark.slow
def test_two_process_ddp_run(tmp_path):
    faces = standard_manifest(tmp_path / "data", n_videos=12, frames=4, size=32)
    out = tmp_path / "ck"
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "ddp_worker.py"), str(faces), str(out)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, _failure(proc.stderr)
    run = out / "ddp"
    history = pd.read_csv(run / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    for name in ("epoch_001.pt", "epoch_002.pt", "best.pt", "last.pt", "config.json"):
        assert (run / name).is_file(), name
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp"))
    conf = json.loads((run / "config.json").read_text())
    assert conf["world_size"] == 2
    # DDP's guarantee: both ranks end with the same weights (and buffers, synced from rank 0 each epoch)
    r0 = torch.load(out / "rank0_of_2.pt", weights_only=True)
    r1 = torch.load(out / "rank1_of_2.pt", weights_only=True)
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    # the sharded training saw every item once per epoch: each rank did half the batches
    n_train = conf["train_data"]["items"]
    assert n_train > 8
    # the validation metrics were gathered over the whole val set, not one rank's shard
    model = load_model(run / "last.pt")
    val = build_dataset(faces, "val", model)
    loader = torch.utils.data.DataLoader(val, batch_size=16)
    res = pass_epoch(model, loader, bce_loss())
    auc, acc = binary_metrics(res["scores"], res["labels"])
    assert res["n"] == conf["val_data"]["items"]
    assert history["val_loss"].iloc[-1] == pytest.approx(res["loss_sum"] / res["n"], rel=1e-4)
    assert history["val_acc"].iloc[-1] == pytest.approx(acc)
    assert history["val_auc"].iloc[-1] == pytest.approx(auc, abs=1e-6)
