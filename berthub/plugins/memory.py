"""What berthub remembers of the plugins it used, so a name whose plugin is gone names what to reinstall.

A saved model already carries the distributions it needs (config.json's `berthub_head_distribution`,
training.json's `task_distribution`). Two kinds of names have no such file: a model name a
`berthub.models` plugin registers and a command a `berthub.commands` plugin adds. When one is used (the
name resolved, the command run), berthub notes which distribution gave it in one small JSON file in the
cache (settings.PLUGIN_MEMORY_NAME beside the downloaded files):

    {"models": {"sim-minilm": {"distribution": "berthub-similarity", "repo_id": "acme/sim-minilm"}},
     "commands": {"similarity-report": {"distribution": "berthub-similarity"}}}

After `pip uninstall`, the error for that name reads it and ends with `pip install <distribution>`. A
name never used on this machine is simply unknown: nothing else can tell which plugin once gave it.
The file is a hint: a cache that cannot be written (read-only, full) only means no hint later.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from berthub.files import write_text_atomic
from berthub.sources.settings import PLUGIN_MEMORY_NAME, cache_root

KINDS = ("models", "commands")


def _path() -> Path:
    return cache_root() / PLUGIN_MEMORY_NAME


def _read(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(values, dict):
        return {}
    return {kind: dict(values[kind]) for kind in KINDS if isinstance(values.get(kind), dict)}


def remember(kind: str, name: str, distribution: str, **details: str) -> None:
    """Note that the plugin distribution `distribution` gave the `kind` ("models" or "commands") `name`."""
    from filelock import FileLock

    record = {"distribution": distribution, **details}
    path = _path()
    if _read(path).get(kind, {}).get(name) == record:
        return  # already known: most uses write nothing
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=10):
            values = _read(path)
            values.setdefault(kind, {})[name] = record
            write_text_atomic(path, json.dumps(values, indent=1, sort_keys=True) + "\n")
    except OSError:  # a read-only or full cache: the hint is lost, the load or command goes on
        return


def recall(kind: str, name: str) -> dict[str, Any] | None:
    """What `remember` noted for `name` ({"distribution": ..., ...}), or None."""
    record = _read(_path()).get(kind, {}).get(name)
    return record if isinstance(record, dict) and isinstance(record.get("distribution"), str) else None
