"""deepfakeforensics: a research toolkit for video deepfake detection.

Label 1 = fake, 0 = real; every score is P(fake) in [0, 1]; images are RGB.
"""

from deepfakeforensics import _package  # noqa: F401 (registers the reader of exported package folders: load_model(DIR))
from deepfakeforensics._version import __version__
from deepfakeforensics.models import create_model, list_models, load_model

__all__ = ["__version__", "create_model", "list_models", "load_model"]
