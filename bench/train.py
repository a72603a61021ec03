"""berthub's Trainer vs transformers' Trainer: same MiniLM weights, same SST-2 sentences, same settings, CPU.

Each measurement runs in a fresh process (`--worker`), rounds interleave the candidates, and the table
shows medians of training samples/s (optimizer-loop time only: tokenization and saving excluded).
Rows:
  berthub 1x32        batch 32, length-grouped dynamic padding (berthub's default)
  berthub 4x8         the same global batch as 4 accumulated micro-batches of 8 (exact accumulation)
  berthub 1x32 random batch 32, dynamic padding without length grouping (transformers' default batching)
  transformers 1x32   transformers.Trainer, DataCollatorWithPadding, default sampler (the reference)
  transformers 1x32 grouped   the same with group_by_length=True
  berthub 1x8         batch 8 without accumulation (4x the optimizer steps): what micro-batches of 8 cost alone
  transformers 4x8 grouped    transformers' own accumulation of 4 x 8, length-grouped
  berthub DDP 2x16    torchrun, 2 gloo processes x 1 thread, 16 per process (global batch 32)
  berthub QNLI 1x32 / 4x8     the accumulation pair again on real QNLI question/sentence pairs (its dev
                      set as training pool), whose examples are about 4x longer than SST-2's
Usage: python bench/train.py [--examples 512] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from common import REPO, minilm_dir, run_worker

SETTINGS = {"learning_rate": 5e-5, "warmup": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0, "seq": 128}


def sst2(examples: int) -> list[tuple[str, int]]:
    lines = (REPO / "data/glue/SST-2/train.tsv").read_text(encoding="utf-8").split("\n")[1:]
    rows = [line.split("\t") for line in lines if line]
    return [(text, int(label)) for text, label in rows[:examples]]


def berthub_worker(args: argparse.Namespace) -> float:
    from berthub import BertForTask, BertTokenizer
    from berthub.tasks import get_task
    from berthub.training import Trainer, TrainingConfig, distributed, set_seed

    task = get_task(args.task)
    folder, split = {"sst-2": ("SST-2", "train"), "qnli": ("QNLI", "dev")}[args.task]
    train = task.read(REPO / "data/glue" / folder, split)[:args.examples]
    set_seed(42)
    model = BertForTask.from_pretrained(minilm_dir(), head=task.head, **task.head_options())
    with tempfile.TemporaryDirectory() as out:
        config = TrainingConfig(output_dir=out, epochs=1, batch_size=args.batch, progress=False,
                                gradient_accumulation_steps=args.accumulation, group_by_length=not args.random,
                                learning_rate=SETTINGS["learning_rate"], warmup=SETTINGS["warmup"],
                                weight_decay=SETTINGS["weight_decay"], max_grad_norm=SETTINGS["max_grad_norm"],
                                max_seq_length=SETTINGS["seq"], logging_steps=10_000)
        trainer = Trainer(model, task, BertTokenizer.from_pretrained(minilm_dir()), config)
        result = trainer.train(train)
        distributed.teardown()
    return result.samples / result.train_seconds


def transformers_worker(args: argparse.Namespace) -> float:
    import transformers

    tokenizer = transformers.BertTokenizerFast.from_pretrained(minilm_dir())
    transformers.set_seed(42)
    model = transformers.BertForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2)
    data = [{**tokenizer(text, truncation=True, max_length=SETTINGS["seq"]), "labels": label}
            for text, label in sst2(args.examples)]
    with tempfile.TemporaryDirectory() as out:
        arguments = transformers.TrainingArguments(
            output_dir=out, num_train_epochs=1, per_device_train_batch_size=args.batch, seed=42,
            gradient_accumulation_steps=args.accumulation,
            learning_rate=SETTINGS["learning_rate"], warmup_steps=SETTINGS["warmup"],
            weight_decay=SETTINGS["weight_decay"], max_grad_norm=SETTINGS["max_grad_norm"], adam_epsilon=1e-6,
            train_sampling_strategy="random" if args.random else "group_by_length", save_strategy="no",
            eval_strategy="no", report_to="none", logging_strategy="no", disable_tqdm=True, use_cpu=True,
            dataloader_num_workers=0)
        trainer = transformers.Trainer(model=model, args=arguments, train_dataset=data,
                                       data_collator=transformers.DataCollatorWithPadding(tokenizer))
        metrics = trainer.train().metrics
    return metrics["train_samples_per_second"]


CASES = {
    "berthub 1x32": ["berthub", "--batch", "32"],
    "berthub 4x8": ["berthub", "--batch", "8", "--accumulation", "4"],
    "berthub 1x32 random": ["berthub", "--batch", "32", "--random"],
    "transformers 1x32": ["transformers", "--batch", "32", "--random"],
    "transformers 1x32 grouped": ["transformers", "--batch", "32"],
    "berthub 1x8": ["berthub", "--batch", "8"],
    "transformers 4x8 grouped": ["transformers", "--batch", "8", "--accumulation", "4"],
    "berthub DDP 2x16": ["ddp", "--batch", "16"],
    "berthub QNLI 1x32": ["berthub", "--batch", "32", "--task", "qnli"],
    "berthub QNLI 4x8": ["berthub", "--batch", "8", "--accumulation", "4", "--task", "qnli"],
}


def run_case(case: list[str], examples: int, threads: int) -> float:
    kind, *rest = case
    worker = [str(Path(__file__).resolve()), "--worker", "berthub" if kind == "ddp" else kind,
              "--examples", str(examples), *rest]
    if kind == "ddp":  # two processes share the cores
        command = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *worker]
        return run_worker(command, max(1, threads // 2), " ".join(case))["samples_per_s"]
    return run_worker(worker, threads, " ".join(case))["samples_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=512, help="SST-2 training sentences (one epoch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--worker", choices=("berthub", "transformers"))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--random", action="store_true", help="no length grouping")
    parser.add_argument("--task", choices=("sst-2", "qnli"), default="sst-2", help="berthub worker's data")
    args = parser.parse_args()
    if args.worker:
        speed = (berthub_worker if args.worker == "berthub" else transformers_worker)(args)
        if int(os.environ.get("RANK", "0")) == 0:
            print(json.dumps({"samples_per_s": speed}))
        return
    speeds: dict[str, list[float]] = {name: [] for name in CASES}
    for round_index in range(args.repeats):
        order = list(CASES)[round_index % len(CASES):] + list(CASES)[:round_index % len(CASES)]
        for name in order:
            speeds[name].append(run_case(CASES[name], args.examples, args.threads))
    median = {name: statistics.median(values) for name, values in speeds.items()}
    reference = median["transformers 1x32"]
    print(f"Fine-tuning all-MiniLM-L6-v2 on {args.examples} real SST-2 sentences (1 epoch, max_seq_length "
          f"{SETTINGS['seq']}, fp32, lr {SETTINGS['learning_rate']}), {args.threads} threads, "
          f"median of {args.repeats} interleaved runs")
    print(f"{'case':<27} {'samples/s':>10} {'vs transformers':>16} {'runs':>24}")
    for name, value in median.items():
        runs = " ".join(f"{v:.1f}" for v in speeds[name])
        print(f"{name:<27} {value:>10.1f} {value / reference:>15.2f}x {runs:>24}")
    overhead = median["berthub 1x32"] / median["berthub 4x8"] - 1
    theirs = median["transformers 1x32 grouped"] / median["transformers 4x8 grouped"] - 1
    longer = median["berthub QNLI 1x32"] / median["berthub QNLI 4x8"] - 1
    print(f"accumulation overhead (4x8 vs 1x32): berthub {100 * overhead:+.1f}%, transformers {100 * theirs:+.1f}% "
          f"(target <= 5%); berthub on QNLI pairs {100 * longer:+.1f}%")
    print(f"berthub 4x8 vs 1x8 (same micro-batches, 1/4 of the optimizer steps): "
          f"{median['berthub 4x8'] / median['berthub 1x8']:.2f}x")
    scaling = median["berthub DDP 2x16"] / median["berthub 1x32"]
    print(f"DDP 2 processes x 1 thread vs 1 process x {args.threads} threads: {scaling:.2f}x "
          "(same cores: no speed-up is possible here, only the communication cost shows)")


if __name__ == "__main__":
    main()
