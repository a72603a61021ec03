"""Short model names -> where their files live (a hub repo, or a plain archive URL).

The registry is a dict of frozen `ModelEntry` objects keyed by name, built on first use from berthub's
own entries and the `berthub.models` entry-point group (plugins, read through berthub.plugins.loader
like every group), all through the same validation. berthub declares its own entries in that group too
(`google-bert`, so `berthub plugins` lists them) but adds them directly, so a source checkout that is
not pip-installed knows them as well.
`resolve_model("bert-base-chinese")` in berthub.sources.resolve is its main reader.

Plugin authors: point an entry point of group `berthub.models` at a `ModelEntry` or at a list
(or tuple) of them, e.g. in your pyproject.toml

    [project.entry-points."berthub.models"]
    my-berts = "my_package.models:ENTRIES"

    # my_package/models.py
    from berthub.plugins import ModelEntry
    ENTRIES = [ModelEntry("my-bert-small", repo_id="my-org/my-bert-small", do_lower_case=True,
                          description="6-layer BERT distilled from bert-base-uncased")]

An entry names either a hub repo (`repo_id`, `revision`) or an archive (`url`, optional `sha256`),
never both. Names contain no "/" (so they never read as repo ids). Plugin entries get the same
validation as berthub's own. A name registered twice (by berthub or any plugin) is an error naming
both sources when that name is used; a plugin that fails to load makes only its own names
unavailable (the unknown-name error and `berthub models` say why). Other names keep working.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from berthub.errors import ConfigError, NotFoundError, PluginError
from berthub.plugins import loader, memory
from berthub.plugins.loader import PluginInfo
from berthub.plugins.model_entry import BUILTIN_SOURCE, ModelEntry, entry_problems

ENTRY_POINT_GROUP = loader.GROUPS["models"]
BUILTIN_ENTRY_POINT = "berthub.sources.registry:BUILTIN_MODELS"  # declared in berthub's pyproject like any plugin



def _google(name: str, lower: bool, description: str) -> ModelEntry:
    return ModelEntry(name, repo_id=f"google-bert/{name}", do_lower_case=lower, description=description)


BUILTIN_MODELS: tuple[ModelEntry, ...] = (
    _google("bert-base-uncased", True, "12-layer, 768-hidden, 12-heads, 110M params; English, lower-cased"),
    _google("bert-large-uncased", True, "24-layer, 1024-hidden, 16-heads, 340M params; English, lower-cased"),
    _google("bert-base-cased", False, "12-layer, 768-hidden, 12-heads, 110M params; English, cased"),
    _google("bert-large-cased", False, "24-layer, 1024-hidden, 16-heads, 340M params; English, cased"),
    _google(
        "bert-base-multilingual-uncased",
        True,
        "12-layer, 768-hidden, 12-heads, 110M params; 102 languages, lower-cased (original release)",
    ),
    _google(
        "bert-base-multilingual-cased",
        False,
        "12-layer, 768-hidden, 12-heads, 110M params; 104 languages, cased (recommended multilingual)",
    ),
    _google(
        "bert-base-chinese",
        True,
        "12-layer, 768-hidden, 12-heads, 110M params; Chinese (simplified and traditional)",
    ),
    _google(
        "bert-large-uncased-whole-word-masking",
        True,
        "bert-large-uncased pre-trained with whole-word masking (2019 release)",
    ),
    _google(
        "bert-large-cased-whole-word-masking",
        False,
        "bert-large-cased pre-trained with whole-word masking (2019 release)",
    ),
    _google(
        "bert-large-uncased-whole-word-masking-finetuned-squad",
        True,
        "bert-large-uncased-whole-word-masking fine-tuned on SQuAD v1.1 (question answering)",
    ),
    _google(
        "bert-large-cased-whole-word-masking-finetuned-squad",
        False,
        "bert-large-cased-whole-word-masking fine-tuned on SQuAD v1.1 (question answering)",
    ),
)


@dataclass
class _Registry:
    entries: dict[str, ModelEntry] = field(default_factory=dict)
    conflicts: dict[str, str] = field(default_factory=dict)  # name -> why it cannot be used
    broken: list[str] = field(default_factory=list)  # plugins that failed to load, why
    added: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (entry point, value) -> names
    distributions: dict[str, str] = field(default_factory=dict)  # a plugin's name -> the distribution giving it


_registry: _Registry | None = None


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style `pattern` (e.g. "bert-large-*"), sorted.

    >>> "bert-base-chinese" in list_models()
    True
    """
    return sorted(name for name in _loaded().entries if fnmatch.fnmatchcase(name, pattern))


def model_entry(name: str) -> ModelEntry:
    """The entry registered as `name`.

    Raises NotFoundError for an unknown name (naming the closest ones and any plugin that failed to
    load), PluginError for a name registered twice (naming both sources).
    """
    registry = _loaded()
    if name in registry.conflicts:
        raise PluginError(registry.conflicts[name])
    if name in registry.entries:
        return registry.entries[name]
    remembered = memory.recall("models", name)
    if remembered is not None:  # a plugin gave this name when it was used here, and is gone
        repo = f" (hub repo {remembered['repo_id']})" if remembered.get("repo_id") else ""
        what = f"The model name '{name}'{repo}"
        raise NotFoundError(str(loader.missing_distribution(what, remembered["distribution"])))
    broken = "".join(f" Note: {problem}" for problem in registry.broken)
    raise NotFoundError(unknown_name_message(name, registry.entries) + broken)


def distribution_of(name: str) -> str | None:
    """The pip distribution whose `berthub.models` plugin registers `name` (None: berthub's own or run time)."""
    return _loaded().distributions.get(name)


def names_added_by(entry_point: str, value: str) -> list[str] | None:
    """The model names the `berthub.models` entry point `entry_point = value` adds (None: it failed to load)."""
    return _loaded().added.get((entry_point, value))


def plugin_problems() -> list[str]:
    """Why some `berthub.models` plugins or names cannot be used (failed loads, duplicate names)."""
    registry = _loaded()
    return registry.broken + sorted(registry.conflicts.values())


def unknown_name_message(name: str, known: Iterable[str]) -> str:
    """`Unknown model 'x'. Did you mean 'y'? See `berthub models`.` (with the closest known names)."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    quoted = [f"'{c}'" for c in close]
    alternatives = f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)
    hint = f" Did you mean {alternatives}?" if close else ""
    return (
        f"Unknown model '{name}'.{hint} See `berthub models` for registered names; "
        "a hub repo id (namespace/name), a local directory or an http(s) URL also work."
    )


def register(entry: ModelEntry) -> ModelEntry:
    """Add an entry at run time (scripts, benchmarks); plugins use the entry-point group instead."""
    registry = _loaded()
    registered = _validated(entry, "berthub.sources.registry.register()", ConfigError)
    if registered.name in registry.entries or registered.name in registry.conflicts:
        raise ConfigError(_duplicate_message(registry.entries.get(registered.name, registered), registered))
    registry.entries[registered.name] = registered
    return registered


def reload() -> None:
    """Forget the registry so the next call reads built-ins and entry points again (after installs)."""
    global _registry
    _registry = None


def _loaded() -> _Registry:
    global _registry
    if _registry is None:
        registry = _Registry()
        for entry in BUILTIN_MODELS:
            _add(registry, _validated(entry, BUILTIN_SOURCE, ConfigError))
        for info in loader.entries("models"):
            if info.value == BUILTIN_ENTRY_POINT:  # added above, installed or not
                registry.added[(info.name, info.value)] = [entry.name for entry in BUILTIN_MODELS]
                continue
            try:
                entries = _plugin_entries(info)
            except PluginError as error:
                registry.broken.append(str(error))
                continue
            registry.added[(info.name, info.value)] = [entry.name for entry in entries]
            for entry in entries:
                _add(registry, entry)
                registry.distributions[entry.name] = info.distribution
        _registry = registry
    return _registry


def _plugin_entries(info: PluginInfo) -> list[ModelEntry]:
    dist = info.distribution
    source = f"{dist} (entry point '{info.name} = {info.value}')"
    try:
        loaded = loader.load_entry(info)  # the one loader of every entry-point group
    except PluginError as error:
        cause = error.__cause__ or error
        raise PluginError(
            f"the {ENTRY_POINT_GROUP} plugin {source} failed to load ({type(cause).__name__}: {cause}); "
            f"its names are unavailable until '{dist}' is fixed or uninstalled."
        ) from cause
    items = list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
    wrong = [type(item).__name__ for item in items if not isinstance(item, ModelEntry)]
    if wrong or not items:
        raise PluginError(
            f"the {ENTRY_POINT_GROUP} plugin {source} must point to a berthub.ModelEntry or a "
            f"non-empty list of them; it gave {', '.join(wrong) or 'an empty list'}."
        )
    return [_validated(item, source, PluginError) for item in items]


def _validated(entry: ModelEntry, source: str, error_class: type[Exception]) -> ModelEntry:
    problems = entry_problems(entry)
    if problems:
        raise error_class(f"Model entry '{entry.name}' from {source} is invalid: {'; '.join(problems)}.")
    return replace(entry, source=source)


def _add(registry: _Registry, entry: ModelEntry) -> None:
    if entry.name in registry.conflicts:
        registry.conflicts[entry.name] += f" It is also registered by {entry.source}."
    elif entry.name in registry.entries:
        registry.conflicts[entry.name] = _duplicate_message(registry.entries.pop(entry.name), entry)
    else:
        registry.entries[entry.name] = entry


def _duplicate_message(first: ModelEntry, second: ModelEntry) -> str:
    return (
        f"Model name '{first.name}' is registered twice: by {first.source} and by {second.source}. "
        "berthub does not pick one: uninstall one of them or ask its author to rename the entry."
    )
