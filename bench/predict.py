"""`berthub predict` vs transformers' pipeline("text-classification") on the 872 SST-2 dev sentences, CPU.

Both run the same fine-tuned folder: all-MiniLM-L6-v2 fine-tuned on the first --train-examples SST-2
train sentences by berthub's Trainer (or --model DIR). Rows:
  model loaded:  berthub.pipeline(dir)(sentences)  vs  transformers' pipeline(sentences) with its
                 default batch_size (1), and with batch_size=32 (padded to each batch's longest,
                 batches in input order);
  command line:  `berthub predict --model DIR --input dev.tsv --output F` vs a `python -c` script doing
                 the same with transformers' pipeline (default batch size), both as fresh processes, so
                 imports and model loading count.
"same labels" counts the sentences where both give the same label; the times are the best of --repeats.
Usage: python bench/predict.py [--repeats 3] [--model DIR] [--train-examples 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from common import REPO, minilm_dir

DEV = REPO / "data/glue/SST-2/dev.tsv"
HF_SCRIPT = """
import csv, json, sys
from transformers import pipeline
rows = list(csv.reader(open(sys.argv[2], encoding="utf-8"), delimiter="\\t", quoting=csv.QUOTE_NONE))[1:]
answers = pipeline("text-classification", model=sys.argv[1], device="cpu")([r[0] for r in rows])
open(sys.argv[3], "w", encoding="utf-8").write("".join(json.dumps(a) + "\\n" for a in answers))
"""


def fine_tune(out: Path, examples: int) -> Path:
    from berthub import BertForTask
    from berthub.tasks import get_task
    from berthub.tokenization import BertTokenizer
    from berthub.training import Trainer, TrainingConfig, set_seed

    task = get_task("sst-2")
    set_seed(0)
    model = BertForTask.from_pretrained(minilm_dir(), head=task.head, **task.head_options())
    config = TrainingConfig(output_dir=out, epochs=1, batch_size=32, learning_rate=1e-4, max_seq_length=64,
                            progress=False, device="cpu")
    Trainer(model, task, BertTokenizer.from_pretrained(minilm_dir()), config).train(
        task.read(REPO / "data/glue/SST-2", "train")[:examples])
    return out / "last"


def best(run, repeats: int) -> tuple[float, list]:
    seconds, answers = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        answers = run()
        seconds = min(seconds, time.perf_counter() - start)
    return seconds, answers


def command_line(folder: Path, repeats: int) -> tuple[tuple[float, list], tuple[float, list]]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "answers.jsonl"

        def run(argv: list[str]) -> list:
            subprocess.run(argv, check=True, capture_output=True)
            return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]

        ours = best(lambda: run([sys.executable, "-m", "berthub", "predict", "--model", str(folder), "--input",
                                 str(DEV), "--output", str(out), "--no-progress"]), repeats)
        theirs = best(lambda: run([sys.executable, "-c", HF_SCRIPT, str(folder), str(DEV), str(out)]), repeats)
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, help="a fine-tuned text-classification folder (default: fine-tune)")
    parser.add_argument("--train-examples", type=int, default=1000)
    args = parser.parse_args()
    from transformers import pipeline

    import berthub

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.model or fine_tune(Path(scratch), args.train_examples)
        rows = [line.split("\t") for line in DEV.read_text(encoding="utf-8").splitlines()[1:]]
        sentences, gold = [r[0] for r in rows], [int(r[1]) for r in rows]
        ours_pipe, theirs_pipe = berthub.pipeline(folder, device="cpu"), pipeline("text-classification",
                                                                                  model=str(folder), device="cpu")
        labels = [json.loads((folder / "config.json").read_text())["id2label"][str(i)] for i in range(2)]
        # berthub is timed next to each reference run, so a change in the machine's load hits both alike.
        measured = {
            "model loaded, transformers batch 1": (best(lambda: ours_pipe(sentences), args.repeats),
                                                   best(lambda: theirs_pipe(sentences), args.repeats)),
            "model loaded, transformers batch 32": (best(lambda: ours_pipe(sentences), args.repeats),
                                                    best(lambda: theirs_pipe(sentences, batch_size=32),
                                                         args.repeats)),
            "command line, end to end": command_line(folder, args.repeats),
        }
        accuracy = sum(labels.index(a["label"]) == g for a, g in zip(measured["command line, end to end"][0][1],
                                                                      gold, strict=True)) / len(gold)
    print(f"SST-2 dev: {len(sentences)} sentences, all-MiniLM-L6-v2 fine-tuned on "
          f"{'--model' if args.model else f'{args.train_examples} SST-2 train sentences'} (dev accuracy "
          f"{accuracy:.3f}), CPU, torch threads {torch.get_num_threads()}, best of {args.repeats}")
    print(f"{'run':<36} {'berthub s':>10} {'transformers s':>15} {'speed-up':>9} {'same labels':>12}")
    for name, ((ours_s, ours), (theirs_s, theirs)) in measured.items():
        agree = sum(a["label"] == b["label"] for a, b in zip(ours, theirs, strict=True))
        print(f"{name:<36} {ours_s:>10.2f} {theirs_s:>15.2f} {theirs_s / ours_s:>8.2f}x {agree:>6}/{len(ours)}")


if __name__ == "__main__":
    main()
