"""`berthub predict`: raw text in, one JSON answer per line out, through `berthub.pipeline`."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from berthub.errors import InputError, NotFoundError

EPILOG = """\
examples:
  berthub predict --model runs/sst2/best "a gripping, funny film" "a dull mess"
  berthub predict --model runs/sst2/best --input data/glue/SST-2/dev.tsv --output predictions.jsonl
  berthub predict --model runs/squad/best --input questions.jsonl   # {"question": ..., "context": ...} per line
  berthub predict --model bert-base-uncased --task fill-mask "Paris is the [MASK] of France."
  berthub predict --model runs/sts/best --pair "A man plays a guitar." "Someone plays music." \
                  --pair "A dog runs." "The market fell."             # sentence pairs, one answer each

The task and labels come from the saved model (config.json, training.json): a model trained by
`berthub train` answers through its task's own predict hook when the task's plugin is installed.
--task picks one of text-classification, token-classification, question-answering, fill-mask, or a
registered dataset task whose plugin answers raw text (`berthub plugins`). Inputs: TEXT arguments (an
argument that is a JSON object is one record), --pair TEXT_A TEXT_B (repeatable; each pair is the
record {"text": TEXT_A, "text_pair": TEXT_B}), or --input FILE: .jsonl (a string or an object per line)
or .tsv / .csv with a header row (its columns become fields: text or sentence, text_pair or sentence2,
question and context, or the fields the model's task reads). Output: one JSON line per input, in input
order, to --output (written atomically) or stdout.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="answers for raw text from a saved model (classification, entities, QA, fill-mask)",
        description="Run MODEL on TEXT arguments or an --input file; print or write one JSON answer per input.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="registry name, hub repo id or model directory")
    parser.add_argument("--task", help="pipeline or registered task (default: the one the model was trained for)")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="inputs (or use --pair or --input)")
    parser.add_argument("--pair", nargs=2, action="append", default=[], metavar=("TEXT_A", "TEXT_B"),
                        help="one sentence-pair input (repeatable): the record {\"text\": A, \"text_pair\": B}")
    parser.add_argument("--input", type=Path, metavar="FILE", help="a .jsonl, .tsv or .csv file of inputs")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the answers here (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=32, help="inputs per model call (default: 32)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: a GPU if present, else the CPU)")
    parser.add_argument("--revision", help="hub revision of --model (branch, tag or commit)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the progress bar (shown by default for --input files)")
    parser.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    from berthub.files import write_text_atomic
    from berthub.inference.pipelines import pipeline

    records = read_records(args.texts, args.input, args.pair)
    if args.output is not None and not args.output.parent.is_dir():
        raise NotFoundError(f"--output {args.output}: folder {args.output.parent} does not exist; create it first.")
    pipe = pipeline(args.model, task=args.task, device=args.device, batch_size=args.batch_size,
                    revision=args.revision)
    answers = pipe.predict(records, progress=args.progress and args.input is not None)
    lines = "".join(json.dumps(answer, ensure_ascii=False, default=str) + "\n" for answer in answers)
    if args.output is None:
        sys.stdout.write(lines)
    else:
        write_text_atomic(args.output, lines)
        print(f"{len(answers)} {pipe.task} answers written to {args.output}", file=sys.stderr)
    return 0


def read_records(texts: list[str], path: Path | None,
                 pairs: list[list[str]] | None = None) -> list[str | dict[str, Any]]:
    """The inputs: TEXT arguments (JSON objects parsed), --pair TEXT_A TEXT_B pairs or an --input file's records."""
    given = [what for what, value in (("TEXT arguments", texts), ("--pair", pairs), ("--input FILE", path)) if value]
    if len(given) > 1:
        raise InputError(f"Pass inputs as TEXT arguments, --pair TEXT_A TEXT_B or --input FILE, not "
                         f"{' and '.join(given)}.")
    if pairs:
        return [{"text": first, "text_pair": second} for first, second in pairs]
    if path is None:
        if not texts:
            raise InputError("Nothing to predict: pass TEXT arguments, --pair TEXT_A TEXT_B or --input FILE "
                             "(.jsonl, .tsv, .csv).")
        return [_json(text, f"TEXT argument {i + 1}") if text.lstrip().startswith("{") else text
                for i, text in enumerate(texts)]
    if not path.is_file():
        raise NotFoundError(f"--input {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        return [_json(line, f"{path} line {n}") for n, line in enumerate(lines, 1) if line.strip()]
    if suffix in (".tsv", ".csv"):
        return _table(path, "\t" if suffix == ".tsv" else ",")
    raise InputError(f"--input {path}: unknown format '{suffix}'; use .jsonl, .tsv or .csv.")


def _json(text: str, where: str) -> str | dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{where} is not valid JSON ({error.msg} at column {error.colno}).") from None
    if not isinstance(value, str | dict):
        raise InputError(f"{where} is a JSON {type(value).__name__}; give a string or an object per input.")
    return value


def _table(path: Path, delimiter: str) -> list[dict[str, Any]]:
    # GLUE's TSV files hold bare quote characters, so tab-separated files are read with quoting off.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter=delimiter, quoting=quoting) if row]
    if not rows:
        raise InputError(f"--input {path} is empty; it needs a header row naming the columns.")
    header = rows[0]
    short = next((n for n, row in enumerate(rows[1:], 2) if len(row) != len(header)), None)
    if short is not None:
        raise InputError(f"--input {path} line {short} has {len(rows[short - 1])} columns, the header "
                         f"{len(header)} ({', '.join(header)}).")
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]
