"""The hub database's tables, as SQLAlchemy Core metadata: the one description of the schema.

The migrations in `berthub/server/db/migrations/versions/` create and change these tables; a test
compares a migrated database with this metadata, so the two cannot drift apart. A new table is added
here and in a new migration, never by editing an old one.

Times are integer Unix seconds (UTC), which every database stores and compares the same way. Names
are kept as written and matched through a lower-cased `*_key` column: `Acme` and `acme` are one
account, as repo ids are case-insensitive.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

HEAD = "0002"  # the newest migration; `Database.open` upgrades only when a database is behind it

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

NAME_LENGTH = 96  # a repo id's namespace segment
REPO_KEY_LENGTH = 2 * NAME_LENGTH + 1

# Users and organisations share one namespace, as on the public hub: one table, told apart by `kind`.
accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("name_key", String(NAME_LENGTH), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),  # "user" | "org"
    Column("password_hash", String(255)),  # users only; None: the user signs in with tokens only
    Column("created_at", BigInteger, nullable=False),
)

memberships = Table(
    "memberships", metadata,
    Column("org_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("role", String(8), nullable=False),  # "read" | "write" | "admin"
)

tokens = Table(
    "tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),  # sha256 of the token: never the token itself
    Column("role", String(8), nullable=False),  # "read" | "write"
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("last_used_at", BigInteger),
    UniqueConstraint("user_id", "name"),
)

# A token with rows here may only touch the repos and organisations they list.
token_scopes = Table(
    "token_scopes", metadata,
    Column("token_id", Integer, ForeignKey("tokens.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(4), primary_key=True),  # "repo" | "org"
    Column("target", String(REPO_KEY_LENGTH), primary_key=True),  # lower-cased repo id or org name
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id", Integer, primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),  # sha256 of the cookie's value
    Column("user_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

access_requests = Table(
    "access_requests", metadata,
    Column("id", Integer, primary_key=True),
    Column("repo_key", String(REPO_KEY_LENGTH), nullable=False),  # lower-cased repo id
    Column("user_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("status", String(8), nullable=False),  # "pending" | "accepted" | "rejected"
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("repo_key", "user_id"),
)

login_failures = Table(
    "login_failures", metadata,
    Column("id", Integer, primary_key=True),
    Column("name_key", String(NAME_LENGTH), nullable=False, index=True),
    Column("address", String(64), nullable=False, index=True),
    Column("at", BigInteger, nullable=False, index=True),
)

# One row: a number every change to accounts, tokens, memberships, sessions or access grants bumps in
# the same transaction. Servers cache who a token is and check this number on every request instead of
# looking the token up again (berthub.server.accounts.auth).
accounts_state = Table(
    "accounts_state", metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
)

# ---- repos (migration 0002) ------------------------------------------------------------------------
# A repo's `uid` is random and never reused: the servers' caches key immutable commits by it, so a repo
# deleted and created again under the same id never meets the old one's commits.
UID_LENGTH = 32
TIMESTAMP_LENGTH = 24  # the hub's timestamp format, 2025-01-01T00:00:00.000Z, as the API serves it
repos = Table(
    "repos", metadata,
    Column("uid", String(UID_LENGTH), primary_key=True),
    Column("repo_id", String(REPO_KEY_LENGTH), nullable=False),  # as created: `Acme/Pub`
    Column("repo_key", String(REPO_KEY_LENGTH), nullable=False, unique=True),  # lower-cased: `acme/pub`
    Column("private", Boolean, nullable=False),
    Column("gated", String(8)),  # None, "auto" or "manual"
    Column("created_at", String(TIMESTAMP_LENGTH), nullable=False),
    Column("mirrored", Boolean, nullable=False, server_default=false()),  # fetched from `--mirror-of`
)

# Immutable: a row is written once, in the transaction that moves a ref to it (or creates its repo).
commits = Table(
    "commits", metadata,
    Column("repo_uid", String(UID_LENGTH), ForeignKey("repos.uid", ondelete="CASCADE"), primary_key=True),
    Column("commit_id", String(40), primary_key=True),
    Column("parent", String(40)),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("author", String(255), nullable=False),
    Column("date", String(TIMESTAMP_LENGTH), nullable=False),
    Column("tree", LargeBinary, nullable=False),  # zlib-compressed JSON: [[path, sha256, size, oid, lfs], ...]
)

# Branches ("heads") and tags. A branch moves only by compare-and-swap (UPDATE ... WHERE commit_id = the
# head the commit was built on) in the transaction that inserts the new commit.
refs = Table(
    "refs", metadata,
    Column("repo_uid", String(UID_LENGTH), ForeignKey("repos.uid", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(5), primary_key=True),  # "heads" | "tags"
    Column("name", String(100), primary_key=True),
    Column("name_key", String(100), nullable=False),  # lower-cased: `Main` and `main` cannot both exist
    Column("commit_id", String(40), nullable=False),
    Column("checked_at", BigInteger),  # mirrored refs: when the upstream was last asked where it points
    UniqueConstraint("repo_uid", "name_key"),
)

# What every replica of a hub must agree on: the key that signs upload URLs, CSRF tokens and Xet tokens.
hub_settings = Table(
    "hub_settings", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Short-lived claims that one server process does a piece of work (one upstream download of a file for
# all replicas); a claim whose holder died expires (server.leases).
leases = Table(
    "leases", metadata,
    Column("name", String(255), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

__all__ = ["HEAD", "metadata", "accounts", "memberships", "tokens", "token_scopes", "web_sessions",
           "access_requests", "login_failures", "accounts_state", "repos", "commits", "refs", "hub_settings",
           "leases"]
