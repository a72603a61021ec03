"""The hub's accounts: the database and its migrations, `berthub accounts`, tokens that stop working
the moment they are revoked or expire, gated repos end to end, and a root from before accounts."""

from __future__ import annotations

import io
import json
import shutil
import time
import uuid
from pathlib import Path

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from hubserver import running_hub
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError
from starlette.testclient import TestClient

from berthub import cli
from berthub.errors import AuthError, ConfigError
from berthub.server.accounts.access import AccessRequests
from berthub.server.accounts.sessions import Sessions
from berthub.server.accounts.store import Accounts, digest
from berthub.server.app import create_app
from berthub.server.db import schema
from berthub.server.db.engine import MIGRATIONS, Database, default_url
from berthub.server.http import ServerConfig
from berthub.sources.resolve import resolve_model

LEGACY_ROOT = Path(__file__).parent / "fixtures" / "hub-root-0.2"


@pytest.fixture
def database(tmp_path) -> Database:
    opened = Database.open(default_url(tmp_path))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def hub_accounts(hub_server) -> Accounts:
    """The accounts of the session's `hub_server`, changed in this process while the server runs."""
    opened = Database.open(default_url(hub_server.root))
    yield Accounts(opened)
    opened.close()


def _user(accounts: Accounts, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    accounts.add_user(name)
    return name


def test_an_empty_root_gets_a_database_at_the_newest_migration_that_matches_the_schema(database):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    assert database.revision() == schema.HEAD == ScriptDirectory.from_config(config).get_current_head()
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    assert differences == []
    assert database.generation() == 0


def test_tokens_and_session_cookies_are_stored_only_as_their_sha256(database, tmp_path):
    accounts = Accounts(database)
    accounts.add_user("alice", "correct horse")
    token = accounts.create_token("alice", "laptop", "write")
    cookie = Sessions(database).start("alice")
    database.close()
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("berthub.db*") if path.is_file())
    for secret in (token, cookie, "correct horse"):
        assert secret.encode() not in stored
    assert digest(token).encode() in stored and b"scrypt$32768$8$1$" in stored


def test_names_are_one_case_insensitive_namespace_for_users_and_organisations(database):
    accounts = Accounts(database)
    accounts.add_user("Alice")
    with pytest.raises(ConfigError, match="taken by the user 'Alice'"):
        accounts.add_org("alice")
    with pytest.raises(ConfigError, match="Invalid organisation name"):
        accounts.add_org("bad/name")
    for page in ("settings", "login", "favicon.ico"):  # the web pages' paths
        with pytest.raises(ConfigError, match=f"Invalid user name '{page}'"):
            accounts.add_user(page)
    accounts.add_org("Acme", admin="alice")
    assert accounts.members("acme") == [("Alice", "admin")]


def test_a_password_signs_in_only_its_user(database):
    accounts = Accounts(database)
    accounts.add_user("bob", "s3cret-enough")
    accounts.add_user("robot")  # tokens only
    assert accounts.check_password("BOB", "s3cret-enough") == "bob"
    assert accounts.check_password("bob", "wrong password") is None
    assert accounts.check_password("robot", "") is None and accounts.check_password("nobody", "x" * 9) is None
    with pytest.raises(ConfigError, match="8 to 1024 characters"):
        accounts.set_password("bob", "short")


def test_the_accounts_command_adds_users_organisations_and_tokens(tmp_path, monkeypatch, capsys):
    root = str(tmp_path / "hub")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert cli.main(["accounts", "--root", root, "user", "add", "carol", "--password-stdin"]) == 0
    assert cli.main(["accounts", "--root", root, "org", "create", "team", "--admin", "carol"]) == 0
    capsys.readouterr()
    assert cli.main(["accounts", "--root", root, "token", "create", "carol", "--name", "ci", "--role", "write",
                     "--repo", "team/bert", "--expires", "30"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("bh_") and len(token) > 40
    assert cli.main(["accounts", "--root", root, "token", "list", "carol"]) == 0
    listing = capsys.readouterr().out
    assert "ci" in listing and "team/bert" in listing and token not in listing
    assert cli.main(["accounts", "--root", root, "token", "revoke", "carol", "ci"]) == 0
    assert cli.main(["accounts", "--root", root, "token", "revoke", "carol", "ci"]) == 2
    assert "has no token named 'ci'" in capsys.readouterr().err
    database = Database.open(default_url(root))
    assert Accounts(database).check_password("carol", "a long password") == "carol"
    assert Accounts(database).tokens("carol") == []
    database.close()


def test_a_revoked_token_or_a_removed_membership_stops_working_on_the_next_request(hub_server, hub_accounts):
    admin = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    org, user = _user(hub_accounts, "org").replace("org-", "team-"), _user(hub_accounts, "dev")
    hub_accounts.add_org(org)
    hub_accounts.set_member(org, user, "write")
    repo_id = f"{org}/private"
    admin.create_repo(repo_id, private=True)
    api = HfApi(endpoint=hub_server.endpoint, token=hub_accounts.create_token(user, "t", "write"))
    api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo_id)
    hub_accounts.remove_member(org, user)
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_files(repo_id)
    hub_accounts.set_member(org, user, "read")
    assert api.list_repo_files(repo_id) == ["a.txt"]
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"2", path_in_repo="b.txt", repo_id=repo_id)
    assert refused.value.response.status_code == 403
    hub_accounts.revoke_token(user, "t")
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_files(repo_id)


def test_who_a_token_is_is_kept_within_the_hubs_cache_budget_and_looked_up_again_once_dropped(tmp_path):
    budget = 32 * 1024
    app = create_app(ServerConfig(root=tmp_path / "hub", cache_size=budget))
    accounts, cache = app.state.hub.auth.accounts, app.state.hub.storage.cache
    accounts.add_user("eve")
    token = accounts.create_token("eve", "t", "write")

    def whoami(client: TestClient, bearer: str) -> requests.Response:
        return client.get("/api/whoami-v2", headers={"Authorization": f"Bearer {bearer}"})

    assert whoami(TestClient(app), token).json()["name"] == "eve"
    for address in range(16):  # 20 unknown tokens from each of 16 addresses: none throttled, 320 answers
        client = TestClient(app, client=(f"10.0.0.{address}", 1000))
        assert {whoami(client, f"unknown-{address}-{n}").status_code for n in range(20)} == {403}
    assert budget // 2 < cache.bytes <= budget  # the answers fill the hub's one cache, and no more
    client = TestClient(app)
    assert whoami(client, token).json()["name"] == "eve"  # its answer was dropped: looked up again
    accounts.revoke_token("eve", "t")
    assert whoami(client, token).status_code == 403
    app.state.hub.auth.db.close()


def test_an_expired_token_is_refused_and_last_use_is_recorded(hub_server, hub_accounts):
    user = _user(hub_accounts, "temp")
    lasting = hub_accounts.create_token(user, "lasting", "write")
    brief = hub_accounts.create_token(user, "brief", "write", expires_at=int(time.time()) + 1)
    for token in (lasting, brief):
        assert HfApi(endpoint=hub_server.endpoint, token=token).whoami()["name"] == user
    time.sleep(1.1)
    with pytest.raises(HfHubHTTPError):
        HfApi(endpoint=hub_server.endpoint, token=brief).create_repo(f"{user}/late")
    listed = {token.name: token for token in hub_accounts.tokens(user)}
    assert abs(listed["lasting"].last_used_at - time.time()) < 60


def test_whoami_names_organisations_with_roles_and_the_token_role(hub_server, hub_accounts):
    user, org = _user(hub_accounts, "who"), f"whoorg-{uuid.uuid4().hex[:6]}"
    hub_accounts.add_org(org, admin=user)
    read = HfApi(endpoint=hub_server.endpoint, token=hub_accounts.create_token(user, "r", "read")).whoami()
    assert read["name"] == user and read["auth"]["accessToken"]["role"] == "read"
    assert read["orgs"] == [{"type": "org", "name": org, "fullname": org, "roleInOrg": "admin"}]
    limited = hub_accounts.create_token(user, "l", "write", orgs=(org,))
    token = HfApi(endpoint=hub_server.endpoint, token=limited).whoami()["auth"]["accessToken"]
    assert token["role"] == "fineGrained" and token["fineGrained"]["scoped"][0]["entity"]["name"] == org.lower()


def test_gated_repos_answer_as_the_public_hub_until_access_is_accepted(hub_server, hub_accounts, tmp_path,
                                                                       monkeypatch):
    owner, asker = _user(hub_accounts, "owner"), _user(hub_accounts, "asker")
    repo_id = f"{owner}/gated"
    owner_api = HfApi(endpoint=hub_server.endpoint, token=hub_accounts.create_token(owner, "t", "write"))
    owner_api.create_repo(repo_id)
    owner_api.upload_file(path_or_fileobj=b'{"model_type": "bert"}', path_in_repo="config.json", repo_id=repo_id)
    owner_api.update_repo_settings(repo_id, gated="manual")
    asker_token = hub_accounts.create_token(asker, "t", "read")

    def download(token: str | bool) -> str:
        return hf_hub_download(repo_id, "config.json", endpoint=hub_server.endpoint, token=token,
                               cache_dir=tmp_path / uuid.uuid4().hex)

    for token, status in ((False, 401), (asker_token, 403)):
        with pytest.raises(GatedRepoError) as refused:
            download(token)
        assert refused.value.response.status_code == status
    assert owner_api.model_info(repo_id).gated == "manual"
    monkeypatch.setenv("BERTHUB_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "berthub-cache"))
    with pytest.raises(AuthError, match=f"request access on {hub_server.endpoint}/{repo_id}"):
        resolve_model(repo_id, token=asker_token)

    access = AccessRequests(hub_accounts.db)
    assert access.ask(repo_id, asker, "manual") == "pending"  # what the page's "Request access" button does
    assert [r.username for r in owner_api.list_pending_access_requests(repo_id)] == [asker]
    owner_api.accept_access_request(repo_id, asker)
    assert json.loads(Path(download(asker_token)).read_text()) == {"model_type": "bert"}
    owner_api.reject_access_request(repo_id, asker, rejection_reason="no")
    with pytest.raises(GatedRepoError):
        download(asker_token)
    owner_api.grant_access(repo_id, asker)
    assert [r.username for r in owner_api.list_accepted_access_requests(repo_id)] == [asker]
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=hub_server.endpoint, token=asker_token).grant_access(repo_id, asker)
    assert refused.value.response.status_code == 403
    owner_api.update_repo_settings(repo_id, gated="auto")
    late = _user(hub_accounts, "late")
    assert access.ask(repo_id, late, "auto") == "accepted"


def test_a_root_from_before_accounts_starts_with_its_repos_and_its_token_file_tokens_still_write(tmp_path):
    root = tmp_path / "old-root"
    shutil.copytree(LEGACY_ROOT, root)  # berthub 0.2's layout; before accounts there was no berthub.db either
    (root / "berthub.db").unlink()
    with running_hub(root, extra_args=("--token-file", str(LEGACY_ROOT / "tokens"))) as hub:
        alice = HfApi(endpoint=hub.endpoint, token="tok-alice-0001")
        assert sorted(model.id for model in alice.list_models()) == ["acme/Secret-Model", "acme/tiny-bert", "bob/kept"]
        assert sorted(model.id for model in HfApi(endpoint=hub.endpoint, token=False).list_models()) == \
            ["acme/tiny-bert", "bob/kept"]
        alice.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id="acme/secret-model")
        alice.create_repo("anywhere/new")
        assert alice.whoami()["name"] == "alice"
        assert Database.open(default_url(root), migrate=False).revision() == schema.HEAD
        assert requests.get(f"{hub.endpoint}/acme/Secret-Model/resolve/main/config.json",
                            headers={"Authorization": "Bearer tok-alice-0001"}).content == b"{}"
