"""Download protocol details clients rely on: metadata headers, Range (206) and resuming a cut download."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time

import pytest
import requests
from huggingface_hub.file_download import http_get

pytestmark = pytest.mark.slow

# A client that writes slowly so the test can kill it mid-file: huggingface_hub's own http_get,
# writing into a file object that pauses after each 10 MB chunk.
_SLOW_CLIENT = """
import io, sys, time
from huggingface_hub.file_download import http_get

class SlowFile(io.FileIO):
    def write(self, data):
        written = super().write(data)
        time.sleep(0.5)
        return written

with SlowFile(sys.argv[2], "wb") as target:
    http_get(sys.argv[1], target)
"""


def _url(hub_server, repo_id: str, path: str, revision: str = "main") -> str:
    return f"{hub_server.endpoint}/{repo_id}/resolve/{revision}/{path}"


def test_head_of_a_large_file_gives_commit_linked_etag_and_size(hub_server, hub_minilm, minilm_dir):
    repo_id, commit = hub_minilm
    weights = minilm_dir / "model.safetensors"
    response = requests.head(_url(hub_server, repo_id, "model.safetensors"), allow_redirects=False)
    assert response.status_code == 200
    assert response.headers["X-Repo-Commit"] == commit
    assert response.headers["X-Linked-Etag"].strip('"') == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert int(response.headers["X-Linked-Size"]) == weights.stat().st_size
    assert int(response.headers["Content-Length"]) == weights.stat().st_size


def test_head_of_a_small_file_gives_its_git_oid_as_etag(hub_server, hub_minilm, minilm_dir):
    repo_id, _ = hub_minilm
    data = (minilm_dir / "config.json").read_bytes()
    response = requests.head(_url(hub_server, repo_id, "config.json"))
    git_oid = hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()
    assert response.headers["ETag"].strip('"') == git_oid
    assert int(response.headers["Content-Length"]) == len(data)


def test_range_request_returns_206_with_exactly_the_requested_bytes(hub_server, hub_minilm, minilm_dir):
    repo_id, _ = hub_minilm
    data = (minilm_dir / "vocab.txt").read_bytes()
    response = requests.get(_url(hub_server, repo_id, "vocab.txt"), headers={"Range": "bytes=1000-1999"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert response.content == data[1000:2000]


def test_range_past_the_end_is_416(hub_server, hub_minilm, minilm_dir):
    repo_id, _ = hub_minilm
    size = (minilm_dir / "vocab.txt").stat().st_size
    response = requests.get(_url(hub_server, repo_id, "vocab.txt"), headers={"Range": f"bytes={size + 10}-"})
    assert response.status_code == 416


def test_download_killed_mid_file_resumes_with_range_and_ends_byte_identical(hub_server, hub_minilm, minilm_dir,
                                                                               tmp_path):
    repo_id, commit = hub_minilm
    url = _url(hub_server, repo_id, "model.safetensors", revision=commit)
    partial = tmp_path / "model.safetensors.partial"
    client = subprocess.Popen([sys.executable, "-c", _SLOW_CLIENT, url, str(partial)])
    deadline = time.monotonic() + 60
    while (not partial.exists() or partial.stat().st_size < 10_000_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    client.kill()
    client.wait()
    expected = minilm_dir / "model.safetensors"
    cut = partial.stat().st_size
    assert 0 < cut < expected.stat().st_size, "the client must be killed in the middle of the file"

    with open(partial, "ab") as target:
        http_get(url, target, resume_size=cut, expected_size=expected.stat().st_size)

    assert hashlib.sha256(partial.read_bytes()).digest() == hashlib.sha256(expected.read_bytes()).digest()
    assert "206 Partial Content" in hub_server.log()


def test_download_link_asks_the_browser_to_save_the_file(hub_server, hub_minilm):
    repo_id, _ = hub_minilm
    response = requests.get(_url(hub_server, repo_id, "1_Pooling/config.json") + "?download=true")
    assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''config.json"
