"""The hub a mirror fetches from (`--mirror-of URL`), spoken to over the same HTTP API stock clients use.

Three calls: a revision's model info with its files (`?blobs=true`: sizes, LFS sha256s, git blob ids),
the header of a commit (`/commits/{sha}`: title, author, date, parent), and a file's bytes at a commit
(`/resolve/{sha}/{path}`, redirects followed, the token dropped on another host). Every answer is
bounded in time; an upstream that cannot be reached or answers 5xx raises `UpstreamUnavailable`
(the mirror then serves what it holds), one that says the repo or revision does not exist, or is not
for this token, answers None.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from berthub.server.errors import StorageUnavailable

CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 5.0, 60.0
MAX_JSON_BYTES = 64 * 1024**2  # the file list of a very large repo; more is refused
_BLOCK = 1024**2


class UpstreamUnavailable(StorageUnavailable):
    """The upstream hub could not be asked (down, unreachable, 5xx, malformed answer)."""


class UpstreamHub:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._session = requests.Session()
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def _get(self, path: str, **kwargs: Any) -> requests.Response | None:
        try:
            response = self._session.get(self.url + path, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), **kwargs)
        except requests.RequestException as error:
            raise UpstreamUnavailable(f"the upstream hub {self.url} cannot be reached ({type(error).__name__}); "
                                      "what this hub holds is still served.") from None
        if response.status_code in (401, 403, 404):
            return None
        if response.status_code >= 300:
            raise UpstreamUnavailable(f"the upstream hub {self.url} answered {response.status_code} to GET {path}.")
        return response

    def _json(self, path: str, **kwargs: Any) -> Any:
        response = self._get(path, stream=True, **kwargs)
        if response is None:
            return None
        body = response.raw.read(MAX_JSON_BYTES + 1, decode_content=True)
        if len(body) > MAX_JSON_BYTES:
            raise UpstreamUnavailable(f"the upstream hub {self.url} answered GET {path} with over {MAX_JSON_BYTES} "
                                      "bytes; refused.")
        try:
            return requests.models.complexjson.loads(body)
        except ValueError:
            raise UpstreamUnavailable(f"the upstream hub {self.url} answered GET {path} with no JSON.") from None

    def model_info(self, repo_id: str, revision: str) -> dict[str, Any] | None:
        found = self._json(f"/api/models/{repo_id}/revision/{quote(revision, safe='')}", params={"blobs": "true"})
        return found if isinstance(found, dict) else None

    def commit_header(self, repo_id: str, commit_id: str) -> dict[str, Any] | None:
        """The newest entry of the commit's history (and its parent's id as "parent"), or None."""
        found = self._json(f"/api/models/{repo_id}/commits/{commit_id}", params={"limit": 2})
        if not isinstance(found, list) or not found or not isinstance(found[0], dict):
            return None
        return {**found[0], "parent": found[1].get("id") if len(found) > 1 and isinstance(found[1], dict) else None}

    def tags(self, repo_id: str) -> set[str]:
        found = self._json(f"/api/models/{repo_id}/refs")
        tags = found.get("tags") if isinstance(found, dict) else None
        return {tag.get("name") for tag in tags if isinstance(tag, dict)} if isinstance(tags, list) else set()

    def download(self, repo_id: str, commit_id: str, path: str) -> Iterator[bytes]:
        """The file's bytes at `commit_id`, in blocks; FileNotFoundError when the upstream has no such file."""
        response = self._get(f"/{repo_id}/resolve/{commit_id}/{quote(path)}", stream=True)
        if response is None:
            raise FileNotFoundError(f"{repo_id}@{commit_id}/{path}")
        with response:
            try:
                yield from response.iter_content(_BLOCK)
            except requests.RequestException as error:
                raise UpstreamUnavailable(f"the upstream hub {self.url} stopped sending {path} "
                                          f"({type(error).__name__}).") from None
