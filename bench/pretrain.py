"""Pre-training: instance creation vs Google's script, MLM training vs transformers, memory on big corpora. CPU.

Every measurement runs in a fresh process; the tables show medians over --repeats rounds.
  instances   Google's create_training_instances + FullTokenizer (bert-tensorflow 1.0.4, its pure-Python part:
              TFRecord writing left out) vs `berthub pretraining-data` (reading, instances and writing shards)
              on a corpus made from the shipped SQuAD contexts, default flags with --dupe-factor 2
  mlm         tokens/s of masked-LM training from the real MiniLM: berthub's `mlm` task (stock Trainer) vs
              transformers' BertForMaskedLM + Trainer + DataCollatorForLanguageModeling, on the same windows
              (the berthub task's windows, max_seq_length 128), batch 16, masking 15%, lr 5e-5, same steps
  memory      peak RSS of `pretraining` training (MiniLM, 10 steps of batch 8) on one shard of the whole SQuAD
              corpus with dupe_factor 10 (about 30 MB) vs on 100x that (the index lists the shard 100 times: the
              trainer sees 100x the instances, about 3 GB)
Usage: python bench/pretrain.py [--repeats 1] [--steps 20] [--parts instances mlm memory]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, minilm_dir

sys.path.insert(0, str(REPO / "plugins" / "berthub-pretraining" / "tests"))
from pretraining_support import corpus_text, squad_articles  # noqa: E402  (the corpus the tests use)

VOCAB = REPO / "data" / "vocabs" / "bert-base-uncased" / "vocab.txt"


def _corpus(folder: Path) -> Path:
    path = folder / "squad.txt"
    path.write_text(corpus_text([p for a in squad_articles() for p in a]), encoding="utf-8")
    (folder / "train.txt").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def instances_google(corpus: Path) -> dict:
    import random

    from absl import flags
    from bert import create_pretraining_data as google
    from bert import tokenization

    flags.FLAGS(["bench"])
    started = time.perf_counter()
    tokenizer = tokenization.FullTokenizer(str(VOCAB), do_lower_case=True)
    instances = google.create_training_instances([str(corpus)], tokenizer, 128, 2, 0.1, 0.15, 20,
                                                 random.Random(12345))
    return {"seconds": time.perf_counter() - started, "instances": len(instances)}


def instances_berthub(corpus: Path) -> dict:
    from berthub.cli import main

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        assert main(["pretraining-data", "--input", str(corpus), "--vocab", str(VOCAB), "--output", out,
                     "--dupe-factor", "2", "--no-progress"]) == 0
        count = json.loads((Path(out) / "index.json").read_text())["instances"]
    return {"seconds": time.perf_counter() - started, "instances": count}


def _windows(data: Path) -> list[list[int]]:
    from berthub import BertTokenizer
    from berthub.tasks import get_task

    task = get_task("mlm")
    return [f.input_ids for f in task.features(task.read(data, "train"), BertTokenizer.from_pretrained(minilm_dir()),
                                               128)]


def mlm_berthub(data: Path, steps: int) -> dict:
    from berthub import BertForTask, BertTokenizer
    from berthub.tasks import get_task
    from berthub.training import Trainer, TrainingConfig, set_seed

    task = get_task("mlm")
    set_seed(42)
    model = BertForTask.from_pretrained(minilm_dir(), head=task.head)
    tokenizer = BertTokenizer.from_pretrained(minilm_dir())
    examples = task.read(data, "train")
    with tempfile.TemporaryDirectory() as out:
        config = TrainingConfig(output_dir=out, max_steps=steps, batch_size=16, learning_rate=5e-5, warmup=0.1,
                                max_seq_length=128, progress=False, logging_steps=10_000, device="cpu")
        trainer = Trainer(model, task, tokenizer, config)
        features = trainer.features(examples)
        result = trainer.train(examples)
    tokens = result.samples * sum(len(f.input_ids) for f in features) / len(features)
    return {"tokens_per_s": tokens / result.train_seconds}


def mlm_transformers(data: Path, steps: int) -> dict:
    import transformers

    tokenizer = transformers.BertTokenizerFast.from_pretrained(minilm_dir())
    transformers.set_seed(42)
    model = transformers.BertForMaskedLM.from_pretrained(minilm_dir())
    windows = _windows(data)
    dataset = [{"input_ids": ids} for ids in windows]
    with tempfile.TemporaryDirectory() as out:
        arguments = transformers.TrainingArguments(
            output_dir=out, max_steps=steps, per_device_train_batch_size=16, seed=42, learning_rate=5e-5,
            warmup_steps=0.1, weight_decay=0.01, max_grad_norm=1.0, adam_epsilon=1e-6, save_strategy="no",
            eval_strategy="no", report_to="none", logging_strategy="no", disable_tqdm=True, use_cpu=True,
            dataloader_num_workers=0)
        collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
        trainer = transformers.Trainer(model=model, args=arguments, train_dataset=dataset, data_collator=collator)
        metrics = trainer.train().metrics
    tokens = steps * 16 * sum(map(len, windows)) / len(windows)
    return {"tokens_per_s": tokens / metrics["train_runtime"]}


def memory(data: Path, copies: int) -> dict:
    """Peak RSS of 10 pretraining steps over `copies` x the instances of data/train (index lists the shard N times)."""
    from berthub import BertForTask, BertTokenizer
    from berthub.tasks import get_task
    from berthub.training import Trainer, TrainingConfig, set_seed

    index = json.loads((data / "train" / "index.json").read_text())
    index["shards"] = index["shards"] * copies
    index["instances"] *= copies
    (data / "train" / "index.json").write_text(json.dumps(index))
    task = get_task("pretraining")
    set_seed(42)
    model = BertForTask.from_pretrained(minilm_dir(), head=task.head)
    with tempfile.TemporaryDirectory() as out:
        config = TrainingConfig(output_dir=out, max_steps=10, batch_size=8, progress=False, device="cpu")
        Trainer(model, task, BertTokenizer.from_pretrained(minilm_dir()), config).train(task.read(data, "train"))
    size = sum((data / "train" / s["file"]).stat().st_size for s in index["shards"])
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "instance_bytes": size,
            "instances": index["instances"]}


def _worker(name: str, *args: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
           "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, __file__, "--worker", name, *args], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps of each MLM training run")
    parser.add_argument("--parts", nargs="+", choices=("instances", "mlm", "memory"),
                        default=["instances", "mlm", "memory"], help="which tables to measure")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work = {"instances_google": lambda: instances_google(Path(args.args[0])),
                "instances_berthub": lambda: instances_berthub(Path(args.args[0])),
                "mlm_berthub": lambda: mlm_berthub(Path(args.args[0]), int(args.args[1])),
                "mlm_transformers": lambda: mlm_transformers(Path(args.args[0]), int(args.args[1])),
                "memory": lambda: memory(Path(args.args[0]), int(args.args[1]))}[args.worker]
        print(json.dumps(work()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        corpus = _corpus(folder)
        names = (["instances_google", "instances_berthub"] if "instances" in args.parts else []) + \
            (["mlm_berthub", "mlm_transformers"] if "mlm" in args.parts else [])
        rounds: dict[str, list[dict]] = {name: [] for name in names}
        for _ in range(args.repeats):
            for name in rounds:
                extra = [str(corpus)] if name.startswith("instances") else [str(folder), str(args.steps)]
                rounds[name].append(_worker(name, *extra))
        if "instances" in args.parts:
            _print_instances(rounds, corpus)
        if "mlm" in args.parts:
            _print_mlm(rounds, args.steps)
        if "memory" in args.parts:
            _print_memory(folder, corpus)


def _print_instances(rounds: dict[str, list[dict]], corpus: Path) -> None:
    google = statistics.median(r["seconds"] for r in rounds["instances_google"])
    ours = statistics.median(r["seconds"] for r in rounds["instances_berthub"])
    print(f"instance creation, {corpus.stat().st_size / 1e6:.1f} MB of SQuAD text, dupe_factor 2, "
          f"{rounds['instances_berthub'][0]['instances']} instances (same as Google's: "
          f"{rounds['instances_google'][0]['instances']}), median of {len(rounds['instances_google'])}")
    print(f"  Google create_training_instances  {google:8.2f} s")
    print(f"  berthub pretraining-data          {ours:8.2f} s   {google / ours:.2f}x faster")


def _print_mlm(rounds: dict[str, list[dict]], steps: int) -> None:
    theirs = statistics.median(r["tokens_per_s"] for r in rounds["mlm_transformers"])
    mine = statistics.median(r["tokens_per_s"] for r in rounds["mlm_berthub"])
    print(f"masked-LM training from MiniLM, batch 16, {steps} steps, tokens/s, median of {len(rounds['mlm_berthub'])}")
    print(f"  transformers BertForMaskedLM + Trainer  {theirs:8.0f}")
    print(f"  berthub mlm task                        {mine:8.0f}   {mine / theirs:.2f}x")


def _print_memory(folder: Path, corpus: Path) -> None:
    subprocess.run([sys.executable, "-m", "berthub", "pretraining-data", "--input", str(corpus), "--vocab",
                    str(VOCAB), "--output", str(folder / "train"), "--dupe-factor", "10", "--no-progress"],
                   check=True, capture_output=True)
    small, big = _worker("memory", str(folder), "1"), _worker("memory", str(folder), "100")
    print("peak RSS of pretraining (MiniLM, 10 steps of batch 8) by size of the instance shards")
    for row in (small, big):
        print(f"  {row['instance_bytes'] / 1e6:8.0f} MB, {row['instances']:>9} instances  "
              f"{row['peak_rss_mb']:8.0f} MB")
    ratio, scale = big["peak_rss_mb"] / small["peak_rss_mb"], big["instances"] / small["instances"]
    print(f"  ratio {ratio:.2f}x for {scale:.0f}x the data")

if __name__ == "__main__":
    main()
