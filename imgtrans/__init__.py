"""imgtrans: image-to-image translation with GANs, extensible through plugins.

    import imgtrans
    model = imgtrans.load("vintage")
    out = model(Image.open("photo.jpg"))      # same type and size back
    imgtrans.train("cyclegan", "data/horse2zebra", "h2z")   # train, then publish as "h2z"

Importing this package does not import torch; loading a model does.
"""

from imgtrans.errors import ImgtransError, ModelKindError, OptionError
from imgtrans.hookspecs import hookimpl
from imgtrans.hub import MissingWeightsError, ModelInfo, detect, list_models, load
from imgtrans.plugins import make_plugin_manager
from imgtrans.registry import Registry, UnknownModelError
from imgtrans.spec import Family, ModelCard, ModelSpec, Preprocess, ScaleSensitivity, WeightsSource
from imgtrans.training.launch import TrainResult, train

__all__ = [
    "Family",
    "ImgtransError",
    "MissingWeightsError",
    "ModelInfo",
    "ModelCard",
    "ModelKindError",
    "ModelSpec",
    "OptionError",
    "Preprocess",
    "Registry",
    "ScaleSensitivity",
    "TrainResult",
    "UnknownModelError",
    "WeightsSource",
    "detect",
    "hookimpl",
    "list_models",
    "load",
    "make_plugin_manager",
    "train",
]
__version__ = "0.1.0"
