"""`berthub hub`: operations on a `berthub serve` hub's storage (moving a hub of berthub 0.2 into the
database and, optionally, its blobs into object storage)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
examples:
  # a hub of berthub 0.2 (repos as files under --root): into its SQLite database, blobs stay in place
  # (`berthub serve` does this by itself on its first start)
  berthub hub migrate --root ./hub-data

  # into PostgreSQL and S3, for several replicas (blobs are copied: nothing under --root is deleted)
  S3_ENDPOINT_URL=http://s3.internal:7480 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
    berthub hub migrate --root ./hub-data --database postgresql+psycopg://hub@db/berthub --storage s3://models/hub
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hub", help="operate a `berthub serve` hub's storage (migrate)",
        description="Operations on the storage of a hub that `berthub serve` runs.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    migrate = actions.add_parser(
        "migrate", help="move a hub of berthub 0.2 (repos as files under --root) into the database",
        description="Move every repo, commit, branch and tag of a berthub 0.2 root into the hub's database "
                    "(commit ids kept), and its blobs into --storage when that is object storage. Safe to run "
                    "again after an interruption; the old files are kept in repos.migrated/.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    migrate.add_argument("--root", required=True, help="the hub's --root folder")
    migrate.add_argument("--database", help="the hub's --database URL (default: SQLite berthub.db under --root)")
    migrate.add_argument("--storage", help="the hub's --storage: a folder or s3://BUCKET/PREFIX (default: --root)")
    migrate.set_defaults(func=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from berthub.commands.serve import open_hub
    from berthub.errors import ConfigError
    from berthub.server.http import ServerConfig
    from berthub.server.legacy import migrate_root, needs_migration
    from berthub.server.objectstore.opening import validate_storage

    problem = validate_storage(args.storage)
    if problem:
        raise ConfigError(problem)
    root = Path(args.root).expanduser().resolve()
    if not needs_migration(root):
        raise ConfigError(f"--root '{args.root}' holds no repos to migrate (no repos/ folder of berthub 0.2): "
                          "nothing to do.")
    storage = open_hub(ServerConfig(root=root, database=args.database, storage=args.storage), args.root)
    report = migrate_root(root, storage, lambda items, total, what: tqdm(items, total=total, desc=what,
                                                                          unit="", file=sys.stderr))
    print(f"berthub hub migrate: {report.summary()}; the old files are kept in {root / 'repos.migrated'}")
    return 0
