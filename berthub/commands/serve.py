"""`berthub serve`: run a hub (Hugging Face hub API + web pages) on a local folder."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from berthub.errors import ConfigError
from berthub.sources.settings import SERVER_TOKEN_VARIABLE

if TYPE_CHECKING:
    from berthub.server.http import ServerConfig
    from berthub.server.storage import Storage

EPILOG = """\
examples:
  # a hub on this machine; public repos are readable by all, the token (a hub admin) writes everywhere
  BERTHUB_SERVER_TOKEN=s3cret berthub serve --root ./hub-data --port 8080

  # accounts for a team: users, organisations, their tokens (see `berthub accounts --help`)
  berthub accounts --root ./hub-data user add alice
  berthub accounts --root ./hub-data token create alice --name laptop --role write

  # reachable from other machines, tokens from a file (one per line, or NAME:TOKEN), 4 workers
  berthub serve --root /srv/berthub --host 0.0.0.0 --token-file /etc/berthub/tokens --workers 4

  # several replicas behind a load balancer: one PostgreSQL, one S3 bucket, a --root each (docs/hub-server.md)
  S3_ENDPOINT_URL=http://s3.internal:7480 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
    berthub serve --root /var/lib/berthub --database postgresql+psycopg://hub@db/berthub \
    --storage s3://models/hub --public-url https://hub.example.org --port 8081

  # a mirror: repos it lacks come from the public hub once, then it serves them itself
  berthub serve --root ./mirror --mirror-of https://huggingface.co --mirror-allow 'google-bert/*'

  # then, from any machine:
  BERTHUB_TOKEN=s3cret berthub push ./converted my-org/my-bert --endpoint http://HOST:8080
  HF_ENDPOINT=http://HOST:8080 python -c \
    'from transformers import AutoModel; AutoModel.from_pretrained("my-org/my-bert")'
"""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


def parse_size(text: str) -> int:
    """'500MB', '2GiB', '1000' -> bytes."""
    match = _SIZE.match(text)
    unit = (match.group(2) or "").lower().rstrip("b") if match else ""
    if not match or unit not in _UNITS:
        raise ConfigError(f"Invalid size '{text}': use a number with an optional unit, like 500MB or 2GiB.")
    return int(float(match.group(1)) * _UNITS[unit])


def read_tokens(token_files: list[str]) -> dict[str, str]:
    """Tokens from BERTHUB_SERVER_TOKEN (comma separated) and token files (`TOKEN` or `NAME:TOKEN` lines)."""
    tokens: dict[str, str] = {}
    for token in os.environ.get(SERVER_TOKEN_VARIABLE, "").split(","):
        if token.strip():
            tokens[token.strip()] = "berthub"
    for token_file in token_files:
        try:
            lines = Path(token_file).read_text().splitlines()
        except OSError as error:
            raise ConfigError(f"Cannot read --token-file '{token_file}': {error.strerror}.") from None
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, token = line.rpartition(":")
                tokens[token.strip()] = name.strip() or "berthub"
    return tokens


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run a hub: HF-compatible API and web pages",
        description="Serve model repos from --root over the Hugging Face hub HTTP API (huggingface_hub, "
                    "transformers and berthub read and write it) with web pages to browse them. Public repos "
                    "are readable by all; users, organisations and their tokens (`berthub accounts`) decide "
                    "the rest, and BERTHUB_SERVER_TOKEN / --token-file tokens are hub admins.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder holding the hub's data (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default: 8080)")
    parser.add_argument("--token-file", action="append", default=[],
                        help="file of write tokens, one per line (`TOKEN` or `NAME:TOKEN`); repeatable")
    parser.add_argument("--max-upload-size", default="50GB", help="largest file accepted (default: 50GB)")
    parser.add_argument("--max-commit-size", default="256MiB",
                        help="largest commit body, where small files travel inline (default: 256MiB)")
    parser.add_argument("--max-request-size", default="1MiB",
                        help="largest body of any other request, e.g. JSON API calls (default: 1MiB)")
    parser.add_argument("--max-card-size", default="1MiB",
                        help="README.md / config.json larger than this are not parsed or rendered (default: 1MiB)")
    parser.add_argument("--max-header-size", default="64KiB",
                        help="largest request line + headers of one request; 431 beyond (default: 64KiB)")
    parser.add_argument("--max-headers", type=int, default=100,
                        help="most header lines in one request; 431 beyond (default: 100)")
    parser.add_argument("--header-timeout", type=float, default=10.0,
                        help="seconds a client has to send a request's headers; 408 and closed after "
                             "(default: 10)")
    parser.add_argument("--cache-size", default="256MiB",
                        help="memory for what the hub remembers between requests: commit trees, parsed "
                             "cards (default: 256MiB)")
    parser.add_argument("--min-free-space", default="100MiB",
                        help="disk space writes leave free: below it they are refused with 507 and "
                             "/api/health says low_disk (default: 100MiB)")
    parser.add_argument("--public-url", help="URL clients reach this hub at, when behind a proxy")
    parser.add_argument("--database", help="SQLAlchemy URL of the hub's database: accounts, repos, commits, refs "
                                           "(default: SQLite file berthub.db under --root; e.g. "
                                           "postgresql+psycopg://user@host/berthub, shared by replicas)")
    parser.add_argument("--storage", help="where file contents live: a folder, or s3://BUCKET/PREFIX (credentials: "
                                          "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_ENDPOINT_URL; default: "
                                          "under --root)")
    parser.add_argument("--redirect-downloads", action="store_true",
                        help="with --storage s3://: downloads answer 302 to a presigned URL of the object instead "
                             "of streaming it through the hub (clients must reach the S3 endpoint)")
    parser.add_argument("--mirror-of", metavar="URL", help="fetch repos this hub does not hold from the hub at URL "
                                                           "on first request, and keep them (token: "
                                                           "BERTHUB_MIRROR_TOKEN)")
    parser.add_argument("--mirror-refresh", type=float, default=300.0, metavar="SECONDS",
                        help="with --mirror-of: serve a mirrored branch this long before asking the upstream where "
                             "it points now (default: 300)")
    parser.add_argument("--mirror-allow", action="append", default=[], metavar="PATTERN",
                        help="with --mirror-of: repo ids that may be mirrored (shell pattern, e.g. 'google-bert/*'); "
                             "repeatable; default: any")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--no-access-log", action="store_true", help="do not log every request")
    parser.set_defaults(func=run)


def _config(args: argparse.Namespace) -> ServerConfig:
    """The server's configuration from the command line; every invalid option is reported at once."""
    from berthub.server.http import ServerConfig

    problems = []
    if not 1 <= args.port <= 65535:
        problems.append(f"--port must be 1-65535, got {args.port}")
    if args.workers < 1:
        problems.append(f"--workers must be at least 1, got {args.workers}")
    if args.public_url and not re.match(r"^https?://[^/\s]+", args.public_url):
        problems.append(f"--public-url must be an http(s) URL like https://hub.example.org, got {args.public_url!r}")
    if args.max_headers < 1:
        problems.append(f"--max-headers must be at least 1, got {args.max_headers}")
    if not args.header_timeout > 0:
        problems.append(f"--header-timeout must be a positive number of seconds, got {args.header_timeout}")
    sizes = {}
    for option in ("max_upload_size", "max_commit_size", "max_request_size", "max_card_size", "max_header_size",
                   "cache_size", "min_free_space"):
        try:
            sizes[option] = parse_size(getattr(args, option))
        except ConfigError as error:
            problems.append(f"--{option.replace('_', '-')}: {error}")
    if sizes.get("max_header_size", 1024) < 1024:
        problems.append(f"--max-header-size must be at least 1KiB, got {args.max_header_size}")
    problems += _scale_problems(args)
    if problems:
        raise ConfigError("; ".join(problems) + ".")
    return ServerConfig(root=Path(args.root).expanduser().resolve(), tokens=read_tokens(args.token_file),
                        public_url=args.public_url, max_headers=args.max_headers,
                        header_timeout=args.header_timeout, database=args.database, storage=args.storage,
                        redirect_downloads=args.redirect_downloads, mirror_of=args.mirror_of,
                        mirror_refresh=args.mirror_refresh, mirror_allow=tuple(args.mirror_allow), **sizes)


def _scale_problems(args: argparse.Namespace) -> list[str]:
    """Problems with the options for storage, replicas and mirroring."""
    from berthub.server.objectstore.opening import validate_storage

    problems = [problem for problem in [validate_storage(args.storage)] if problem]
    if args.redirect_downloads and not (args.storage or "").startswith("s3://"):
        problems.append("--redirect-downloads needs --storage s3://...: blobs on disk are sent directly")
    if args.mirror_of and not re.match(r"^https?://[^/\s]+", args.mirror_of):
        problems.append(f"--mirror-of must be an http(s) URL like https://huggingface.co, got {args.mirror_of!r}")
    if args.mirror_refresh < 0:
        problems.append(f"--mirror-refresh must be 0 or more seconds, got {args.mirror_refresh}")
    if (args.mirror_allow or args.mirror_refresh != 300.0) and not args.mirror_of:
        problems.append("--mirror-allow and --mirror-refresh need --mirror-of URL")
    return problems


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from berthub.server.accounts.auth import log_to_stderr
    from berthub.server.app import CONFIG_ENV, create_app
    from berthub.server.connections import protocol_class
    from berthub.server.metrics import MULTIPROCESS_VARIABLE

    config = _config(args)
    storage = open_hub(config, args.root)
    removed = storage.recover()  # before any worker serves: no upload of this process is in flight yet
    if removed:
        print(f"berthub serve: removed {removed} interrupted upload(s)", file=sys.stderr)
    _migrate_in_place(config, storage)
    storage.db.close()
    if not config.tokens:
        print("berthub serve: no hub-admin token (BERTHUB_SERVER_TOKEN or --token-file): only accounts "
              "(`berthub accounts`) can write", file=sys.stderr)
    log_to_stderr()
    # The protocol puts the header limits in front of uvicorn's parser (server.connections); h11's own
    # bound on buffered header bytes must not be the smaller one.
    options = dict(host=args.host, port=args.port, access_log=not args.no_access_log, log_level="info",
                   timeout_keep_alive=30, http=protocol_class(), h11_max_incomplete_event_size=config.max_header_size)
    if args.workers == 1:
        uvicorn.run(create_app(config), **options)
    else:
        os.environ[CONFIG_ENV] = json.dumps(config.to_json())  # inherited by the worker processes
        if not os.environ.get(MULTIPROCESS_VARIABLE):  # /metrics of any worker adds up all of them
            metrics_dir = config.root / "tmp" / "metrics"
            metrics_dir.mkdir(parents=True, exist_ok=True)
            os.environ[MULTIPROCESS_VARIABLE] = str(metrics_dir)
        uvicorn.run("berthub.server.app:app_from_env", factory=True, workers=args.workers, **options)
    return 0


def open_hub(config: ServerConfig, root_option: str) -> Storage:
    """The storage `config` describes, checked to answer; one line naming the fix when it cannot."""
    from berthub.server.app import open_storage

    try:
        storage = open_storage(config)
    except OSError as error:
        raise ConfigError(f"Cannot use --root '{root_option}': {error.strerror or error}. Pick a folder this user "
                          "can create and write.") from None
    except ImportError as error:
        raise ConfigError(f"--storage / --database need a package that is not installed ({error.name}): "
                          "pip install 'berthub[server]'.") from None
    try:
        storage.objects.check()
    except OSError as error:
        raise ConfigError(f"Cannot use --storage {config.storage!r}: {error.strerror or error}.") from None
    return storage


def _migrate_in_place(config: ServerConfig, storage: Storage) -> None:
    """A root of berthub 0.2 or earlier (repos as files): moved into the database at once when its blobs
    stay where they are; with blobs to copy into object storage, `berthub hub migrate` does it."""
    from berthub.server.legacy import blobs_in_place, migrate_root, needs_migration

    if not needs_migration(config.root):
        return
    if not blobs_in_place(config.root, storage):
        raise ConfigError(f"--root '{config.root}' holds repos in the layout of berthub 0.2 (repos/): move them into "
                          "the database and its blobs into --storage first, with `berthub hub migrate --root ... "
                          "--storage ... --database ...`.")
    report = migrate_root(config.root, storage)
    print(f"berthub serve: {report.summary()} (the old files are kept in {config.root / 'repos.migrated'})",
          file=sys.stderr)
