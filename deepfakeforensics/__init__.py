"""deepfakeforensics: a research toolkit for video deepfake detection.

Label 1 = fake, 0 = real; every score is P(fake) in [0, 1]; images are RGB.
"""

from deepfakeforensics.models import create_model, list_models, load_model

__version__ = "0.1.0"
__all__ = ["__version__", "create_model", "list_models", "load_model"]
