"""Accounts: users and organisations, memberships, tokens and their scopes, web sessions, access
requests to gated repos, failed logins, and the change counter.

A hub from before this migration had no database at all: its repos live on disk and its tokens in
--token-file / BERTHUB_SERVER_TOKEN, and both keep working unchanged.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME, REPO_KEY = 96, 193


def _account_fk(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["accounts.id"], ondelete="CASCADE",
                                   name=f"fk_{table}_{column}_accounts")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("name_key", sa.String(NAME), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("name_key", name="uq_accounts_name_key"),
    )
    op.create_table(
        "memberships",
        sa.Column("org_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "user_id", name="pk_memberships"),
        _account_fk("org_id", "memberships"),
        _account_fk("user_id", "memberships"),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("last_used_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("hash", name="uq_tokens_hash"),
        sa.UniqueConstraint("user_id", "name", name="uq_tokens_user_id"),
        _account_fk("user_id", "tokens"),
    )
    op.create_table(
        "token_scopes",
        sa.Column("token_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("target", sa.String(REPO_KEY), nullable=False),
        sa.PrimaryKeyConstraint("token_id", "kind", "target", name="pk_token_scopes"),
        sa.ForeignKeyConstraint(["token_id"], ["tokens.id"], ondelete="CASCADE",
                                name="fk_token_scopes_token_id_tokens"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.UniqueConstraint("hash", name="uq_web_sessions_hash"),
        _account_fk("user_id", "web_sessions"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("repo_key", sa.String(REPO_KEY), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_requests"),
        sa.UniqueConstraint("repo_key", "user_id", name="uq_access_requests_repo_key"),
        _account_fk("user_id", "access_requests"),
    )
    op.create_index("ix_access_requests_user_id", "access_requests", ["user_id"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name_key", sa.String(NAME), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )
    for column in ("name_key", "address", "at"):
        op.create_index(f"ix_login_failures_{column}", "login_failures", [column])
    state = op.create_table(
        "accounts_state",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts_state"),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    for table in ("accounts_state", "login_failures", "access_requests", "web_sessions", "token_scopes", "tokens",
                  "memberships", "accounts"):
        op.drop_table(table)
