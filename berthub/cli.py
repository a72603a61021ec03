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
plugin never breaks `berthub --help` or any other command. A plugin command that runs is noted in the
plugin memory (berthub.plugins.memory), so once its plugin is uninstalled `berthub NAME` names the
distribution to install instead of argparse's "invalid choice".

Every command ends quietly when its reader closes the pipe (`berthub plugins | head`): no traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
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
            if name in subparsers.choices:  # what `berthub NAME` remembers when it runs
                subparsers.choices[name].set_defaults(plugin_distribution=loader.distribution("commands", name))
        except PluginError as error:
            print(f"berthub: note: plugin command '{name}' is unavailable: {error}", file=sys.stderr)
        except Exception as error:  # a plugin's register() is third-party code: keep the CLI usable
            subparsers.choices.pop(name, None)
            print(f"berthub: note: plugin command '{name}' failed to register ({type(error).__name__}: {error}); "
                  "fix or uninstall the plugin that provides it (`berthub plugins --kind commands`).",
                  file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one `berthub` command; its exit status. Output cut short by the reader (`berthub plugins | head`)
    ends the command quietly with the status of a process stopped by SIGPIPE, as other Unix tools do."""
    try:
        try:
            return _run(sys.argv[1:] if argv is None else argv)
        finally:  # also after --help's SystemExit: a closed pipe shows here, not in the flush at exit
            sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        return 128 + signal.SIGPIPE


def _run(argv: list[str]) -> int:
    parser = build_parser()
    missing = _uninstalled_command(parser, argv)
    if missing:
        print(f"berthub: error: {missing}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "plugin_distribution", None):
        from berthub.plugins import memory

        memory.remember("commands", args.command, args.plugin_distribution)
    try:
        return int(args.func(args) or 0)
    except BerthubError as error:
        print(f"berthub {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"berthub {args.command}: interrupted", file=sys.stderr)
        return 130


def _uninstalled_command(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """Why the command word of `argv` is unavailable, when a plugin that is now gone once gave it (else None,
    and argparse reports an unknown word as usual)."""
    from berthub.plugins import loader, memory

    word = next((w for w in argv if not w.startswith("-")), None)
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    remembered = None if word is None or word in commands else memory.recall("commands", word)
    if remembered is None:
        return None
    return str(loader.missing_distribution(f"The command '{word}'", remembered["distribution"]))


def _discard_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's flush at exit has nowhere to fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
