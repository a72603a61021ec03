"""Who may do what on a hub with accounts: every caller x every kind of repo x every action, through
stock huggingface_hub calls (berthub's own members API where the public hub has none).

One server (the session's `hub_server`), one setup: an organisation `mx-acme` and a user `mx-uma`, each
owning a public, a private and a gated (manual) repo, and ten callers. Each row of EXPECTED is one
caller on one repo; each letter one action:

    list      HfApi.list_models(author=namespace) shows the repo
    download  hf_hub_download of its config.json
    upload    HfApi.upload_file into it
    create    HfApi.create_repo of a new repo in its namespace
    delete    HfApi.delete_repo (the repo is made again after a delete that worked)
    settings  HfApi.update_repo_settings(gated=<as it is>)
    members   POST /api/organizations/mx-acme/members (organisation repos only)
    requests  HfApi.list_pending_access_requests (gated repos only)

Letters: Y it works, N 404 exactly as for a missing repo (or not listed), G GatedRepoError, U 401 (no
token), F 403, - not applicable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from berthub.server.accounts.store import Accounts
from berthub.server.db.engine import Database, default_url

ORG, USER = "mx-acme", "mx-uma"
REPOS = {f"{ns}/{kind}": kind for ns in (ORG, USER) for kind in ("pub", "priv", "gate")}
ACTIONS = ("list", "download", "upload", "create", "delete", "settings", "members", "requests")

#                  mx-acme/pub mx-acme/priv mx-acme/gate mx-uma/pub mx-uma/priv mx-uma/gate
EXPECTED = {
    "anonymous":     ("YYUUUUU-", "NNUUUUU-", "YGUUUUUU", "YYUUUU--", "NNUUUU--", "YGUUUU-U"),
    "read token":    ("YYFFFFF-", "YYFFFFF-", "YYFFFFFF", "YYFFFF--", "NNNFNN--", "YGFFFF-F"),
    "write token":   ("YYFFFFF-", "NNNFNNF-", "YGFFFFFF", "YYYYYY--", "YYYYYY--", "YYYYYY-Y"),
    "limited token": ("YYYFYYF-", "NNNFNNF-", "YGFFFFFF", "YYFFFF--", "NNNFNN--", "YGFFFF-F"),
    "org read":      ("YYFFFFF-", "YYFFFFF-", "YYFFFFFF", "YYFFFF--", "NNNFNN--", "YGFFFF-F"),
    "org write":     ("YYYYFFF-", "YYYYFFF-", "YYYYFFFY", "YYFFFF--", "NNNFNN--", "YGFFFF-F"),
    "org admin":     ("YYYYYYY-", "YYYYYYY-", "YYYYYYYY", "YYFFFF--", "NNNFNN--", "YGFFFF-F"),
    "outsider":      ("YYFFFFF-", "NNNFNNF-", "YGFFFFFF", "YYFFFF--", "NNNFNN--", "YGFFFF-F"),
    "granted":       ("YYFFFFF-", "NNNFNNF-", "YYFFFFFF", "YYFFFF--", "NNNFNN--", "YYFFFF-F"),
    "hub admin":     ("YYYYYYY-", "YYYYYYY-", "YYYYYYYY", "YYYYYY--", "YYYYYY--", "YYYYYY-Y"),
}


@pytest.fixture(scope="module")
def world(hub_server) -> dict[str, str | bool]:
    """The accounts, their tokens (caller -> token; False for anonymous) and the six repos."""
    database = Database.open(default_url(hub_server.root))
    accounts = Accounts(database)
    for user in ("mx-ada", "mx-rita", "mx-walt", "mx-otto", "mx-gus", USER):
        accounts.add_user(user)
    accounts.add_org(ORG, admin="mx-ada")
    accounts.set_member(ORG, "mx-rita", "read")
    accounts.set_member(ORG, "mx-walt", "write")
    tokens: dict[str, str | bool] = {
        "anonymous": False,
        "read token": accounts.create_token("mx-ada", "read", "read"),
        "write token": accounts.create_token(USER, "write", "write"),
        "limited token": accounts.create_token("mx-ada", "limited", "write", repos=(f"{ORG}/pub",)),
        "org read": accounts.create_token("mx-rita", "t", "write"),
        "org write": accounts.create_token("mx-walt", "t", "write"),
        "org admin": accounts.create_token("mx-ada", "t", "write"),
        "outsider": accounts.create_token("mx-otto", "t", "write"),
        "granted": accounts.create_token("mx-gus", "t", "write"),
        "hub admin": hub_server.token,
    }
    database.close()
    admin = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    for repo_id, kind in REPOS.items():
        _make_repo(admin, repo_id, kind)
    return tokens


def _make_repo(admin: HfApi, repo_id: str, kind: str) -> None:
    admin.create_repo(repo_id, private=kind == "priv")
    admin.upload_file(path_or_fileobj=b'{"model_type": "bert"}', path_in_repo="config.json", repo_id=repo_id)
    if kind == "gate":
        admin.update_repo_settings(repo_id, gated="manual")
        admin.grant_access(repo_id, "mx-gus")


def _letter(status: int) -> str:
    return "Y" if status < 300 else {401: "U", 403: "F", 404: "N"}.get(status, str(status))


def _outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except GatedRepoError:
        return "G"
    except HfHubHTTPError as error:
        return _letter(error.response.status_code)
    return "Y"


def _cell(hub, token: str | bool, repo_id: str, action: str, cache: Path) -> str:
    api = HfApi(endpoint=hub.endpoint, token=token)
    namespace, kind = repo_id.split("/")
    if action == "list":
        return "Y" if repo_id in [model.id for model in api.list_models(author=namespace)] else "N"
    if action == "members" and namespace != ORG or action == "requests" and kind != "gate":
        return "-"
    if action == "members":
        return _letter(requests.post(f"{hub.endpoint}/api/organizations/{ORG}/members", headers=_auth(token),
                                     json={"user": "mx-rita", "role": "read"}).status_code)
    calls = {
        "download": lambda: hf_hub_download(repo_id, "config.json", endpoint=hub.endpoint, token=token,
                                            cache_dir=cache),
        "upload": lambda: api.upload_file(path_or_fileobj=uuid.uuid4().bytes, path_in_repo="added.bin",
                                          repo_id=repo_id),
        "create": lambda: api.create_repo(f"{namespace}/new-{uuid.uuid4().hex[:8]}", private=kind == "priv"),
        "delete": lambda: api.delete_repo(repo_id),
        "settings": lambda: api.update_repo_settings(repo_id, gated="manual" if kind == "gate" else False),
        "requests": lambda: list(api.list_pending_access_requests(repo_id)),
    }
    return _outcome(calls[action])


def _auth(token: str | bool) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _row(hub, token: str | bool, repo_id: str, cache: Path) -> str:
    """Every action but delete: they leave the repo as it was (uploads add a file, nothing else)."""
    return "".join(_cell(hub, token, repo_id, action, cache) for action in ACTIONS if action != "delete")


def test_every_caller_gets_the_expected_answer_for_every_action_on_every_kind_of_repo(hub_server, world,
                                                                                     tmp_path):
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {(caller, repo_id): pool.submit(_row, hub_server, world[caller], repo_id,
                                                  tmp_path / caller.replace(" ", "-"))
                   for caller in EXPECTED for repo_id in REPOS}
        got = {key: future.result() for key, future in futures.items()}
    admin = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    for caller in EXPECTED:  # deletes one at a time: a repo deleted is made again before the next
        for repo_id, kind in REPOS.items():
            result = _cell(hub_server, world[caller], repo_id, "delete", tmp_path)
            exists = admin.repo_exists(repo_id)
            assert exists == (result != "Y"), f"{caller} deleting {repo_id}: answered {result}, exists={exists}"
            if not exists:
                _make_repo(admin, repo_id, kind)
            row = got[caller, repo_id]
            got[caller, repo_id] = row[:4] + result + row[4:]
    wrong = [f"{caller:14} {repo_id:13} expected {expected} got {got[caller, repo_id]}  "
             f"({', '.join(a for a, e, g in zip(ACTIONS, expected, got[caller, repo_id], strict=True) if e != g)})"
             for caller, row in EXPECTED.items() for repo_id, expected in zip(REPOS, row, strict=True)
             if got[caller, repo_id] != expected]
    assert not wrong, "cells that differ (" + " ".join(ACTIONS) + "):\n" + "\n".join(wrong)
