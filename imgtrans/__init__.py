"""imgtrans: image-to-image translation with GANs, extensible through plugins.

    import imgtrans
    model = imgtrans.load("vintage")
    out = model(Image.open("photo.jpg"))      # same type and size back

Importing this package does not import torch; loading a model does.
"""

from imgtrans.errors import ImgtransError, ModelKindError, OptionError
from imgtrans.hookspecs import hookimpl
from imgtrans.hub import MissingWeightsError, ModelInfo, detect, list_models, load
from imgtrans.plugins import make_plugin_manager
from imgtrans.registry import Registry, UnknownModelError
from imgtrans.spec import Family, ModelCard, ModelSpec, Preprocess, ScaleSensitivity, WeightsSource

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
    "UnknownModelError",
    "WeightsSource",
    "detect",
    "hookimpl",
    "list_models",
    "load",
    "make_plugin_manager",
]
__version__ = "0.1.0"
