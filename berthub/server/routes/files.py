"""File transfer: `/resolve` downloads (HEAD metadata, GET with Range) and git-LFS basic uploads.

Downloads carry the headers huggingface_hub's cache relies on: X-Repo-Commit (which commit the
revision resolved to), ETag (git oid, or sha256 for LFS files, which then also get X-Linked-Etag and
X-Linked-Size) and Content-Length. They are served directly, never redirected, so every client
(including browsers and curl without -L) gets the bytes from the first URL.

Uploads follow the LFS batch protocol with the "basic" transfer: the authenticated batch call hands
out a short-lived signed PUT URL on this server (huggingface_hub sends that PUT without credentials),
and the PUT streams the body to a temporary file while hashing it; only content whose sha256 and size
match what the client announced becomes a blob.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import os
import time
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from berthub.server.errors import BadRequest, EntryNotFound, Forbidden, PayloadTooLarge
from berthub.server.http import authorize, base_url, hub_of, resolved, writer
from berthub.server.names import SHA256, validate_path, validate_repo_id

UPLOAD_URL_TTL_S = 3600
_LFS_JSON = "application/vnd.git-lfs+json"
# Types a browser would execute or render with script: a repo's files of these types are only ever
# offered as downloads (besides the sandboxing CSP every file answer carries).
_ACTIVE_TYPES = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "application/xml", "text/xml",
                           "text/javascript", "application/javascript", "application/x-javascript",
                           "application/pdf", "application/x-shockwave-flash", "text/xsl"})


class BlobResponse(FileResponse):
    # 1 MiB reads instead of Starlette's 64 KiB: a 90 MB file is ~90 thread hops instead of ~1400.
    chunk_size = 1024 * 1024


def _repo_id(request: Request) -> str:
    return validate_repo_id(f"{request.path_params['org']}/{request.path_params['name']}")


async def resolve(request: Request) -> Response:
    """HEAD/GET /{org}/{name}/resolve/{revision}/{path}: a file of a revision, Range supported."""
    repo_id = _repo_id(request)
    path = request.path_params["path"]
    authorize(request, repo_id, "read")  # a gated repo's files need accepted access
    storage = hub_of(request).storage
    commit = await resolved(request, repo_id, request.path_params["revision"])
    entry = commit.files.get(path)  # a tree's paths were checked when committed: only a miss needs a check
    if entry is None:
        validate_path(path)
        raise EntryNotFound(f"File '{path}' not found in '{repo_id}' at revision {commit.id}.",
                            headers={"X-Repo-Commit": commit.id})
    headers = {"X-Repo-Commit": commit.id, "ETag": f'"{entry.etag}"', "Accept-Ranges": "bytes",
               "Access-Control-Expose-Headers": "X-Repo-Commit, X-Linked-Etag, X-Linked-Size, ETag"}
    if entry.lfs:
        headers["X-Linked-Etag"] = f'"{entry.sha256}"'
        headers["X-Linked-Size"] = str(entry.size)
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if media_type in _ACTIVE_TYPES or request.query_params.get("download") in ("1", "true", "True"):
        name = quote(path.rsplit("/", 1)[-1])
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    if request.method == "HEAD":
        # No file access at all: metadata requests are the hot path of every cached load.
        headers["Content-Length"] = str(entry.size)
        return Response(status_code=200, headers=headers, media_type=media_type)
    blob = storage.blob_path(entry.sha256)
    return BlobResponse(blob, headers=headers, media_type=media_type, stat_result=os.stat(blob))


def _sign(secret: bytes, oid: str, size: int, expires: int) -> str:
    return hmac.new(secret, f"{oid}:{size}:{expires}".encode(), hashlib.sha256).hexdigest()


def _objects(body: dict[str, Any], max_size: int) -> list[tuple[str, int]]:
    objects = body.get("objects")
    if body.get("operation") != "upload" or not isinstance(objects, list):
        raise BadRequest("LFS batch: only {'operation': 'upload', 'objects': [...]} is supported; download "
                         "files through /{repo_id}/resolve/{revision}/{path}.")
    parsed = []
    for item in objects:
        oid, size = (item.get("oid"), item.get("size")) if isinstance(item, dict) else (None, None)
        if not isinstance(oid, str) or not SHA256.fullmatch(oid) or not isinstance(size, int) \
                or isinstance(size, bool) or size < 0:
            raise BadRequest(f"LFS batch: object {item!r} needs a sha256 'oid' (64 hex) and an integer 'size'.")
        if size > max_size:
            raise PayloadTooLarge(f"LFS batch: object {oid} is {size} bytes, over this hub's upload limit of "
                                  f"{max_size} bytes (`berthub serve --max-upload-size`).")
        parsed.append((oid, size))
    return parsed


async def lfs_batch(request: Request) -> Response:
    """POST /{org}/{name}.git/info/lfs/objects/batch: where to PUT each object not stored yet."""
    repo_id = _repo_id(request)
    writer(request)
    hub = hub_of(request)
    hub.storage.repo(repo_id)
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        raise BadRequest("LFS batch expects a JSON body.") from None
    expires = int(time.time()) + UPLOAD_URL_TTL_S
    objects = _objects(body if isinstance(body, dict) else {}, hub.config.max_upload_size)
    missing = {oid: size for oid, size in objects if not hub.storage.has_blob(oid, size)}
    hub.storage.check_room(sum(missing.values()), f"LFS upload of {len(missing)} file(s) to '{repo_id}'")
    answers = []
    for oid, size in objects:
        answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
        if oid in missing:
            signature = _sign(hub.secret, oid, size, expires)
            href = f"{base_url(request)}/api/lfs/objects/{oid}?size={size}&expires={expires}&sig={signature}"
            answer["actions"] = {
                "upload": {"href": href, "expires_in": UPLOAD_URL_TTL_S},
                "verify": {"href": f"{base_url(request)}/api/lfs/verify", "expires_in": UPLOAD_URL_TTL_S},
            }
        answers.append(answer)
    return JSONResponse({"transfer": "basic", "objects": answers, "hash_algo": "sha256"},
                        media_type=_LFS_JSON)


def _check_signature(request: Request, oid: str) -> int:
    query = request.query_params
    try:
        size, expires = int(query["size"]), int(query["expires"])
    except (KeyError, ValueError):
        raise Forbidden("Upload URL is incomplete: ask the LFS batch endpoint for a fresh one.") from None
    expected = _sign(hub_of(request).secret, oid, size, expires)
    if not hmac.compare_digest(expected, query.get("sig", "")) or expires < time.time():
        raise Forbidden("Upload URL signature is invalid or expired: ask the LFS batch endpoint for a new one.")
    return size


async def lfs_upload(request: Request) -> Response:
    """PUT /api/lfs/objects/{oid}: stream, hash, verify sha256 + size, then publish the blob."""
    oid = request.path_params["oid"]
    if not SHA256.fullmatch(oid):
        raise BadRequest(f"Upload URL names {oid!r}, which is not a sha256.")
    size = _check_signature(request, oid)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) != size:
        raise BadRequest(f"Upload of {oid} announced {size} bytes but Content-Length is {declared}.")
    storage = hub_of(request).storage
    if storage.has_blob(oid, size):
        return JSONResponse({})
    writer_ = storage.blob_writer(expected_sha256=oid, expected_size=size)
    try:
        async for chunk in request.stream():
            if writer_.size + len(chunk) > size:
                raise BadRequest(f"Upload of {oid} sent more than the {size} bytes it announced.")
            writer_.write(chunk)
    except BaseException:  # client gone, too many bytes, server stopping: nothing may be published
        writer_.abort()
        raise
    await run_in_threadpool(writer_.finish)
    return JSONResponse({})


async def lfs_verify(request: Request) -> Response:
    writer(request)
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        body = None
    oid, size = (body.get("oid"), body.get("size")) if isinstance(body, dict) else (None, None)
    if not (isinstance(oid, str) and SHA256.fullmatch(oid) and isinstance(size, int)
            and hub_of(request).storage.has_blob(oid, size)):
        raise BadRequest(f"LFS verify: object {oid} ({size} bytes) is not stored on this hub; upload it again.")
    return JSONResponse({})


routes = [
    Route("/{org}/{name}/resolve/{revision}/{path:path}", resolve, methods=["GET", "HEAD"]),
    Route("/{org}/{name}.git/info/lfs/objects/batch", lfs_batch, methods=["POST"]),
    Route("/api/lfs/objects/{oid}", lfs_upload, methods=["PUT"]),
    Route("/api/lfs/verify", lfs_verify, methods=["POST"]),
]
