"""Phased fine-tuning under DistributedDataParallel (torchrun, gloo, 2 processes on CPU, each its own data shard).

The risk: DDP all-reduces the gradients of the parameters that required grad when it was built; a backbone unfrozen
later would train on each rank's own gradients and the ranks would silently diverge.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from test_ddp import _failure
from tiny_data import standard_manifest

from deepfakeforensics.models import create_model
from deepfakeforensics.training.phases import check_phases, parse_phases

HERE = Path(__file__).resolve().parent
BACKBONE, HEAD = ("features.0.weight", "features.1.bias", "features.3.weight"), ("head.1.weight", "head.1.bias")


def _weights(path: Path) -> dict[str, torch.Tensor]:
    """A saved state dict, or a checkpoint's weights."""
    saved = torch.load(path, weights_only=True)
    return saved.get("state_dict", saved)


@pytest.mark.slow
def test_phases_under_ddp_keep_ranks_identical_and_resume_exactly(tmp_path):
    faces = standard_manifest(tmp_path / "data", n_videos=12, frames=4, size=32)
    out = tmp_path / "ck"
    env = {**os.environ, "PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}
    worker = HERE / "ddp_phases_worker.py"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker)]
    proc = subprocess.run([*cmd, str(faces), str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, _failure(proc.stderr)
    assert list(pd.read_csv(out / "full" / "history.csv")["epoch"]) == [1, 2, 3]
    init, after_head = _weights(out / "init_rank0.pt"), _weights(out / "full" / "epoch_001.pt")
    full = [_weights(out / f"full_rank{r}.pt") for r in (0, 1)]
    for k in init:  # every parameter and buffer, backbone and head, ends equal on both ranks
        assert torch.equal(full[0][k], full[1][k]), k
    for k in BACKBONE:  # frozen in the head phase (epoch 1), trained in the all phase (epochs 2-3)
        assert torch.equal(after_head[k], init[k]), k
        assert not torch.equal(full[0][k], after_head[k]), k
    for k in HEAD:
        assert not torch.equal(after_head[k], init[k]), k
    for r in (0, 1):  # resumed from last.pt after epoch 1 (across the phase change): the uninterrupted weights
        resumed = _weights(out / f"cut_rank{r}.pt")
        for k in init:
            assert torch.equal(resumed[k], full[r][k]), (r, k)


def test_a_phase_that_trains_nothing_is_refused_before_training():
    model = create_model("tiny_test_detector")  # no classifier (get_classifier): its "head" part is empty
    trainable = {n for n, _ in model.named_parameters()}
    check_phases(model, parse_phases("all:0:1e-3"), trainable)
    with pytest.raises(ValueError, match="phase 'head' trains no parameter of TinyDetector"):
        check_phases(model, parse_phases("head:1:1e-3,all:0:1e-4"), trainable)
