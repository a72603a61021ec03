"""The plugins room: the entry-point groups, and the shapes a plugin registers through them.

    loader.py         entry-point groups: listing without importing, loading one on first use, clear errors
    head_contract.py  HeadFacts and the Head protocol every head meets (checked when one loads)
    model_entry.py    ModelEntry: a name a `berthub.models` entry point adds to the registry
    memory.py         which distribution gave a model name or command once used, for errors after an uninstall

`berthub.plugins` is what a plugin imports to declare its heads and model names (docs/plugins.md, "Stable API").
Nothing here imports torch or a plugin until a plugin is loaded.
"""

from berthub.plugins.head_contract import IGNORE_INDEX, TARGET_KINDS, Head, HeadFacts, TargetKind, head_problems
from berthub.plugins.loader import (
    GROUPS,
    PluginInfo,
    builtin_head_class,
    check,
    describe,
    distribution,
    duplicates,
    entries,
    head_class,
    head_for_architecture,
    load,
    names,
)
from berthub.plugins.model_entry import ModelEntry

__all__ = [
    "GROUPS", "IGNORE_INDEX", "TARGET_KINDS", "Head", "HeadFacts", "ModelEntry", "PluginInfo", "TargetKind",
    "builtin_head_class", "check", "describe", "distribution", "duplicates", "entries", "head_class",
    "head_for_architecture", "head_problems", "load", "names",
]  # fmt: skip
