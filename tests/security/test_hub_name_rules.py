"""One check of every name a client gives the hub (server/names.py): whole-string matches, git's folder
in any spelling, invisible characters, names two filesystems would merge, typed JSON fields, reserved
ref names and bounded commit text. Requests are sent raw, so names a client library would refuse
still reach the server."""

from __future__ import annotations

import base64
import json
import unicodedata

import pytest
import requests
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError


def _auth(hub) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.token}"}


def _commit(hub, repo_id: str, paths: list[str], header: dict | None = None) -> requests.Response:
    lines = [{"key": "header", "value": header or {"summary": "raw"}}]
    lines += [{"key": "file", "value": {"path": path, "content": base64.b64encode(b"x").decode(),
                                        "encoding": "base64"}} for path in paths]
    return requests.post(f"{hub.endpoint}/api/models/{repo_id}/commit/main", headers=_auth(hub),
                         data="\n".join(json.dumps(line) for line in lines))


@pytest.fixture
def repo(hub_server, api) -> str:
    repo_id = hub_server.unique_repo_id("names")
    api.create_repo(repo_id)
    return repo_id


def test_a_repo_id_ending_in_a_newline_is_refused(hub_server, api):
    namespace, name = hub_server.unique_repo_id("newline").split("-", 1)[1], "pub"
    response = requests.post(f"{hub_server.endpoint}/api/repos/create", headers=_auth(hub_server),
                             json={"organization": namespace, "name": name + "\n"})
    assert response.status_code == 400 and "Invalid repo id" in response.json()["error"]
    assert not [model for model in api.list_models(author=namespace)]


@pytest.mark.parametrize("name", ["y\n", "y.lock\n", "y.LOCK"])
@pytest.mark.parametrize("kind", ["branch", "tag"])
def test_branch_and_tag_names_are_matched_as_a_whole(hub_server, api, repo, kind, name):
    if kind == "branch":
        response = requests.post(f"{hub_server.endpoint}/api/models/{repo}/branch/{requests.utils.quote(name)}",
                                 headers=_auth(hub_server), json={})
    else:
        response = requests.post(f"{hub_server.endpoint}/api/models/{repo}/tag/main", headers=_auth(hub_server),
                                 json={"tag": name})
    assert response.status_code == 400 and "Invalid" in response.json()["error"]
    refs = api.list_repo_refs(repo)
    assert [ref.name for ref in refs.branches] == ["main"] and refs.tags == []


@pytest.mark.parametrize("path", [".GIT/config", ".git./config", ".git /x", "sub/.Git/hooks/post-checkout",
                                  "GIT~1/config", ".git::$INDEX_ALLOCATION/config"])
def test_git_folder_is_refused_in_any_spelling_a_checkout_reads_as_git(hub_server, api, repo, path):
    response = _commit(hub_server, repo, [path])
    assert response.status_code == 400 and "'.git' folders cannot be written" in response.json()["error"]
    assert api.list_repo_files(repo) == []


@pytest.mark.parametrize("char", ["\x7f", "\x85", "\x9b", "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff",
                                  "\u2028"])
def test_control_and_invisible_characters_are_refused_in_paths(hub_server, api, repo, char):
    response = _commit(hub_server, repo, [f"model{char}card.md"])
    assert response.status_code == 400, response.text
    assert f"U+{ord(char):04X}" in response.json()["error"]
    assert api.list_repo_files(repo) == []


def test_paths_one_checkout_would_merge_are_refused_in_one_commit(hub_server, api, repo):
    nfc, nfd = unicodedata.normalize("NFC", "café.txt"), unicodedata.normalize("NFD", "café.txt")
    assert nfc != nfd
    for paths in ([nfc, nfd], ["README.md", "readme.md"], ["Docs/a.txt", "docs/b.txt"]):
        response = _commit(hub_server, repo, paths)
        assert response.status_code == 400, (paths, response.text)
        assert "letter case or Unicode normalisation" in response.json()["error"]
    assert api.list_repo_files(repo) == []


def test_a_path_merging_with_one_already_in_the_repo_is_refused(api, repo):
    api.upload_file(path_or_fileobj=b"card", path_in_repo="README.md", repo_id=repo)
    with pytest.raises(HfHubHTTPError, match="letter case"):
        api.upload_file(path_or_fileobj=b"other", path_in_repo="readme.md", repo_id=repo)
    api.create_commit(repo, [CommitOperationAdd("docs/README.md", b"a folder's own card is fine")],
                      commit_message="different folders")
    assert sorted(api.list_repo_files(repo)) == ["README.md", "docs/README.md"]


@pytest.mark.parametrize("route, body", [
    ("/api/models/{repo}/tag/main", {"tag": None}),
    ("/api/models/{repo}/branch/dev", {"startingPoint": 5}),
    ("/api/repos/create", {"organization": "typed", "name": None}),
    ("/api/repos/create", {"organization": "typed", "name": "x", "private": "yes"}),
    ("/api/models/{repo}/preupload/main", {"files": [{"path": "a.txt", "size": True, "sample": ""}]}),
    ("/{repo}.git/info/lfs/objects/batch", {"operation": "upload", "objects": [{"oid": "a" * 64, "size": True}]}),
])
def test_json_fields_of_the_wrong_type_are_refused(hub_server, api, repo, route, body):
    response = requests.post(hub_server.endpoint + route.format(repo=repo), headers=_auth(hub_server), json=body)
    assert response.status_code == 400, response.text
    refs = api.list_repo_refs(repo)
    assert [ref.name for ref in refs.branches] == ["main"] and refs.tags == []
    assert not api.repo_exists("typed/x") and not api.repo_exists("typed/None")


@pytest.mark.parametrize("method, route, body", [
    ("PUT", "settings", {"private": "yes"}), ("PUT", "settings", {"visibility": 1}),
    ("PUT", "settings", {"gated": True}), ("PUT", "settings", {"gated": 0}),
    ("POST", "user-access-request/handle", {"status": ["accepted"], "user": "nobody"}),
    ("POST", "user-access-request/handle", {"status": "accepted", "user": 5}),
    ("POST", "user-access-request/handle", {"status": "accepted", "requestId": True}),
    ("POST", "user-access-request/grant", {"user": ["nobody"]}),
])
def test_accounts_json_fields_of_the_wrong_type_are_refused(hub_server, api, repo, method, route, body):
    api.update_repo_settings(repo, gated="auto")
    response = requests.request(method, f"{hub_server.endpoint}/api/models/{repo}/{route}", headers=_auth(hub_server),
                                json=body)
    assert response.status_code == 400, response.text
    info = api.model_info(repo)
    assert (info.private, info.gated) == (False, "auto")
    assert list(api.list_accepted_access_requests(repo)) == []


@pytest.mark.parametrize("header", [{"summary": ["x"]}, {"summary": "ok", "description": 7},
                                    {"summary": "ok", "parentCommit": ["a"]}])
def test_commit_header_fields_of_the_wrong_type_are_refused(hub_server, api, repo, header):
    response = _commit(hub_server, repo, ["a.txt"], header)
    assert response.status_code == 400 and "Commit header" in response.json()["error"]
    assert api.list_repo_files(repo) == []


@pytest.mark.parametrize("kind, name", [("branch", "HEAD"), ("branch", "fetch_head"), ("tag", "ORIG_HEAD"),
                                        ("tag", "head")])
def test_names_git_reserves_are_refused_for_branches_and_tags(api, repo, kind, name):
    with pytest.raises(HfHubHTTPError) as refused:
        (api.create_branch if kind == "branch" else api.create_tag)(repo, **{kind: name})
    assert refused.value.response.status_code == 400 and "git reserves it" in str(refused.value)


def test_ref_names_differing_only_in_case_are_one_name(api, repo):
    api.create_branch(repo, branch="Dev")
    with pytest.raises(HfHubHTTPError) as refused:
        api.create_tag(repo, tag="dev")
    assert refused.value.response.status_code == 409 and "'Dev' already exists" in str(refused.value)


@pytest.mark.parametrize("header, limit", [({"summary": "t" * 1001}, "1000"),
                                           ({"summary": "ok", "description": "d" * (64 * 1024 + 1)}, "65536")])
def test_commit_title_and_description_sizes_are_bounded(hub_server, api, repo, header, limit):
    response = _commit(hub_server, repo, ["a.txt"], header)
    assert response.status_code == 400 and limit in response.json()["error"]
    assert [commit.title for commit in api.list_repo_commits(repo)] == ["initial commit"]
    api.create_commit(repo, [CommitOperationAdd("a.txt", b"x")], commit_message="t" * 1000,
                      commit_description="d" * 64 * 1024)
    assert len(api.list_repo_commits(repo)[0].message) == 64 * 1024
