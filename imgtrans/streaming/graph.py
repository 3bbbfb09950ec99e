"""A generator as a graph of nodes that compute any range of output rows.

Traced with torch.fx, so any network built from the supported layers streams
(the reference ResNet and U-Net generators, and plugins' own networks made of
the same parts). Each node knows its map's shape and, asked for rows [a, b),
pulls exactly the rows of its sources that those rows depend on: the halo a
convolution needs, reflection only at the real border, zero padding only
outside the map. Full width is always computed, so only rows need a halo.

Normalisation nodes need whole-map statistics: the executor fills
`Norm.stats` before anything pulls through them. Convolutions called as
functions with a stored weight (`F.conv2d(x, self.filt, groups=C)`: CUT's
fixed blur filters) are convolution nodes like the layers.
"""

from __future__ import annotations

import inspect
import operator
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import fx, nn
from torch.nn import functional as F

from imgtrans.inference.padding import PaddingError, reflect_index

if TYPE_CHECKING:
    from imgtrans.streaming.maps import StoredMap


class Unstreamable(Exception):
    """The network has a layer the streamed path does not know; the caller
    falls back to the whole-image pass."""


class Node:
    channels: int
    height: int
    width: int
    sources: tuple[Node, ...] = ()

    store: StoredMap | None = None  # set once the executor has materialised this map

    def rows(self, a: int, b: int) -> torch.Tensor:
        """Rows [a, b) of this map as a [1, C, b - a, W] float tensor."""
        if self.store is not None:
            return self.store.read(a, b)
        return self.compute(a, b)

    def compute(self, a: int, b: int) -> torch.Tensor:
        raise NotImplementedError

    def needs(self, a: int, b: int) -> list[tuple[Node, int, int]]:
        """The source rows that rows [a, b) are computed from."""
        return [(s, a, b) for s in self.sources]

    @property
    def bytes_per_row(self) -> int:
        return self.channels * self.width * 4


class Input(Node):
    """The padded picture, kept as uint8 (3 bytes a pixel) and normalised per strip."""

    def __init__(self, pixels: torch.Tensor, row_index: torch.Tensor, col_index: torch.Tensor, preprocess,
                 device: torch.device):
        self.pixels, self.row_index, self.col_index, self.device = pixels, row_index, col_index, device
        self.preprocess = preprocess  # imgtrans.spec.Preprocess: the one owner of normalisation
        self.channels = pixels.shape[0]
        self.height, self.width = len(row_index), len(col_index)

    def compute(self, a, b):
        strip = self.pixels.index_select(1, self.row_index[a:b]).index_select(2, self.col_index).to(self.device)
        strip = strip.float() / 255.0 if strip.dtype == torch.uint8 else strip.float()
        return self.preprocess.normalise(strip)[None]


def _zero_rows(x: torch.Tensor, top: int, bottom: int) -> torch.Tensor:
    return F.pad(x, (0, 0, top, bottom)) if top or bottom else x


@dataclass(frozen=True)
class ConvSpec:
    """A functional convolution's arguments under the attribute names of
    `nn.Conv2d` / `nn.ConvTranspose2d`, so that nodes (and readers such as
    benchmarks/large_images.py) treat both alike."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    transposed: bool = False
    output_padding: tuple[int, int] = (0, 0)
    padding_mode: str = "zeros"

    @property
    def kernel_size(self) -> tuple[int, int]:
        return int(self.weight.shape[2]), int(self.weight.shape[3])

    @property
    def in_channels(self) -> int:
        return self.weight.shape[0] if self.transposed else self.weight.shape[1] * self.groups

    @property
    def out_channels(self) -> int:
        return self.weight.shape[1] * self.groups if self.transposed else self.weight.shape[0]


_CONV_ARGS = {
    torch.conv2d: ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    torch.conv_transpose2d: ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
}


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _conv_spec(function, arguments: dict) -> ConvSpec:
    weight = arguments["weight"]
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise Unstreamable("a functional convolution whose weight is not a stored 4-d tensor")
    bias, padding = arguments.get("bias"), arguments.get("padding", 0)
    if bias is not None and not isinstance(bias, torch.Tensor):
        raise Unstreamable("a functional convolution whose bias is not a stored tensor")
    if isinstance(padding, str):
        raise Unstreamable("a functional convolution with string padding")
    return ConvSpec(weight=weight, bias=bias, stride=_pair(arguments.get("stride", 1)), padding=_pair(padding),
                    dilation=_pair(arguments.get("dilation", 1)), groups=int(arguments.get("groups", 1)),
                    transposed=function is torch.conv_transpose2d,
                    output_padding=_pair(arguments.get("output_padding", 0)))


class Conv(Node):
    def __init__(self, src: Node, conv: nn.Conv2d | ConvSpec):
        if conv.padding_mode != "zeros" or conv.dilation != (1, 1) or isinstance(conv.padding, str):
            raise Unstreamable("convolution with non-zero padding mode, dilation or string padding")
        self.sources, self.conv = (src,), conv
        (self.kh, kw), (self.sh, sw), (self.ph, self.pw) = conv.kernel_size, conv.stride, conv.padding
        self.channels = conv.out_channels
        self.height = (src.height + 2 * self.ph - self.kh) // self.sh + 1
        self.width = (src.width + 2 * self.pw - kw) // sw + 1

    def _span(self, a, b):
        return a * self.sh - self.ph, (b - 1) * self.sh - self.ph + self.kh

    def needs(self, a, b):
        lo, hi = self._span(a, b)
        src = self.sources[0]
        return [(src, max(lo, 0), min(hi, src.height))]

    def compute(self, a, b):
        src = self.sources[0]
        lo, hi = self._span(a, b)
        x = _zero_rows(src.rows(max(lo, 0), min(hi, src.height)), max(0, -lo), max(0, hi - src.height))
        c = self.conv
        return F.conv2d(x, c.weight, c.bias, (self.sh, c.stride[1]), (0, self.pw), 1, c.groups)


class ConvTranspose(Node):
    def __init__(self, src: Node, conv: nn.ConvTranspose2d | ConvSpec):
        if conv.padding_mode != "zeros" or conv.dilation != (1, 1):
            raise Unstreamable("transposed convolution with dilation or a padding mode")
        if isinstance(conv.padding, str):  # never, for nn.ConvTranspose2d; its type (shared with Conv2d) allows it
            raise Unstreamable("transposed convolution with string padding")
        self.sources, self.conv = (src,), conv
        (self.kh, kw), (self.sh, sw), (self.ph, self.pw) = conv.kernel_size, conv.stride, conv.padding
        self.channels = conv.out_channels
        self.height = (src.height - 1) * self.sh - 2 * self.ph + self.kh + conv.output_padding[0]
        self.width = (src.width - 1) * sw - 2 * self.pw + kw + conv.output_padding[1]

    def _span(self, a, b):
        """Input rows [i0, i1) contributing to output rows [a, b)."""
        i0 = max(0, -((self.kh - 1 - a - self.ph) // self.sh))  # ceil((a + p - k + 1) / s)
        i1 = min(self.sources[0].height, (b - 1 + self.ph) // self.sh + 1)
        return i0, max(i0, i1)

    def needs(self, a, b):
        i0, i1 = self._span(a, b)
        return [(self.sources[0], i0, i1)]

    def compute(self, a, b):
        c = self.conv
        i0, i1 = self._span(a, b)
        first = i0 * self.sh - self.ph  # the global output row of y's row 0
        if i1 > i0:
            x = self.sources[0].rows(i0, i1)
            y = F.conv_transpose2d(x, c.weight, None, (self.sh, c.stride[1]), (0, self.pw),
                                   (0, c.output_padding[1]), c.groups)
        else:
            y = torch.zeros(1, self.channels, 0, self.width, dtype=c.weight.dtype, device=c.weight.device)
        length = y.shape[2]
        lo, hi = min(max(a - first, 0), length), min(max(b - first, 0), length)
        before = max(0, min(first, b) - a)  # rows above any contribution
        y = _zero_rows(y[:, :, lo:hi], before, (b - a) - before - (hi - lo))
        return y if c.bias is None else y + c.bias.view(1, -1, 1, 1)


class ReflectPad(Node):
    """Reflection (or, with mode "replicate", edge-replicating) padding."""

    def __init__(self, src: Node, padding, mode: str = "reflect"):
        self.sources, self.mode = (src,), mode
        self.left, self.right, self.top, self.bottom = padding
        if mode == "replicate":
            self.index = torch.arange(-self.top, src.height + self.bottom).clamp(0, src.height - 1)
        else:
            try:
                self.index = torch.from_numpy(reflect_index(src.height, self.top, self.bottom, repeat=False))
            except PaddingError as exc:
                raise Unstreamable(str(exc)) from None
        self.channels, self.height = src.channels, src.height + self.top + self.bottom
        self.width = src.width + self.left + self.right

    def needs(self, a, b):
        index = self.index[a:b]
        return [(self.sources[0], int(index.min()), int(index.max()) + 1)]

    def compute(self, a, b):
        index = self.index[a:b]
        lo = int(index.min())
        x = self.sources[0].rows(lo, int(index.max()) + 1).index_select(2, index - lo)
        return F.pad(x, (self.left, self.right, 0, 0), mode=self.mode) if self.left or self.right else x


class Pointwise(Node):
    """A per-element function of one map (activations, eval-mode batch norm)."""

    def __init__(self, src: Node, function):
        self.sources, self.function = (src,), function
        self.channels, self.height, self.width = src.channels, src.height, src.width

    def compute(self, a, b):
        return self.function(self.sources[0].rows(a, b))


@dataclass
class Stats:
    mean: torch.Tensor  # float64, per channel
    var: torch.Tensor  # biased, as instance norm uses


class Norm(Node):
    """Instance norm (plain or affine) and per-image batch norm: per-channel
    statistics of the whole map, supplied by the executor."""

    def __init__(self, src: Node, weight, bias, eps: float, layer=None):
        self.sources, self.weight, self.bias, self.eps = (src,), weight, bias, eps
        self.layer = layer  # the module, for statistics shared across video frames
        self.channels, self.height, self.width = src.channels, src.height, src.width
        self.stats: Stats | None = None

    def compute(self, a, b):
        assert self.stats is not None, "statistics are computed before rows are pulled"
        x = self.sources[0].rows(a, b).float()
        scale = (self.stats.var + self.eps).rsqrt()
        shift = -self.stats.mean * scale
        if self.weight is not None:
            weight, bias = self.weight.detach().cpu().double(), self.bias.detach().cpu().double()
            scale, shift = scale * weight, shift * weight + bias
        return x * scale.to(x).view(1, -1, 1, 1) + shift.to(x).view(1, -1, 1, 1)


class Dropout(Node):
    """pix2pix's test-time dropout with the whole map's mask (made once, small:
    dropout sits at the U-Net's coarsest levels)."""

    def __init__(self, src: Node, make_mask):
        self.sources, self.make_mask = (src,), make_mask
        self.mask: torch.Tensor | None = None  # made on the first pull
        self.channels, self.height, self.width = src.channels, src.height, src.width

    def compute(self, a, b):
        mask = self.mask
        if mask is None:
            mask = self.mask = self.make_mask((self.channels, self.height, self.width))
        x = self.sources[0].rows(a, b)
        return x * mask[None, :, a:b].to(x)


class Add(Node):
    def __init__(self, left: Node, right: Node):
        if (left.channels, left.height, left.width) != (right.channels, right.height, right.width):
            raise Unstreamable("adding maps of different shapes")
        self.sources = (left, right)
        self.channels, self.height, self.width = left.channels, left.height, left.width

    def compute(self, a, b):
        return self.sources[0].rows(a, b) + self.sources[1].rows(a, b)


class Cat(Node):
    def __init__(self, parts: list[Node]):
        if len({(p.height, p.width) for p in parts}) != 1:
            raise Unstreamable("concatenating maps of different sizes")
        self.sources = tuple(parts)
        self.channels = sum(p.channels for p in parts)
        self.height, self.width = parts[0].height, parts[0].width

    def compute(self, a, b):
        return torch.cat([p.rows(a, b) for p in self.sources], 1)


_ACTIVATIONS = {
    nn.ReLU: lambda m: torch.relu,
    nn.LeakyReLU: lambda m: lambda x: F.leaky_relu(x, m.negative_slope),
    nn.Tanh: lambda m: torch.tanh,
    nn.Sigmoid: lambda m: torch.sigmoid,
    nn.Identity: lambda m: lambda x: x,
    nn.Dropout: lambda m: lambda x: x,  # eval mode
}


_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.InstanceNorm2d, nn.BatchNorm2d, nn.ReflectionPad2d, nn.ReplicationPad2d)


# fx traces by patching nn.Module.__call__ and __getattr__ for the whole
# process: one trace at a time (a second one's patches were undone by the
# first), and modules called on other threads meanwhile run untouched
# (they failed with "NameError: module is not installed as a submodule").
_TRACING = threading.Lock()


class _Tracer(fx.Tracer):
    def __init__(self, leaves: tuple[type, ...]):
        super().__init__()
        self.leaves = leaves
        self.thread = threading.get_ident()

    def is_leaf_module(self, m, qualname):
        # Subclasses of the supported layers (e.g. a float32 instance norm) are layers too.
        return isinstance(m, self.leaves + _LAYERS) or super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        if threading.get_ident() != self.thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if threading.get_ident() != self.thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def build(network: nn.Module, source: Input, *, per_image_norm: type, per_image_dropout: type, make_mask) -> Node:
    """The output node of `network` applied to `source`.

    `per_image_norm` and `per_image_dropout` are the inference modules that
    `translate` swaps in (batch norm over one image, seeded dropout);
    `make_mask(layer, shape)` gives a dropout layer's whole-map mask.
    """
    # Optional arguments after the picture (a generator's features for a training loss) keep their defaults.
    optional = list(inspect.signature(network.forward).parameters.values())[1:]
    concrete = {p.name: p.default for p in optional if p.default is not inspect.Parameter.empty}
    try:
        with _TRACING:
            graph = _Tracer((per_image_norm, per_image_dropout)).trace(network, concrete_args=concrete or None)
    except Exception as exc:  # fx cannot trace data-dependent control flow
        raise Unstreamable(f"cannot trace the network ({type(exc).__name__})") from exc
    values: dict[str, object] = {}

    def value(arg):
        return values[arg.name] if isinstance(arg, fx.Node) else arg

    def map_named(name: str) -> Node:
        """The map made by the fx node `name` (not a stored tensor or constant)."""
        found = values[name]
        if not isinstance(found, Node):
            raise Unstreamable("an operation on something other than a map")
        return found

    for node in graph.nodes:
        if node.op == "placeholder":
            values[node.name] = source
        elif node.op == "get_attr":
            values[node.name] = _attribute(network, node.target)
        elif node.op == "call_function" and node.target in _CONV_ARGS:
            names = _CONV_ARGS[node.target]
            arguments = {**dict(zip(names, map(value, node.args))), **{k: value(v) for k, v in node.kwargs.items()}}
            spec = _conv_spec(node.target, arguments)
            src = arguments["input"]
            if not isinstance(src, Node):
                raise Unstreamable("a functional convolution of something other than a map")
            values[node.name] = ConvTranspose(src, spec) if spec.transposed else Conv(src, spec)
        elif node.op == "output":
            result = node.args[0]
            if isinstance(result, (list, tuple)) and len(result) == 1:  # flattened by fx with concrete_args
                result = result[0]
            result = value(result) if isinstance(result, fx.Node) else None
            if not isinstance(result, Node):
                raise Unstreamable("the network's output is not a map")
            return result
        elif node.op == "call_module":
            values[node.name] = _module_node(network.get_submodule(node.target), map_named(node.args[0].name),
                                             per_image_norm, per_image_dropout, make_mask)
        elif (node.op == "call_function" and node.target in (operator.add, torch.add) and len(node.args) == 2
              and not node.kwargs):
            values[node.name] = Add(map_named(node.args[0].name), map_named(node.args[1].name))
        elif node.op == "call_function" and node.target is torch.cat:
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
            if dim != 1:
                raise Unstreamable("concatenation along a dimension other than channels")
            values[node.name] = Cat([map_named(part.name) for part in node.args[0]])
        else:
            raise Unstreamable(f"unsupported operation {node.op} {node.target}")
    raise Unstreamable("the network has no output")


def _attribute(network: nn.Module, target: str):
    owner, _, name = target.rpartition(".")
    return getattr(network.get_submodule(owner) if owner else network, name)


def _module_node(m: nn.Module, src: Node, per_image_norm, per_image_dropout, make_mask) -> Node:
    if isinstance(m, nn.Conv2d):
        return Conv(src, m)
    if isinstance(m, nn.ConvTranspose2d):
        return ConvTranspose(src, m)
    if isinstance(m, nn.ReflectionPad2d):
        return ReflectPad(src, m.padding)
    if isinstance(m, nn.ReplicationPad2d):
        return ReflectPad(src, m.padding, mode="replicate")
    if isinstance(m, per_image_norm):
        return Norm(src, m.weight, m.bias, m.eps, layer=m)
    if isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats:
        return Norm(src, m.weight if m.affine else None, m.bias if m.affine else None, m.eps, layer=m)
    if isinstance(m, nn.BatchNorm2d) and not m.training and m.track_running_stats:
        return Pointwise(src, lambda x: F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0,
                                                     m.eps))
    if isinstance(m, per_image_dropout):
        return Dropout(src, lambda shape: make_mask(m, shape))
    for kind, function in _ACTIVATIONS.items():
        if type(m) is kind:
            return Pointwise(src, function(m))
    raise Unstreamable(f"unsupported layer {type(m).__name__}")
