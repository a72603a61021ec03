"""Short model names -> where their files live (a hub repo, or a plain archive URL).

The registry is a dict of frozen `ModelEntry` objects keyed by name, built on first use from
berthub's own entries and the `berthub.models` entry-point group (plugins), all through the same
validation. `resolve_model("bert-base-chinese")` in berthub.hub is its main reader.

Plugin authors: point an entry point of group `berthub.models` at a `ModelEntry` or at a list
(or tuple) of them, e.g. in your pyproject.toml

    [project.entry-points."berthub.models"]
    my-berts = "my_package.models:ENTRIES"

    # my_package/models.py
    from berthub.registry import ModelEntry
    ENTRIES = [ModelEntry("my-bert-small", repo_id="my-org/my-bert-small", do_lower_case=True,
                          description="6-layer BERT distilled from bert-base-uncased")]

An entry names either a hub repo (`repo_id`, `revision`) or an archive (`url`, optional `sha256`),
never both. Names contain no "/" (so they never read as repo ids). A name registered twice, by
berthub or any plugin, is an error naming both sources; so is an entry point that fails to load.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import Any

from berthub.errors import ConfigError, NotFoundError, PluginError

ENTRY_POINT_GROUP = "berthub.models"
BUILTIN_SOURCE = "berthub (built-in)"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelEntry:
    """One registered name: where its files are and how its tokenizer is set up."""

    name: str
    repo_id: str | None = None  # namespaced hub repo, e.g. "google-bert/bert-base-uncased"
    revision: str = "main"  # branch, tag or commit of repo_id
    url: str | None = None  # http(s) URL of a .tar.gz / .zip archive, instead of repo_id
    sha256: str | None = None  # of the archive at url; checked after download
    do_lower_case: bool = True
    max_len: int = 512
    description: str = ""
    source: str = BUILTIN_SOURCE  # distribution that registered it; set by the registry


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
        "12-layer, 768-hidden, 12-heads, 110M parameters; 102 languages, lower-cased (original release)",
    ),
    _google(
        "bert-base-multilingual-cased",
        False,
        "12-layer, 768-hidden, 12-heads, 110M parameters; 104 languages, cased (recommended multilingual)",
    ),
    _google(
        "bert-base-chinese",
        True,
        "12-layer, 768-hidden, 12-heads, 110M parameters; Chinese (simplified and traditional)",
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

_registry: dict[str, ModelEntry] | None = None


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style `pattern` (e.g. "bert-large-*"), sorted.

    >>> "bert-base-chinese" in list_models()
    True
    """
    return sorted(name for name in _entries() if fnmatch.fnmatchcase(name, pattern))


def model_entry(name: str) -> ModelEntry:
    """The entry registered as `name`; an unknown name raises NotFoundError naming the closest ones."""
    entries = _entries()
    if name in entries:
        return entries[name]
    raise NotFoundError(unknown_name_message(name, entries))


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
    entries = _entries()
    registered = _validated(entry, "berthub.registry.register()", ConfigError)
    _add(entries, registered)
    return registered


def reload() -> None:
    """Forget the registry so the next call reads built-ins and entry points again (after installs)."""
    global _registry
    _registry = None


def _entries() -> dict[str, ModelEntry]:
    global _registry
    if _registry is None:
        entries: dict[str, ModelEntry] = {}
        for entry in BUILTIN_MODELS:
            _add(entries, _validated(entry, BUILTIN_SOURCE, ConfigError))
        for source, loaded in _plugin_objects():
            for entry in _as_entries(loaded, source):
                _add(entries, _validated(entry, source, PluginError))
        _registry = entries
    return _registry


def _plugin_objects() -> Iterable[tuple[str, Any]]:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        source = f"{dist} (entry point '{ep.name}' = {ep.value})"
        try:
            loaded = ep.load()
        except Exception as error:
            raise PluginError(
                f"The {ENTRY_POINT_GROUP} plugin {source} failed to load: {type(error).__name__}: {error}. "
                f"Fix or uninstall '{dist}'."
            ) from error
        yield source, loaded


def _as_entries(loaded: Any, source: str) -> list[ModelEntry]:
    items = list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
    wrong = [type(item).__name__ for item in items if not isinstance(item, ModelEntry)]
    if wrong or not items:
        raise PluginError(
            f"The {ENTRY_POINT_GROUP} plugin {source} must point to a berthub.registry.ModelEntry or a "
            f"non-empty list of them; got {', '.join(wrong) or 'an empty list'}."
        )
    return items


def _validated(entry: ModelEntry, source: str, error_class: type[Exception]) -> ModelEntry:
    problems = _problems(entry)
    if problems:
        raise error_class(f"Model entry '{entry.name}' from {source} is invalid: {'; '.join(problems)}.")
    return replace(entry, source=source)


def _problems(entry: ModelEntry) -> list[str]:
    problems = []
    if not isinstance(entry.name, str) or not _NAME.match(entry.name):
        problems.append(f"name {entry.name!r} must be letters, digits, '.', '_' or '-' (no '/')")
    if (entry.repo_id is None) == (entry.url is None):
        problems.append("exactly one of repo_id or url must be given")
    if entry.repo_id is not None and not _REPO_ID.match(str(entry.repo_id)):
        problems.append(f"repo_id {entry.repo_id!r} must be 'namespace/name'")
    if entry.url is not None and not str(entry.url).startswith(("http://", "https://")):
        problems.append(f"url {entry.url!r} must start with http:// or https://")
    if entry.sha256 is not None and not _SHA256.match(str(entry.sha256)):
        problems.append("sha256 must be 64 lower-case hex digits")
    if not isinstance(entry.revision, str) or not entry.revision:
        problems.append("revision must be a non-empty string")
    if not isinstance(entry.do_lower_case, bool):
        problems.append(f"do_lower_case must be True or False, got {entry.do_lower_case!r}")
    if not isinstance(entry.max_len, int) or isinstance(entry.max_len, bool) or entry.max_len <= 0:
        problems.append(f"max_len must be a positive integer, got {entry.max_len!r}")
    return problems


def _add(entries: dict[str, ModelEntry], entry: ModelEntry) -> None:
    if entry.name in entries:
        raise PluginError(
            f"Model name '{entry.name}' is registered twice: by {entries[entry.name].source} and by "
            f"{entry.source}. Uninstall one of them or ask its author to rename the entry."
        )
    entries[entry.name] = entry
