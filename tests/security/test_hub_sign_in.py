"""Signing in to the hub's pages and guessing secrets: cookies, CSRF, rate limits, what is logged.

One server for the module (its address ends up blocked for unknown tokens by the last test).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
import requests
from hubserver import running_hub
from starlette.testclient import TestClient

from berthub.server.accounts.auth import BAD_SECRETS_LIMIT
from berthub.server.accounts.sessions import MAX_FAILURES_PER_NAME
from berthub.server.accounts.store import Accounts, digest
from berthub.server.app import create_app
from berthub.server.db.engine import Database, default_url
from berthub.server.http import ServerConfig

PASSWORDS = {"sam": "sam's long password", "eve": "eve's long password"}
SECRETS: list[str] = list(PASSWORDS.values())  # every secret used here: none may reach the server's log


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("sign-in") / "root") as server:
        database = Database.open(default_url(server.root))
        for name, password in PASSWORDS.items():
            Accounts(database).add_user(name, password)
        Accounts(database).add_org("crew", admin="sam")
        database.close()
        yield server


def _csrf(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', session.get(url).text).group(1)


def _sign_in(hub, name: str, password: str | None = None) -> requests.Session:
    session = requests.Session()
    answer = session.post(f"{hub.endpoint}/login", allow_redirects=False, data={
        "name": name, "password": password or PASSWORDS[name], "csrf": _csrf(session, f"{hub.endpoint}/login")})
    assert answer.status_code == 303, answer.text
    return session


def test_signing_in_sets_a_strict_session_cookie_and_signing_out_ends_the_session(hub):
    session = requests.Session()
    answer = session.post(f"{hub.endpoint}/login", allow_redirects=False, data={
        "name": "sam", "password": PASSWORDS["sam"], "csrf": _csrf(session, f"{hub.endpoint}/login"),
        "next": "//evil.example/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/"  # never off this hub
    cookie = next(c for c in answer.raw.headers.getlist("Set-Cookie") if c.startswith("berthub_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    page = session.get(f"{hub.endpoint}/settings/tokens")
    assert page.status_code == 200 and 'id="viewer"' in page.text
    stolen = session.cookies.get("berthub_session")
    assert session.post(f"{hub.endpoint}/logout", data={"csrf": _csrf(session, f"{hub.endpoint}/settings/tokens")},
                        allow_redirects=False).status_code == 303
    replay = requests.get(f"{hub.endpoint}/settings/tokens", cookies={"berthub_session": stolen},
                          allow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


def test_behind_https_the_cookies_are_secure_and_host_bound(tmp_path: Path):
    config = ServerConfig(root=tmp_path / "hub", public_url="https://hub.example.org")
    client = TestClient(create_app(config), base_url="https://hub.example.org")
    database = Database.open(default_url(config.root))
    Accounts(database).add_user("sam", PASSWORDS["sam"])
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    answer = client.post("/login", data={"name": "sam", "password": PASSWORDS["sam"], "csrf": csrf},
                         follow_redirects=False)
    cookies = answer.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("__Host-berthub_session="))
    assert "Secure" in session and "HttpOnly" in session and "Path=/" in session
    assert all("Secure" in c for c in cookies)
    database.close()


@pytest.mark.parametrize("path", ["/login", "/logout", "/settings/tokens", "/settings/tokens/revoke",
                                  "/organizations/crew/members", "/crew/some-model/ask-access"])
def test_every_form_refuses_a_post_without_this_browsers_csrf_field(hub, path):
    signed_in = _sign_in(hub, "sam")
    other = _sign_in(hub, "eve")
    foreign = _csrf(other, f"{hub.endpoint}/settings/tokens")  # valid, but for another browser
    for data in ({}, {"csrf": foreign}, {"csrf": "0" * 64}):
        answer = signed_in.post(f"{hub.endpoint}{path}", data={**data, "name": "x", "user": "eve"},
                                allow_redirects=False)
        assert answer.status_code == 403 and "form expired" in answer.text


def test_a_token_made_on_the_settings_page_is_shown_once_and_revoked_there(hub):
    session = _sign_in(hub, "sam")
    page = session.post(f"{hub.endpoint}/settings/tokens", data={
        "csrf": _csrf(session, f"{hub.endpoint}/settings/tokens"), "name": "laptop", "role": "write"})
    assert page.status_code == 201
    token = re.search(r'id="new-token">(bh_[^<]+)<', page.text).group(1)
    SECRETS.append(token)
    assert token not in session.get(f"{hub.endpoint}/settings/tokens").text
    whoami = requests.get(f"{hub.endpoint}/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})
    assert whoami.json()["name"] == "sam" and whoami.json()["auth"]["accessToken"]["displayName"] == "laptop"
    listing = session.get(f"{hub.endpoint}/settings/tokens").text
    token_id = re.search(r'name="token_id" value="(\d+)"', listing).group(1)
    session.post(f"{hub.endpoint}/settings/tokens/revoke", data={
        "csrf": _csrf(session, f"{hub.endpoint}/settings/tokens"), "token_id": token_id})
    assert requests.get(f"{hub.endpoint}/api/whoami-v2",
                        headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_failed_sign_ins_are_limited_per_name_and_logged_without_the_password(hub):
    session = requests.Session()
    for attempt in range(MAX_FAILURES_PER_NAME):
        wrong = f"wrong guess {attempt}"
        SECRETS.append(wrong)
        answer = session.post(f"{hub.endpoint}/login", data={
            "name": "sam", "password": wrong, "csrf": _csrf(session, f"{hub.endpoint}/login")})
        assert answer.status_code == 401 and "Wrong name or password" in answer.text
    answer = session.post(f"{hub.endpoint}/login", data={
        "name": "sam", "password": PASSWORDS["sam"], "csrf": _csrf(session, f"{hub.endpoint}/login")})
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    _sign_in(hub, "eve")  # another name from the same address is not locked out
    log = hub.log()
    assert log.count("failed sign-in for 'sam' from 127.0.0.1") == MAX_FAILURES_PER_NAME
    assert "sign-in for 'sam' from 127.0.0.1 refused: too many failed attempts" in log


def test_guessing_tokens_is_refused_after_the_limit_and_logged_by_fingerprint(hub):
    database = Database.open(default_url(hub.root))
    valid = Accounts(database).create_token("eve", "never-used", "write")
    database.close()
    earlier = hub.log().count("auth: unknown ")  # secrets of earlier tests (a session cookie replayed after sign-out)
    guesses = ["bh_" + secrets.token_urlsafe(32) for _ in range(BAD_SECRETS_LIMIT - earlier)]
    SECRETS.extend([valid, *guesses])

    def create(token: str) -> requests.Response:
        return requests.post(f"{hub.endpoint}/api/repos/create", json={"name": "x", "organization": "eve"},
                             headers={"Authorization": f"Bearer {token}"})

    assert [create(guess).status_code for guess in guesses] == [403] * len(guesses)
    refused = create("bh_" + secrets.token_urlsafe(32))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert create(valid).status_code == 429  # not even looked up while the address is blocked
    assert requests.get(f"{hub.endpoint}/api/models", headers={"Authorization": "Bearer x"}).status_code == 429
    assert requests.get(f"{hub.endpoint}/api/models").status_code == 200  # without a token: served
    log = hub.log()
    assert log.count("auth: unknown ") == BAD_SECRETS_LIMIT
    assert all(f"unknown token {digest(guess)[:12]} from 127.0.0.1" in log for guess in guesses)
    assert "presented 20 unknown tokens or session cookies" in log


def test_no_secret_ever_reaches_the_log(hub):
    log = hub.log()
    assert log and not [secret for secret in SECRETS if secret in log]
