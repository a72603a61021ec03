"""Fine-tuning parity: berthub's trainer vs transformers' Trainer on every task berthub ships data for.

The same all-MiniLM-L6-v2 weights, the same examples and the same hyper-parameters (lr, batch, epochs, 10%
linear warmup then linear decay, weight decay 0.01 off biases and LayerNorm, clipping at 1.0, AdamW eps 1e-6,
max length, length-grouped batches, seed), one fresh process per run, the two sides of a seed at the same time:
  berthub       `python -m berthub train ...`; the dev metric of the final model from its summary.json
  transformers  Bert{ForSequenceClassification,ForQuestionAnswering,ForTokenClassification} + Trainer
Both sides build their inputs with the task plugin's own feature code (Google's pair truncation, SQuAD
windows with doc_stride 128, first-sub-word NER labels) — berthub with its tokenizer, transformers with
BertTokenizerFast (the script checks that the ids agree) — and both are scored by the plugin's metrics on
the same post-processing (SQuAD: n-best decoding and the official EM/F1; WNUT-17: conlleval entity F1).
So what differs is the training: model code, optimizer, batching and dropout streams.

Data (only dev sets ship for QNLI and SQuAD: those are split, with no shared paragraph); N: --examples or
the task's default in TASKS (hyper-parameters there too; batch 16 for all):
  sst-2       first N (800) SST-2 train sentences; all 872 dev sentences. lr 1e-4, 1 epoch, length 64
  qnli        first N (300) QNLI dev pairs; the last 600 dev pairs. lr 1e-4, 1 epoch, length 128
  squad-v1.1  first N (150) SQuAD v1.1 dev questions; the last 300 questions (other articles).
              lr 2e-4, 2 epochs, length 192, doc_stride 128
  wnut17      first N (400) WNUT-17 train tweets; all 1,009 dev tweets. lr 2e-4, 2 epochs, length 96
samples/s: training windows per second of the optimizer loop (berthub's summary.json; transformers'
train_samples_per_second), evaluation excluded on both sides.

Usage: python bench/finetune_parity.py [--tasks sst-2 qnli squad-v1.1 wnut17] [--seeds 42 43 44]
           [--examples N] [--dev-examples N] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from common import REPO, machine, minilm_dir, run_process, run_worker

SHARED = {"batch_size": 16, "warmup": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0, "adam_epsilon": 1e-6}


@dataclass(frozen=True)
class Spec:
    """One task's run: its hyper-parameters, training examples and the dev metrics shown."""

    learning_rate: float
    epochs: int
    max_seq_length: int
    examples: int
    metrics: tuple[str, ...]


TASKS = {
    "sst-2": Spec(1e-4, 1, 64, 800, ("accuracy",)),
    "squad-v1.1": Spec(2e-4, 2, 192, 150, ("exact_match", "f1")),
    "qnli": Spec(1e-4, 1, 128, 300, ("accuracy",)),
    "wnut17": Spec(2e-4, 2, 96, 400, ("f1",)),
}
QNLI_DEV, SQUAD_DEV = 600, 300


# -- the data: the shipped files, split where only a dev set ships ----------------------------------
def prepare_data(task: str, root: Path) -> Path:
    """A folder holding `task`'s train and dev files, as `berthub train --data-dir` reads them."""
    folder = root / task
    folder.mkdir(parents=True)
    if task in ("sst-2", "wnut17"):
        source = REPO / ("data/glue/SST-2" if task == "sst-2" else "data/wnut17")
        for path in source.iterdir():
            (folder / path.name).symlink_to(path)
    elif task == "qnli":
        header, *rows = (REPO / "data/glue/QNLI/dev.tsv").read_text(encoding="utf-8").rstrip("\n").split("\n")
        (folder / "train.tsv").write_text("\n".join([header, *rows[:-QNLI_DEV]]) + "\n", encoding="utf-8")
        (folder / "dev.tsv").write_text("\n".join([header, *rows[-QNLI_DEV:]]) + "\n", encoding="utf-8")
    else:
        _split_squad(REPO / "data/squad/dev-v1.1.json", folder)
    return folder


def _split_squad(source: Path, folder: Path) -> None:
    """dev: the file's last SQUAD_DEV questions; train: every paragraph that holds none of them."""
    squad = json.loads(source.read_text(encoding="utf-8"))
    total = sum(len(p["qas"]) for a in squad["data"] for p in a["paragraphs"])
    train, dev, seen = [], [], 0
    for article in squad["data"]:
        kept, scored = [], []
        for paragraph in article["paragraphs"]:
            questions = [q for i, q in enumerate(paragraph["qas"], seen) if i >= total - SQUAD_DEV]
            seen += len(paragraph["qas"])
            if questions:
                scored.append({**paragraph, "qas": questions})
            else:
                kept.append(paragraph)
        train += [{**article, "paragraphs": kept}] if kept else []
        dev += [{**article, "paragraphs": scored}] if scored else []
    for name, articles in (("train-v1.1.json", train), ("dev-v1.1.json", dev)):
        (folder / name).write_text(json.dumps({"version": squad["version"], "data": articles}), encoding="utf-8")


def read_split(task_name: str, data: Path, split: str, limit: int | None) -> list:
    from berthub.tasks import get_task

    return get_task(task_name).read(data, split)[:limit]


def input_check(task_name: str, data: Path, spec: Spec, limit: int, dev_limit: int | None) -> tuple[str, int]:
    """(how many windows berthub's and transformers' tokenizers encode to the same ids and targets, the number
    of training windows)."""
    import transformers

    from berthub import BertTokenizer
    from berthub.tasks import get_task

    task, ours = get_task(task_name), BertTokenizer.from_pretrained(minilm_dir())
    theirs = transformers.BertTokenizerFast.from_pretrained(minilm_dir())
    same = total = windows = 0
    for split, cap in (("train", limit), ("dev", dev_limit)):
        examples = read_split(task_name, data, split, cap)
        pairs = zip(task.features(examples, ours, spec.max_seq_length),
                    task.features(examples, theirs, spec.max_seq_length), strict=True)
        for a, b in pairs:
            same += a.input_ids == b.input_ids and a.token_type_ids == b.token_type_ids and a.targets == b.targets
            total += 1
            windows += split == "train"
    return f"{same}/{total}", windows


# -- the two sides, each in a fresh process ------------------------------------------------------------
def berthub_run(task: str, data: Path, spec: Spec, seed: int, limit: int, dev_limit: int | None,
                threads: int, steps: int) -> dict:
    """`berthub train`, evaluating once, at the last of its `steps` (as the transformers side does)."""
    with tempfile.TemporaryDirectory() as out:
        command = ["-m", "berthub", "train", "--model", str(minilm_dir()), "--task", task, "--data-dir", str(data),
                   "--output-dir", out, "--seed", str(seed), "--limit-train", str(limit), "--no-progress",
                   "--epochs", str(spec.epochs), "--learning-rate", str(spec.learning_rate),
                   "--max-seq-length", str(spec.max_seq_length), "--logging-steps", "100000",
                   "--eval-steps", str(steps), *[f"--{k.replace('_', '-')}={v}" for k, v in SHARED.items()]]
        if dev_limit:
            command += ["--limit-eval", str(dev_limit)]
        run_process(command, threads, f"berthub train {task} seed {seed}")
        summary = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
    return {"metrics": summary["last_metrics"], "samples_per_s": summary["samples_per_s"], "steps": summary["steps"]}


def transformers_run(task: str, data: Path, spec: Spec, seed: int, limit: int, dev_limit: int | None,
                     threads: int, steps: int) -> dict:
    """The transformers worker in a fresh process (`steps` unused: it evaluates once, after training)."""
    command = [str(Path(__file__).resolve()), "--worker", "--tasks", task, "--data-dir", str(data),
               "--seeds", str(seed), "--examples", str(limit)]
    if dev_limit:
        command += ["--dev-examples", str(dev_limit)]
    return run_worker(command, threads, f"transformers {task} seed {seed}")


def transformers_worker(task_name: str, data: Path, seed: int, limit: int, dev_limit: int | None) -> dict:
    """transformers' Trainer on the plugin's features (BertTokenizerFast), scored by the plugin's metrics."""
    import transformers

    from berthub.tasks import get_task

    task, spec = get_task(task_name), TASKS[task_name]
    tokenizer = transformers.BertTokenizerFast.from_pretrained(minilm_dir())
    train = task.features(read_split(task_name, data, "train", limit), tokenizer, spec.max_seq_length)
    dev_examples = read_split(task_name, data, "dev", dev_limit)
    dev = task.features(dev_examples, tokenizer, spec.max_seq_length)
    transformers.set_seed(seed)  # the new head's init, as berthub seeds it before building the model
    model = _transformers_model(task.head, minilm_dir(), **task.head_options())
    token_labels = task.head == "token-classification"
    collator = (transformers.DataCollatorForTokenClassification if token_labels else
                transformers.DataCollatorWithPadding)(tokenizer)
    with tempfile.TemporaryDirectory() as out:
        arguments = transformers.TrainingArguments(
            output_dir=out, num_train_epochs=spec.epochs, per_device_train_batch_size=SHARED["batch_size"],
            per_device_eval_batch_size=64, learning_rate=spec.learning_rate, warmup_steps=SHARED["warmup"],
            weight_decay=SHARED["weight_decay"], max_grad_norm=SHARED["max_grad_norm"],
            adam_epsilon=SHARED["adam_epsilon"], lr_scheduler_type="linear", seed=seed,
            train_sampling_strategy="group_by_length", save_strategy="no", eval_strategy="no", report_to="none",
            logging_strategy="no", disable_tqdm=True, use_cpu=True, dataloader_num_workers=0)
        trainer = transformers.Trainer(model=model, args=arguments, train_dataset=_records(train),
                                       data_collator=collator)
        trained = trainer.train()
        # A Trainer with train_sampling_strategy="group_by_length" also length-groups its *eval* sampler
        # (transformers 5.25), so its predict() returns predictions in shuffled order; predict in order.
        in_order = transformers.TrainingArguments(output_dir=out, per_device_eval_batch_size=64, report_to="none",
                                                  disable_tqdm=True, use_cpu=True, dataloader_num_workers=0)
        predictions = transformers.Trainer(model=trainer.model, args=in_order, data_collator=collator).predict(
            _records(dev)).predictions
    if task.head == "question-answering":  # (start [N, T], end [N, T]) -> one (start, end) per window
        outputs = list(zip(predictions[0], predictions[1], strict=True))
    else:
        outputs = list(predictions)
    return {"metrics": {k: float(v) for k, v in task.metrics(dev_examples, dev, outputs).items()},
            "samples_per_s": trained.metrics["train_samples_per_second"], "steps": trained.global_step}


SIDES = {"berthub": berthub_run, "transformers": transformers_run}


def _transformers_model(head: str, folder: Path, **options):
    import transformers

    classes = {"sequence-classification": transformers.BertForSequenceClassification,
               "question-answering": transformers.BertForQuestionAnswering,
               "token-classification": transformers.BertForTokenClassification}
    return classes[head].from_pretrained(folder, **options)


def _records(features: list) -> list[dict]:
    return [{"input_ids": f.input_ids, "token_type_ids": f.token_type_ids, "attention_mask": [1] * len(f.input_ids),
             **f.targets} for f in features]


# -- the table ------------------------------------------------------------------------------------------
def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:7.2f} ± {std:5.2f} [{min(values):.2f}..{max(values):.2f}]"


def verdict(ours: list[float], theirs: list[float]) -> str:
    """'within noise' when the means differ by at most 2 standard errors of their difference."""
    if len(ours) < 2 or len(theirs) < 2:
        return "n/a (1 seed)"
    error = math.sqrt(statistics.variance(ours) / len(ours) + statistics.variance(theirs) / len(theirs))
    gap = statistics.fmean(ours) - statistics.fmean(theirs)
    return f"{gap:+.2f} ({'within noise' if abs(gap) <= 2 * error else 'DIFFERENT'}, 2 SE {2 * error:.2f})"


def table(results: dict[str, dict[str, list[dict]]]) -> list[str]:
    lines = [f"{'task':<11} {'metric':<12} {'berthub mean ± std [min..max]':<31} "
             f"{'transformers mean ± std [min..max]':<35} {'berthub - transformers':<36} "
             f"{'samples/s berthub':>17} {'transformers':>12} {'ratio':>6}"]
    for task, sides in results.items():
        speed = {side: statistics.fmean(r["samples_per_s"] for r in runs) for side, runs in sides.items()}
        for metric in TASKS[task].metrics:
            scale = 1.0 if task == "squad-v1.1" else 100.0  # every metric in points (SQuAD's already are)
            ours, theirs = ([scale * r["metrics"][metric] for r in sides[s]] for s in ("berthub", "transformers"))
            lines.append(f"{task:<11} {metric:<12} {spread(ours):<31} {spread(theirs):<35} "
                         f"{verdict(ours, theirs):<36} {speed['berthub']:>17.1f} {speed['transformers']:>12.1f} "
                         f"{speed['berthub'] / speed['transformers']:>5.2f}x")
    return lines


def run_all(args: argparse.Namespace) -> None:
    print(f"Fine-tuning parity, all-MiniLM-L6-v2, fp32, {args.threads} threads, seeds {args.seeds}; {machine()}")
    print(f"shared: {SHARED}, length-grouped batches, linear schedule")
    results: dict[str, dict[str, list[dict]]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as root:
        for task in args.tasks:
            spec = TASKS[task]
            limit = args.examples or spec.examples
            data = prepare_data(task, Path(root))
            same, windows = input_check(task, data, spec, limit, args.dev_examples)
            steps = math.ceil(windows / SHARED["batch_size"]) * spec.epochs
            dev = len(read_split(task, data, "dev", args.dev_examples))
            print(f"{task}: {limit} training examples, {dev} dev examples, lr {spec.learning_rate}, "
                  f"{spec.epochs} epoch(s), max_seq_length {spec.max_seq_length}; windows with identical "
                  f"ids/targets from both tokenizers: {same}", flush=True)
            results[task] = {"berthub": [], "transformers": []}
            for seed in args.seeds:
                loads.append(os.getloadavg()[0])
                # Both sides of a seed run at once, so the shared machine's changing load hits them alike.
                with ThreadPoolExecutor(2) as pool:
                    runs = {side: pool.submit(run, task, data, spec, seed, limit, args.dev_examples, args.threads,
                                              steps) for side, run in SIDES.items()}
                for side, future in runs.items():
                    result = future.result()
                    results[task][side].append(result)
                    print(f"  seed {seed} {side:<12} {result['steps']:>4} steps {result['samples_per_s']:7.1f} "
                          f"samples/s {json.dumps({k: round(v, 4) for k, v in result['metrics'].items()})}",
                          flush=True)
    loads.append(os.getloadavg()[0])
    print("\n".join(table(results)))
    print(f"metrics in points (accuracy and entity F1 x 100; SQuAD EM/F1 as the official script); 'within noise': "
          f"|difference of means| <= 2 standard errors of it. 1-minute load average at each run start: "
          f"min {min(loads):.1f}, mean {statistics.fmean(loads):.1f}, max {max(loads):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--examples", type=int, help="training examples per task (default: each task's own)")
    parser.add_argument("--dev-examples", type=int, help="score only the first N dev examples (smoke runs)")
    # One thread per run by default: on the shared 2-core machine, two OpenMP threads per process stall in
    # barrier waits whenever other jobs hold a core (a 2,000-sentence SST-2 run took over 12 minutes at load 8).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(transformers_worker(args.tasks[0], args.data_dir, args.seeds[0], args.examples,
                                             args.dev_examples)))
        return
    run_all(args)


if __name__ == "__main__":
    main()
