"""Several `berthub serve` replicas sharing one PostgreSQL and one S3 bucket (a real Ceph RADOS Gateway)
behind nginx: stock clients write through one and read through the other, downloads stream or redirect
(Range included), and 8 clients x 10 commits land as a linear history of 80 while a replica is killed."""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from hubserver import HubServer, free_port, plain_http_uploads
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from realservers import Nginx, RadosGateway, start_nginx

from berthub.server.catalog import Catalog
from berthub.server.db.engine import Database
from berthub.server.objectstore.base import blob_key

CLIENTS, COMMITS = 8, 10


@dataclass
class Cluster:
    a: HubServer  # streams downloads from S3
    b: HubServer  # --redirect-downloads
    lb: Nginx
    token: str
    database: str
    bucket: str
    rgw: RadosGateway

    def api(self, hub: HubServer | None = None) -> HfApi:
        return HfApi(endpoint=hub.endpoint if hub else self.lb.endpoint, token=self.token)

    def object_exists(self, sha256: str) -> bool:
        try:
            self.rgw.client().head_object(Bucket=self.bucket, Key=f"hub/{blob_key(sha256)}")
        except Exception:  # botocore's ClientError 404
            return False
        return True


@pytest.fixture(scope="module")
def cluster(postgres, rgw, tmp_path_factory) -> Cluster:
    scratch = tmp_path_factory.mktemp("replicas")
    database = postgres.create_database(f"replicas_{uuid.uuid4().hex[:8]}")
    bucket = rgw.create_bucket(f"replicas-{uuid.uuid4().hex[:8]}")
    ports = [free_port(), free_port()]
    lb = start_nginx(scratch / "nginx", ports)
    token = "admin-" + secrets.token_hex(8)
    shared = ("--database", database, "--storage", f"s3://{bucket}/hub", "--public-url", lb.endpoint)
    replicas = [HubServer(root=scratch / name, port=port, extra_args=shared + extra, extra_env=rgw.env)
                for name, port, extra in (("a", ports[0], ()), ("b", ports[1], ("--redirect-downloads",)))]
    for replica in replicas:
        replica.token = token
    with plain_http_uploads(), ThreadPoolExecutor(2) as pool:
        list(pool.map(HubServer.start, replicas))  # both migrate the empty database at once: one does
        yield Cluster(*replicas, lb, token, database, bucket, rgw)
        for replica in replicas:
            replica.stop()
        lb.stop()


def test_stock_clients_write_through_one_replica_and_read_through_the_other_blobs_in_s3(cluster, tmp_path):
    repo_id = f"team/model-{uuid.uuid4().hex[:6]}"
    weights = os.urandom(9 * 1024**2)  # over one S3 multipart part
    sha256 = hashlib.sha256(weights).hexdigest()
    a, b = cluster.api(cluster.a), cluster.api(cluster.b)
    a.create_repo(repo_id)
    a.create_commit(repo_id, [CommitOperationAdd("model.safetensors", io.BytesIO(weights)),
                              CommitOperationAdd("config.json", b'{"hidden_size": 8}')], commit_message="weights")
    assert cluster.object_exists(sha256) and not (cluster.a.root / "blobs").exists()
    assert b.model_info(repo_id).sha == a.model_info(repo_id).sha

    streamed = hf_hub_download(repo_id, "model.safetensors", endpoint=cluster.a.endpoint, cache_dir=tmp_path / "a")
    redirected = hf_hub_download(repo_id, "model.safetensors", endpoint=cluster.b.endpoint, cache_dir=tmp_path / "b")
    assert Path(streamed).read_bytes() == Path(redirected).read_bytes() == weights
    url = f"/{repo_id}/resolve/main/model.safetensors"
    head = requests.head(cluster.b.endpoint + url)
    assert head.status_code == 200 and head.headers["X-Linked-Size"] == str(len(weights))  # metadata: never redirected
    hop = requests.get(cluster.b.endpoint + url, allow_redirects=False)
    assert hop.status_code == 302 and hop.headers["Location"].startswith(cluster.rgw.env["S3_ENDPOINT_URL"])
    assert hop.headers["X-Repo-Commit"] == head.headers["X-Repo-Commit"]
    for hub in (cluster.a, cluster.b):
        part = requests.get(hub.endpoint + url, headers={"Range": f"bytes={len(weights) - 100}-"})
        assert part.status_code == 206 and part.content == weights[-100:]
        two = requests.get(hub.endpoint + url, headers={"Range": "bytes=5-9,8388606-8388610"})
        if hub is cluster.a:  # the hub's own answer: multipart/byteranges
            assert two.status_code == 206 and weights[5:10] in two.content and weights[8388606:8388611] in two.content

    a.update_repo_settings(repo_id, private=True)  # through A: B answers from the database, not from memory
    assert requests.get(f"{cluster.b.endpoint}/api/models/{repo_id}").status_code == 404
    assert b.model_info(repo_id).private


def test_health_checks_the_database_and_the_store_and_metrics_count_what_happened(cluster):
    for hub in (cluster.a, cluster.b):
        health = requests.get(f"{hub.endpoint}/api/health").json()
        assert (health["status"], health["database"], health["store"]) == ("ok", "ok", "ok")
    assert requests.get(f"{cluster.a.endpoint}/metrics").status_code == 401
    text = requests.get(f"{cluster.a.endpoint}/metrics", headers={"Authorization": f"Bearer {cluster.token}"}).text
    assert 'berthub_http_requests_total{method="GET",route="/api/health",status="200"}' in text
    assert "berthub_http_request_duration_seconds_bucket" in text and "berthub_http_sent_bytes_total" in text
    assert "berthub_repos " in text and "berthub_store_written_bytes_total" in text


def _committer(api: HfApi, repo_id: str, client: int, landed: list[str], errors: list[str]) -> None:
    """COMMITS commits of one file each; a commit whose answer was lost (its replica killed) is checked
    for before it is sent again, so each lands exactly once."""
    for number in range(COMMITS):
        path = f"client{client}/commit{number}.txt"
        while True:
            try:
                api.create_commit(repo_id, [CommitOperationAdd(path, f"{client}:{number}\n".encode())],
                                  commit_message=f"c{client}-{number}")
                break
            except Exception as error:  # a 502 or a reset from the killed replica: did it land?
                errors.append(f"{path}: {type(error).__name__}")
                time.sleep(0.2)
                if _landed(api, repo_id, path):
                    break
        landed.append(path)


def _landed(api: HfApi, repo_id: str, path: str) -> bool:
    for _ in range(50):
        try:
            return api.file_exists(repo_id, path)
        except Exception:  # the load balancer still finding the dead replica
            time.sleep(0.2)
    raise AssertionError(f"the hub did not answer whether {path} landed")


def _killed_mid_upload(cluster: Cluster, repo_id: str) -> str:
    """Start a 24 MiB LFS upload on replica B, kill -9 B once 12 MiB are sent; the upload's sha256."""
    data = os.urandom(24 * 1024**2)
    oid = hashlib.sha256(data).hexdigest()
    batch = requests.post(f"{cluster.b.endpoint}/{repo_id}.git/info/lfs/objects/batch",
                          headers={"Authorization": f"Bearer {cluster.token}"},
                          json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]}).json()
    href = urlsplit(batch["objects"][0]["actions"]["upload"]["href"])
    connection = http.client.HTTPConnection("127.0.0.1", cluster.b.port, timeout=30)
    connection.putrequest("PUT", f"{href.path}?{href.query}")
    connection.putheader("Content-Length", str(len(data)))
    connection.endheaders()
    for start in range(0, 12 * 1024**2, 1024**2):
        connection.send(data[start:start + 1024**2])
    deadline = time.monotonic() + 20  # until the hub has sent its first multipart part to S3
    while not cluster.rgw.client().list_multipart_uploads(Bucket=cluster.bucket).get("Uploads"):
        assert time.monotonic() < deadline, "no multipart upload began"
        time.sleep(0.1)
    cluster.b.kill()
    connection.close()
    return oid


@pytest.mark.slow
def test_8_clients_x_10_commits_through_2_replicas_land_linear_while_a_replica_is_killed(cluster):
    repo_id = f"team/busy-{uuid.uuid4().hex[:6]}"
    cluster.api().create_repo(repo_id)
    landed: list[str] = []
    errors: list[str] = []
    threads = [threading.Thread(target=_committer, args=(cluster.api(), repo_id, client, landed, errors))
               for client in range(CLIENTS)]
    for thread in threads:
        thread.start()
    while len(landed) < 25 and any(thread.is_alive() for thread in threads):
        time.sleep(0.05)
    cluster.b.kill()  # kill -9 with commits in flight through it
    cluster.b.start()  # same port: nginx sends it requests again
    for thread in threads:
        thread.join(timeout=300)
    assert len(landed) == CLIENTS * COMMITS, errors

    database = Database.open(cluster.database, migrate=False)
    catalog = Catalog(database)
    meta = catalog.repo(repo_id)
    history = catalog.history(meta.uid, catalog.branch(meta.uid, "main"), 1000)
    database.close()
    assert len(history) == CLIENTS * COMMITS + 1  # + the initial commit
    assert all(newer.parent == older.id for newer, older in zip(history[:-1], history[1:], strict=True))  # a line
    assert sorted(commit.title for commit in history[:-1]) == sorted(
        f"c{client}-{number}" for client in range(CLIENTS) for number in range(COMMITS))
    files = cluster.api(cluster.a).list_repo_files(repo_id)
    assert sorted(path for path in files if path.startswith("client")) == sorted(landed)

    oid = _killed_mid_upload(cluster, repo_id)  # a kill in the middle of an upload leaves nothing visible
    assert not cluster.object_exists(oid)
    refused = requests.post(f"{cluster.a.endpoint}/api/models/{repo_id}/commit/main",
                            headers={"Authorization": f"Bearer {cluster.token}"},
                            data='{"key": "header", "value": {"summary": "ghost"}}\n'
                                 f'{{"key": "lfsFile", "value": {{"path": "ghost.bin", "oid": "{oid}", '
                                 f'"size": {24 * 1024**2}, "algo": "sha256"}}}}')
    assert refused.status_code == 400 and "never uploaded" in refused.json()["error"]
    cluster.b.start()
    assert cluster.api(cluster.b).list_repo_commits(repo_id)[0].commit_id == history[0].id
