"""Repos, commits and refs in the database (so several replicas share them), the hub's shared settings
(its signing secret) and leases.

A hub whose repos still live under --root/repos/ (berthub 0.2 and earlier) gets them moved into these
tables by `berthub hub migrate`, or by `berthub serve` itself on its first start when it keeps its
blobs on local disk (berthub.server.legacy).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UID, REPO_KEY, STAMP = 32, 193, 24


def _repo_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["repo_uid"], ["repos.uid"], ondelete="CASCADE", name=f"fk_{table}_repo_uid_repos")


def upgrade() -> None:
    op.create_table(
        "repos",
        sa.Column("uid", sa.String(UID), nullable=False),
        sa.Column("repo_id", sa.String(REPO_KEY), nullable=False),
        sa.Column("repo_key", sa.String(REPO_KEY), nullable=False),
        sa.Column("private", sa.Boolean, nullable=False),
        sa.Column("gated", sa.String(8)),
        sa.Column("created_at", sa.String(STAMP), nullable=False),
        sa.Column("mirrored", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("uid", name="pk_repos"),
        sa.UniqueConstraint("repo_key", name="uq_repos_repo_key"),
    )
    op.create_table(
        "commits",
        sa.Column("repo_uid", sa.String(UID), nullable=False),
        sa.Column("commit_id", sa.String(40), nullable=False),
        sa.Column("parent", sa.String(40)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("date", sa.String(STAMP), nullable=False),
        sa.Column("tree", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("repo_uid", "commit_id", name="pk_commits"),
        _repo_fk("commits"),
    )
    op.create_table(
        "refs",
        sa.Column("repo_uid", sa.String(UID), nullable=False),
        sa.Column("kind", sa.String(5), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_key", sa.String(100), nullable=False),
        sa.Column("commit_id", sa.String(40), nullable=False),
        sa.Column("checked_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("repo_uid", "kind", "name", name="pk_refs"),
        sa.UniqueConstraint("repo_uid", "name_key", name="uq_refs_repo_uid"),
        _repo_fk("refs"),
    )
    op.create_table(
        "hub_settings",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_hub_settings"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    for table in ("leases", "hub_settings", "refs", "commits", "repos"):
        op.drop_table(table)
