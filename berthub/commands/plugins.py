"""`berthub plugins`: every entry-point group with its names, distributions and versions.

A `berthub.models` entry point stands for a list of model names; those names are shown under it
(reading them loads that entry point's list: plain data, as docs/plugins.md asks of such modules).
"""

from __future__ import annotations

import argparse
import textwrap

from berthub.plugins import loader

_EPILOG = """examples:
  berthub plugins                  list heads, datasets, converters and models (imports no head or task)
  berthub plugins --kind datasets  only the datasets group
  berthub plugins --check          also import each plugin; exit 1 if any is broken or duplicated
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plugins",
        help="list installed heads, datasets, converters and models",
        description="List every berthub entry-point group with its names, distributions and versions.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kind", choices=list(loader.GROUPS), help="show one group only")
    parser.add_argument("--check", action="store_true", help="import every plugin and report failures")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(loader.GROUPS)
    problems = 0
    for number, kind in enumerate(kinds):
        if number:
            print()
        problems += _print_group(kind, args.check)
    if problems:
        print(f"\n{problems} name(s) cannot be used; the notes above say which distribution to fix or uninstall.")
    # Listing is informational; only --check turns problems into a failing exit status (for CI).
    return 1 if problems and args.check else 0


def _print_group(kind: str, check: bool) -> int:
    """Print one group as a table; with `check`, load each name. Returns how many names are unusable."""
    infos = loader.entries(kind)
    print(f"{loader.GROUPS[kind]} ({len(infos)})")
    if not infos:
        print("  (none installed)")
        return 0
    clashes = loader.duplicates(kind)
    status = loader.check(kind) if check else {}
    width = max(len(i.name) for i in infos)
    dist_width = max(len(f"{i.distribution} {i.version}") for i in infos)
    value_width = max(len(i.value) for i in infos)
    for info in infos:
        note = ""
        if info.name in clashes:
            note = "DUPLICATE: registered by " + ", ".join(i.distribution for i in clashes[info.name])
        elif status.get(info.name) is not None:
            note = f"BROKEN: {status[info.name]}"
        elif check:
            note = "ok"
        dist = f"{info.distribution} {info.version}"
        print(f"  {info.name:<{width}}  {dist:<{dist_width}}  {info.value:<{value_width}}  {note}".rstrip())
        if kind == "models":
            _print_model_names(info)
    broken = sum(1 for name, error in status.items() if error is not None and name not in clashes)
    return len(clashes) + broken


def _print_model_names(info: loader.PluginInfo) -> None:
    """The registry names one `berthub.models` entry point adds, wrapped under its row."""
    from berthub.sources import registry

    added = registry.names_added_by(info.name, info.value)
    text = ("model names: " + ", ".join(added)) if added is not None else \
        "model names: none usable (it failed to load; `berthub models` says why)"
    print(textwrap.fill(text, width=100, initial_indent="    ", subsequent_indent="      ", break_on_hyphens=False))
