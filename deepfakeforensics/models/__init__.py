"""Model zoo. Create models only through `create_model` and list them with `list_models`."""

# Importing the architecture modules registers their models.
from deepfakeforensics.models import efficientnet, mesonet, temporal  # noqa: F401
from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD, Detector, ModelCfg
from deepfakeforensics.models._factory import create_model, load_model
from deepfakeforensics.models._registry import is_model, list_models, register_model
from deepfakeforensics.models._weights import WeightsError, load_checkpoint, save_checkpoint
from deepfakeforensics.models.temporal import init_backbone

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Detector",
    "ModelCfg",
    "WeightsError",
    "create_model",
    "init_backbone",
    "is_model",
    "list_models",
    "load_checkpoint",
    "load_model",
    "register_model",
    "save_checkpoint",
]
