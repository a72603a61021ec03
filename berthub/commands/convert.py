"""`berthub convert NAME ...`: run a converter registered in the `berthub.converters` group.

Each converter (docs/converters.md) brings its own sub-command and arguments; this module only
lists them. A converter that fails to import still appears, and running it reports why, so one
broken plugin never hides the others or breaks `berthub --help`.
"""

from __future__ import annotations

import argparse
from typing import Any

from berthub.errors import BerthubError

EPILOG = """\
examples:
  berthub convert tf --checkpoint uncased_L-12_H-768_A-12/bert_model.ckpt \\
      --config uncased_L-12_H-768_A-12/bert_config.json --vocab uncased_L-12_H-768_A-12/vocab.txt \\
      --output bert-base-uncased --verify
  berthub convert to-tf bert-base-uncased --output tf-out/bert_model.ckpt
  berthub convert tf --help            # a converter's own options and examples

Converters come from installed plugins (pip install berthub-tf for `tf` and `to-tf`);
`berthub plugins` lists them with their distributions.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from berthub.plugins import loader

    parser = subparsers.add_parser(
        "convert", help="convert checkpoints of other formats (e.g. Google TF) to and from berthub",
        description="Convert a checkpoint with one of the registered converters.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = loader.names("converters")
    converters = parser.add_subparsers(dest="converter", metavar="CONVERTER",
                                       title=f"converters ({', '.join(names) or 'none installed'})")
    for name in names:
        _add_converter(converters, name)
    parser.set_defaults(func=lambda args: _missing_converter(names))


def _add_converter(converters: argparse._SubParsersAction, name: str) -> None:
    from berthub.plugins import loader

    try:
        converter = loader.load("converters", name)
    except BerthubError as error:
        broken = converters.add_parser(name, help="(failed to load: run it to see why)")
        broken.set_defaults(func=lambda args, error=error: _raise(error))
        return
    sub = converters.add_parser(
        name, help=converter.description, description=converter.description,
        epilog=getattr(converter, "examples", None), formatter_class=argparse.RawDescriptionHelpFormatter)
    converter.add_arguments(sub)
    sub.set_defaults(func=lambda args, converter=converter: converter.run(args))


def _missing_converter(names: list[str]) -> int:
    raise BerthubError(
        f"Which converter? Registered: {', '.join(names) or 'none (pip install berthub-tf)'}. "
        "Run `berthub convert --help` for examples."
    )


def _raise(error: BerthubError) -> Any:
    raise error
