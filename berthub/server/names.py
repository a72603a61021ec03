"""The one check of everything a client names: repo ids, file paths, branch and tag names, commit text.

Everything a client names ends up in a filesystem path, an HTML page or another client's checkout, so
names are checked against an allow-list before they are used, always on the whole string
(`re.fullmatch`: `$` would also match before a trailing newline):

- repo ids are `namespace/name` of ASCII letters, digits, `.`, `_`, `-`, as on the public hub;
- branch and tag names are one such segment, neither a reserved git name (`HEAD`, ...) nor 40 hex
  digits (it would read as a commit id);
- file paths are relative and may not escape the repo (`..`, absolute, backslash), hold control or
  invisible format characters (Unicode categories Cc, Cf, Cs, Zl, Zp: NUL, DEL, C1, bidi overrides,
  zero-width characters), or name git's own folder in any spelling a checkout would take for it
  (`.GIT`, `.git.`, `.git `, `git~1`: the CVE-2014-9390 class);
- a tree may not hold two paths that one case-insensitive or normalising filesystem (Windows, macOS)
  would take for one (`README.md` / `readme.md`, `café` in NFC and NFD), nor a path that is a file and
  a folder at once;
- commit titles and messages have a size limit: history is served to anonymous readers.

New features that accept names (accounts, organisations, Xet, storage keys) check them here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from berthub.server.errors import BadRequest

_SEGMENT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
COMMIT_ID = re.compile(r"[0-9a-f]{40}")
SHA256 = re.compile(r"[0-9a-f]{64}")
# git's own folder as Windows (trailing dots and spaces dropped, 8.3 short name, `::$INDEX_ALLOCATION`
# stream) and macOS (case) checkouts would read it.
_GIT_DIR = re.compile(r"(?:\.git|git~1)[. ]*(?::.*)?", re.IGNORECASE | re.DOTALL)
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# First path segments that the server's own routes use: an org with one of these names would be
# unreachable from the web pages.
RESERVED_NAMESPACES = frozenset({"api", "static", "models", "datasets", "spaces", "health",
                                 "login", "logout", "settings", "organizations"})
# Names git gives a meaning of its own: a branch called HEAD would shadow, or be shadowed by, it.
RESERVED_REFS = frozenset({"head", "fetch_head", "orig_head", "merge_head", "cherry_pick_head", "revert_head",
                           "bisect_head", "auto_merge"})
MAX_PATH_LENGTH = 1000
MAX_COMMIT_TITLE = 1000  # characters: git's one-line summary
MAX_COMMIT_MESSAGE = 64 * 1024  # characters of the description


def validate_repo_id(repo_id: str) -> str:
    """`namespace/name` with safe characters; anything else is a 400 that says what is allowed."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2:
        raise BadRequest(
            f"Invalid repo id {repo_id!r}: repo ids are namespaced, 'namespace/name' "
            "(for example 'google-bert/bert-base-uncased')."
        )
    for part in parts:
        if not _SEGMENT.fullmatch(part) or ".." in part or "--" in part or part.lower().endswith(".git"):
            raise BadRequest(
                f"Invalid repo id {repo_id!r}: each part must be 1-96 letters, digits, '.', '_' or '-', "
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
    invisible = next((char for char in path if unicodedata.category(char) in _INVISIBLE), None)
    if invisible is not None:
        return (f"it contains the control or invisible character U+{ord(invisible):04X} "
                f"({unicodedata.name(invisible, unicodedata.category(invisible))})")
    if "\\" in path:
        return "it contains a backslash; use '/' between folders"
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        return "it is absolute; paths are relative to the repo root"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it has an empty, '.' or '..' segment"
    if any(_GIT_DIR.fullmatch(part) for part in parts):
        return "'.git' folders cannot be written, in any letter case or spelling a checkout reads as '.git'"
    return None


def validate_ref_name(name: str, kind: str = "revision", *, new: bool = False) -> str:
    """Branch or tag names: one path segment, so a revision in a URL is never ambiguous.

    `new`: the name is about to be created, and may then neither be one git reserves (`HEAD`) nor look
    like a commit id (a branch named like a 40-hex id would shadow, or be shadowed by, that commit).
    """
    if not isinstance(name, str) or not _REF.fullmatch(name) or ".." in name or name.lower().endswith(".lock"):
        raise BadRequest(
            f"Invalid {kind} name {name!r}: use 1-100 letters, digits, '.', '_' or '-' (no '/' or '..', "
            "no '.lock' suffix)."
        )
    if new and name.lower() in RESERVED_REFS:
        raise BadRequest(f"Invalid {kind} name {name!r}: git reserves it; pick another name.")
    if new and re.fullmatch(r"[0-9a-fA-F]{40}", name):
        raise BadRequest(f"Invalid {kind} name {name!r}: 40 hex digits read as a commit id; pick another name.")
    return name


def validate_commit_text(title: str, message: str) -> None:
    """A commit's title (non-empty) and message, within MAX_COMMIT_TITLE / MAX_COMMIT_MESSAGE."""
    if not title.strip():
        raise BadRequest("Commit payload needs a 'header' line with a non-empty 'summary' (the commit title).")
    if len(title) > MAX_COMMIT_TITLE:
        raise BadRequest(f"Commit title is {len(title)} characters, over this hub's limit of {MAX_COMMIT_TITLE}; "
                         "put the details in the description.")
    if len(message) > MAX_COMMIT_MESSAGE:
        raise BadRequest(f"Commit description is {len(message)} characters, over this hub's limit of "
                         f"{MAX_COMMIT_MESSAGE}; put long text in a file of the repo.")


def fold(path: str) -> str:
    """The spelling case-insensitive, normalising filesystems store `path` under (NFC, case-folded)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


def validate_tree(paths: Iterable[str]) -> None:
    """Refuse a tree no checkout could hold: a path that is both a file and a folder (`cfg` and `cfg/x`;
    snapshot_download would silently drop one), or two paths, or folders, that Windows and macOS take
    for one (`README.md` and `readme.md`, NFC and NFD spellings of `café`)."""
    files = set(paths)
    spellings: dict[str, str] = {}  # folded file or folder path -> its spelling in this tree
    for path in sorted(files):
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if depth < len(parts) and prefix in files:
                raise BadRequest(f"Commit refused: '{prefix}' would be both a file and the folder of '{path}'. "
                                 "Delete or rename one of them in the same commit.")
            seen = spellings.setdefault(fold(prefix), prefix)
            if seen != prefix:
                raise BadRequest(f"Commit refused: {seen!r} and {prefix!r} differ only in letter case or Unicode "
                                 "normalisation, so Windows and macOS checkouts would hold only one of them. "
                                 "Rename or delete one of them in the same commit.")
