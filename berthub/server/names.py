"""Validation of what clients name: repo ids, file paths inside a repo, branch and tag names.

Everything a client names ends up in a filesystem path or an HTML page, so names are checked against
an allow-list before they are used: traversal (`..`, absolute paths, backslashes, NUL) never reaches
the disk, and ids are always `namespace/name` like on the public hub.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from berthub.server.errors import BadRequest

_SEGMENT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# First path segments that the server's own routes use: an org with one of these names would be
# unreachable from the web pages.
RESERVED_NAMESPACES = frozenset({"api", "static", "models", "datasets", "spaces", "health",
                                 "login", "logout", "settings", "organizations"})
MAX_PATH_LENGTH = 1000


def validate_repo_id(repo_id: str) -> str:
    """`namespace/name` with safe characters; anything else is a 400 that says what is allowed."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2:
        raise BadRequest(
            f"Invalid repo id '{repo_id}': repo ids are namespaced, 'namespace/name' "
            "(for example 'google-bert/bert-base-uncased')."
        )
    for part in parts:
        if not _SEGMENT.match(part) or ".." in part or "--" in part or part.endswith(".git"):
            raise BadRequest(
                f"Invalid repo id '{repo_id}': each part must be 1-96 letters, digits, '.', '_' or '-', "
                "start and end with a letter or digit, and contain no '..', '--' or '.git' suffix."
            )
    if parts[0].lower() in RESERVED_NAMESPACES:
        raise BadRequest(f"Invalid repo id '{repo_id}': '{parts[0]}' is reserved by the server; pick another "
                         "namespace.")
    return repo_id


def validate_path(path: str) -> str:
    """A relative POSIX path inside a repo, refused if it could escape the repo or confuse git."""
    problem = _path_problem(path)
    if problem:
        raise BadRequest(f"Invalid file path {path!r}: {problem}.")
    return path


def _path_problem(path: str) -> str | None:
    if not isinstance(path, str) or not path:
        return "it is empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"it is longer than {MAX_PATH_LENGTH} characters"
    if "\x00" in path or any(ord(char) < 32 for char in path):
        return "it contains NUL or control characters"
    if "\\" in path:
        return "it contains a backslash; use '/' between folders"
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "it is absolute; paths are relative to the repo root"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it has an empty, '.' or '..' segment"
    if parts[0] == ".git" or ".git" in parts:
        return "'.git' folders cannot be written"
    return None


def validate_ref_name(name: str, kind: str = "revision", *, new: bool = False) -> str:
    """Branch or tag names: one path segment, so a revision in a URL is never ambiguous.

    `new`: the name is about to be created, and may then not look like a commit id either (a branch
    named like a 40-hex id would shadow, or be shadowed by, that commit).
    """
    if not isinstance(name, str) or not _REF.match(name) or ".." in name or name.endswith(".lock"):
        raise BadRequest(
            f"Invalid {kind} name {name!r}: use 1-100 letters, digits, '.', '_' or '-' (no '/' or '..')."
        )
    if new and re.fullmatch(r"[0-9a-fA-F]{40}", name):
        raise BadRequest(f"Invalid {kind} name {name!r}: 40 hex digits read as a commit id; pick another name.")
    return name


def validate_tree(paths: Iterable[str]) -> None:
    """A path cannot be a file and a folder at once (`cfg` and `cfg/x`): no checkout could hold both,
    and snapshot_download would silently drop one of them."""
    files = set(paths)
    for path in files:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in files:
                raise BadRequest(f"Commit refused: '{folder}' would be both a file and the folder of '{path}'. "
                                 "Delete or rename one of them in the same commit.")
