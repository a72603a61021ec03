"""The hub's object stores keep one set of promises, on local disk and in S3 (a real Ceph RADOS Gateway):
objects appear whole or not at all, reads by range, listings, and one clear error when the store fails."""

from __future__ import annotations

import hashlib
import os
import time
import uuid

import pytest

from berthub.errors import ConfigError
from berthub.server.objectstore.base import PART_SIZE, StoreError
from berthub.server.objectstore.local import LocalObjectStore
from berthub.server.objectstore.reading import open_object
from berthub.server.objectstore.s3 import S3ObjectStore, parse_s3_url


@pytest.fixture(params=["disk", "s3"])
def store(request, tmp_path):
    if request.param == "disk":
        return LocalObjectStore(tmp_path / "objects", tmp_path / "tmp")
    rgw = request.getfixturevalue("rgw")
    bucket = rgw.create_bucket(f"store-{uuid.uuid4().hex[:12]}")
    return S3ObjectStore(bucket, "hub", tmp_path / "tmp", client=rgw.client())


def test_a_streamed_object_is_invisible_until_committed_and_gone_when_aborted(store):
    data = os.urandom(PART_SIZE + 3 * 1024**2 + 5)  # S3: two multipart parts, the second short
    upload = store.upload("blobs/ab/large")
    for start in range(0, len(data), 1024**2):
        upload.write(data[start:start + 1024**2])
        assert not store.exists("blobs/ab/large")
    upload.commit()
    assert store.info("blobs/ab/large").size == len(data)
    assert hashlib.sha256(b"".join(store.iter_range("blobs/ab/large", 0, len(data)))).digest() == \
        hashlib.sha256(data).digest()
    assert store.get_range("blobs/ab/large", PART_SIZE - 3, PART_SIZE + 4) == data[PART_SIZE - 3:PART_SIZE + 4]
    assert store.get_range("blobs/ab/large", len(data) - 2, len(data) + 100) == data[-2:]
    dropped = store.upload("blobs/ab/dropped")
    dropped.write(data)
    dropped.abort()
    assert not store.exists("blobs/ab/dropped") and store.list("blobs/ab") == ["blobs/ab/large"]
    assert [path for path in (store.tmp.iterdir())] == []


def test_reads_lists_touches_and_deletes_work_alike(store):
    for key in ("xet/files/a", "xet/files/b", "xet/files/sub/c", "xet/other"):
        store.put_bytes(key, key.encode())
    assert store.list("xet/files") == ["xet/files/a", "xet/files/b"]
    assert sorted(store.walk("xet")) == ["xet/files/a", "xet/files/b", "xet/files/sub/c", "xet/other"]
    assert store.child("xet").get_bytes("files/sub/c") == b"xet/files/sub/c"
    with open_object(store, "xet/files/sub/c", 15) as handle:
        handle.seek(4)
        assert handle.read(5) == b"files" and handle.read() == b"/sub/c"
    before = store.info("xet/other").modified
    time.sleep(1.05 if store.kind == "s3" else 0.01)  # S3 dates objects to the second
    store.touch("xet/other")
    assert store.info("xet/other").modified > before and store.get_bytes("xet/other") == b"xet/other"
    store.delete_prefix("xet/files")
    store.delete("xet/other")
    assert list(store.walk("xet")) == []
    with pytest.raises(FileNotFoundError):
        store.get_bytes("xet/other")
    assert store.info("xet/other") is None and not store.exists("xet/other")


def test_keys_that_could_escape_the_store_are_refused(store):
    for key in ("../etc/passwd", "a/../b", "/abs", "Upper", "a//b", ""):
        with pytest.raises(ValueError, match="invalid object key"):
            store.put_bytes(key, b"x")


def test_an_s3_store_that_cannot_be_used_says_so_in_one_line(rgw, tmp_path):
    missing = S3ObjectStore(f"missing-{uuid.uuid4().hex[:8]}", "", tmp_path, client=rgw.client())
    with pytest.raises(StoreError, match="no bucket .* create it"):
        missing.check()
    bucket = rgw.create_bucket(f"keys-{uuid.uuid4().hex[:8]}")
    client = rgw.client()
    client._request_signer._credentials.secret_key = "wrong"  # a rotated key: every call is refused
    refused = S3ObjectStore(bucket, "", tmp_path, client=client)
    with pytest.raises(StoreError, match="refused writing blobs/x: SignatureDoesNotMatch"):
        refused.put_bytes("blobs/x", b"x")
    for spec in ("s3://", "s3://bucket/Upper/Case", "s3://bucket?x=1"):
        with pytest.raises(ConfigError, match="--storage"):
            parse_s3_url(spec)
    assert parse_s3_url("s3://models/hub/v1") == ("models", "hub/v1")
