"""The hub's disk: free space, the reserve writes leave free, and what a failed write answers.

A write that fails (ENOSPC, a quota, EIO, a killed request) removes what it started: nothing stays in
tmp/, so the hub keeps serving reads and takes writes again as soon as space returns, without a
restart. Writes are refused up front with 507 when they would leave less than the reserve
(`berthub serve --min-free-space`): an LFS upload announces its size, a commit, branch, tag or new
repo needs the reserve itself. A write that runs out of space anyway answers 507 too, any other
storage failure 503, each in one line; `/api/health` says when the disk is below the reserve.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from berthub.server.errors import HubError, InsufficientStorage, StorageUnavailable

DEFAULT_MIN_FREE = 100 * 1024**2
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def free_bytes(path: str | os.PathLike) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding `path`."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def check_room(path: str | os.PathLike, needed: int, reserve: int, what: str) -> None:
    """507 unless writing `needed` bytes under `path` leaves at least `reserve` bytes free."""
    check_free(free_bytes(path), needed, reserve, what)


def check_free(free: int, needed: int, reserve: int, what: str) -> None:
    """507 unless `free` bytes less `needed` leave at least `reserve`."""
    if free - needed < reserve:
        raise InsufficientStorage(
            f"{what}: refused, the hub's disk has {free} bytes free and keeps {reserve} in reserve "
            f"(`berthub serve --min-free-space`){f', this needs {needed}' if needed else ''}; nothing was stored. "
            "Retry once the operator has freed space.")


def storage_error(error: OSError, what: str) -> HubError:
    """The answer to a write or read the disk refused: 507 when it is full, 503 otherwise."""
    reason = error.strerror or type(error).__name__
    if error.errno in _FULL:
        return InsufficientStorage(f"{what}: the hub's disk is full ({reason}); nothing was stored. Retry once "
                                   "the operator has freed space.")
    return StorageUnavailable(f"{what}: the hub could not use its storage ({reason}); nothing was stored. "
                              "Retry later; if this persists, the operator should check the server's disk.")


def disk_health(path: str | os.PathLike, reserve: int) -> dict[str, Any]:
    """`disk` of /api/health: free bytes, the reserve, and whether writes are being refused for space."""
    free = free_bytes(path)
    return {"free_bytes": free, "reserve_bytes": reserve, "low": free < reserve}
