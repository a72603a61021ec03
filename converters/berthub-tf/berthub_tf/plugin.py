"""The `tf` and `to-tf` converters as registered in the `berthub.converters` entry-point group.

Each converter follows the protocol in docs/converters.md: `name`, `description`, `examples`,
`add_arguments(parser)`, `run(args) -> int`. Importing this module is cheap: TensorFlow and the
weights code load only when a converter runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


class TfConverter:
    """Google TF checkpoint -> berthub model directory."""

    name = "tf"
    description = "Google TensorFlow BERT checkpoint -> berthub model directory"
    examples = """examples:
  berthub convert tf --checkpoint uncased_L-12_H-768_A-12/bert_model.ckpt \\
      --config uncased_L-12_H-768_A-12/bert_config.json --vocab uncased_L-12_H-768_A-12/vocab.txt \\
      --output bert-base-uncased --verify
  berthub convert tf --checkpoint squad_out/ --output bert-squad          # finds prefix, config, vocab
  berthub convert tf --checkpoint ft/model.ckpt-3000 --config bert_config.json --output ft-converted \\
      --ignore 'extra_scope/*' --push me/bert-finetuned --endpoint http://127.0.0.1:8080
"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--checkpoint", required=True, metavar="PREFIX",
                            help="checkpoint prefix (bert_model.ckpt for bert_model.ckpt.index + .data-*), "
                                 "or a folder holding one checkpoint, bert_config.json and vocab.txt")
        parser.add_argument("--config", metavar="JSON", help="Google's bert_config.json (found in the folder "
                                                             "when --checkpoint is one)")
        parser.add_argument("--vocab", metavar="TXT", help="vocab.txt to copy into the output")
        parser.add_argument("--output", required=True, metavar="DIR", help="model directory to create")
        parser.add_argument("--ignore", action="append", default=[], metavar="PATTERN",
                            help="leave out variables matching this shell-style pattern (repeatable)")
        parser.add_argument("--reader", choices=("auto", "tf", "pure"), default="auto",
                            help="checkpoint reader: TensorFlow's (tf), berthub's numpy one (pure, no TensorFlow "
                                 "needed), or auto (default): pure when it can verify checksums or TensorFlow is "
                                 "absent and it supports the checkpoint, else tf")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
        parser.add_argument("--verify", action="store_true",
                            help="compare every written tensor with its checkpoint variable and print a table")
        add_push_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from berthub_tf.convert import convert, find_checkpoint_files
        from berthub_tf.errors import MissingFileError
        from berthub_tf.verify import verify

        checkpoint, config, vocab = Path(args.checkpoint), args.config, args.vocab
        if checkpoint.is_dir():
            checkpoint, found_config, found_vocab = find_checkpoint_files(checkpoint)
            config, vocab = config or found_config, vocab or found_vocab
        if config is None:
            raise MissingFileError("Which bert_config.json describes this checkpoint? Pass --config PATH.")
        output = convert(checkpoint, config, args.output, vocab, ignore=args.ignore, reader=args.reader,
                         overwrite=args.overwrite, progress=True)
        print(_summary(output))
        if args.verify:
            result = verify(output, checkpoint, reader=args.reader)
            print(result.table())
            if not result.ok:
                return 1
        if args.push:
            push_converted(output, args)
        return 0

    def convert_directory(self, source_dir: str | os.PathLike, output_dir: str | os.PathLike) -> Path:
        """What `from_pretrained(source_dir, from_tf=True)` calls: convert a Google release folder."""
        from berthub_tf.convert import convert_directory

        return convert_directory(source_dir, output_dir)


class ToTfConverter:
    """berthub model directory -> Google TF checkpoint."""

    name = "to-tf"
    description = "berthub model directory -> Google TensorFlow checkpoint (needs TensorFlow)"
    examples = """examples:
  berthub convert to-tf bert-finetuned --output tf-out/bert_model.ckpt
      writes tf-out/bert_model.ckpt.index, .data-00000-of-00001, bert_config.json, vocab.txt
"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model_dir", metavar="DIR", help="berthub (or transformers) BERT model directory")
        parser.add_argument("--output", required=True, metavar="PREFIX",
                            help="checkpoint prefix to write, e.g. out/bert_model.ckpt")
        parser.add_argument("--shards", type=int, default=1, metavar="N", help="number of data shards (default 1)")

    def run(self, args: argparse.Namespace) -> int:
        from berthub_tf.to_tf import to_tf

        prefix = to_tf(args.model_dir, args.output, num_shards=args.shards)
        print(f"Wrote TF checkpoint {prefix} (+ bert_config.json) from {args.model_dir}")
        return 0


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--push", metavar="REPO_ID", help="publish the converted directory to a hub repo")
    parser.add_argument("--endpoint", metavar="URL", help="hub to push to (default: BERTHUB_ENDPOINT)")
    parser.add_argument("--token", metavar="TOKEN", help="hub token (default: BERTHUB_TOKEN)")


def push_converted(output: Path, args: argparse.Namespace) -> None:
    from berthub.sources.publish import push
    from berthub.sources.settings import hub_endpoint
    from berthub_tf.card import card_facts

    commit = push(output, args.push, endpoint=args.endpoint, token=args.token, card=card_facts(output),
                  commit_message=f"Convert TF checkpoint {Path(args.checkpoint).name} with berthub-tf")
    print(f"Pushed {output} to {hub_endpoint(args.endpoint)}/{args.push}: commit {getattr(commit, 'oid', commit)}")


def _summary(output: Path) -> str:
    import json

    from berthub_tf.convert import REPORT_NAME

    report = json.loads((output / REPORT_NAME).read_text(encoding="utf-8"))
    return (f"Converted {report['source']['checkpoint']} -> {output} as {report['architecture']}: "
            f"{len(report['mapping'])} tensors, {len(report['skipped'])} optimizer variables skipped, "
            f"{len(report['ignored'])} ignored ({report['reader']} reader; {report['checksums']})")


TF = TfConverter()
TO_TF = ToTfConverter()
