"""A hub root made by berthub 0.2 (tests/fixtures/hub-root-0.2: repos as files) moves into the database
without losing a commit: in place (its blobs stay), and into PostgreSQL + S3 with `berthub hub migrate`."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from berthub import cli
from berthub.commands.serve import _migrate_in_place, open_hub
from berthub.errors import ConfigError
from berthub.server.app import create_app
from berthub.server.http import ServerConfig

LEGACY = Path(__file__).parent / "fixtures" / "hub-root-0.2"
ALICE = {"Authorization": "Bearer tok-alice-0001"}  # a hub admin (the root's token file)
CAROL = "bh_SN2CrQ5lj3qSb4aYHZDHvWCPHx_d-yH5eqYEHAkcx1g"  # a read token in the root's accounts database


def _legacy_repos() -> dict[str, dict]:
    """What the old files say: per repo its settings, commits (id -> {path: [sha256, size, oid, lfs]}), refs."""
    repos = {}
    for settings in sorted((LEGACY / "repos").glob("*/*/repo.json")):
        folder = settings.parent
        commits = {}
        for path in (folder / "commits").glob("*.json"):
            data = json.loads(path.read_text())
            commits[data["id"]] = {row[0]: row[1:] for row in data["files"]}
        refs = {f"{kind}/{ref.name}": ref.read_text().strip() for kind in ("heads", "tags")
                for ref in (folder / "refs" / kind).glob("*")}
        repos[f"{folder.parent.name}/{folder.name}"] = {"settings": json.loads(settings.read_text()),
                                                         "commits": commits, "refs": refs}
    return repos


def _check_served(client: TestClient) -> None:
    """Every commit, ref, setting and file of the old root, as the hub now serves them."""
    for repo_id, old in _legacy_repos().items():
        info = client.get(f"/api/models/{repo_id}", headers=ALICE).json()
        assert (info["private"], info["gated"] or None, info["createdAt"]) == (
            old["settings"].get("private", False), old["settings"].get("gated"), old["settings"]["created_at"])
        for commit_id, files in old["commits"].items():
            answer = client.get(f"/api/models/{repo_id}/revision/{commit_id}", headers=ALICE).json()
            assert answer["sha"] == commit_id
            assert {s["rfilename"]: s["blobId"] for s in answer["siblings"]} == {p: f[2] for p, f in files.items()}
            for path, (sha256, size, _, _) in files.items():
                body = client.get(f"/{repo_id}/resolve/{commit_id}/{path}", headers=ALICE).content
                assert len(body) == size and hashlib.sha256(body).hexdigest() == sha256
        refs = client.get(f"/api/models/{repo_id}/refs", headers=ALICE).json()
        served = {f"heads/{r['name']}": r["targetCommit"] for r in refs["branches"]}
        served |= {f"tags/{r['name']}": r["targetCommit"] for r in refs["tags"]}
        assert served == old["refs"]
        history = [c["id"] for c in client.get(f"/api/models/{repo_id}/commits/main", headers=ALICE).json()]
        assert history[0] == old["refs"]["heads/main"] and set(history) <= set(old["commits"])
    assert client.get("/api/models/acme/Secret-Model").status_code == 404  # still private to strangers
    assert client.get("/api/whoami-v2", headers={"Authorization": f"Bearer {CAROL}"}).json()["name"] == "carol"


def test_serve_moves_an_old_root_into_its_database_in_place_and_says_so(tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(LEGACY, root)
    config = ServerConfig(root=root, tokens={"tok-alice-0001": "alice"})
    _migrate_in_place(config, open_hub(config, str(root)))  # what `berthub serve` does before serving
    assert "moved 3 repo(s), 8 commit(s) and 5 ref(s) into the database" in capsys.readouterr().err
    assert not (root / "repos").exists() and (root / "repos.migrated").is_dir()
    with TestClient(create_app(config)) as client:
        _check_served(client)
        assert client.post("/api/models/acme/tiny-bert/commit/main", headers=ALICE,
                           content='{"key": "header", "value": {"summary": "after"}}\n').status_code == 200
    assert cli.main(["hub", "migrate", "--root", str(root)]) == 2  # nothing left to migrate: says so, exits 2


def test_hub_migrate_moves_an_old_root_into_postgresql_and_s3(tmp_path, postgres, rgw, monkeypatch):
    root = tmp_path / "root"
    shutil.copytree(LEGACY, root)
    for name, value in rgw.env.items():
        monkeypatch.setenv(name, value)
    database = postgres.create_database(f"migrate_{uuid.uuid4().hex[:8]}")
    storage = f"s3://{rgw.create_bucket(f'migrate-{uuid.uuid4().hex[:8]}')}/hub"
    with pytest.raises(ConfigError, match="berthub hub migrate"):  # serve does not copy blobs by itself
        config = ServerConfig(root=root, database=database, storage=storage)
        _migrate_in_place(config, open_hub(config, str(root)))
    assert cli.main(["hub", "migrate", "--root", str(root), "--database", database, "--storage", storage]) == 0
    shutil.rmtree(root / "blobs")  # everything now comes from S3 and PostgreSQL
    config = ServerConfig(root=root, database=database, storage=storage, tokens={"tok-alice-0001": "alice"})
    with TestClient(create_app(config)) as client:
        _check_served(client)
