"""`berthub pretraining-data`: Google's create_pretraining_data.py, exactly, writing instance shards.

Registered in the `berthub.commands` entry-point group; this module imports only argparse at load,
so `berthub --help` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

_EPILOG = """\
examples:
  berthub pretraining-data --input corpus.txt --vocab vocab.txt --output data/train
  berthub pretraining-data --input 'corpus/*.txt' --vocab vocab.txt --output data/train \\
      --max-seq-length 128 --max-predictions-per-seq 20 --dupe-factor 5 --do-whole-word-mask
  berthub pretraining-data --input 'shards/part-*.txt' --vocab vocab.txt --output data/train --processes 8

Input: one sentence per line, blank lines between documents. Several files (comma-separated, or a
glob, expanded in sorted order) are one run, like Google's --input_file=a,b: one random stream, and a
document goes on across a file boundary with no blank line. With --processes N each file is its own
run (same flags and seed) written to its own shard, N at a time: split a big corpus into files so
memory is bounded by the largest file. For the same input, vocabulary, flags and seed the instances
are exactly those of Google's script. Read them with berthub_pretraining.read_instances(DIR);
train on them with `berthub train --task pretraining --data-dir PARENT` (DIR = PARENT/train, PARENT/dev).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretraining-data", help="make BERT pre-training instances from text, exactly as Google's script",
        description="Create masked-LM / next-sentence instances (Google's create_pretraining_data.py, exactly) "
                    "and write them as shards to --output.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, metavar="FILES",
                        help="text file(s): comma-separated paths or globs (Google's --input_file)")
    parser.add_argument("--vocab", required=True, type=Path, metavar="VOCAB", help="the model's vocab.txt")
    parser.add_argument("--output", required=True, type=Path, metavar="DIR", help="folder for the shards")
    parser.add_argument("--do-lower-case", action=argparse.BooleanOptionalAction, default=True,
                        help="lower-case and strip accents (default: on, as Google's; off for cased vocabularies)")
    for flag, kind, default, what in (
            ("--max-seq-length", int, 128, "longest instance in tokens"),
            ("--max-predictions-per-seq", int, 20, "most masked tokens per instance"),
            ("--masked-lm-prob", float, 0.15, "fraction of tokens masked"),
            ("--dupe-factor", int, 10, "passes over the input, each with other masks"),
            ("--short-seq-prob", float, 0.1, "probability of a shorter target length"),
            ("--random-seed", int, 12345, "seed of the random stream")):
        parser.add_argument(flag, type=kind, default=default, help=f"{what} (default: {default})")
    parser.add_argument("--do-whole-word-mask", action="store_true",
                        help="mask whole words (a token and its ## pieces) rather than single pieces")
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="run each input file on its own, N files at a time (default: 1, one run for all)")
    parser.add_argument("--instances-per-shard", type=int, default=100_000, metavar="N",
                        help="split one run's output into shards of N instances (default: 100000)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from berthub.errors import ConfigError
    from berthub_pretraining.build import BuildSpec, build
    from berthub_pretraining.corpus import expand_inputs
    from berthub_pretraining.instances import InstanceConfig

    config = InstanceConfig(args.max_seq_length, args.max_predictions_per_seq, args.masked_lm_prob, args.dupe_factor,
                            args.short_seq_prob, args.random_seed, args.do_whole_word_mask)
    problems = config.problems()
    for name in ("processes", "instances_per_shard"):
        if getattr(args, name) < 1:
            problems.append(f"{name} must be a positive integer, got {getattr(args, name)}")
    if problems:
        raise ConfigError("invalid options: " + "; ".join(problems))
    if not args.vocab.is_file():
        raise ConfigError(f"--vocab {args.vocab} is not a file; pass the model's vocab.txt.")
    files = expand_inputs(args.input)
    spec = BuildSpec(tuple(files), args.vocab, args.do_lower_case, config, args.output,
                     args.instances_per_shard, args.processes, args.progress)
    index = build(spec)
    print(f"Wrote {index['instances']} instances from {len(files)} file(s) in {len(index['shards'])} shard(s) "
          f"to {args.output}")
    return 0
