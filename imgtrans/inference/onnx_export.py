"""Exporting a translator's bare generator to ONNX (imports torch; needs the
`onnx` extra: onnx and onnxscript for torch's exporter).

The graph takes float32 N x C x H x W in [0, 1] (H and W multiples of the
model's padding multiple, N, H and W dynamic) and gives the translation in
[0, 1]: the model's normalisation is inside the graph. pix2pix exports with
per-image normalisation (its test mode) and without dropout noise.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from imgtrans.errors import ImgtransError, OptionError
from imgtrans.inference.layers import Float32InstanceNorm, PerImageBatchNorm, PerImageDropout
from imgtrans.io.files import atomic_target

DEFAULT_OPSET = 18


class ExportError(ImgtransError):
    pass


class _Normalised(nn.Module):
    def __init__(self, generator: nn.Module, preprocess):
        super().__init__()
        self.generator, self.preprocess = generator, preprocess

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.preprocess.denormalise(self.generator(self.preprocess.normalise(image))).clamp(0, 1)


def _plain(module: nn.Module) -> None:
    """Swap imgtrans's inference layers for standard ones an exporter knows."""
    for name, child in module.named_children():
        if isinstance(child, PerImageBatchNorm):
            norm = nn.InstanceNorm2d(child.weight.numel(), eps=child.eps, affine=True)
            norm.weight, norm.bias = child.weight, child.bias
            setattr(module, name, norm)
        elif isinstance(child, Float32InstanceNorm):
            plain = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=child.affine)
            plain.load_state_dict(child.state_dict())
            setattr(module, name, plain)
        elif isinstance(child, (PerImageDropout, nn.Dropout)):
            setattr(module, name, nn.Identity())
        else:
            _plain(child)


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress and logs warnings; a library call should not."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export(model, path: Path, *, opset: int = DEFAULT_OPSET, overwrite: bool = False) -> Path:
    """Write `model` (a TranslationModel) as ONNX to `path`, atomically."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs onnx and onnxscript)
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the onnx extra: pip install 'imgtrans[onnx]'") from None
    if not 18 <= opset <= 23:
        raise OptionError(f"--opset must be between 18 and 23, not {opset}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise ExportError(f"{path}: exists (use --overwrite)")
    generator = copy.deepcopy(model.generator).cpu().float().eval()
    _plain(generator)
    wrapped = _Normalised(generator, model.preprocess).eval()
    side = max(model.pad_multiple, model.min_side, 64 // model.pad_multiple * model.pad_multiple)
    example = torch.rand(1, model.channels, side, side)
    multiple = model.pad_multiple
    smallest = max(1, -(-model.min_side // multiple))  # in units of the multiple
    n, h, w = torch.export.Dim("n", min=1), torch.export.Dim("h", min=smallest), torch.export.Dim("w", min=smallest)
    try:
        with atomic_target(path, overwrite=overwrite) as tmp, _quiet():
            program = torch.onnx.export(wrapped, (example,), input_names=["image"], output_names=["translated"],
                                        dynamic_shapes=({0: n, 2: multiple * h, 3: multiple * w},),
                                        opset_version=opset, dynamo=True, external_data=False, verbose=False)
            assert program is not None  # None only from the TorchScript exporter (dynamo=False)
            program.save(str(tmp))
    except FileExistsError:
        raise ExportError(f"{path}: exists (use --overwrite)") from None
    except ImgtransError:
        raise
    except Exception as exc:  # the exporter raises many types
        raise ExportError(f"ONNX export of {model.name!r} failed "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    return path
