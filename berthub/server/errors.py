"""Errors the hub server answers with: each knows its HTTP status and the hub's `X-Error-Code`.

huggingface_hub turns `X-Error-Code` into its own exception types (RepositoryNotFoundError,
RevisionNotFoundError, EntryNotFoundError), so clients see the same errors as on the public hub.
"""

from __future__ import annotations

from berthub.errors import AuthError, BerthubError, InputError, NotFoundError


class HubError(BerthubError):
    """A request the hub refuses; `status` is the HTTP status, `code` the X-Error-Code header."""

    status = 400
    code: str | None = None

    def __init__(self, message: str, headers: dict[str, str] | None = None,
                 body: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}
        self.body = body or {}  # extra JSON fields some clients read from errors (e.g. "url" on 409)


class BadRequest(HubError, InputError):
    """Malformed request: invalid repo id, file path, payload or checksum."""


class RepoNotFound(HubError, NotFoundError):
    status = 404
    code = "RepoNotFound"


class RevisionNotFound(HubError, NotFoundError):
    status = 404
    code = "RevisionNotFound"


class EntryNotFound(HubError, NotFoundError):
    status = 404
    code = "EntryNotFound"


class Unauthorized(HubError, AuthError):
    """No credentials where a write needs them."""

    status = 401


class Forbidden(HubError, AuthError):
    """Credentials given but not valid on this hub."""

    status = 403


class Conflict(HubError):
    status = 409


class PreconditionFailed(HubError):
    """The branch moved since the commit the client based its change on."""

    status = 412


class PayloadTooLarge(HubError):
    status = 413


class GatedRepo(HubError, AuthError):
    """Files of a gated repo, asked for without accepted access (401 when anonymous, 403 otherwise)."""

    status = 403
    code = "GatedRepo"

    def __init__(self, message: str, anonymous: bool) -> None:
        super().__init__(message)
        self.status = 401 if anonymous else 403


class TooManyRequests(HubError):
    """A client over a rate limit (failed logins, unknown tokens); `Retry-After` says when to come back."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
class InsufficientStorage(HubError):
    """The hub's disk is full (ENOSPC, quota) or below its reserve: WebDAV's 507, nothing was stored."""

    status = 507
    code = "InsufficientStorage"


class StorageUnavailable(HubError):
    """The hub's storage failed a write or read for another reason (EIO, read-only): retry later."""

    status = 503
    code = "StorageUnavailable"
