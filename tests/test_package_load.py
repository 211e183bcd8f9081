"""An exported package folder loads through the models API: ``load_model(DIR)`` and ``create_model(name, weights=DIR)``
rebuild the run's model, validated as ``RunInfo`` reads it, and score exactly as the run's checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from test_packages import _make_run
from tiny_data import standard_manifest

from deepfakeforensics import load_model as top_level_load_model
from deepfakeforensics.models import WeightsError, create_model, load_model
from deepfakeforensics.packages import PackageError, export_package


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("pkgload")
    run = _make_run(root / "runs" / "meso_run", "mesonet4", standard_manifest(root / "data"), seed=3)
    return run, export_package(run, root / "meso_pkg")


def test_load_model_and_create_model_read_a_package_folder_with_the_runs_scores(exported):
    run, package = exported
    x = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(2))
    reference = load_model(run / "best.pt").eval()
    with torch.no_grad():
        expected = reference(x)
        for model in (load_model(package), top_level_load_model(package), create_model("mesonet4", weights=package)):
            assert model.name == "mesonet4" and not model.training
            assert torch.equal(model(x), expected)


def test_a_package_given_as_another_model_or_with_overrides_is_refused(exported):
    _, package = exported
    with pytest.raises(WeightsError, match="a package of model 'mesonet4', not 'mesoinception4'"):
        create_model("mesoinception4", weights=package)
    with pytest.raises(WeightsError, match="rebuilt as written"):
        load_model(package, channels_last=False)


def test_a_damaged_package_folder_is_refused_by_load_model_naming_the_field(exported, tmp_path):
    _, package = exported
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in package.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    config = json.loads((broken / "config.json").read_text())
    config["weights"]["sha256"] = "0" * 64
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(PackageError, match="weights.sha256"):
        load_model(broken)


def test_importing_the_toolkit_loads_no_sklearn_and_load_model_still_reads_a_package(exported):
    """scikit-learn loads on first use (choosing a threshold), not with ``import deepfakeforensics``, whose
    registered package reader still lets ``load_model(DIR)`` read a package in a fresh interpreter."""
    _, package = exported
    code = (
        "import sys, deepfakeforensics\n"
        "print('sklearn' in sys.modules)\n"
        f"model = deepfakeforensics.load_model({str(package)!r})\n"
        "print(model.name, 'sklearn' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "mesonet4", "False"]
