"""Nothing unverified or half-written becomes visible: LFS checksums, dangling commits, crashes."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time

import pytest
import requests
from hubserver import running_hub
from huggingface_hub import HfApi, hf_hub_download


def _auth(hub) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.token}"}


def _upload_href(hub, repo_id: str, oid: str, size: int) -> str:
    """Ask the LFS batch endpoint where to PUT an object, as huggingface_hub does."""
    response = requests.post(f"{hub.endpoint}/{repo_id}.git/info/lfs/objects/batch", headers=_auth(hub),
                             json={"operation": "upload", "transfers": ["basic"],
                                   "objects": [{"oid": oid, "size": size}]})
    response.raise_for_status()
    return response.json()["objects"][0]["actions"]["upload"]["href"]


def _lfs_commit(hub, repo_id: str, path: str, oid: str, size: int) -> requests.Response:
    lines = [{"key": "header", "value": {"summary": f"add {path}"}},
             {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid, "size": size}}]
    return requests.post(f"{hub.endpoint}/api/models/{repo_id}/commit/main",
                         headers={"Content-Type": "application/x-ndjson", **_auth(hub)},
                         data="\n".join(json.dumps(line) for line in lines))


@pytest.fixture
def repo(hub_server) -> str:
    repo_id = hub_server.unique_repo_id("integrity")
    HfApi(endpoint=hub_server.endpoint, token=hub_server.token).create_repo(repo_id)
    return repo_id


def test_lfs_upload_whose_bytes_do_not_match_the_announced_sha256_is_refused(hub_server, repo):
    announced = os.urandom(4096)
    oid = hashlib.sha256(announced).hexdigest()
    href = _upload_href(hub_server, repo, oid, len(announced))
    response = requests.put(href, data=os.urandom(4096))  # same size, other content
    assert response.status_code == 400
    assert "hashes to" in response.json()["error"]
    assert _lfs_commit(hub_server, repo, "model.safetensors", oid, len(announced)).status_code == 400


def test_lfs_upload_of_a_different_size_than_announced_is_refused(hub_server, repo):
    announced = os.urandom(4096)
    oid = hashlib.sha256(announced).hexdigest()
    href = _upload_href(hub_server, repo, oid, len(announced))
    response = requests.put(href, data=announced + b"tail")  # the announced bytes and then some
    assert response.status_code == 400
    assert "4100" in response.json()["error"] and "4096" in response.json()["error"]
    assert _lfs_commit(hub_server, repo, "model.safetensors", oid, len(announced)).status_code == 400


def test_commit_referencing_a_blob_never_uploaded_is_refused_and_main_is_unchanged(hub_server, repo):
    api = HfApi(endpoint=hub_server.endpoint)
    before = api.model_info(repo).sha
    response = _lfs_commit(hub_server, repo, "model.safetensors", hashlib.sha256(b"ghost").hexdigest(), 5)
    assert response.status_code == 400
    assert "never uploaded" in response.json()["error"]
    assert api.model_info(repo).sha == before
    assert api.list_repo_files(repo) == []


def test_upload_url_with_a_forged_signature_is_refused(hub_server, repo):
    data = b"\x00" * 100
    href = _upload_href(hub_server, repo, hashlib.sha256(data).hexdigest(), len(data))
    assert requests.put(href[:-4] + "0000", data=data).status_code == 403


@pytest.mark.slow
def test_server_killed_during_an_upload_restarts_with_the_previous_revision_intact(tmp_path):
    with running_hub(tmp_path / "crash-hub") as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.token)
        api.create_repo("acme/crash")
        first = api.upload_file(path_or_fileobj=b'{"hidden_size": 8}', path_in_repo="config.json",
                                repo_id="acme/crash")
        weights = os.urandom(32 * 1024 * 1024)
        href = _upload_href(hub, "acme/crash", hashlib.sha256(weights).hexdigest(), len(weights))

        def slow_body():
            for start in range(0, len(weights), 1024 * 1024):
                yield weights[start:start + 1024 * 1024]
                time.sleep(0.1)

        uploader = threading.Thread(target=lambda: _ignore_errors(requests.put, href, data=slow_body()))
        uploader.start()
        partials = hub.root / "tmp"
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size > 2_000_000 for p in partials.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        hub.kill()
        uploader.join()
        assert any(partials.iterdir()), "the server must die with the upload half written"

        hub.start()
        assert api.model_info("acme/crash").sha == first.oid
        assert api.list_repo_files("acme/crash") == ["config.json"]
        assert list(partials.iterdir()) == []
        assert not (hub.root / "blobs" / hashlib.sha256(weights).hexdigest()[:2]).exists()
        config = hf_hub_download("acme/crash", "config.json", endpoint=hub.endpoint, cache_dir=tmp_path / "c")
        assert json.loads(open(config).read()) == {"hidden_size": 8}
        again = api.upload_file(path_or_fileobj=weights, path_in_repo="model.safetensors", repo_id="acme/crash")
        assert api.model_info("acme/crash").sha == again.oid


def _ignore_errors(function, *args, **kwargs) -> None:
    try:
        function(*args, **kwargs)
    except requests.RequestException:
        pass  # the server was killed under this request, on purpose


@pytest.mark.slow
def test_commits_through_several_worker_processes_all_land_in_order(tmp_path):
    with running_hub(tmp_path / "workers-hub", extra_args=("--workers", "2")) as hub:
        pids, deadline = set(), time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:  # both workers up, not just the first
            pids.add(requests.get(f"{hub.endpoint}/api/health", headers={"Connection": "close"}).json()["pid"])
        assert len(pids) == 2
        api = HfApi(endpoint=hub.endpoint, token=hub.token)
        api.create_repo("acme/busy")
        names = [f"shard-{index}.txt" for index in range(6)]

        def upload(name: str) -> None:
            # A fresh connection per commit, so the commits spread over both worker processes.
            requests.post(f"{hub.endpoint}/api/models/acme/busy/commit/main", data="\n".join([
                json.dumps({"key": "header", "value": {"summary": name}}),
                json.dumps({"key": "file", "value": {"path": name, "content": "eA==", "encoding": "base64"}}),
            ]), headers={"Content-Type": "application/x-ndjson", "Connection": "close", **_auth(hub)}
            ).raise_for_status()

        threads = [threading.Thread(target=upload, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(api.list_repo_files("acme/busy")) == names
        history = api.list_repo_commits("acme/busy")
        assert sorted(commit.title for commit in history[:6]) == names  # six commits, each on the previous
