"""Outputs written atomically get the user's usual mode and reach the disk before they replace the old file (issue 22,
item 19): mkstemp alone made every predictions.csv, report.html and checkpoint 0600."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
import torch

from deepfakeforensics import _io
from deepfakeforensics._io import atomic_path, current_umask, write_csv_atomic, write_json_atomic, write_text_atomic
from deepfakeforensics.models import create_model, save_checkpoint


@pytest.fixture
def umask():
    """Set the process's umask for one test, restored after."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_outputs_get_the_mode_the_umask_gives(tmp_path, umask):
    umask(0o022)
    assert current_umask() == 0o022
    write_csv_atomic(pd.DataFrame({"path": ["a.mp4"], "score": [0.9]}), tmp_path / "predictions.csv")
    write_text_atomic(tmp_path / "report.html", "<html></html>")
    write_json_atomic(tmp_path / "out" / "config.json", {"a": 1})
    save_checkpoint(tmp_path / "best.pt", create_model("mesonet4"))
    for name in ("predictions.csv", "report.html", "out/config.json", "best.pt"):
        assert _mode(tmp_path / name) == 0o644, name
    umask(0o027)
    write_text_atomic(tmp_path / "report.html", "<html>again</html>")
    assert _mode(tmp_path / "report.html") == 0o640
    umask(0o077)  # a user who wants private files still gets them
    write_text_atomic(tmp_path / "private.txt", "x")
    assert _mode(tmp_path / "private.txt") == 0o600
    assert torch.load(tmp_path / "best.pt", weights_only=True)
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_the_file_and_its_folder_are_synced_around_the_rename(tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(_io.os, "fsync", fsync)
    monkeypatch.setattr(_io.os, "replace", replace)
    target = tmp_path / "manifest.csv"
    with atomic_path(target) as tmp:
        tmp.write_text("path\n")
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].endswith(".tmp") and events[1][1] == str(target) and events[2][1] == str(tmp_path)
    events.clear()
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:  # a failed write replaces nothing
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert events == [] and target.read_text() == "path\n" and not list(tmp_path.glob("*.tmp"))
