"""`berthub accounts`: users, organisations and tokens of a `berthub serve` hub, in its database.

Works while the hub runs: every change reaches every server process on its next request.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from berthub.errors import ConfigError

if TYPE_CHECKING:
    from berthub.server.accounts.store import Accounts

EPILOG = """\
examples:
  berthub accounts --root ./hub-data user add alice                     # asks for a password
  echo "$PASSWORD" | berthub accounts --root ./hub-data user add ci --password-stdin
  berthub accounts --root ./hub-data user add robot --no-password       # tokens only, no web sign-in
  berthub accounts --root ./hub-data org create acme --admin alice
  berthub accounts --root ./hub-data org add acme bob --role write
  berthub accounts --root ./hub-data token create alice --name laptop --role write --expires 90
  berthub accounts --root ./hub-data token create robot --name deploy --role read --repo acme/bert
  berthub accounts --root ./hub-data token list alice
  berthub accounts --root ./hub-data token revoke alice laptop
  berthub accounts --database postgresql+psycopg://hub@db/berthub user passwd alice
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "accounts", help="users, organisations and tokens of a `berthub serve` hub",
        description="Manage the accounts of a hub: users (who sign in to the web pages and own tokens), "
                    "organisations with read / write / admin members, and tokens (shown once, stored hashed).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--root", help="the hub's --root: its database is berthub.db there")
    where.add_argument("--database", help="the hub's --database URL (SQLAlchemy), e.g. sqlite:///hub.db")
    kinds = parser.add_subparsers(dest="kind", metavar="WHAT", required=True)
    _user_commands(kinds.add_parser("user", help="add users, set passwords").add_subparsers(
        dest="action", metavar="ACTION", required=True))
    _token_commands(kinds.add_parser("token", help="create, list and revoke tokens").add_subparsers(
        dest="action", metavar="ACTION", required=True))
    _org_commands(kinds.add_parser("org", help="create organisations, add and remove members").add_subparsers(
        dest="action", metavar="ACTION", required=True))
    parser.set_defaults(func=run)


def _password_options(parser: argparse.ArgumentParser, allow_none: bool) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    if allow_none:
        group.add_argument("--no-password", action="store_true", help="no web sign-in: the user works with tokens")


def _user_commands(actions: argparse._SubParsersAction) -> None:
    add = actions.add_parser("add", help="a new user")
    add.add_argument("name")
    _password_options(add, allow_none=True)
    add.set_defaults(handler=_user_add)
    passwd = actions.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    _password_options(passwd, allow_none=False)
    passwd.set_defaults(handler=_user_passwd)


def _token_commands(actions: argparse._SubParsersAction) -> None:
    create = actions.add_parser("create", help="a new token, printed once on stdout")
    create.add_argument("user")
    create.add_argument("--name", required=True, help="what the token is for (unique per user)")
    create.add_argument("--role", choices=("read", "write"), default="read", help="read never writes (default)")
    create.add_argument("--repo", action="append", default=[], help="only this repo (repeatable)")
    create.add_argument("--org", action="append", default=[], help="only repos of this organisation (repeatable)")
    create.add_argument("--expires", type=int, metavar="DAYS", help="expire after DAYS days (default: never)")
    create.set_defaults(handler=_token_create)
    listing = actions.add_parser("list", help="a user's tokens (never their secrets)")
    listing.add_argument("user")
    listing.set_defaults(handler=_token_list)
    revoke = actions.add_parser("revoke", help="delete a token; it stops working at once")
    revoke.add_argument("user")
    revoke.add_argument("name")
    revoke.set_defaults(handler=_token_revoke)


def _org_commands(actions: argparse._SubParsersAction) -> None:
    create = actions.add_parser("create", help="a new organisation")
    create.add_argument("name")
    create.add_argument("--admin", help="its first admin (a user)")
    create.set_defaults(handler=_org_create)
    add = actions.add_parser("add", help="add a member, or change their role")
    add.add_argument("org")
    add.add_argument("user")
    add.add_argument("--role", choices=("read", "write", "admin"), default="read", help="default: read")
    add.set_defaults(handler=_org_add)
    remove = actions.add_parser("remove", help="remove a member")
    remove.add_argument("org")
    remove.add_argument("user")
    remove.set_defaults(handler=_org_remove)


def _password(args: argparse.Namespace) -> str | None:
    if getattr(args, "no_password", False):
        return None
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("No password: pass --password-stdin (and the password on stdin), or --no-password for "
                          "a user who works with tokens only.")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise ConfigError("The two passwords differ; nothing was changed.")
    return first


def _user_add(accounts: Accounts, args: argparse.Namespace) -> None:
    password = _password(args)
    accounts.add_user(args.name, password)
    print(f"user {args.name} added" + ("" if password is not None else " (tokens only: no password)"),
          file=sys.stderr)


def _user_passwd(accounts: Accounts, args: argparse.Namespace) -> None:
    accounts.set_password(args.name, _password(args) or "")
    print(f"password of {args.name} changed", file=sys.stderr)


def _token_create(accounts: Accounts, args: argparse.Namespace) -> None:
    if args.expires is not None and args.expires < 1:
        raise ConfigError(f"--expires must be at least 1 day, got {args.expires}.")
    expires_at = int(time.time()) + args.expires * 86400 if args.expires else None
    token = accounts.create_token(args.user, args.name, args.role, repos=tuple(args.repo), orgs=tuple(args.org),
                                  expires_at=expires_at)
    print(token)
    print(f"token {args.name} of {args.user} ({args.role}) created; it is shown only this once", file=sys.stderr)


def _when(seconds: int | None, never: str = "never") -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M") if seconds else never


def _token_list(accounts: Accounts, args: argparse.Namespace) -> None:
    rows = [("NAME", "ROLE", "LIMITED TO", "CREATED", "EXPIRES", "LAST USED")]
    for token in accounts.tokens(args.user):
        rows.append((token.name, token.role, ",".join(token.repos + token.orgs) or "-", _when(token.created_at),
                     _when(token.expires_at), _when(token.last_used_at)))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _token_revoke(accounts: Accounts, args: argparse.Namespace) -> None:
    accounts.revoke_token(args.user, args.name)
    print(f"token {args.name} of {args.user} revoked", file=sys.stderr)


def _org_create(accounts: Accounts, args: argparse.Namespace) -> None:
    accounts.add_org(args.name, args.admin)
    print(f"organisation {args.name} created" + (f" with admin {args.admin}" if args.admin else ""), file=sys.stderr)


def _org_add(accounts: Accounts, args: argparse.Namespace) -> None:
    accounts.set_member(args.org, args.user, args.role)
    print(f"{args.user} is a member of {args.org} ({args.role})", file=sys.stderr)


def _org_remove(accounts: Accounts, args: argparse.Namespace) -> None:
    accounts.remove_member(args.org, args.user)
    print(f"{args.user} is no longer a member of {args.org}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from berthub.server.accounts.store import Accounts
    from berthub.server.db.engine import Database, default_url

    database = Database.open(args.database or default_url(args.root))
    try:
        args.handler(Accounts(database), args)
    finally:
        database.close()
    return 0
