"""Plugin discovery: one place that says what is loaded and why.

Built-in families are ordinary packages found through the ``imgtrans``
entry-point group, exactly like a third-party plugin. A plugin that fails to
import is recorded (and shown by ``imgtrans plugins``) instead of breaking
every other command.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass

import pluggy

from imgtrans import hookspecs

ENTRY_POINT_GROUP = "imgtrans"
DISABLE_AUTOLOAD_ENV = "IMGTRANS_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class PluginFailure:
    name: str
    distribution: str
    version: str
    error: str


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the record of plugins that failed to load."""

    def __init__(self) -> None:
        super().__init__("imgtrans")
        self.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.entry_points: dict[str, importlib.metadata.EntryPoint] = {}

    def load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.get_plugin(ep.name) is not None or self.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
                self.register(plugin, name=ep.name)
            except Exception as exc:  # any import-time failure of a plugin
                self.failures.append(PluginFailure(ep.name, *distribution(ep), f"{type(exc).__name__}: {exc}"))
                continue
            self.entry_points[ep.name] = ep

    def distribution(self, name: str) -> tuple[str, str]:
        """(package, version) of a loaded plugin; read only when asked, since
        parsing package metadata costs start-up time."""
        ep = self.entry_points.get(name)
        return distribution(ep) if ep is not None else ("", "")


def distribution(ep: importlib.metadata.EntryPoint) -> tuple[str, str]:
    return (ep.dist.name, ep.dist.version) if ep.dist else ("?", "?")


def make_plugin_manager(*, autoload: bool | None = None, plugins: tuple = ()) -> PluginManager:
    """A fresh manager; no module-level singleton, so tests build their own."""
    pm = PluginManager()
    if autoload is None:
        autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
    if autoload:
        pm.load_entry_points()
    for plugin in plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def describe_plugins(pm: PluginManager) -> list[dict]:
    """Name, version, implemented hooks and load errors, for ``imgtrans plugins``."""
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        dist, version = pm.distribution(name)
        dist = dist or getattr(plugin, "__name__", name)
        hooks = sorted(impl.name for impl in pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "package": dist, "version": version, "hooks": hooks, "error": None})
    for failure in pm.failures:
        rows.append(
            {
                "name": failure.name,
                "package": failure.distribution,
                "version": failure.version,
                "hooks": [],
                "error": failure.error,
            }
        )
    return rows
