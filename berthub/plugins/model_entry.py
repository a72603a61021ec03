"""ModelEntry: what a `berthub.models` entry point registers, a short name and where its files live.

Plugin authors point an entry point of group `berthub.models` at a ModelEntry or a list of them
(docs/plugins.md); berthub.sources.registry reads the group and keeps the table of names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BUILTIN_SOURCE = "berthub (built-in)"

# Matched against the whole string (fullmatch): "$" would also accept a name ending in a newline.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ModelEntry:
    """One registered name: where its files are and how its tokenizer is set up.

    name: the short name users type ("my-bert-small"): letters, digits, '.', '_', '-', no '/'.
    repo_id / revision: a namespaced hub repo ("my-org/my-bert-small") and its branch, tag or commit;
    url / sha256: instead of repo_id, the http(s) URL of a .tar.gz / .zip archive and its optional sha256.
    do_lower_case, max_len: the tokenizer's settings for this model.
    description: one line for `berthub models`. source: who registered it (set by the registry).
    """

    name: str
    repo_id: str | None = None  # namespaced hub repo, e.g. "google-bert/bert-base-uncased"
    revision: str = "main"  # branch, tag or commit of repo_id
    url: str | None = None  # http(s) URL of a .tar.gz / .zip archive, instead of repo_id
    sha256: str | None = None  # of the archive at url; checked after download
    do_lower_case: bool = True
    max_len: int = 512
    description: str = ""
    source: str = BUILTIN_SOURCE  # distribution that registered it; set by the registry


def entry_problems(entry: ModelEntry) -> list[str]:
    """Everything wrong with `entry`, each with the rule it breaks; [] when it is valid."""
    problems = []
    if not isinstance(entry.name, str) or not _NAME.fullmatch(entry.name):
        problems.append(f"name {entry.name!r} must be letters, digits, '.', '_' or '-' (no '/')")
    if (entry.repo_id is None) == (entry.url is None):
        problems.append("exactly one of repo_id or url must be given")
    if entry.repo_id is not None and not _REPO_ID.fullmatch(str(entry.repo_id)):
        problems.append(f"repo_id {entry.repo_id!r} must be 'namespace/name'")
    if entry.url is not None and not str(entry.url).startswith(("http://", "https://")):
        problems.append(f"url {entry.url!r} must start with http:// or https://")
    if entry.sha256 is not None and not _SHA256.fullmatch(str(entry.sha256)):
        problems.append("sha256 must be 64 lower-case hex digits")
    if not isinstance(entry.revision, str) or not entry.revision:
        problems.append("revision must be a non-empty string")
    if not isinstance(entry.do_lower_case, bool):
        problems.append(f"do_lower_case must be True or False, got {entry.do_lower_case!r}")
    if not isinstance(entry.max_len, int) or isinstance(entry.max_len, bool) or entry.max_len <= 0:
        problems.append(f"max_len must be a positive integer, got {entry.max_len!r}")
    return problems
