"""The plugin registry: every op, unit type, trainer, backend and rewrite rule, built-in or not.

Extensions are found through entry points, one group per kind:

    [project.entry-points."ebmc.units"]
    bernoulli = "ebmc.units:BERNOULLI"

An entry point names one object with a `name`, or a list of them. The built-ins
are registered exactly like a third party's, in ebmc's own pyproject.toml.
This module imports nothing else of ebmc, so any stage may use it.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points

GROUPS = {
    "ops": "ebmc.ops",
    "units": "ebmc.units",
    "trainers": "ebmc.trainers",
    "backends": "ebmc.backends",
    "rewrites": "ebmc.rewrites",
}


@dataclass
class Registry:
    ops: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    trainers: dict = field(default_factory=dict)
    backends: dict = field(default_factory=dict)
    rewrites: dict = field(default_factory=dict)  # name -> rewrite rule, in the order registered
    origins: dict = field(default_factory=dict)  # (kind, name) -> "distribution: module:attr"

    def add(self, kind: str, obj, origin: str = "") -> None:
        table = getattr(self, kind)
        table[obj.name] = obj
        self.origins[(kind, obj.name)] = origin


@functools.cache
def registry() -> Registry:
    """Load every entry point once. A plugin that fails to load is skipped with a warning."""
    reg = Registry()
    for kind, group in GROUPS.items():
        for ep in sorted(entry_points(group=group), key=lambda e: (e.dist.name != "ebmc" if e.dist else 1, e.name)):
            origin = f"{ep.dist.name if ep.dist else '?'}: {ep.value}"
            try:
                loaded = ep.load()
            except Exception as exc:  # a broken third-party plugin must not break the compiler
                warnings.warn(f"ebmc: plugin {ep.name!r} ({origin}) failed to load: {exc}", stacklevel=2)
                continue
            for obj in loaded if isinstance(loaded, (list, tuple)) else [loaded]:
                reg.add(kind, obj, origin)
    if "var" not in reg.ops:
        raise RuntimeError(
            "ebmc's built-in plugins were not found: install the package (pip install -e .) "
            "so that its entry points are registered"
        )
    return reg
