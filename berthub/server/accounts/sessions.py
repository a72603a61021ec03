"""Web sign-in: sessions behind a cookie, and the limit on failed logins.

A session cookie holds 256 random bits; the database keeps only its sha256, so a leaked database
signs no one in. Failed logins are recorded in the database (shared by every worker and replica):
after MAX_FAILURES_PER_NAME failures for one name, or MAX_FAILURES_PER_ADDRESS from one address,
within LOGIN_WINDOW_S, further attempts are refused until the oldest failure leaves the window,
whatever the password. Each attempt also costs one scrypt (passwords.py).
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, insert, select

from berthub.server.accounts.policy import Caller
from berthub.server.accounts.store import USER, digest, now, user_caller
from berthub.server.db.engine import Database, bump_generation
from berthub.server.db.schema import accounts, login_failures, web_sessions

SESSION_TTL_S = 14 * 24 * 3600
LOGIN_WINDOW_S = 15 * 60
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 20


class Sessions:
    """Sessions and failed logins in the hub database. Methods block: call them from a thread."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def start(self, user: str) -> str:
        """A new session for `user` (who must exist); returns the cookie value."""
        secret = secrets.token_urlsafe(32)
        at = now()
        with self.db.write() as connection:
            user_id = connection.execute(select(accounts.c.id).where(
                accounts.c.name_key == user.lower(), accounts.c.kind == USER)).scalar_one()
            connection.execute(delete(web_sessions).where(web_sessions.c.expires_at < at))
            connection.execute(insert(web_sessions).values(hash=digest(secret), user_id=user_id, created_at=at,
                                                           expires_at=at + SESSION_TTL_S))
            bump_generation(connection)
        return secret

    def caller(self, session_hash: str) -> Caller | None:
        with self.db.read() as connection:
            row = connection.execute(select(web_sessions.c.user_id, web_sessions.c.expires_at, accounts.c.name)
                                     .join_from(web_sessions, accounts, accounts.c.id == web_sessions.c.user_id)
                                     .where(web_sessions.c.hash == session_hash)).first()
            return user_caller(connection, row.user_id, row.name, row.expires_at) if row is not None else None

    def end(self, session_hash: str) -> None:
        with self.db.write() as connection:
            connection.execute(delete(web_sessions).where(web_sessions.c.hash == session_hash))
            bump_generation(connection)

    def wait_before_login(self, name: str, address: str) -> int:
        """Seconds until a login for `name` from `address` may be tried again; 0: it may be tried now."""
        since = now() - LOGIN_WINDOW_S
        waits = [0]
        with self.db.read() as connection:
            for column, value, limit in ((login_failures.c.name_key, name.lower(), MAX_FAILURES_PER_NAME),
                                         (login_failures.c.address, address, MAX_FAILURES_PER_ADDRESS)):
                count, oldest = connection.execute(select(func.count(), func.min(login_failures.c.at)).where(
                    column == value, login_failures.c.at > since)).one()
                if count >= limit:
                    waits.append(oldest - since)
        return max(waits)

    def record_failure(self, name: str, address: str) -> None:
        at = now()
        with self.db.write() as connection:
            connection.execute(delete(login_failures).where(login_failures.c.at <= at - LOGIN_WINDOW_S))
            connection.execute(insert(login_failures).values(name_key=name.lower()[:96], address=address[:64], at=at))

    def clear_failures(self, name: str) -> None:
        """After a successful login: the name's earlier mistakes no longer count against it."""
        with self.db.write() as connection:
            connection.execute(delete(login_failures).where(login_failures.c.name_key == name.lower()))
