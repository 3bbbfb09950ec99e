"""Planning and running the streamed passes under a memory budget.

Layer by layer, not tile by tile: every normalisation needs its input's
statistics over the whole picture, so the network is cut at each norm into
passes over row strips. Maps at reduced resolution that feed a norm (or a
residual sum) are materialised once, with their statistics gathered in the
same pass; full-resolution maps are recomputed from their (stored) sources
instead, since storing them is what makes whole-image inference cost about
1 GB per megapixel. Statistics are merged across strips in float64 (Chan et
al.), so the result equals the whole-image pass up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from imgtrans.streaming.graph import Add, Input, Node, Norm, Stats, Unstreamable, build
from imgtrans.streaming.maps import StoredMap

__all__ = ["StreamPlan", "Unstreamable", "plan_stream", "whole_image_bytes"]


def _postorder(output: Node) -> list[Node]:
    order, seen, stack = [], set(), [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((s, False) for s in reversed(node.sources))
    return order


def _norm(node: Node) -> Norm:
    """A "stats" task's node: always a norm (the tasks are made from norms)."""
    if not isinstance(node, Norm):
        raise TypeError(f"statistics task for a {type(node).__name__}, not a norm")
    return node


def whole_image_bytes(output: Node) -> int:
    """Peak bytes of the maps alive at once when the network runs eagerly on the
    whole picture (each map freed after its last consumer), as float32."""
    order = _postorder(output)
    users: dict[int, int] = {}
    for node in order:
        for s in node.sources:
            users[id(s)] = users.get(id(s), 0) + 1
    live = peak = 0
    for node in order:
        live += node.channels * node.height * node.width * 4
        peak = max(peak, live)
        for s in node.sources:
            users[id(s)] -= 1
            if users[id(s)] == 0 and not isinstance(s, Input):
                live -= s.channels * s.height * s.width * 4
    return peak


class _Moments:
    """Per-channel count, mean and sum of squared deviations, merged in float64."""

    def __init__(self, channels: int):
        self.n = 0
        self.mean, self.m2 = torch.zeros(channels, dtype=torch.float64), torch.zeros(channels, dtype=torch.float64)

    def add(self, strip: torch.Tensor) -> None:
        count = strip.shape[0] * strip.shape[2] * strip.shape[3]
        if count == 0:
            return
        var, mean = torch.var_mean(strip.float(), dim=(0, 2, 3), correction=0)
        var, mean = var.double().cpu(), mean.double().cpu()
        total = self.n + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + var * count + delta * delta * (self.n * count / total)
        self.n = total

    def stats(self) -> Stats:
        return Stats(self.mean, self.m2 / max(self.n, 1))


@dataclass
class StreamPlan:
    """The passes for one picture; `run(sink)` calls sink(a, rows) for each
    strip of output rows [a, a + r) within `rows`."""

    output: Node
    rows: tuple[int, int]
    work_budget: int
    store_budget: int
    temp_dir: str | None = None
    device: torch.device | None = None
    adjust_stats: Callable | None = None  # (layer, Stats) -> Stats: video's statistics shared across frames
    stored: set[int] = field(default_factory=set)
    peak_stored_ram: int = 0
    spilled_bytes: int = 0

    def strip_rows(self, node: Node, compute: bool = True) -> int:
        """The largest strip of `node` whose pull stays within the working budget."""
        rows = 1
        while rows < node.height and self._pull_bytes(node, rows * 2, compute) <= self.work_budget:
            rows *= 2
        return min(rows, node.height)

    def _pull_bytes(self, node: Node, rows: int, compute: bool) -> int:
        a = max(0, node.height // 2 - rows // 2)
        total, stack = 0, [(node, a, min(node.height, a + rows), compute)]
        while stack:
            n, lo, hi, force = stack.pop()
            total += (hi - lo) * n.bytes_per_row * 2  # the strip and one temporary
            if force or id(n) not in self.stored:
                stack.extend((s, x, y, False) for s, x, y in n.needs(lo, hi) if y > x)
        return total

    def _reads(self, node: Node, compute: bool) -> tuple[set[int], list[Node], list[Norm]]:
        """Stored maps and norms a pull of `node` goes through."""
        stores, store_nodes, norms, seen, stack = set(), [], [], set(), [(node, compute)]
        while stack:
            n, force = stack.pop()
            if id(n) in seen and not force:
                continue
            seen.add(id(n))
            if not force and id(n) in self.stored:
                if id(n) not in stores:
                    stores.add(id(n))
                    store_nodes.append(n)
                continue
            if isinstance(n, Norm):
                norms.append(n)
            stack.extend((s, False) for s in n.sources)
        return stores, store_nodes, norms

    def run(self, sink: Callable[[int, torch.Tensor], None],
            progress: Callable[[float], None] | None = None) -> None:
        """Every pass, then `sink` for each output strip; `progress(fraction)`
        after each strip of any pass (passes count equally), where a caller
        can also stop the work by raising."""
        nodes = _postorder(self.output)
        norms = [n for n in nodes if isinstance(n, Norm)]
        input_height = max(n.height for n in nodes if isinstance(n, Input))
        # Materialise reduced-resolution maps that a norm or a residual sum reads.
        for n in nodes:
            feeds_norm = any(id(n) == id(m.sources[0]) for m in norms)
            if (feeds_norm or isinstance(n, Add)) and 2 * n.height <= input_height and not isinstance(n, Input):
                self.stored.add(id(n))
        by_id = {id(n): n for n in nodes}

        # Tasks in dependency order: ("store", node), ("stats", norm), ("output", node).
        order: list[tuple[str, Node]] = []
        state: dict[tuple[str, int], bool] = {}

        def deps(kind: str, node: Node) -> list[tuple[str, Node]]:
            if kind == "stats" and id(node.sources[0]) in self.stored:
                return [("store", node.sources[0])]
            target = node.sources[0] if kind == "stats" else node
            _, store_nodes, through = self._reads(target, compute=kind == "store")
            return [("store", s) for s in store_nodes] + [("stats", m) for m in through]

        stack = [("output", self.output, False)]
        while stack:
            kind, node, expanded = stack.pop()
            key = (kind, id(node))
            if expanded:
                if not state.get(key):
                    state[key] = True
                    order.append((kind, node))
                continue
            if key in state:
                continue
            state[key] = False
            stack.append((kind, node, True))
            stack.extend((k, n, False) for k, n in reversed(deps(kind, node)) if (k, id(n)) not in state)

        last_use: dict[int, int] = {}
        for index, (kind, node) in enumerate(order):
            if kind == "stats" and id(node.sources[0]) in self.stored:
                continue
            target = node.sources[0] if kind == "stats" else node
            for s in self._reads(target, compute=kind == "store")[0]:
                last_use[s] = index

        ram_used = 0
        try:
            for index, (kind, node) in enumerate(order):

                def within(done: int, rows: int, index: int = index) -> None:
                    if progress is not None:
                        progress((index + done / max(rows, 1)) / len(order))

                if kind == "store":
                    ram_used += self._materialise(node, norms, ram_used, within)
                elif kind == "stats" and (norm := _norm(node)).stats is None:
                    moments = _Moments(norm.channels)
                    src, step = norm.sources[0], self.strip_rows(norm.sources[0])
                    for a in range(0, src.height, step):
                        moments.add(src.rows(a, min(a + step, src.height)))
                        within(min(a + step, src.height), src.height)
                    norm.stats = self._finished(norm, moments)
                elif kind == "output":
                    lo, hi = self.rows
                    step = self.strip_rows(node)
                    for a in range(lo, hi, step):
                        sink(a, node.rows(a, min(a + step, hi)))
                        within(min(a + step, hi) - lo, hi - lo)
                for s, last in list(last_use.items()):
                    store = by_id[s].store
                    if last == index and store is not None:
                        ram_used -= store.nbytes if store.in_memory else 0
                        store.close()
                        by_id[s].store = None
                        del last_use[s]
        finally:
            for n in nodes:
                if n.store is not None:
                    n.store.close()
                    n.store = None

    def _finished(self, norm: Norm, moments: _Moments) -> Stats:
        stats = moments.stats()
        return stats if self.adjust_stats is None else self.adjust_stats(norm.layer, stats)

    def _materialise(self, node: Node, norms: list[Norm], ram_used: int,
                     within: Callable[[int, int], None]) -> int:
        size = node.height * node.bytes_per_row
        in_memory = ram_used + size <= self.store_budget
        store = StoredMap(node.channels, node.height, node.width, in_memory=in_memory, device=self.device,
                          temp_dir=self.temp_dir)
        readers = [m for m in norms if m.sources[0] is node and m.stats is None]
        moments = _Moments(node.channels) if readers else None
        step = self.strip_rows(node, compute=True)
        try:
            for a in range(0, node.height, step):
                strip = node.compute(a, min(a + step, node.height))
                store.write(a, strip)
                if moments is not None:
                    moments.add(strip)
                within(min(a + step, node.height), node.height)
        except BaseException:
            store.close()
            raise
        node.store = store
        if moments is not None:  # (made when there are readers)
            for m in readers:
                m.stats = self._finished(m, moments)
        if in_memory:
            self.peak_stored_ram = max(self.peak_stored_ram, ram_used + size)
            return size
        self.spilled_bytes += size
        return 0


def plan_stream(network, source: Input, *, rows: tuple[int, int], budget: int, per_image_norm, per_image_dropout,
                make_mask, temp_dir: str | None = None, adjust_stats: Callable | None = None) -> StreamPlan:
    """A plan for `network` over `source` within `budget` bytes of maps and strips.

    A quarter of the budget goes to the strips being computed, the rest to
    materialised maps kept in RAM; maps beyond it are spilled to disk.
    """
    output = build(network, source, per_image_norm=per_image_norm, per_image_dropout=per_image_dropout,
                   make_mask=make_mask)
    work = max(budget // 4, 1)
    return StreamPlan(output, rows, work_budget=work, store_budget=max(budget - work, 0), temp_dir=temp_dir,
                      device=source.device, adjust_stats=adjust_stats)
