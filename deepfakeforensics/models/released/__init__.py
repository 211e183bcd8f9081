"""The field's released detectors, loaded from their authors' files exactly as the authors' code scores them.

Registered names (``dff models --released``): see `released_specs`. Each module registers its models and specs.
"""

# Importing the detector modules registers their models and specs.
from deepfakeforensics.models.released import deepfakebench, effort, gend, gend_dinov3, polimi, sbi, selim  # noqa: F401
from deepfakeforensics.models.released._catalog import (
    LayoutMatch,
    Published,
    ReleasedSpec,
    describe_released,
    get_released,
    identify_released,
    is_released,
    load_released,
    register_released,
    released_specs,
)

__all__ = [
    "LayoutMatch",
    "Published",
    "ReleasedSpec",
    "describe_released",
    "get_released",
    "identify_released",
    "is_released",
    "load_released",
    "register_released",
    "released_specs",
]
