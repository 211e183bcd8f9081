"""A small demo dataset the library builds itself: real face photographs shipped with installed packages, moving and
zooming over varied backgrounds, with face-swap and self-blended fakes, in FaceForensics++'s layout.

Example:
    >>> from deepfakeforensics.demo import build_demo_dataset
    >>> root = build_demo_dataset("demo", seed=0)  # doctest: +SKIP
"""

from deepfakeforensics.demo.build import (
    METHODS,
    DemoConfig,
    build_demo_dataset,
    is_complete,
    make_pairs,
    read_demo_manifest,
)

__all__ = ["METHODS", "DemoConfig", "build_demo_dataset", "is_complete", "make_pairs", "read_demo_manifest"]
