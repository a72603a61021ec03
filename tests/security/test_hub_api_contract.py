"""Every HfApi call docs/hub-server.md lists as supported, against a real `berthub serve`.

The list is the contract: a route that no test calls can break unseen (paths-info answered 500 on
every call until this suite called it). `SUPPORTED` must match the table in docs/hub-server.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = ["create_repo", "delete_repo", "repo_exists", "revision_exists", "file_exists", "model_info",
             "list_models", "list_repo_files", "list_repo_tree", "get_paths_info", "list_repo_refs",
             "list_repo_commits", "create_branch", "create_tag", "upload_file", "upload_folder", "create_commit",
             "delete_file", "delete_folder", "whoami", "hf_hub_download", "snapshot_download",
             "get_hf_file_metadata", "update_repo_settings", "list_pending_access_requests",
             "list_accepted_access_requests", "list_rejected_access_requests", "accept_access_request",
             "reject_access_request", "cancel_access_request", "grant_access"]


@pytest.fixture(scope="module")
def repo(hub_server, api, tmp_path_factory) -> str:
    repo_id = hub_server.unique_repo_id("contract")
    assert api.create_repo(repo_id).repo_id == repo_id
    folder = tmp_path_factory.mktemp("folder")
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("notes")
    (folder / "model.safetensors").write_bytes(b"\0" * 1000)
    api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="folder")
    return repo_id


def test_the_supported_list_is_the_documented_one():
    doc = (ROOT / "docs" / "hub-server.md").read_text()
    table = doc.split("## Supported client calls", 1)[1].split("\n## ", 1)[0]
    assert sorted(re.findall(r"`(\w+)`", table.split("|", 1)[1])) == sorted(SUPPORTED)


def test_repo_file_and_revision_exist(api, repo):
    assert api.repo_exists(repo) and not api.repo_exists(repo + "-missing")
    assert api.revision_exists(repo, "main") and not api.revision_exists(repo, "nope")
    assert api.file_exists(repo, "sub/notes.txt") and not api.file_exists(repo, "nope.txt")


def test_model_info_and_list_models(api, repo):
    info = api.model_info(repo, files_metadata=True)
    assert sorted(s.rfilename for s in info.siblings) == ["config.json", "model.safetensors", "sub/notes.txt"]
    assert repo in [m.id for m in api.list_models(search=repo.split("/")[1])]


def test_listings(api, repo):
    assert sorted(api.list_repo_files(repo)) == ["config.json", "model.safetensors", "sub/notes.txt"]
    tree = {item.path for item in api.list_repo_tree(repo, recursive=True)}
    assert tree == {"config.json", "model.safetensors", "sub", "sub/notes.txt"}
    assert [item.path for item in api.get_paths_info(repo, ["sub", "config.json"])] == ["sub", "config.json"]


def test_refs_commits_branches_and_tags(api, repo):
    api.create_branch(repo, branch="dev", exist_ok=True)
    api.create_tag(repo, tag="v1", exist_ok=True)
    refs = api.list_repo_refs(repo)
    assert {b.name for b in refs.branches} >= {"main", "dev"} and [t.name for t in refs.tags] == ["v1"]
    assert api.list_repo_commits(repo)[0].title == "folder"


def test_commits_uploads_and_deletes(api, repo):
    api.create_commit(repo, [CommitOperationAdd("extra/a.txt", b"a"), CommitOperationAdd("extra/b.txt", b"b")],
                      commit_message="extra", revision="dev")
    api.upload_file(path_or_fileobj=b"c", path_in_repo="extra/c.txt", repo_id=repo, revision="dev")
    api.delete_file("extra/a.txt", repo, revision="dev")
    assert sorted(f for f in api.list_repo_files(repo, revision="dev") if f.startswith("extra/")) == [
        "extra/b.txt", "extra/c.txt"]
    api.delete_folder("extra", repo, revision="dev")
    assert not [f for f in api.list_repo_files(repo, revision="dev") if f.startswith("extra/")]


def test_whoami_names_the_token_owner(api):
    assert api.whoami()["name"] == "berthub"


def test_downloads(hub_server, repo, tmp_path):
    path = hf_hub_download(repo, "sub/notes.txt", cache_dir=tmp_path, endpoint=hub_server.endpoint)
    assert Path(path).read_text() == "notes"
    folder = snapshot_download(repo, cache_dir=tmp_path, endpoint=hub_server.endpoint)
    assert (Path(folder) / "model.safetensors").stat().st_size == 1000
    metadata = get_hf_file_metadata(hf_hub_url(repo, "model.safetensors", endpoint=hub_server.endpoint))
    assert metadata.size == 1000 and re.fullmatch(r"[0-9a-f]{40}", metadata.commit_hash)


def test_delete_repo(api, hub_server):
    repo_id = hub_server.unique_repo_id("doomed")
    api.create_repo(repo_id)
    api.delete_repo(repo_id)
    assert not api.repo_exists(repo_id)


def test_repo_settings_and_access_requests(api, hub_server):
    from berthub.server.accounts.access import AccessRequests
    from berthub.server.accounts.store import Accounts
    from berthub.server.db.engine import Database, default_url

    repo_id = hub_server.unique_repo_id("settings")
    api.create_repo(repo_id)
    api.update_repo_settings(repo_id, private=True)
    assert api.model_info(repo_id).private is True
    api.update_repo_settings(repo_id, private=False, gated="manual")
    assert api.model_info(repo_id).gated == "manual"
    database = Database.open(default_url(hub_server.root))
    for user in ("contract-ann", "contract-ben"):
        if Accounts(database).account(user) is None:
            Accounts(database).add_user(user)
        AccessRequests(database).ask(repo_id, user, "manual")
    database.close()
    assert sorted(r.username for r in api.list_pending_access_requests(repo_id)) == ["contract-ann", "contract-ben"]
    api.accept_access_request(repo_id, "contract-ann")
    api.reject_access_request(repo_id, "contract-ben", rejection_reason="not now")
    assert [r.username for r in api.list_rejected_access_requests(repo_id)] == ["contract-ben"]
    api.cancel_access_request(repo_id, "contract-ann")
    assert [r.username for r in api.list_pending_access_requests(repo_id)] == ["contract-ann"]
    api.grant_access(repo_id, "contract-ben")
    assert [r.username for r in api.list_accepted_access_requests(repo_id)] == ["contract-ben"]
