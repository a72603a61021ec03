"""Writing revisions: `preupload` (regular or LFS upload per file) and `commit` (ndjson operations).

A commit names its regular files inline (base64) and its LFS files by sha256; the LFS content must
have been uploaded before, or the commit is refused. The new commit is built on the branch head
under the repo's lock, so two clients committing at once both land, one after the other.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from berthub.server.errors import BadRequest, PayloadTooLarge
from berthub.server.http import base_url, hub_of, resolved, writer
from berthub.server.names import SHA256, validate_commit_text, validate_path, validate_repo_id
from berthub.server.objects import AddFile, DeletePath, FileEntry, Operation
from berthub.server.payload import field, json_object

# Files that are always stored in LFS, whatever their first bytes look like.
_LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".ckpt", ".msgpack", ".onnx", ".pt", ".pth", ".pkl",
                 ".npz", ".npy", ".tflite", ".ot", ".gz", ".zip", ".tar", ".model", ".index")
_LFS_MIN_SIZE = 10 * 1024 * 1024


def _repo_id(request: Request) -> str:
    return validate_repo_id(f"{request.path_params['org']}/{request.path_params['name']}")


def wants_lfs(path: str, size: int, sample: bytes) -> bool:
    """Large, binary-looking or weight files go through LFS; small text files inline in the commit."""
    return size >= _LFS_MIN_SIZE or b"\x00" in sample or path.lower().endswith(_LFS_SUFFIXES)


async def preupload(request: Request) -> Response:
    """POST .../preupload/{revision}: upload mode per file, and the oid of what is there already."""
    repo_id = _repo_id(request)
    writer(request)
    commit = await resolved(request, repo_id, request.path_params["revision"])
    body = json_object(await request.body() or b"{}", "preupload ({'files': [{'path', 'size', 'sample'}]})")
    answers = []
    for item in field(body, "files", list, "preupload", []):
        if not isinstance(item, dict):
            raise BadRequest("preupload: each file must be an object {'path', 'size' (integer), 'sample'}.")
        path = validate_path(field(item, "path", str, "preupload"))
        size = field(item, "size", int, f"preupload of '{path}'", 0)
        try:
            sample = base64.b64decode(field(item, "sample", str, f"preupload of '{path}'", ""), validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"preupload: 'sample' of '{path}' is not base64.") from None
        mode = "lfs" if wants_lfs(path, size, sample) else "regular"
        existing = commit.files.get(path)
        oid = None
        if existing is not None and existing.lfs == (mode == "lfs"):
            oid = existing.sha256 if existing.lfs else existing.oid
        answers.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
    return JSONResponse({"files": answers, "commitOid": commit.id})


def _parse_operation(key: str, value: dict[str, Any], storage: Any, max_size: int) -> Operation:
    path = field(value, "path", str, f"Commit operation '{key}'")
    path = validate_path(path.rstrip("/") if key == "deletedFolder" else path)
    what = f"Commit: file '{path}'"
    if key == "file":
        if field(value, "encoding", str, what, "base64") != "base64":
            raise BadRequest(f"Commit: file '{path}' must be base64-encoded.")
        try:
            data = base64.b64decode(field(value, "content", str, what, ""), validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"Commit: content of '{path}' is not valid base64.") from None
        if len(data) > max_size:
            raise PayloadTooLarge(f"Commit: file '{path}' is {len(data)} bytes, over this hub's upload limit of "
                                  f"{max_size} bytes (`berthub serve --max-upload-size`).")
        storage.put_bytes(data)
        return AddFile(FileEntry.regular(path, data))
    if key == "lfsFile":
        oid, size = field(value, "oid", str, what), field(value, "size", int, what)
        if field(value, "algo", str, what, "sha256") != "sha256" or not SHA256.fullmatch(oid) or size < 0:
            raise BadRequest(f"Commit: LFS file '{path}' needs algo 'sha256', a 64-hex 'oid' and a 'size'.")
        if size > max_size:
            raise PayloadTooLarge(f"Commit: LFS file '{path}' is {size} bytes, over this hub's upload limit of "
                                  f"{max_size} bytes.")
        return AddFile(FileEntry.large(path, oid, size))
    if key in ("deletedFile", "deletedFolder"):
        return DeletePath(path, folder=key == "deletedFolder")
    raise BadRequest(f"Commit: unknown operation '{key}'; expected file, lfsFile, deletedFile or deletedFolder.")


def _parse_commit(payload: bytes, storage: Any, max_size: int) -> tuple[dict[str, Any], list[Operation]]:
    header: dict[str, Any] | None = None
    operations: list[Operation] = []
    for number, line in enumerate(payload.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (ValueError, KeyError, TypeError, RecursionError):
            raise BadRequest(f"Commit payload line {number} is not a {{'key', 'value'}} JSON object.") from None
        if not isinstance(value, dict):
            raise BadRequest(f"Commit payload line {number}: 'value' must be a JSON object.")
        if key == "header":  # HfApi sends it first: checked before any file is stored
            header = _header(value)
        else:
            operations.append(_parse_operation(key, value, storage, max_size))
    if header is None:
        raise BadRequest("Commit payload needs a 'header' line with a non-empty 'summary' (the commit title).")
    return header, operations


def _header(value: dict[str, Any]) -> dict[str, Any]:
    """The commit header's fields, typed: summary (the title), description, parentCommit."""
    header = {"summary": field(value, "summary", str, "Commit header", ""),
              "description": field(value, "description", str, "Commit header", ""),
              "parentCommit": field(value, "parentCommit", str, "Commit header", None)}
    validate_commit_text(header["summary"], header["description"])
    return header


async def commit(request: Request) -> Response:
    """POST .../commit/{revision}: apply the operations on top of the branch; returns the commit."""
    repo_id = _repo_id(request)
    user = writer(request)
    if request.query_params.get("create_pr") in ("1", "true"):
        raise BadRequest("This hub has no pull requests: commit to a branch directly (create_pr=False).")
    hub = hub_of(request)
    storage = hub.storage
    storage.repo(repo_id)
    payload = await request.body()  # bounded by --max-commit-size (server.guards)
    header, operations = await run_in_threadpool(_parse_commit, payload, storage, hub.config.max_upload_size)
    new = await run_in_threadpool(
        storage.apply, repo_id, request.path_params["revision"], operations, title=header["summary"],
        message=header["description"], author=user, parent=header["parentCommit"] or None)
    return JSONResponse({"success": True, "commitOid": new.id, "commitUrl": f"{base_url(request)}/{repo_id}/commit/"
                         f"{new.id}", "hookOutput": "", "pullRequestUrl": None})


routes = [
    Route("/api/models/{org}/{name}/preupload/{revision}", preupload, methods=["POST"]),
    Route("/api/models/{org}/{name}/commit/{revision}", commit, methods=["POST"]),
]
