"""Failures that are recovered from are still said, naming the file: a timm checkpoint filter that fails, a stale
claim's replacement that cannot be put back, a report file whose details cannot be collected (issue 23 part 5)."""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from deepfakeforensics.faces import ExtractionConfig, claims
from deepfakeforensics.inference.predict import PredictConfig
from deepfakeforensics.inference.report import collect_folder_details
from deepfakeforensics.models.timm_models import _timm_filter


def checkpoint_filter_fn(state, model):  # found by _timm_filter in the model class's module, as in timm's
    raise KeyError("pos_embed")


class _FilteredNet(nn.Linear):
    pass


def test_a_failing_timm_checkpoint_filter_is_logged_with_the_file(caplog):
    state = {"weight": torch.zeros(1, 1)}
    with caplog.at_level(logging.WARNING):
        kept = _timm_filter(_FilteredNet(1, 1), state, Path("weights/vit.safetensors"))
    assert kept is state  # loaded as they are: the strict load then reports what does not fit
    assert "weights/vit.safetensors: timm's checkpoint filter of _FilteredNet failed (KeyError" in caplog.text


def test_a_fresh_claim_that_cannot_be_put_back_is_logged(tmp_path, monkeypatch, caplog):
    path = tmp_path / "video.claim"
    fresh = {"host": socket.gethostname(), "pid": os.getpid(), "token": "fresh", "started": 0.0}
    path.write_text(json.dumps(fresh))  # replaced the stale claim between the staleness check and the take-over
    stale = claims.ClaimOwner(host="elsewhere", pid=1, token="old", age_s=1e6)

    def refuse(src, dst):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(claims.os, "link", refuse)
    with caplog.at_level(logging.WARNING):
        claims._take_over(path, stale)
    assert not path.exists() and not list(tmp_path.glob("*.stale"))
    assert f"{path}: the fresh claim of process {os.getpid()} on {socket.gethostname()}" in caplog.text
    assert "could not be put back (Operation not permitted)" in caplog.text


def test_a_report_file_whose_details_fail_is_logged_and_noted(tmp_path, caplog):
    predictions = pd.DataFrame({"path": ["../outside.mp4"], "score": [0.9]})
    with caplog.at_level(logging.WARNING):
        details = collect_folder_details(predictions, tmp_path, nn.Identity(), PredictConfig(), ExtractionConfig())
    assert details["../outside.mp4"].note.startswith("details unavailable: ")
    assert "../outside.mp4: report details unavailable (" in caplog.text
