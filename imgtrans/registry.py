"""The model registry: families and named models collected from plugin hooks,
plus models the user imported into the cache. Owns naming and lookup."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from imgtrans.checkpoints import store
from imgtrans.checkpoints.weights import WeightsError, read_info
from imgtrans.errors import ImgtransError
from imgtrans.names import UnsafeNameError, check_component
from imgtrans.spec import Family, ModelSpec, Preprocess, WeightsSource

WeightsStatus = Literal["shipped", "cached", "downloadable", "missing"]


class UnknownModelError(ImgtransError, LookupError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        super().__init__(f"unknown model {name!r}.{hint} See `imgtrans models`.")


class UnknownFamilyError(ImgtransError, LookupError):
    """A family no installed plugin registers (a cached model whose plugin
    was uninstalled, a typo in --family)."""


@dataclass(frozen=True)
class Located:
    status: WeightsStatus
    path: Path | None


def _keywords(impl) -> Callable:
    """Call a hook implementation with the arguments it names (pluggy's rule:
    an implementation may take fewer than the spec)."""
    return lambda **kwargs: impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})


@dataclass
class Registry:
    families: dict[str, Family] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # (plugin name, its detect_checkpoint implementation)
    detectors: list[tuple[str, Callable]] = field(default_factory=list)

    @classmethod
    def from_plugin_manager(cls, pm, *, include_cache: bool = True) -> Registry:
        registry = cls()
        # Call each implementation ourselves (as llm does) to know which
        # plugin registered what, so collisions can name both plugins.
        for impl in pm.hook.register_families.get_hookimpls():
            impl.function(register=lambda family, _p=impl.plugin_name: registry.add_family(family, _p))
        for impl in pm.hook.register_models.get_hookimpls():
            impl.function(register=lambda spec, _p=impl.plugin_name: registry.add_model(spec, _p))
        registry.detectors = [(impl.plugin_name, _keywords(impl)) for impl in pm.hook.detect_checkpoint.get_hookimpls()]
        if include_cache:
            registry.add_cached_models()
        return registry

    def add_family(self, family: Family, plugin: str) -> None:
        from imgtrans.training.contract import training_problem

        if not isinstance(family, Family):
            self.problems.append(f"a family from plugin {plugin!r} ignored: {type(family).__name__} is not an "
                                 "imgtrans.Family")
            return
        key = f"family:{family.name}"
        problem = family.problem() or training_problem(family)
        if problem is not None:
            self.problems.append(f"family {family.name!r} from plugin {plugin!r} ignored: {problem}")
            return
        if family.name in self.families:
            self.problems.append(
                f"family {family.name!r} from plugin {plugin!r} ignored: "
                f"already registered by {self.owners[key]!r}"
            )
            return
        self.families[family.name] = family
        self.owners[key] = plugin

    def add_model(self, spec: ModelSpec, plugin: str) -> None:
        try:
            check_component(spec.name, "model name")
        except UnsafeNameError as exc:
            self.problems.append(f"a model from plugin {plugin!r} ignored: {exc}")
            return
        if spec.name in self.models:
            self.problems.append(
                f"model {spec.name!r} from plugin {plugin!r} ignored: "
                f"already registered by {self.owners[spec.name]!r}"
            )
            return
        self.models[spec.name] = spec
        self.owners[spec.name] = plugin

    def add_cached_models(self) -> None:
        """Models imported or trained by the user appear by the name in their file."""
        for path in store.cached_files():
            if path.stem in self.models:
                continue
            try:
                check_component(path.stem, "cached model name")
                info = read_info(path)
            except (WeightsError, UnsafeNameError) as exc:
                self.problems.append(str(exc))
                continue
            try:
                preprocess = Preprocess.from_dict(info.preprocess)
            except (TypeError, ValueError) as exc:
                self.problems.append(f"{path}: {exc}")
                continue
            self.models[path.stem] = ModelSpec(
                name=path.stem,
                family=info.family,
                summary=info.summary or f"imported {info.family} model",
                direction=info.direction,
                config=info.config,
                preprocess=preprocess,
                weights=WeightsSource(),
                license=info.license,
                source=info.source,
                labels=info.labels,
            )
            self.owners[path.stem] = "user cache"

    def model(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModelError(name, sorted(self.models)) from None

    def family(self, name: str) -> Family:
        try:
            return self.families[name]
        except KeyError:
            known = ", ".join(sorted(self.families)) or "none"
            raise UnknownFamilyError(f"unknown model family {name!r} (installed: {known})") from None

    def locate(self, spec: ModelSpec) -> Located:
        """Shipped weights win; then the cache; then a download source."""
        if spec.weights.filename:
            shipped = store.shipped_dir() / spec.weights.filename
            if shipped.is_file():
                return Located("shipped", shipped)
        if spec.weights.path and Path(spec.weights.path).is_file():
            return Located("shipped", Path(spec.weights.path))
        cached = store.cached_path(spec.name)
        if cached.is_file():
            return Located("cached", cached)
        if spec.weights.url:
            return Located("downloadable", None)
        return Located("missing", None)
