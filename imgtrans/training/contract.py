"""The training-recipe contract: what a family's recipe provides and in what
order the engine uses it (torch-free; documented in docs/plugins.md).

The engine calls, in this order:

1. ``family.make_recipe(config, family, device)``: the recipe, with the
   validated training config (a subclass of both `TrainConfig` and the
   family's architecture config).
2. ``recipe.dataset(root)``: the training data. Networks and optimisers may
   depend on it (a conditional GAN's class count), so they are read only after
   this call, and must exist then.
3. ``recipe.networks`` and ``recipe.optimizers``: name -> module / optimiser;
   checkpointed, scheduled and synchronised across processes by the engine.
4. ``recipe.exports()``: the generators to publish when training ends.
5. Each step: ``recipe.train_step(batch, update) -> {loss name: value}``,
   where ``update(name, loss)`` back-propagates and steps optimiser `name`.
   Values are detached 0-d tensors (read back a few steps at a time, so the
   step never waits for the device) or floats.
   Inside it, ``recipe.networks`` holds the engine's wrappers of the same
   modules (DistributedDataParallel, torch.compile) and autocast is on.
6. Now and then: ``recipe.sample_grid(batch) -> HxWx3 uint8`` for samples/.
7. ``recipe.extra_state()`` / ``recipe.load_extra_state(state)``: anything
   else a resumed run needs (CycleGAN's replay buffers); tensors, numbers,
   strings, lists and dicts only (checkpoints load with weights_only=True).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from imgtrans.errors import ImgtransError

if TYPE_CHECKING:  # annotations only: this module stays torch-free
    import numpy as np
    import torch

    from imgtrans.training.recipe_tools import Export


class RecipeError(ImgtransError):
    """A plugin's recipe or training config breaks the contract."""


class TrainingDataset(Protocol):
    """What `recipe.dataset(root)` returns: examples by index, each a mapping
    of tensors (and `set_epoch(epoch)` where augmentation depends on it)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Mapping[str, torch.Tensor]: ...


@runtime_checkable
class Recipe(Protocol):
    """A family's training recipe (see the module docstring for the order of calls)."""

    networks: Mapping[str, torch.nn.Module]
    optimizers: Mapping[str, torch.optim.Optimizer]

    def dataset(self, root: Path) -> TrainingDataset: ...

    def exports(self) -> list[Export]: ...

    def train_step(self, batch: Mapping[str, torch.Tensor],
                   update: Callable[[str, torch.Tensor], None]) -> Mapping[str, torch.Tensor | float]: ...

    def sample_grid(self, batch: Mapping[str, torch.Tensor]) -> np.ndarray: ...

    def extra_state(self) -> dict[str, Any]: ...

    def load_extra_state(self, state: dict[str, Any]) -> None: ...


def training_problem(family) -> str | None:
    """Why a family's training declaration is unusable, or None (run at
    registration, without importing torch)."""
    from imgtrans.training.config import TrainConfig

    if family.train_config is None and family.make_recipe is None:
        return None
    if family.train_config is None or family.make_recipe is None:
        return "declares only one of train_config and make_recipe"
    config = family.train_config
    if not (isinstance(config, type) and dataclasses.is_dataclass(config) and issubclass(config, TrainConfig)):
        return "train_config must be a dataclass extending imgtrans.training.config.TrainConfig"
    if not issubclass(config, family.config_type):
        return f"train_config must extend the architecture config {family.config_type.__name__} (declare it once)"
    if not callable(family.make_recipe):
        return "make_recipe must be callable"
    return None


def check_recipe(recipe: Any, family_name: str, *, after_dataset: bool) -> None:
    """Raise RecipeError naming what a recipe object lacks."""
    missing = [name for name in ("dataset", "exports", "train_step", "sample_grid", "extra_state", "load_extra_state")
               if not callable(getattr(recipe, name, None))]
    if after_dataset:
        missing += [name for name in ("networks", "optimizers") if not getattr(recipe, name, None)]
    if missing:
        when = " after dataset()" if after_dataset else ""
        raise RecipeError(f"the {family_name} recipe lacks {', '.join(missing)}{when} (see docs/plugins.md)")
