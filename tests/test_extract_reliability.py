"""Extraction under stress: two runs on one output, claims of killed runs, a full or read-only disk, Ctrl-C."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from extract_data import BAD, CONFIG, CONFIG_OPTIONS, GOOD, comparable, copy_index, write_dataset

from deepfakeforensics import _io, cli
from deepfakeforensics.errors import OutputError
from deepfakeforensics.faces import FaceFinder, extract_faces
from deepfakeforensics.faces import extract as extract_module
from deepfakeforensics.faces.claims import ClaimOwner, VideoClaim, is_stale, try_claim

COPIES = 4  # each good video listed 4 times: runs long enough to interrupt or to overlap
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    return CONFIG.make_finder()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data"), copies=COPIES)


@pytest.fixture(scope="module")
def reference(dataset, finder, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """One uninterrupted run of the whole index."""
    work = tmp_path_factory.mktemp("reference")
    faces = extract_faces(copy_index(dataset, work), work / "extracted", CONFIG, finder=finder, progress=False)
    return work, faces


def failures(work: Path) -> pd.DataFrame:
    return pd.read_csv(work / "synth_faces_failures.csv").sort_values("path").reset_index(drop=True)


def dff(*args: str) -> subprocess.Popen:
    """`dff ARGS` in a new process (the installed package, as a user runs it)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DFF_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "deepfakeforensics", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def extract_args(index: Path, out: Path) -> list[str]:
    return ["extract", str(index), "--out", str(out), "--no-progress", "--device", "cpu", *CONFIG_OPTIONS]


def assert_same_result(work: Path, faces: pd.DataFrame, reference: tuple[Path, pd.DataFrame]) -> None:
    ref_work, ref_faces = reference
    pd.testing.assert_frame_equal(comparable(faces), comparable(ref_faces), check_dtype=False)
    pd.testing.assert_frame_equal(failures(work), failures(ref_work))
    assert not list(work.rglob("*.tmp")) and not list(work.rglob("*.claim"))


@pytest.mark.slow
def test_two_runs_on_one_output_share_the_work(dataset, reference, tmp_path):
    index = copy_index(dataset, tmp_path)
    out = tmp_path / "extracted"
    runs = [dff(*extract_args(index, out)) for _ in range(2)]
    results = [run.communicate(timeout=600) for run in runs]
    done_here = []
    for run, (stdout, stderr) in zip(runs, results, strict=True):
        assert run.returncode == 0, stderr
        assert "Traceback" not in stderr
        [line] = [line for line in stdout.splitlines() if line.startswith("this run:")]
        done_here.append(sum(int(n) for n in re.findall(r"(\d+) (?:videos extracted|failed)", line)))
    assert sum(done_here) == len(GOOD) * COPIES + len(BAD)  # every video done by exactly one of the two runs
    assert sorted(failures(tmp_path)["path"].str.rsplit("/", n=1).str[-1]) == sorted(f"{b}.mp4" for b in BAD)
    # the run that ended last merged everything; a merge afterwards changes nothing
    last = _io.load_table(tmp_path / "synth_faces.csv")
    assert_same_result(tmp_path, last, reference)
    assert cli.main(["extract", str(index), "--out", str(out), "--merge-only"]) == 0
    pd.testing.assert_frame_equal(_io.load_table(tmp_path / "synth_faces.csv"), last)


def write_claim(path: Path, host: str, pid: int, token: str, age_s: float = 0.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "token": token, "started": time.time()}))
    then = time.time() - age_s
    os.utime(path, (then, then))


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_claims_live_and_stale(tmp_path):
    here = socket.gethostname()
    claim = tmp_path / "v.claim"
    write_claim(claim, here, os.getpid(), "live")
    assert try_claim(claim) == ClaimOwner(here, os.getpid(), "live", pytest.approx(0, abs=5))
    write_claim(claim, "other-node", 12345, "remote", age_s=60)
    assert isinstance(try_claim(claim), ClaimOwner)  # another host, touched a minute ago: alive
    write_claim(claim, "other-node", 12345, "remote", age_s=60)
    taken = try_claim(claim, stale_after=30)  # ...but not within stale_after: abandoned
    assert isinstance(taken, VideoClaim) and taken.previous.token == "remote" and taken.held()
    assert isinstance(try_claim(claim), ClaimOwner)  # now held by this process's claim
    taken.release()
    assert not claim.exists()
    write_claim(claim, here, dead_pid(), "killed")
    assert is_stale(ClaimOwner(here, dead_pid(), "x", 0.0))
    taken = try_claim(claim)
    assert isinstance(taken, VideoClaim) and taken.previous.pid > 0
    write_claim(claim, "other-node", 1, "thief")  # taken over meanwhile: this run must not commit
    assert not taken.held()
    taken.release()
    assert claim.exists()  # someone else's claim is left alone


def test_busy_video_is_left_to_its_run_and_a_killed_runs_claim_is_taken_over(dataset, finder, tmp_path):
    index = copy_index(dataset, tmp_path)
    out = tmp_path / "extracted"
    parts = tmp_path / "synth_faces.parts"
    busy = parts / "synth%2Fone_0.claim"
    write_claim(busy, socket.gethostname(), os.getpid(), "alive")  # a live run holds one video
    faces = extract_faces(index, out, CONFIG, finder=finder, progress=False)
    assert "one_0" not in set(faces["video_id"]) and faces.attrs["n_busy"] == 1
    assert faces.attrs["busy_owners"] == [f"process {os.getpid()} on {socket.gethostname()}"]
    assert busy.exists() and not (parts / "synth%2Fone_0.failed.csv").exists()
    # that run is killed: its claim and its half-written folder stay behind
    write_claim(busy, socket.gethostname(), dead_pid(), "deadbeefdeadbeef")
    leftover = out / "synth" / ".one_0.deadbeefdeadbeef.tmp"
    leftover.mkdir()
    (leftover / "0_0.jpg").write_bytes(b"half")
    faces = extract_faces(index, out, CONFIG, finder=finder, progress=False)
    assert "one_0" in set(faces["video_id"]) and faces.attrs["n_busy"] == 0
    assert not busy.exists() and not leftover.exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_environment_error_stops_the_run_and_keeps_finished_videos(
    dataset, reference, finder, tmp_path, monkeypatch, code
):
    index = copy_index(dataset, tmp_path)
    out = tmp_path / "extracted"
    real = extract_module.write_jpeg
    written: set[str] = set()

    def disk_fills_on_second_video(path, *args, **kwargs):
        written.add(Path(path).parent.name)
        if len(written) == 2:
            raise OSError(code, os.strerror(code), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(extract_module, "write_jpeg", disk_fills_on_second_video)
    with pytest.raises(OutputError) as err:
        extract_faces(index, out, CONFIG, finder=finder, progress=False)
    assert err.value.errno == code and os.strerror(code) in str(err.value) and "rerun" in str(err.value)
    assert ".tmp/" in err.value.path  # the crop it could not write
    parts = tmp_path / "synth_faces.parts"
    assert len(list(parts.glob("*.csv"))) == 1 and not list(parts.glob("*.failed.csv"))  # first video kept, no blame
    assert not list(out.rglob("*.tmp")) and not list(parts.glob("*.claim"))
    monkeypatch.setattr(extract_module, "write_jpeg", real)
    faces = extract_faces(index, out, CONFIG, finder=finder, progress=False)
    assert_same_result(tmp_path, faces, reference)


def test_full_disk_through_the_command_line(dataset, tmp_path, monkeypatch, capsys):
    index = copy_index(dataset, tmp_path)

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(extract_module, "write_jpeg", full)
    assert cli.main(extract_args(index, tmp_path / "extracted")) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No space left on device" in err and str(tmp_path / "extracted") in err
    assert len(err.strip().splitlines()) <= 3  # the error, what to do, where the traceback is
    assert not list((tmp_path / "synth_faces.parts").glob("*.failed.csv"))


def test_manifest_write_failure_names_the_file(dataset, finder, tmp_path, monkeypatch):
    index = copy_index(dataset, tmp_path)

    def fail(df, csv_path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(csv_path).with_suffix(".tmp")))

    monkeypatch.setattr(_io, "save_table", fail)
    monkeypatch.setattr(extract_module, "iter_face_crops", lambda *a, **k: iter(()))  # speed: every video faceless
    with pytest.raises(OutputError, match="synth_faces.csv: cannot write the faces manifest"):
        extract_faces(index, tmp_path / "extracted", CONFIG, finder=finder, progress=False)


@contextlib.contextmanager
def read_only(folder: Path):
    """Make `folder` unwritable: chmod for a normal user; as root (which ignores modes) the immutable attribute."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root and chattr +i does not work here: permissions cannot be enforced")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_read_only_output_folder(dataset, finder, tmp_path, monkeypatch):
    index = copy_index(dataset, tmp_path)
    out = tmp_path / "extracted"
    out.mkdir()
    with read_only(out), pytest.raises(OutputError) as err:
        extract_faces(index, out, CONFIG, finder=finder, progress=False)
    assert str(out) in str(err.value) and err.value.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    assert not list((tmp_path / "synth_faces.parts").glob("*.failed.csv"))


@pytest.mark.slow
def test_ctrl_c_exits_130_and_the_rerun_completes(dataset, reference, finder, tmp_path):
    index = copy_index(dataset, tmp_path)
    parts = tmp_path / "synth_faces.parts"
    run = dff(*extract_args(index, tmp_path / "extracted"))
    deadline = time.monotonic() + 300
    while not list(parts.glob("*.csv")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert len([line for line in stderr.splitlines() if line.startswith("dff:")]) == 1
    n_parts = len(list(parts.glob("*.csv")))
    assert 1 <= n_parts < len(GOOD) * COPIES + len(BAD)  # stopped part-way
    faces = extract_faces(index, tmp_path / "extracted", CONFIG, finder=finder, progress=False)
    assert_same_result(tmp_path, faces, reference)
