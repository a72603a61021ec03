"""Entry-point groups through which heads, datasets, converters and model names are registered.

| kind         | group                | an entry point names                                               |
|--------------|----------------------|--------------------------------------------------------------------|
| `heads`      | `berthub.heads`      | a head class: the berthub.plugins.Head protocol, checked at load   |
| `datasets`   | `berthub.datasets`   | a callable building a Task from **options (see berthub.tasks)      |
| `converters` | `berthub.converters` | a converter (see berthub.model.pretrained)                         |
| `models`     | `berthub.models`     | a ModelEntry or a list of them (see berthub.sources.registry)      |
| `commands`   | `berthub.commands`   | a module or object with `register(subparsers)` (see berthub.cli)   |

Rules, the same for berthub's own entries and for third-party packages:
  - Listing (`entries`, `names`, `berthub plugins`) reads installed metadata only and imports nothing.
  - `load(kind, name)` imports exactly one plugin, on first use, and keeps it for the process.
  - A plugin that fails to import raises PluginError naming its entry point and distribution, with the
    original exception chained; every other plugin keeps working. So does a head that does not meet
    the head contract (`head_problems` says exactly what it lacks), or a dataset entry point that is not callable.
    A head written for berthub 0.1 (`attribute` / `targets` instead of `facts`) is adapted, with a FutureWarning.
  - A name registered by two distributions is an error when that name is loaded, naming both; there is
    no silent precedence. Uninstall one of them, or the plugin renames its entry. Other names still load.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from berthub.errors import PluginError

GROUPS = {
    "heads": "berthub.heads",
    "datasets": "berthub.datasets",
    "converters": "berthub.converters",
    "models": "berthub.models",
    "commands": "berthub.commands",
}

# What a loaded object must have, checked once at load so a bad plugin fails with its name, not later
# (heads: the berthub.plugins.Head protocol, checked by head_problems).
_REQUIRED = {"commands": ("register",)}
_CALLABLE = ("datasets",)
_CONTRACT = {
    "datasets": "a dataset entry point names a callable returning a Task (see berthub.tasks and docs/plugins.md).",
    "commands": "a command entry point names a module or object with register(subparsers) (see docs/plugins.md).",
}

_loaded: dict[tuple[str, str, str], Any] = {}


@dataclass(frozen=True)
class PluginInfo:
    """One registered entry point, as installed metadata describes it (nothing imported)."""

    kind: str  # "heads", "datasets", "converters" or "models"
    name: str  # the entry point name, e.g. "sst-2"
    value: str  # where it points, "module:attribute"
    distribution: str  # the pip distribution that declares it, e.g. "berthub-glue"
    version: str

    @property
    def where(self) -> str:
        return f"entry point '{self.name} = {self.value}' of {self.distribution} {self.version}"


def _group(kind: str) -> str:
    if kind not in GROUPS:
        raise PluginError(f"Unknown plugin kind '{kind}'. Kinds: {', '.join(GROUPS)}.")
    return GROUPS[kind]


def _info(kind: str, ep: EntryPoint) -> PluginInfo:
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist is not None else "an unknown distribution"
    version = dist.version if dist is not None else "?"
    return PluginInfo(kind, ep.name, ep.value, name, version)


def entries(kind: str) -> list[PluginInfo]:
    """Every entry point of one kind, sorted by name then distribution; duplicates appear once each."""
    found = [_info(kind, ep) for ep in entry_points(group=_group(kind))]
    return sorted(found, key=lambda p: (p.name, p.distribution))


def names(kind: str) -> list[str]:
    """Registered names of one kind (`heads`, `datasets`, `converters`, `models`), without importing them."""
    return sorted({p.name for p in entries(kind)})


def distribution(kind: str, name: str) -> str | None:
    """The pip distribution registering `name` in group `kind` (None when none, or several, do); imports nothing."""
    found = {p.distribution for p in entries(kind) if p.name == name}
    return found.pop() if len(found) == 1 else None


def duplicates(kind: str) -> dict[str, list[PluginInfo]]:
    """Names of one kind registered by more than one distribution -> their entries."""
    by_name: dict[str, list[PluginInfo]] = {}
    for info in entries(kind):
        by_name.setdefault(info.name, []).append(info)
    return {name: infos for name, infos in by_name.items() if len(infos) > 1}


def _find(kind: str, name: str) -> tuple[EntryPoint, PluginInfo]:
    matches = [ep for ep in entry_points(group=_group(kind)) if ep.name == name]
    if not matches:
        known = names(kind)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise PluginError(f"No {kind[:-1]} named '{name}' is registered.{hint} Registered {kind}: "
                          f"{', '.join(known) or 'none'}. Install the plugin that provides it; "
                          "`berthub plugins` lists what is installed.")
    infos = [_info(kind, ep) for ep in matches]
    if len(matches) > 1:
        both = " and ".join(f"{i.distribution} {i.version} ({i.value})" for i in infos)
        raise PluginError(f"The {kind[:-1]} name '{name}' is registered by {both}. berthub does not pick one: "
                          f"uninstall one of these distributions (pip uninstall NAME).")
    return matches[0], infos[0]


def describe(kind: str, name: str) -> str:
    """Where `name` comes from, e.g. "entry point 'sst-2 = berthub_glue.tasks:SST2' of berthub-glue 0.1.0"."""
    return _find(kind, name)[1].where


def load(kind: str, name: str) -> Any:
    """Import and return the object registered as `name` in group `kind` (cached per process).

    Raises PluginError when no distribution registers the name (listing the registered names), when
    two do (naming both), or when the plugin fails to import (chaining the original exception).
    """
    return _load(kind, *_find(kind, name))


def load_entry(info: PluginInfo) -> Any:
    """Import and return the object of one entry point as `entries` lists it, even when another
    distribution registers the same name (the registry reads every `berthub.models` entry this way)."""
    for ep in entry_points(group=_group(info.kind)):
        if _info(info.kind, ep) == info:
            return _load(info.kind, ep, info)
    raise PluginError(f"The {info.where} is no longer installed; reinstall {info.distribution}.")


def _load(kind: str, ep: EntryPoint, info: PluginInfo) -> Any:
    key = (kind, info.name, info.value, info.distribution)
    if key not in _loaded:
        try:
            loaded = ep.load()
        except Exception as error:
            raise PluginError(f"The {kind[:-1]} '{info.name}' ({info.where}) failed to load: "
                              f"{type(error).__name__}: {error}. Fix or reinstall {info.distribution}, or "
                              f"uninstall it (pip uninstall {info.distribution}); other plugins are "
                              "unaffected.") from error
        if kind == "heads":
            loaded = _checked_head(info, loaded)
        missing = [attr for attr in _REQUIRED.get(kind, ()) if not hasattr(loaded, attr)]
        if missing or (kind in _CALLABLE and not callable(loaded)):
            what = f"lacks {', '.join(missing)}" if missing else "is not callable"
            raise PluginError(f"The {kind[:-1]} '{info.name}' ({info.where}) {what}; {_CONTRACT[kind]} Fix or "
                              f"uninstall {info.distribution}.")
        _loaded[key] = loaded
    return _loaded[key]


def check(kind: str) -> dict[str, PluginError | None]:
    """Load every plugin of one kind: name -> None when it loads, else the PluginError it raised."""
    report: dict[str, PluginError | None] = {}
    for name in names(kind):
        try:
            load(kind, name)
            report[name] = None
        except PluginError as error:
            report[name] = error
    return report


def head_class(name: str, distribution: str | None = None) -> type:
    """The head class registered as `name` in `berthub.heads` (checked against berthub.plugins.Head).

    `distribution`: the pip distribution a saved model says the head comes from; when no installed
    plugin registers `name`, the error says to install it.
    """
    require("heads", name, distribution, f"This model's head '{name}'")
    return load("heads", name)


def require(kind: str, name: str, distribution: str | None, what: str) -> None:
    """Stop with one line ending in `pip install DISTRIBUTION` when no installed plugin registers `name` in
    `kind` and a saved file (config.json, training.json, the plugin memory) says `distribution` gave it.

    `what` starts the sentence: "This model's head 'x'", "Task 'y' (this model was trained on it)".
    """
    if distribution and name not in names(kind):
        raise missing_distribution(what, distribution)


def missing_distribution(what: str, distribution: str) -> PluginError:
    """`WHAT comes from the plugin distribution 'D', which is not installed: pip install D` (or, when some
    other version of D is installed, that it does not register it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version(distribution)
    except PackageNotFoundError:
        return PluginError(f"{what} comes from the plugin distribution '{distribution}', which is not installed: "
                           f"pip install {distribution}")
    return PluginError(f"{what} comes from the plugin distribution '{distribution}', but the {distribution} "
                       f"{installed} installed here does not register it: pip install --upgrade {distribution}")


def _builtin_heads() -> dict[str, EntryPoint]:
    """berthub's own head entry points by name (entry_points is read once: it scans every installed distribution)."""
    return {ep.name: ep for ep in entry_points(group=GROUPS["heads"]) if _info("heads", ep).distribution == "berthub"}


def builtin_heads() -> list[str]:
    """The names of berthub's own heads (not a plugin's), without importing them."""
    return sorted(_builtin_heads())


def builtin_head_class(name: str) -> type:
    """berthub's own head class registered as `name`, whatever other distributions register under that name
    (a clash is reported when the name is used for a model, not when berthub reads its own facts)."""
    builtin = _builtin_heads()
    if name not in builtin:
        raise PluginError(f"berthub registers no head named '{name}'; its heads: {', '.join(sorted(builtin))}.")
    return builtin[name].load()


def head_for_architecture(architecture: str | None) -> str | None:
    """The name of berthub's own head whose facts give this transformers class (config.json's `architectures`).

    Only heads of the berthub distribution answer, so a plugin head declaring the same class cannot
    change which head a folder saved by transformers gets. None for other classes (BertModel...).
    """
    if not architecture:
        return None
    builtin = _builtin_heads()
    return next((name for name in sorted(builtin) if builtin[name].load().facts.architecture == architecture), None)


def _checked_head(info: PluginInfo, loaded: Any) -> Any:
    """The head class, checked against the contract; a head written for berthub 0.1 comes back adapted."""
    from berthub.plugins.head_contract import adapt_legacy_head, facts_line, head_problems  # torch: once loaded

    adapted = adapt_legacy_head(loaded)
    if adapted is not loaded:
        warnings.warn(f"The head '{info.name}' ({info.where}) declares berthub 0.1's `attribute` and `targets` class "
                      f"attributes; berthub 0.2 adapts it and 0.3 will refuse it. {info.distribution} should declare "
                      f"{facts_line(loaded)} (docs/plugins.md, 'Write the head').", FutureWarning, stacklevel=4)
    problems = head_problems(adapted)
    if problems:
        raise PluginError(f"The head '{info.name}' ({info.where}) does not meet berthub's head contract "
                          f"(berthub.plugins.Head): " + "; ".join(problems) + f". Fix the head in {info.distribution} "
                          "(docs/plugins.md, 'Write the head', shows a complete one), or uninstall it "
                          f"(pip uninstall {info.distribution}); other heads are unaffected.")
    return adapted
