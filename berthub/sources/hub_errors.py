"""huggingface_hub's and the HTTP clients' exceptions -> berthub errors that say what to do.

The one place that reads hub failures: downloads (berthub.sources.hub_cache) and uploads
(berthub.sources.publish) both translate through here, so a status code means the same everywhere.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterator
from typing import Protocol

from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from berthub.errors import AuthError, NetworkError, NotFoundError
from berthub.sources.settings import HubSettings


class Repo(Protocol):
    """What a message needs of a hub lookup (berthub.sources.hub_cache's _Repo)."""

    repo_id: str
    settings: HubSettings


def status_of(error: HfHubHTTPError) -> int:
    response = getattr(error, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def translated(error: HfHubHTTPError, repo: Repo, filename: str) -> Exception:
    status, where = status_of(error), f"on {repo.settings.endpoint}"
    if isinstance(error, GatedRepoError):
        page = f"{repo.settings.endpoint.rstrip('/')}/{repo.repo_id}"
        then = "use a token of that account" if repo.settings.token else "set BERTHUB_TOKEN to a token of that account"
        return AuthError(f"{repo} {where} is gated: its files are shared on request. Sign in and request access on "
                         f"{page}, then {then} (HTTP {status}).")
    if status in (401, 403):
        hint = "the token was refused: check it" if repo.settings.token else "set BERTHUB_TOKEN (or pass token=)"
        return AuthError(
            f"{repo} {where} needs a token with access (HTTP {status}): {hint}. "
            "A repo that does not exist can also answer this way: check the name."
        )
    if isinstance(error, RevisionNotFoundError):
        return NotFoundError(f"{repo} {where}: no such revision. Check the branch, tag or commit.")
    if isinstance(error, RepositoryNotFoundError) or (status == 404 and not isinstance(error, EntryNotFoundError)):
        return NotFoundError(
            f"No repository '{repo.repo_id}' {where} (HTTP {status}): check the repo id; `berthub models` lists names."
        )
    if isinstance(error, EntryNotFoundError):
        return NotFoundError(f"{repo} {where} has no file {filename}.")
    return NetworkError(f"The hub {repo.settings.endpoint} answered HTTP {status} for {repo}: {error}")


def network_error(repo: Repo, reason: str, missing: str | None = None) -> NetworkError:
    cached = f", and its {missing} is not in the cache {repo.settings.cache_dir}" if missing else ""
    return NetworkError(
        f"Cannot reach the hub at {repo.settings.endpoint} for {repo} ({reason}){cached}. Check your connection "
        "or proxy (HTTPS_PROXY). Once `berthub download NAME` has filled the cache, loads work without the "
        "network, and BERTHUB_OFFLINE=1 makes them skip it entirely."
    )


@functools.cache
def transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "no usable connection", whichever HTTP client huggingface_hub is built on."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


@contextlib.contextmanager
def push_errors(repo_id: str, endpoint: str) -> Iterator[None]:
    """huggingface_hub / transport errors -> berthub errors that say what to do."""
    try:
        yield
    except RepositoryNotFoundError as error:
        raise NotFoundError(f"Cannot push to '{repo_id}' on {endpoint}: the hub says the repo does not exist "
                            f"and could not be created ({error.server_message or error}).") from error
    except HfHubHTTPError as error:
        status, reason = status_of(error), error.server_message or str(error).splitlines()[0]
        if status in (401, 403):
            raise AuthError(f"{endpoint} refused the push to '{repo_id}' ({status}): {reason.rstrip('.')}. "
                            "Set BERTHUB_TOKEN "
                            "(or HF_TOKEN) to a write token of that hub.") from error
        raise NetworkError(f"Push to '{repo_id}' on {endpoint} failed ({status}): {reason}") from error
    except transport_errors() as error:
        raise NetworkError(f"Cannot reach the hub at {endpoint} to push '{repo_id}': {error}. Is the URL right "
                           "and the server (`berthub serve`) running?") from error
