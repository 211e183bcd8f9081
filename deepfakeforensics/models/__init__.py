"""Model zoo. Create models only through `create_model` and list them with `list_models`.

Families: MesoNet (``mesonet4``...), EfficientNet (efficientnet-pytorch, ``efficientnet_b0``...), timm backbones
(``xception``, ``convnext_tiny``, ``resnet50``, ``tf_efficientnet_b0``..., ``clip_vit_b16``/``l14`` and any
``timm/<name>``), video models (``video``: torchvision's 3D CNNs ``r3d_18``... and ``ftcn_lite``; ``video_tall``:
``tall``, clips tiled into one thumbnail for any frame model), temporal heads (``<frame>_lstm``,
``<frame>_transformer`` or ``temporal=``), and options that wrap any model: ``srm=``, ``frequency=``
(``branches``), ``peft=`` (``peft_tuning``), ``methods=`` (``heads``: a manipulation-method head beside the fake
logit).

Import direction (timm's): ``_base`` <- ``_registry`` (names, families and options -> builders) <- architecture
modules (``mesonet``, ``efficientnet``, ``timm_models``, ``branches``, ``heads``); ``_weights`` reads and writes
weight files and knows no model (a model converts foreign weights through its own ``Detector.weight_converters``);
``_factory`` (`create_model`, `load_model`) uses the registry and the loader and applies the registered options;
``temporal`` (whose builders build a backbone by name) and ``peft_tuning`` (`export_merged`) use ``_factory``.
``tests/test_imports.py`` keeps it so.
"""

# Importing the architecture modules registers their models.
from deepfakeforensics.models import (  # noqa: F401
    branches,
    efficientnet,
    heads,
    mesonet,
    peft_tuning,
    released,
    temporal,
    timm_models,
    video,
    video_tall,
)
from deepfakeforensics.models._base import IMAGENET_MEAN, IMAGENET_STD, Detector, ModelCfg
from deepfakeforensics.models._factory import create_model, describe_models, load_model
from deepfakeforensics.models._registry import is_model, list_models, list_options, register_model
from deepfakeforensics.models._weights import WeightsError, load_checkpoint, save_checkpoint
from deepfakeforensics.models.peft_tuning import export_merged, merge_peft, trainable_summary
from deepfakeforensics.models.temporal import init_backbone

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Detector",
    "ModelCfg",
    "WeightsError",
    "create_model",
    "describe_models",
    "export_merged",
    "init_backbone",
    "is_model",
    "list_models",
    "list_options",
    "load_checkpoint",
    "load_model",
    "merge_peft",
    "register_model",
    "save_checkpoint",
    "trainable_summary",
]
