"""imgtrans: image-to-image translation with GANs, extensible through plugins."""

from imgtrans.hookspecs import hookimpl
from imgtrans.plugins import make_plugin_manager
from imgtrans.registry import Registry, UnknownModelError
from imgtrans.spec import Family, ModelSpec, Preprocess, WeightsSource

__all__ = [
    "Family",
    "ModelSpec",
    "Preprocess",
    "Registry",
    "UnknownModelError",
    "WeightsSource",
    "hookimpl",
    "make_plugin_manager",
]
__version__ = "0.1.0"
