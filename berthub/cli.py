"""The `berthub` command.

Each command group lives in its own module under `berthub.commands` and exposes
`register(subparsers)`; this file only assembles them and turns berthub's errors into one line.
Modules import their heavy dependencies inside the handlers so `berthub --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from berthub.errors import BerthubError

_COMMAND_MODULES = ["models", "plugins", "serve", "push", "convert", "train", "export"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="berthub",
        description="Get, train, convert and share BERT models in PyTorch.",
        epilog="Run `berthub COMMAND --help` for a command's options and examples.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"berthub.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"berthub.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BerthubError as error:
        print(f"berthub {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"berthub {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
