"""Shared fixtures: paths to ../shared (skipping cleanly when absent) and small synthetic face videos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DFF_SHARED", REPO.parent / "shared"))
SAMPLES = SHARED / "samples"
MESONET = SHARED / "mesonet"

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not (SAMPLES / "ffpp").is_dir():
        pytest.skip(f"real sample videos not found at {SAMPLES} (../shared is absent)")
    return SAMPLES


@pytest.fixture(scope="session")
def mesonet_dir() -> Path:
    if not (MESONET / "weights").is_dir():
        pytest.skip(f"MesoNet authors' weights not found at {MESONET} (../shared is absent)")
    return MESONET
