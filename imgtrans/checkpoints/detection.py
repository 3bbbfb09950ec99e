"""What a checkpoint holds, read from its tensor names and shapes alone.

Plugins propose (the ``detect_checkpoint`` hook: a family and its options,
guessed from a few shapes); the core verifies every proposal by building that
family's generator on the meta device and comparing each name and shape, then
arbitrates between the networks a file may hold. No tensor value is read and
no code from the file runs, so detection is fast on large files. Torch is
imported only to verify a proposal.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imgtrans.checkpoints.weights import WeightsError

if TYPE_CHECKING:
    from imgtrans.registry import Registry
    from imgtrans.spec import Family

# Running statistics: buffers, not parameters; instance norm once kept them.
RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")
_OPTIMIZER_STATE = re.compile(r"(^|\.)(state\.\d+\.(step|exp_avg|exp_avg_sq|max_exp_avg_sq|momentum_buffer|square_avg)"
                              r"|param_groups\.\d+\..*)$")


class DetectionError(WeightsError):
    """A checkpoint whose architecture cannot be read, or is read two ways."""


@dataclass(frozen=True)
class TensorMeta:
    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count


@dataclass(frozen=True)
class Checkpoint:
    """The tensors of one candidate network: names and shapes, no values."""

    tensors: Mapping[str, TensorMeta]

    def shape(self, key: str) -> tuple[int, ...] | None:
        meta = self.tensors.get(key)
        return meta.shape if meta is not None else None

    def has(self, key: str) -> bool:
        return key in self.tensors

    def __len__(self) -> int:
        return len(self.tensors)


@dataclass(frozen=True)
class Proposal:
    """A plugin's reading of a checkpoint: its family and options.

    `assumed` names the options the file cannot show (U-Net dropout, say),
    each with the reason, so the user knows what to override.
    `channels` is (in, out); `None` where the network takes no image."""

    family: str
    config: Mapping[str, Any]
    architecture: str
    channels: tuple[int | None, int]
    assumed: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Unsupported:
    """A layout a plugin recognises but no installed family runs (a
    discriminator, a CUT generator): reported when nothing else fits."""

    what: str
    reason: str


@dataclass(frozen=True)
class Detection:
    """What a checkpoint is, verified against the family's own network.

    `network` is where in the file the generator sits ("" for a bare state
    dict, "G_A" or "netG" inside a container) and `prefix` the key prefix to
    strip (DataParallel's `module.` included); `dropped` are keys the family
    does not load (an old reference file's instance-norm statistics);
    `unexplained` keys nothing placed (loading refuses them)."""

    family: str
    config: dict[str, Any]
    architecture: str
    input_channels: int | None
    output_channels: int
    parameters: int
    dtype: str
    network: str
    prefix: str
    notes: tuple[str, ...] = ()
    assumed: Mapping[str, str] = field(default_factory=dict)
    unseen: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    filled: tuple[str, ...] = ()
    unexplained: tuple[str, ...] = ()

    def settable(self, option: str) -> bool:
        """Whether the user may set `option` without contradicting the file:
        it is assumed (not visible in the file) or unseen (not a generator
        option, such as the discriminator's width)."""
        return option in self.assumed or option in self.unseen

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family, "architecture": self.architecture, "config": self.config,
            "input_channels": self.input_channels, "output_channels": self.output_channels,
            "parameters": self.parameters, "dtype": self.dtype, "network": self.network or None,
            "notes": list(self.notes), "assumed": dict(self.assumed), "unseen": list(self.unseen),
            "dropped": list(self.dropped), "filled": list(self.filled), "unexplained": list(self.unexplained),
        }


@dataclass(frozen=True)
class Report:
    """Everything detection found in one file: the detections that fit, the
    layouts recognised but not runnable, and the file's other contents."""

    detections: tuple[Detection, ...]
    unsupported: tuple[tuple[str, Unsupported], ...]
    tensors: int
    other_entries: int
    near_misses: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # detectors that failed (a plugin's bug), said rather than hidden


def norm_of(checkpoint: Checkpoint, conv: str, norm: str) -> tuple[str, bool] | None:
    """(norm, instance affine) from a conv and the norm layer after it.

    The reference gives a conv a bias only before instance norm; batch norm
    leaves weights and running statistics; plain instance norm leaves nothing
    (old versions left running statistics); no norm leaves nothing and no bias."""
    bias = checkpoint.has(f"{conv}.bias")
    weight = checkpoint.has(f"{norm}.weight")
    stats = checkpoint.has(f"{norm}.running_mean")
    if weight and stats and not bias:
        return "batch", False
    if bias:
        return "instance", weight
    if not weight and not stats:
        return "none", False
    return None


def describe_norm(norm: str, affine: bool) -> str:
    return {"batch": "batch norm", "none": "no norm"}.get(norm, "affine instance norm" if affine else "instance norm")


MAX_NESTING = 32


def flatten(obj: Any) -> tuple[dict[str, Any], int]:
    """Nested mappings and lists of a loaded checkpoint -> dotted key -> tensor,
    and how many non-tensor entries (epoch numbers, option dicts) there were.
    Iterative, and refused past MAX_NESTING levels (a hostile file can nest
    thousands)."""
    tensors: dict[str, Any] = {}
    others = 0
    stack: list[tuple[str, Any, int]] = [("", obj, 0)]
    while stack:
        prefix, value, depth = stack.pop()
        if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, (Mapping, list, tuple)):
            tensors[prefix] = value
            continue
        items = (value.items() if isinstance(value, Mapping)
                 else enumerate(value) if isinstance(value, (list, tuple)) else None)
        if items is None:
            others += 1
            continue
        if depth >= MAX_NESTING:
            raise WeightsError(f"containers nested more than {MAX_NESTING} levels deep: not a checkpoint")
        for key, inner in reversed(list(items)):  # popped in the file's order
            stack.append((f"{prefix}.{key}" if prefix else str(key), inner, depth + 1))
    return tensors, others


MAX_ROOTS = 2048


def candidate_roots(keys: list[str], depth: int = 3) -> dict[str, list[str]]:
    """"" and every dotted prefix of up to `depth` segments with keys below
    it, each with its keys: one pass, so a file of a million names costs a
    few seconds, not hours. Past MAX_ROOTS candidates, shallower ones only."""
    roots: dict[str, list[str]] = {"": list(keys)}
    for key in keys:
        parts = key.split(".")
        for n in range(1, min(depth, len(parts) - 1) + 1):
            roots.setdefault(".".join(parts[:n]), []).append(key)
    while len(roots) > MAX_ROOTS and depth > 1:
        depth -= 1
        roots = {r: k for r, k in roots.items() if r.count(".") < depth}
    return dict(sorted(roots.items(), key=lambda item: (item[0].count(".") if item[0] else -1, item[0])))


def sub_checkpoint(shapes: Mapping[str, TensorMeta], root: str, keys: list[str]
                   ) -> tuple[Checkpoint, str, tuple[str, ...]]:
    """The tensors under `root` (its `keys`), with that prefix (and
    DataParallel's `module.`, when every key has it) removed: (checkpoint,
    prefix stripped, notes)."""
    prefix = f"{root}." if root else ""
    sub = {k[len(prefix):]: shapes[k] for k in keys}
    notes: tuple[str, ...] = ()
    if sub and all(k.startswith("module.") for k in sub):
        sub = {k[len("module."):]: v for k, v in sub.items()}
        prefix += "module."
        notes = ("keys carried DataParallel's 'module.' prefix (removed)",)
    return Checkpoint(sub), prefix, notes


def verify(family: Family, proposal: Proposal, checkpoint: Checkpoint) -> tuple[dict[str, Any] | None, str, dict]:
    """Build the proposed network on the meta device and compare it with the
    checkpoint: (full config or None, why not, what was found). The family's
    checkpoint_filter renames keys first; two keys renamed to one are
    unexplained, never silently merged."""
    import torch

    try:
        config = family.make_config(proposal.config)
        with torch.device("meta"):
            network = family.build_generator(config)
    except Exception as exc:  # a plugin's proposal its own builder rejects
        return None, f"{type(exc).__name__}: {exc}", {}
    renamed = dict(checkpoint.tensors)
    if family.checkpoint_filter is not None:
        renamed = family.checkpoint_filter(renamed, config)
    collided = len(renamed) < len(checkpoint)
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    modules = dict(network.named_modules())
    filled = tuple(k for k in expected if k not in renamed and k.endswith("num_batches_tracked"))
    missing = [k for k in expected if k not in renamed and k not in filled]
    wrong = [k for k in expected if k in renamed and renamed[k].shape != expected[k]]
    if missing or wrong:
        detail = f"{len(missing)} tensor(s) missing (e.g. {missing[0]})" if missing else (
            f"{wrong[0]} is {renamed[wrong[0]].shape}, the network has {expected[wrong[0]]}")
        return None, detail, {}
    extra = [k for k in renamed if k not in expected]
    dropped = tuple(k for k in extra if k.rpartition(".")[2] in RUNNING_STATS
                    and isinstance(modules.get(k.rpartition(".")[0]), torch.nn.InstanceNorm2d))
    unexplained = tuple(k for k in extra if k not in dropped)
    if collided:
        unexplained += ("(two tensors whose names the family's checkpoint_filter maps to one)",)
    full = dataclasses.asdict(config)
    parameters = sum(p.numel() for p in network.parameters())
    unseen = tuple(k for k in full if k not in proposal.config and k not in proposal.assumed)
    return full, "", {"dropped": dropped, "filled": filled, "unexplained": unexplained, "parameters": parameters,
                      "unseen": unseen}


def _collector(proposals: list[Proposal], found: list[Unsupported]) -> Callable[[Proposal | Unsupported], None]:
    """The ``report`` callback handed to the detectors: each item goes to
    `proposals` or `found`, the lists of one candidate root (bound here, not
    taken from the loop that makes them)."""

    def report(item: Proposal | Unsupported) -> None:
        if isinstance(item, Proposal):
            proposals.append(item)
        else:
            found.append(item)

    return report


def detect_shapes(registry: Registry, shapes: Mapping[str, TensorMeta], others: int = 0) -> Report:
    """Ask every plugin about every candidate network in the file; verify."""
    detections: list[Detection] = []
    unsupported: list[tuple[str, Unsupported]] = []
    near_misses: list[str] = []
    problems: list[str] = []
    for root, keys in candidate_roots(list(shapes)).items():
        checkpoint, prefix, notes = sub_checkpoint(shapes, root, keys)
        if not len(checkpoint) or any(d.prefix == prefix for d in detections):
            continue  # (root "module" of a DataParallel file is root "" again)
        proposals: list[Proposal] = []
        found: list[Unsupported] = []
        report = _collector(proposals, found)
        for plugin, detector in registry.detectors:
            try:
                detector(checkpoint=checkpoint, report=report)
            except Exception as exc:  # a plugin's bug must not hide the others' answers
                problems.append(f"checkpoint detection of plugin {plugin!r} failed: {type(exc).__name__}: {exc}")
        if optimizer_state(checkpoint.tensors):
            found.append(Unsupported(f"an optimizer state ({len(checkpoint)} tensor(s) of moments and steps)",
                                     "not a network; the generator is saved in its own file (latest_net_G*.pth)"))
        placed = len(detections)
        for proposal in proposals:
            family = registry.families.get(proposal.family)
            if family is None:
                continue
            config, why, found_keys = verify(family, proposal, checkpoint)
            if config is None:
                near_misses.append(f"{proposal.architecture} ({why})")
                continue
            dtypes = Counter(m.dtype for m in checkpoint.tensors.values() if not is_counter(m))
            extra_notes = notes
            if found_keys["dropped"]:
                extra_notes += (f"{len(found_keys['dropped'])} instance-norm running statistics from an old "
                                "reference version (unused by instance norm; dropped, as the reference does)",)
            if found_keys["filled"]:
                extra_notes += (f"{len(found_keys['filled'])} batch-norm num_batches_tracked counters absent "
                                "(files from before PyTorch 0.4.1; set to 0, unused at inference)",)
            detections.append(Detection(
                family=proposal.family, config=config, architecture=proposal.architecture,
                input_channels=proposal.channels[0], output_channels=proposal.channels[1],
                parameters=found_keys["parameters"], dtype=dtypes.most_common(1)[0][0] if dtypes else "?",
                network=root, prefix=prefix, notes=extra_notes, assumed=dict(proposal.assumed),
                unseen=found_keys["unseen"], dropped=found_keys["dropped"], filled=found_keys["filled"],
                unexplained=found_keys["unexplained"]))
        if len(detections) == placed:  # a family that runs these tensors overrules another plugin's "unsupported"
            unsupported += [(root, item) for item in found if all(item.what != u.what for _, u in unsupported)]
    detections = beside_others(detections, unsupported)
    return Report(tuple(detections), tuple(unsupported), len(shapes), others, tuple(near_misses), tuple(problems))


def beside_others(detections: list[Detection], unsupported: list[tuple[str, Unsupported]]) -> list[Detection]:
    """A generator at one level with other networks nested inside its keys
    (`{**G, "ema": G2}`, `{**G, "netD": D}`): their keys are theirs, not
    unexplained, so the top-level generator is complete and stands beside them."""
    placed = {d.network: d.architecture for d in detections if d.network and not d.unexplained}
    placed.update({root: item.what for root, item in unsupported if root and root not in placed})
    kept = []
    for d in detections:
        inner = {root: what for root, what in placed.items()
                 if (root != d.network and root.startswith(f"{d.network}.")) or (not d.network and root)}
        ours = [k for k in d.unexplained if not any(f"{d.prefix}{k}".startswith(f"{root}.") for root in inner)]
        if inner and len(ours) < len(d.unexplained):
            beside = "; ".join(f"{root}: {what}" for root, what in inner.items()
                               if any(f"{d.prefix}{k}".startswith(f"{root}.") for k in d.unexplained))
            d = dataclasses.replace(d, unexplained=tuple(ours), notes=d.notes + (f"beside it in the file: {beside}",))
        kept.append(d)
    return kept


def is_counter(meta: TensorMeta) -> bool:
    """num_batches_tracked-style scalars: integer counters that say nothing of the weights' type."""
    return meta.shape == () and meta.dtype.startswith(("int", "uint"))


def choose(report: Report, source: str, *, family: str | None = None, network: str | None = None) -> Detection:
    """The one generator the file holds, or a one-line refusal saying what was
    found and what would decide (`--network`, `--family`)."""
    candidates = list(report.detections)
    if network is not None:
        wanted = network.strip(".")
        candidates = [d for d in candidates if d.network == wanted]
        if not candidates:
            held = ", ".join(sorted({d.network or "(the whole file)" for d in report.detections})) or "none"
            raise DetectionError(f"{source}: no generator under {wanted!r} (generators found: {held})")
    if family is not None:
        others = [d for d in candidates if d.family != family]
        candidates = [d for d in candidates if d.family == family]
        if not candidates and others:
            raise DetectionError(f"{source} holds a {others[0].family} generator ({others[0].architecture}), "
                                 f"not {family}: --family {family} contradicts the file")
    complete = [d for d in candidates if not d.unexplained]
    if complete:
        candidates = complete
    networks = sorted({d.network for d in candidates})
    if len(networks) > 1:
        named = "; ".join(f"{n or '(top level)'}: {_first(candidates, n).architecture}" for n in networks)
        raise DetectionError(f"{source} holds {len(networks)} generators ({named}); "
                             f"choose one with --network {networks[0] or networks[1]}")
    if len(candidates) > 1:
        fits = " and ".join(f"{d.family} ({d.architecture})" for d in candidates)
        raise DetectionError(f"{source} fits {fits}; choose with --family")
    if candidates:
        chosen = candidates[0]
        if chosen.unexplained:
            shown = ", ".join(chosen.unexplained[:3]) + (", ..." if len(chosen.unexplained) > 3 else "")
            raise DetectionError(f"{source}: a {chosen.family} generator ({chosen.architecture}) with "
                                 f"{len(chosen.unexplained)} tensor(s) it does not have ({shown}); "
                                 "`imgtrans weights inspect` lists them")
        return chosen
    raise DetectionError(f"{source}: {describe_unrecognised(report)}")


def _first(detections: list[Detection], network: str) -> Detection:
    return next(d for d in detections if d.network == network)


def describe_unrecognised(report: Report) -> str:
    """Why nothing fits, in the terms of what the file does hold."""
    if report.unsupported:
        seen: dict[str, tuple[str, Unsupported]] = {}
        for root, item in report.unsupported:
            seen.setdefault(item.what, (root, item))
        parts = [f"{item.what}{f' (under {root!r})' if root else ''}: {item.reason}" for root, item in seen.values()]
        return "no runnable generator; found " + "; ".join(parts)
    if report.near_misses:
        return (f"no installed family's generator fits; closest: {report.near_misses[0]}; "
                "`imgtrans weights inspect` shows the tensors")
    failed = f" ({report.problems[0]})" if report.problems else ""
    return (f"no installed family recognises these {report.tensors} tensor(s){failed}; `imgtrans weights inspect` "
            "shows them, and `imgtrans weights import FILE --family F --netG ...` loads a layout you know")


def optimizer_state(shapes: Mapping[str, TensorMeta]) -> bool:
    return bool(shapes) and all(_OPTIMIZER_STATE.search(k) for k in shapes)
