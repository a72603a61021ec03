"""Objects in an S3-compatible bucket (AWS S3, Ceph RADOS Gateway, ...), through boto3.

`--storage s3://bucket/prefix`: every key lives under `prefix/` in `bucket`. Credentials and region
come from boto3's usual sources (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, a
profile, an instance role); S3_ENDPOINT_URL names another S3 server than AWS's, which is then
addressed path-style (http://host/bucket/key). The bucket must exist.

Objects are immutable once written, so nothing here locks: a multipart upload becomes visible only
when it completes, and one that is never completed (a killed process) stays invisible; `recover`
aborts those older than a day, so replicas never abort each other's uploads in flight.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from berthub.errors import ConfigError
from berthub.server.objectstore.base import PART_SIZE, ObjectInfo, StoreError, checked, empty_folder
from berthub.sources.settings import S3_ENDPOINT_VARIABLE

ABANDONED_UPLOAD_S = 24 * 3600
_MISSING = {"404", "NoSuchKey", "NotFound"}


def parse_s3_url(spec: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket[/prefix]`; ConfigError naming the problem otherwise."""
    parts = urlsplit(spec)
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if parts.scheme != "s3" or not bucket or parts.query or parts.fragment:
        raise ConfigError(f"--storage {spec!r}: give an S3 URL like s3://my-bucket or s3://my-bucket/hub.")
    if prefix:
        try:
            checked(prefix)
        except ValueError:
            raise ConfigError(f"--storage {spec!r}: the prefix may hold lower-case letters, digits, '.', '_', "
                              "'-', '~' and '/' between words.") from None
    return bucket, prefix


def _client() -> Any:
    endpoint = os.environ.get(S3_ENDPOINT_VARIABLE) or None
    config = Config(s3={"addressing_style": "path" if endpoint else "auto"}, max_pool_connections=64,
                    retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10, read_timeout=60,
                    # Checksums only where S3 requires them: S3-compatible servers do not all take the
                    # newer trailing-checksum uploads, and every blob is verified by its sha256 anyway.
                    request_checksum_calculation="when_required", response_checksum_validation="when_required")
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    """S3's and the network's errors as one StoreError line; a missing object as FileNotFoundError."""
    try:
        yield
    except ClientError as error:
        found = error.response.get("Error", {})
        if str(found.get("Code")) in _MISSING:
            raise FileNotFoundError(what) from None
        raise StoreError(f"object storage refused {what}: {found.get('Code')} {found.get('Message') or ''}".strip()
                         ) from None
    except (BotoCoreError, S3UploadFailedError) as error:
        raise StoreError(f"object storage failed {what}: {error}") from None


class S3ObjectStore:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str, tmp: Path, client: Any = None) -> None:
        self.bucket, self.prefix, self.tmp = bucket, prefix.strip("/"), Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.client = client or _client()

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{checked(key)}" if self.prefix else checked(key)

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def child(self, prefix: str) -> S3ObjectStore:
        return S3ObjectStore(self.bucket, self._key(prefix), self.tmp, self.client)

    def local_path(self, key: str) -> None:
        return None

    def temp_file(self) -> tuple[BinaryIO, Path]:
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="upload-")
        return os.fdopen(fd, "w+b"), Path(name)

    def put_file(self, key: str, tmp_path: Path) -> None:
        transfer = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=4)
        try:
            with _errors(f"writing {key}"):
                self.client.upload_file(str(tmp_path), self.bucket, self._key(key), Config=transfer)
        finally:
            Path(tmp_path).unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes) -> None:
        with _errors(f"writing {key}"):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def upload(self, key: str) -> _MultipartUpload:
        return _MultipartUpload(self, self._key(key))

    def get_bytes(self, key: str) -> bytes:
        with _errors(f"reading {key}"):
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return b"".join(self.iter_range(key, start, end, max(1, end - start)))

    def iter_range(self, key: str, start: int, end: int, block: int = 1024**2) -> Iterator[bytes]:
        if end <= start:
            return
        try:
            with _errors(f"reading {key}"):
                body = self.client.get_object(Bucket=self.bucket, Key=self._key(key),
                                              Range=f"bytes={start}-{end - 1}")["Body"]
        except StoreError as error:
            if "InvalidRange" in str(error):
                return  # starts at or after the end of the object: nothing to read
            raise
        with body:
            yield from _read_blocks(body, block, key)

    def open_stream(self, key: str, start: int) -> Any:
        """The object's body from byte `start` to its end, a stream to read from (downloads)."""
        with _errors(f"reading {key}"):
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-")["Body"]

    def info(self, key: str) -> ObjectInfo | None:
        try:
            with _errors(f"looking up {key}"):
                found = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except FileNotFoundError:
            return None
        return ObjectInfo(found["ContentLength"], found["LastModified"].timestamp())

    def exists(self, key: str) -> bool:
        return self.info(key) is not None

    def touch(self, key: str) -> None:
        full = self._key(key)  # copying an object onto itself, its metadata "replaced", dates it now
        with _errors(f"touching {key}"):
            self.client.copy_object(Bucket=self.bucket, Key=full, CopySource={"Bucket": self.bucket, "Key": full},
                                    MetadataDirective="REPLACE")

    def delete(self, key: str) -> None:
        with _errors(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> None:
        keys = [self._key(key) for key in self.walk(prefix)]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start:start + 1000]]
            with _errors(f"deleting {prefix}/"):
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def _pages(self, prefix: str, **options: Any) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        with _errors(f"listing {prefix}/"):
            yield from paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix) + "/", **options)

    def list(self, prefix: str) -> list[str]:
        return sorted(self._relative(item["Key"]) for page in self._pages(prefix, Delimiter="/")
                      for item in page.get("Contents", ()))

    def walk(self, prefix: str) -> Iterator[str]:
        for page in self._pages(prefix):
            for item in page.get("Contents", ()):
                yield self._relative(item["Key"])

    def presigned_url(self, key: str, expires_s: int, *, disposition: str | None = None,
                      media_type: str | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if disposition is not None:
            params["ResponseContentDisposition"] = disposition
        if media_type is not None:
            params["ResponseContentType"] = media_type
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)

    def free_bytes(self) -> None:
        return None

    def check(self) -> None:
        try:
            with _errors(f"bucket {self.bucket}"):
                self.client.head_bucket(Bucket=self.bucket)
        except FileNotFoundError:
            raise StoreError(f"object storage has no bucket {self.bucket!r}: create it (berthub never creates "
                             "buckets), or fix --storage") from None

    def recover(self) -> int:
        """Empty the local tmp/, and abort multipart uploads under the prefix begun over a day ago (killed
        uploads: invisible, but they take space); younger ones may be another replica's in flight."""
        cutoff, removed = time.time() - ABANDONED_UPLOAD_S, empty_folder(self.tmp)
        paginator = self.client.get_paginator("list_multipart_uploads")
        with _errors("listing uploads in flight"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
                for upload in page.get("Uploads", ()):
                    if upload["Initiated"].timestamp() < cutoff:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                           UploadId=upload["UploadId"])
                        removed += 1
        return removed


def _read_blocks(body: Any, block: int, key: str) -> Iterator[bytes]:
    try:
        while True:
            data = body.read(block)
            if not data:
                return
            yield data
    except (BotoCoreError, OSError) as error:
        raise StoreError(f"object storage stopped sending {key}: {error}") from None


class _MultipartUpload:
    """An object streamed to S3: parts of PART_SIZE sent as they fill, completed by `commit`; a small
    object is one plain PUT. Nothing is visible before `commit`; `abort` drops the parts sent."""

    def __init__(self, store: S3ObjectStore, full_key: str) -> None:
        self._store, self._key = store, full_key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= PART_SIZE:
            self._send(bytes(self._buffer[:PART_SIZE]))
            del self._buffer[:PART_SIZE]

    def _send(self, part: bytes) -> None:
        client, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            with _errors(f"starting {self._key}"):
                self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=self._key)["UploadId"]
        number = len(self._parts) + 1
        with _errors(f"writing {self._key}"):
            sent = client.upload_part(Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number,
                                      Body=part)
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    def commit(self) -> None:
        client, bucket = self._store.client, self._store.bucket
        try:
            if self._upload_id is None:
                with _errors(f"writing {self._key}"):
                    client.put_object(Bucket=bucket, Key=self._key, Body=bytes(self._buffer))
                return
            if self._buffer:
                self._send(bytes(self._buffer))
            with _errors(f"completing {self._key}"):
                client.complete_multipart_upload(Bucket=bucket, Key=self._key, UploadId=self._upload_id,
                                                 MultipartUpload={"Parts": self._parts})
            self._upload_id = None
        finally:
            self.abort()

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._store.client.abort_multipart_upload(Bucket=self._store.bucket, Key=self._key,
                                                          UploadId=upload_id)
            except (ClientError, BotoCoreError):
                pass  # left for recover(): invisible either way
