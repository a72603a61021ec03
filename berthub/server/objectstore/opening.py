"""Which object store `--storage` names: a folder (default: under --root) or `s3://bucket/prefix`."""

from __future__ import annotations

from pathlib import Path

from berthub.errors import ConfigError
from berthub.server.objectstore.base import ObjectStore


def open_store(spec: str | None, root: Path) -> ObjectStore:
    """The store `--storage` names: None or a folder -> local disk, `s3://bucket[/prefix]` -> S3.

    Uploads in flight go to a tmp/ folder beside the objects on disk (renames stay on one filesystem),
    to `root`/tmp for S3."""
    from berthub.server.objectstore.local import LocalObjectStore

    if spec is None or not spec.startswith("s3://"):
        folder = Path(spec).expanduser().resolve() if spec else root
        return LocalObjectStore(folder, folder / "tmp")
    from berthub.server.objectstore.s3 import S3ObjectStore, parse_s3_url

    bucket, prefix = parse_s3_url(spec)
    return S3ObjectStore(bucket, prefix, root / "tmp")


def validate_storage(spec: str | None) -> str | None:
    """A problem with a `--storage` value, for the command line's list of errors; None when it is fine."""
    if spec is None or not spec.startswith("s3://"):
        return None
    from berthub.server.objectstore.s3 import parse_s3_url

    try:
        parse_s3_url(spec)
    except ConfigError as error:
        return str(error)
    return None
