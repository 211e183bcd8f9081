"""`dff`'s error handling: expected errors in one or two lines (exit 1), Ctrl-C (exit 130), bugs with a traceback."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from deepfakeforensics import cli
from deepfakeforensics.commands import models as models_command
from deepfakeforensics.data.video import SamplingConfig
from deepfakeforensics.errors import OutputError, is_environment_error, is_expected
from deepfakeforensics.models import create_model, load_model, save_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def truncated_checkpoint(tmp_path_factory) -> Path:
    """A project checkpoint cut to half its size, as a copy interrupted by a full disk leaves it."""
    path = tmp_path_factory.mktemp("weights") / "best.pt"
    save_checkpoint(path, create_model("mesonet4"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def dff(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`dff ARGS` in a new process, as a user runs it."""
    environ = {k: v for k, v in os.environ.items() if k != cli.DEBUG_ENV}
    return subprocess.run(
        [sys.executable, "-m", "deepfakeforensics", *args],
        cwd=REPO,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_short_error(stderr: str, *named: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.strip().splitlines() if line.startswith("dff")]
    assert len(lines) == 1 and lines[0].startswith("dff: error: "), stderr
    for text in named:
        assert text in stderr


def test_truncated_checkpoint(truncated_checkpoint, tmp_path, capsys):
    args = ["predict", str(tmp_path), "--weights", str(truncated_checkpoint), "--out", str(tmp_path / "p.csv")]
    assert cli.main(args) == 1
    assert_short_error(capsys.readouterr().err, str(truncated_checkpoint))
    done = dff(*args)
    assert done.returncode == 1
    assert_short_error(done.stderr, str(truncated_checkpoint))
    assert "--debug" in done.stderr  # says how to see more


def test_missing_manifest_and_bad_option_values(tmp_path, capsys):
    missing = tmp_path / "labels" / "nowhere.csv"
    assert cli.main(["extract", str(missing)]) == 1
    assert_short_error(capsys.readouterr().err, str(missing))
    assert cli.main(["extract", str(missing), "--n-frames", "0"]) == 1  # a value the config refuses
    assert_short_error(capsys.readouterr().err, "n_frames")
    with pytest.raises(SystemExit) as exit_:  # a value argparse refuses: its usage line, status 2
        cli.main(["extract", str(missing), "--n-frames", "many"])
    assert exit_.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err
    done = dff("extract", str(missing), "--strategy", "first_n")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "invalid choice: 'first_n'" in done.stderr


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    missing = str(tmp_path / "nowhere.csv")
    for args in (["--debug", "extract", missing], ["extract", missing, "--debug"]):
        assert cli.main(args) == 1
        err = capsys.readouterr().err
        assert "Traceback" in err and f"dff: error: {missing}" in err
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    assert cli.main(["extract", missing]) == 1
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv(cli.DEBUG_ENV, "0")
    assert cli.main(["extract", missing]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_ctrl_c_and_bugs(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(models_command, "run", interrupted)
    assert cli.main(["models"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "interrupted" in err

    def buggy(args):
        return {}["no such key"]

    monkeypatch.setattr(models_command, "run", buggy)
    assert cli.main(["models"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err and "bug" in err and "report" in err


def test_which_errors_are_expected(truncated_checkpoint, tmp_path):
    assert is_expected(FileNotFoundError(f"{tmp_path}/x.csv: no such table"))
    assert is_expected(OSError(errno.EIO, "Input/output error", "x.jpg"))  # names its file
    assert not is_expected(OSError("something without a file"))
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS):
        assert is_environment_error(OSError(code, os.strerror(code)))
        assert is_expected(OutputError(tmp_path, OSError(code, os.strerror(code))))
    assert not is_environment_error(OSError(errno.EIO, "Input/output error"))
    with pytest.raises(ValueError) as err:  # the checkpoint loader's WeightsError, a ValueError of the library
        load_model(truncated_checkpoint)
    assert is_expected(err.value)
    with pytest.raises(ValueError) as err:  # raised by pandas, not by the library: a bug to report
        pd.to_numeric(pd.Series(["fake"]))
    assert not is_expected(err.value)
    with pytest.raises(ValueError) as err:  # a ValueError raised by the library's own code
        SamplingConfig(n_frames=0)
    assert is_expected(err.value)


def test_help_imports_no_command_and_each_command_only_its_own():
    """``dff --help`` lists every command without importing one; running a command imports only its module."""
    code = (
        "import sys\n"
        "from deepfakeforensics import cli\n"
        "argv = sys.argv[1:]\n"
        "parser = cli.build_parser(cli.requested_command(argv) or '')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('deepfakeforensics.commands.'))\n"
        "print(','.join(loaded))\n"
    )
    run = lambda *argv: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert run("--help") == ""
    assert run("models", "--help") == "deepfakeforensics.commands.models"
    full = cli.build_parser()  # every command's options, as the tests of each command's defaults use
    assert set(full._subparsers._group_actions[0].choices) == set(cli.COMMANDS)
