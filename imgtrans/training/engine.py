"""The one training loop: runs any recipe, checkpoints atomically, resumes
exactly, and data-parallelises over torch.distributed processes.

A recipe (from a family's plugin) owns networks, losses and the order of
optimiser steps; it calls `update(name, loss)` for each step. The engine owns
iteration, the learning-rate schedule, gradient averaging across processes,
random state, checkpoints and events. It never prints: it emits events.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist

from imgtrans.distributed import Distributed
from imgtrans.training.data import collate, epoch_batches
from imgtrans.training.loader import Position, RunBatches, batches, default_workers
from imgtrans.training.mixed import MixedPrecision
from imgtrans.training.runs import RunDir, RunError, first_line

Event = Callable[..., None]
LOG_EVERY = 16  # steps whose losses are read back to the host together (one sync, not one per loss per step)
STOP_SIGNALS = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


def linear_decay(epochs: int, epochs_decay: int) -> Callable[[int], float]:
    """The reference's rule: constant for `epochs`, then linearly to zero."""
    return lambda epoch: 1.0 - max(0, epoch + 1 - epochs) / float(epochs_decay + 1)


@dataclass
class Updater:
    """`update(name, loss)`: zero grads, backward (averaged across ranks by
    DistributedDataParallel), step (through the fp16 gradient scaler)."""

    optimizers: dict[str, torch.optim.Optimizer]
    scaler: Any = None

    def __call__(self, name: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
        else:
            loss.backward()
            optimizer.step()


@dataclass
class Progress:
    step: int = 0
    epoch: int = 0
    batch_index: int = 0  # batches of `epoch` already done
    interrupted: bool = False
    signal: str | None = None  # the signal that interrupted the run
    losses: dict[str, float] = field(default_factory=dict)


class LossLog:
    """Losses stay on the device until a few steps' worth are read back in one
    transfer: `float(loss)` each step would make the host wait for the GPU at
    every step. Flushed before checkpoints, samples and the end, so the log
    on disk always reaches the latest checkpoint."""

    def __init__(self, run_dir: RunDir, write: bool):
        self.run_dir, self.write = run_dir, write
        self.pending: list[tuple[dict, dict[str, Any]]] = []

    def add(self, record: dict, losses: dict[str, Any]) -> None:
        self.pending.append((record, losses))

    def __len__(self) -> int:
        return len(self.pending)

    def flush(self) -> dict[str, float]:
        """Write the pending lines; the last step's losses as floats."""
        if not self.pending:
            return {}
        tensors = [torch.as_tensor(v).detach().reshape(()).float()
                   for _, losses in self.pending for v in losses.values()]
        values = iter(torch.stack(tensors).cpu().tolist() if tensors else [])
        last: dict[str, float] = {}
        for record, losses in self.pending:
            last = {name: next(values) for name in losses}
            if self.write:
                self.run_dir.log_losses({**record, **last})
        self.pending.clear()
        return last


def weights_digest(networks: dict[str, torch.nn.Module]) -> str:
    digest = hashlib.sha256()
    for name in sorted(networks):
        for key, tensor in sorted(networks[name].state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class Trainer:
    def __init__(self, recipe, config, run_dir: RunDir, *, device: torch.device, distributed: Distributed,
                 workers: int | None = None, compile: bool = False, on_event: Event = lambda kind, **data: None):
        self.recipe, self.config, self.run_dir = recipe, config, run_dir
        self.device, self.distributed, self.on_event = device, distributed, on_event
        self.workers = default_workers(device) if workers is None else workers
        self.compile = compile
        self.mixed = MixedPrecision(config.precision, device)
        self.optimizers = recipe.optimizers
        rule = linear_decay(config.epochs, config.epochs_decay)
        self.schedulers = {name: torch.optim.lr_scheduler.LambdaLR(opt, rule) for name, opt in self.optimizers.items()}
        self.scaler = self.mixed.scaler
        self.update = Updater(self.optimizers, self.scaler)
        self.progress = Progress()

    # -- checkpoints -------------------------------------------------------
    def save_checkpoint(self) -> None:
        if not self.distributed.is_main:
            return
        p = self.progress
        state = {
            "step": p.step,
            "epoch": p.epoch,
            "batch_index": p.batch_index,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "recipe": self.recipe.extra_state(),
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
        }
        self.run_dir.save_checkpoint(p.step, self.recipe.networks, state)
        self.run_dir.plot_losses()
        self.on_event("checkpoint", step=p.step)

    def load_checkpoint(self) -> None:
        tensors, state = self.run_dir.load_checkpoint()
        try:
            self._restore(tensors, state)
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
            raise RunError(f"{self.run_dir.checkpoints}: the checkpoint does not fit this run "
                           f"({first_line(exc)})") from None

    def _restore(self, tensors: dict, state: dict) -> None:
        for name, net in self.recipe.networks.items():
            prefix = name + "."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, strict=True)
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
        self.recipe.load_extra_state(state["recipe"])
        torch.set_rng_state(state["rng_torch"])
        if state["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        if self.scaler is not None and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.progress = Progress(step=state["step"], epoch=state["epoch"], batch_index=state["batch_index"])

    # -- the loop ------------------------------------------------------------
    def sample(self, batch) -> None:
        if not self.distributed.is_main:
            return
        # Sampling must not change training: keep the RNG and the networks'
        # buffers (batch-norm running statistics) as they were.
        buffers = [(b, b.detach().clone()) for net in self.recipe.networks.values() for b in net.buffers()]
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            grid = self.recipe.sample_grid(batch)
        for buffer, saved in buffers:
            buffer.data.copy_(saved)
        path = self.run_dir.save_sample(self.progress.step, grid)
        self.on_event("sample", step=self.progress.step, path=str(path))

    @contextlib.contextmanager
    def _catch_interrupt(self):
        """First Ctrl-C or SIGTERM: finish the step, save, stop. Second: stop
        at once (a checkpoint being written is left out, never half-written)."""
        if self.distributed.enabled or not _in_main_thread():
            yield
            return

        def handler(signum, frame):
            if self.progress.interrupted:
                raise KeyboardInterrupt
            self.progress.interrupted = True
            self.progress.signal = STOP_SIGNALS.get(signum, str(signum))
            self.on_event("interrupt", signal=self.progress.signal)

        previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
        try:
            yield
        finally:
            for number, old in previous.items():
                signal.signal(number, old)

    def fit(self, dataset, *, resume: bool = False) -> dict:
        config = self.config
        if resume and self.run_dir.has_checkpoint():
            self.load_checkpoint()
            if self.distributed.is_main:
                self.run_dir.forget_losses_after(self.progress.step)
        else:
            if resume:  # killed before its first checkpoint: nothing to resume, so it starts over
                self.on_event("warning", message=f"{self.run_dir.path} has no checkpoint yet: training starts over")
                if self.distributed.is_main:
                    self.run_dir.forget_losses_after(0)
            self.distributed.broadcast(self.recipe.networks.values())
        p = self.progress
        total_epochs = config.epochs + config.epochs_decay
        steps_per_epoch = len(epoch_batches(len(dataset), config.batch_size, seed=config.seed, epoch=0,
                                            rank=self.distributed.rank, world=self.distributed.world))
        total_steps = total_epochs * steps_per_epoch
        if config.max_steps:
            total_steps = min(total_steps, config.max_steps)
        self.on_event("start", total_steps=total_steps, step=p.step, steps_per_epoch=steps_per_epoch,
                      examples=len(dataset), world=self.distributed.world, workers=self.workers,
                      precision=config.precision)
        sample_batch = collate([dataset[i] for i in range(min(len(dataset), 4))])
        sample_batch = {k: v.to(self.device) for k, v in sample_batch.items()}
        plain = self.recipe.networks
        self.mixed.prepare(plain.values())
        training = self.distributed.wrap(plain, self.device)
        if self.compile:
            # torch.compile returns a module (OptimizedModule) for a module; its annotation says any callable
            training = {name: cast(torch.nn.Module, torch.compile(net)) for name, net in training.items()}
        sampler = RunBatches(len(dataset), config.batch_size, seed=config.seed, rank=self.distributed.rank,
                             world=self.distributed.world, start=Position(p.epoch, p.batch_index), epochs=total_epochs)
        stream = batches(dataset, sampler, workers=self.workers, device=self.device, seed=config.seed)
        start = time.perf_counter()
        waited = 0.0
        last_saved = p.step
        log = LossLog(self.run_dir, write=self.distributed.is_main)
        with self._catch_interrupt(), contextlib.closing(stream):
            while p.step < total_steps and not p.interrupted:
                if p.batch_index >= steps_per_epoch:  # resumed from a checkpoint at an epoch's end
                    self._next_epoch()
                before = time.perf_counter()
                batch = next(stream, None)
                waited += time.perf_counter() - before
                if batch is None:
                    break
                self.recipe.networks = training  # the recipe calls its networks through DDP / compiled
                try:
                    with self.mixed.autocast():
                        step_losses = self.recipe.train_step(batch, self.update)
                finally:
                    self.recipe.networks = plain
                if self.scaler is not None:
                    self.scaler.update()
                self._sync_buffers()
                p.step += 1
                p.batch_index += 1
                log.add({"step": p.step, "epoch": p.epoch + 1, "time": round(time.perf_counter() - start, 3),
                         "lr": self._lr()}, dict(step_losses))
                saving, sampling = p.step % config.save_every == 0, p.step % config.sample_every == 0
                if len(log) >= LOG_EVERY or saving or sampling or p.interrupted or p.step >= total_steps:
                    p.losses = log.flush() or p.losses
                self.on_event("step", step=p.step, epoch=p.epoch + 1, losses=p.losses)
                if sampling:
                    self.sample(sample_batch)
                if saving:
                    self.save_checkpoint()
                    last_saved = p.step
                if p.batch_index >= steps_per_epoch:
                    self._next_epoch()
            p.losses = log.flush() or p.losses
            seconds = time.perf_counter() - start  # the steps, not the data workers' shutdown that follows
        if p.step != last_saved or p.interrupted or not self.run_dir.has_checkpoint():
            self.save_checkpoint()
        summary = {"step": p.step, "epoch": p.epoch, "interrupted": p.interrupted, "signal": p.signal,
                   "losses": p.losses,
                   "seconds": round(seconds, 2), "world_size": self.distributed.world,
                   "precision": config.precision, "workers": self.workers, "compile": self.compile,
                   "data_wait_fraction": round(waited / seconds, 4) if seconds > 0 else 0.0}
        if self.distributed.enabled:
            summary["ranks_identical"] = self._ranks_identical()
        if self.distributed.is_main:
            self.sample(sample_batch)
            self.run_dir.write_summary(summary)
        return summary

    def _next_epoch(self) -> None:
        for scheduler in self.schedulers.values():
            scheduler.step()
        self.progress.epoch += 1
        self.progress.batch_index = 0
        self.on_event("epoch", epoch=self.progress.epoch, lr=self._lr())

    def _sync_buffers(self) -> None:
        """Batch-norm statistics follow rank 0 (as DDP's broadcast_buffers does)."""
        if self.distributed.enabled:
            for net in self.recipe.networks.values():
                for buffer in net.buffers():
                    dist.broadcast(buffer.data, 0)

    def _lr(self) -> float:
        return next(iter(self.optimizers.values())).param_groups[0]["lr"]

    def _ranks_identical(self) -> bool:
        digest = weights_digest(self.recipe.networks)
        gathered: list[Any] = [None] * self.distributed.world
        dist.all_gather_object(gathered, digest)
        return len(set(gathered)) == 1


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def seed_everything(seed: int) -> None:
    """Same initial weights on every rank and in every resumed process."""
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
