"""Entry-point groups through which heads, datasets, converters and model names are registered.

(Minimal first version: the plugins issue adds lazy listing, duplicate detection and error reports.)
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from berthub.errors import PluginError

GROUPS = {
    "heads": "berthub.heads",
    "datasets": "berthub.datasets",
    "converters": "berthub.converters",
    "models": "berthub.models",
}


def names(kind: str) -> list[str]:
    """Registered names in one group (`heads`, `datasets`, `converters`, `models`), without importing them."""
    return sorted({ep.name for ep in entry_points(group=GROUPS[kind])})


def load(kind: str, name: str) -> Any:
    """The object registered as `name` in group `kind`; a clear error lists the known names."""
    for ep in entry_points(group=GROUPS[kind]):
        if ep.name == name:
            return ep.load()
    known = ", ".join(names(kind)) or "none"
    raise PluginError(f"No {kind[:-1]} named '{name}' is registered. Registered: {known}. See `berthub plugins`.")
