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
    """Google TF checkpoint (TF1 or TF2) or TF Hub / Kaggle SavedModel -> berthub model directory."""

    name = "tf"
    description = "TF1/TF2 BERT checkpoint or SavedModel -> berthub model directory"
    examples = """examples:
  berthub convert tf --checkpoint uncased_L-12_H-768_A-12/bert_model.ckpt \\
      --config uncased_L-12_H-768_A-12/bert_config.json --vocab uncased_L-12_H-768_A-12/vocab.txt \\
      --output bert-base-uncased --verify
  berthub convert tf --checkpoint squad_out/ --output bert-squad          # finds prefix, config, vocab
  berthub convert tf --checkpoint bert_en_uncased_L-12_H-768_A-12_4/ --output bert-hub --verify   # a SavedModel
  berthub convert tf --checkpoint model_garden/ckpt-100000 --output bert-tf2 --hidden-act gelu   # a TF2 checkpoint
  berthub convert tf --checkpoint ft/model.ckpt-3000 --config bert_config.json --output ft-converted \\
      --ignore 'extra_scope/*' --push me/bert-finetuned --endpoint http://127.0.0.1:8080
"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from berthub.model import ACTIVATIONS

        parser.add_argument("--checkpoint", required=True, metavar="PATH",
                            help="checkpoint prefix (bert_model.ckpt for bert_model.ckpt.index + .data-*; TF1 or TF2), "
                                 "a folder holding one (with bert_config.json and vocab.txt), or a TF Hub / Kaggle "
                                 "SavedModel folder; the format is told from the files")
        parser.add_argument("--config", metavar="JSON", help="Google's bert_config.json (found in the folder when "
                                                             "--checkpoint is one); optional for TF2 checkpoints and "
                                                             "SavedModels, whose sizes are read from the shapes")
        parser.add_argument("--vocab", metavar="TXT", help="vocab.txt to copy into the output (default: the one in "
                                                           "the folder, or a SavedModel's assets/vocab.txt)")
        parser.add_argument("--output", required=True, metavar="DIR", help="model directory to create")
        parser.add_argument("--ignore", action="append", default=[], metavar="PATTERN",
                            help="leave out variables matching this shell-style pattern (repeatable; TF2: the "
                                 "checkpoint key or the variable's name)")
        parser.add_argument("--hidden-act", choices=ACTIVATIONS, metavar="ACT",
                            help="TF2 checkpoints and SavedModels: the feed-forward activation (default: the "
                                 "SavedModel's graph says; else bert_config.json's, with Model Garden's meaning of "
                                 "'gelu' (the tanh approximation: gelu_new); else gelu_new). "
                                 f"One of {', '.join(ACTIVATIONS)}")
        parser.add_argument("--reader", choices=("auto", "tf", "pure"), default="auto",
                            help="checkpoint reader: TensorFlow's (tf), berthub's numpy one (pure, no TensorFlow "
                                 "needed), or auto (default): pure when it can verify checksums or TensorFlow is "
                                 "absent and it supports the checkpoint, else tf")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
        parser.add_argument("--verify", action="store_true",
                            help="compare every written tensor with its checkpoint variable and print a table; "
                                 "for a SavedModel with TensorFlow installed, also compare outputs with TensorFlow's")
        add_push_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from berthub_tf.convert import convert, find_checkpoint_files

        checkpoint, config, vocab = Path(args.checkpoint), args.config, args.vocab
        if checkpoint.is_dir():
            checkpoint, found_config, found_vocab = find_checkpoint_files(checkpoint)
            config, vocab = config or found_config, vocab or found_vocab
        output = convert(checkpoint, config, args.output, vocab, ignore=args.ignore, reader=args.reader,
                         overwrite=args.overwrite, progress=True, hidden_act=args.hidden_act)
        report = _report(output)
        print(_summary(output, report))
        if "hidden_act" in report:
            print(f"hidden_act: {report['hidden_act']['value']} ({report['hidden_act']['reason']})")
        if args.verify and not _verify(output, checkpoint, report, args.reader):
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
                  commit_message=f"Convert {Path(args.checkpoint).name} with berthub-tf")
    print(f"Pushed {output} to {hub_endpoint(args.endpoint)}/{args.push}: commit {getattr(commit, 'oid', commit)}")


def _report(output: Path) -> dict:
    import json

    from berthub_tf.convert import REPORT_NAME

    return json.loads((output / REPORT_NAME).read_text(encoding="utf-8"))


def _summary(output: Path, report: dict) -> str:
    reasons: dict[str, int] = {}
    for entry in report["skipped"]:
        reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + 1
    optimizer = reasons.pop("optimizer state", 0)
    others = "".join(f", {count} skipped as {reason}" for reason, count in sorted(reasons.items()))
    return (f"Converted {report['format']} {report['source']['checkpoint']} -> {output} as {report['architecture']}: "
            f"{len(report['mapping'])} tensors, {optimizer} optimizer variables skipped{others}, "
            f"{len(report['ignored'])} ignored ({report['reader']} reader; {report['checksums']})")


def _verify(output: Path, checkpoint: Path, report: dict, reader: str) -> bool:
    """--verify: tensors bit for bit, and TensorFlow's outputs where there is a graph to run."""
    from berthub_tf.checkpoint import tensorflow_available
    from berthub_tf.formats import SAVED_MODEL, TF2
    from berthub_tf.verify import verify

    has_tf = tensorflow_available()
    if report["format"] == TF2 and has_tf and reader == "auto":
        reader = "tf"  # a TF2 checkpoint has no graph to run: compare with TensorFlow's own reading instead
    result = verify(output, checkpoint, reader=reader)
    print(result.table())
    ok = result.ok
    if report["format"] == SAVED_MODEL and has_tf:
        from berthub_tf.tf_outputs import compare_with_saved_model

        outputs = compare_with_saved_model(output, report["source"]["checkpoint"])
        print(outputs.table())
        ok = ok and outputs.ok
    elif report["format"] == SAVED_MODEL:
        print("TensorFlow is not installed: the SavedModel's graph was not run; the tensors above are compared bit "
              "for bit with what the reader read.")
    elif report["format"] == TF2:
        print("A TF2 checkpoint holds weights but no graph, so there are no TensorFlow outputs to compare; the "
              f"tensors above are compared bit for bit with what the {result.reader} reader read.")
    return ok


TF = TfConverter()
TO_TF = ToTfConverter()
