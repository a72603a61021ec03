"""The `berthub` command.

Each command group lives in its own module under `berthub.commands` and exposes
`register(subparsers)`; `COMMANDS` below lists them, in the order `berthub --help` shows them, so a
reader finds every command here. This file only assembles them and turns berthub's errors into one
line. Command modules import only the standard library at the top and their heavy dependencies
inside the handlers, so `berthub --help` stays fast.

Plugins add commands the same way, through the `berthub.commands` entry-point group: each entry
point names a module (or object) with `register(subparsers)`, e.g.
`pretraining-data = "berthub_pretraining.command"`. berthub never imports a plugin to add it other
than through that entry point, a built-in command name cannot be taken over, and a plugin whose
module fails to import or to register is left out with a one-line note on stderr, so a broken
plugin never breaks `berthub --help` or any other command.
"""

from __future__ import annotations

import argparse
import sys

from berthub.commands import accounts, convert, export, hub, models, plugins, predict, push, serve, train
from berthub.errors import BerthubError

COMMANDS = (models, plugins, serve, accounts, hub, push, convert, train, predict, export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="berthub",
        description="Get, train, convert and share BERT models in PyTorch.",
        epilog="Run `berthub COMMAND --help` for a command's options and examples.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers)
    _register_plugin_commands(subparsers)
    return parser


def _register_plugin_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the commands of the `berthub.commands` entry-point group; a broken one is skipped with a note."""
    from berthub.errors import PluginError
    from berthub.plugins import loader

    for name in loader.names("commands"):
        try:
            if name in subparsers.choices:
                raise PluginError(f"{loader.describe('commands', name)} names a built-in command; rename it.")
            loader.load("commands", name).register(subparsers)
        except PluginError as error:
            print(f"berthub: note: plugin command '{name}' is unavailable: {error}", file=sys.stderr)
        except Exception as error:  # a plugin's register() is third-party code: keep the CLI usable
            subparsers.choices.pop(name, None)
            print(f"berthub: note: plugin command '{name}' failed to register ({type(error).__name__}: {error}); "
                  "fix or uninstall the plugin that provides it (`berthub plugins --kind commands`).",
                  file=sys.stderr)


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
