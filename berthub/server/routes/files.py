"""File transfer: `/resolve` downloads (HEAD metadata, GET with Range) and git-LFS basic uploads.

Downloads carry the headers huggingface_hub's cache relies on: X-Repo-Commit (which commit the
revision resolved to), ETag (git oid, or sha256 for LFS files, which then also get X-Linked-Etag and
X-Linked-Size) and Content-Length. The bytes come from the object store: a blob on local disk is sent
as a file, one in S3 is streamed through the hub, or, with `--redirect-downloads`, a GET answers 302 to
a short-lived presigned URL of the object (HEAD still answers here, so metadata never leaves the hub).
A file of a mirrored repo whose content is not held yet is fetched from the upstream first
(server.mirror).

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
from berthub.server.http import authorize, base_url, hub_of, prefetched, resolved, writer
from berthub.server.names import SHA256, validate_path, validate_repo_id
from berthub.server.objects import FileEntry
from berthub.server.objectstore.base import blob_key
from berthub.server.objectstore.reading import StoreStream, StreamResponse

UPLOAD_URL_TTL_S = 3600
PRESIGNED_URL_TTL_S = 600  # a redirected download must start within this; it may then take as long as it needs
_WRITE_BLOCK = 1024**2  # LFS uploads are written to the store in blocks of this, on worker threads
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
    meta = prefetched(request, repo_id)
    if meta is not None and meta.mirrored:
        await run_in_threadpool(storage.ensure_content, meta, commit.id, entry)
    return await _content(request, entry, headers, media_type)


async def _content(request: Request, entry: FileEntry, headers: dict[str, str], media_type: str) -> Response:
    """The bytes of a file: its blob on disk, streamed from object storage, or a redirect to it."""
    hub = hub_of(request)
    store, key = hub.storage.objects, blob_key(entry.sha256)
    path = store.local_path(key)
    if path is not None:
        try:
            return BlobResponse(path, headers=headers, media_type=media_type, stat_result=os.stat(path))
        except FileNotFoundError:
            raise _missing(entry) from None
    if hub.config.redirect_downloads:
        url = store.presigned_url(key, PRESIGNED_URL_TTL_S, disposition=headers.get("Content-Disposition"),
                                  media_type=media_type)
        return Response(status_code=302, headers={**headers, "Location": url})
    info = await run_in_threadpool(store.info, key)
    if info is None:
        raise _missing(entry)
    return StreamResponse(lambda: StoreStream(store, key), info.size, info.modified, f"/{key}", headers=headers,
                          media_type=media_type)


def _missing(entry: FileEntry) -> EntryNotFound:
    return EntryNotFound(f"The content {entry.sha256} of '{entry.path}' is missing from the hub's storage; upload "
                         "it again.")


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
    missing = await run_in_threadpool(lambda: {oid: size for oid, size in objects
                                                if not hub.storage.has_blob(oid, size)})
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
    if await run_in_threadpool(storage.has_blob, oid, size):
        return JSONResponse({})
    writer_ = storage.blob_writer(expected_sha256=oid, expected_size=size)
    block, received = bytearray(), 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > size:
                raise BadRequest(f"Upload of {oid} sent more than the {size} bytes it announced.")
            block += chunk
            if len(block) >= _WRITE_BLOCK:  # S3 parts go over the network: never on the event loop
                await run_in_threadpool(writer_.write, bytes(block))
                block.clear()
        await run_in_threadpool(writer_.write, bytes(block))
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
            and await run_in_threadpool(hub_of(request).storage.has_blob, oid, size)):
        raise BadRequest(f"LFS verify: object {oid} ({size} bytes) is not stored on this hub; upload it again.")
    return JSONResponse({})


routes = [
    Route("/{org}/{name}/resolve/{revision}/{path:path}", resolve, methods=["GET", "HEAD"]),
    Route("/{org}/{name}.git/info/lfs/objects/batch", lfs_batch, methods=["POST"]),
    Route("/api/lfs/objects/{oid}", lfs_upload, methods=["PUT"]),
    Route("/api/lfs/verify", lfs_verify, methods=["POST"]),
]
