"""Where the time of gradient accumulation goes: forward + backward only, berthub vs transformers, CPU.

The same 16 optimizer steps of 32 real SST-2 sentences (length-grouped, as berthub's Trainer batches
them), fp32, dropout on, no optimizer. Each step is run three ways:
  1x32            one forward/backward of all 32
  4x8 reset       4 forward/backwards of 8, gradients dropped before each one (no adding up)
  4x8 accumulated 4 forward/backwards of 8 into the same gradients (what accumulation does;
                  berthub with its sparse vocabulary gradient, densified once per step)
"4x8 reset / 1x32" is what running the matmuls on 4x fewer rows costs by itself; "accumulated /
reset" is what adding the gradients up costs. Rounds alternate the libraries; medians of ms/step.
Usage: python bench/accumulation.py [--steps 16] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from common import REPO, minilm_dir


def steps(count: int) -> tuple[list, list[list[list[int]]]]:
    """berthub features of 512 SST-2 sentences and the first `count` steps of 4 micro-batches of 8."""
    from berthub import BertTokenizer
    from berthub.tasks import get_task
    from berthub.training.batching import Layout, epoch_plan

    task = get_task("sst-2")
    examples = task.read(REPO / "data/glue/SST-2", "train")[:512]
    features = task.features(examples, BertTokenizer.from_pretrained(minilm_dir()), 128)
    plan = epoch_plan([len(f.input_ids) for f in features], Layout(8, 4), 0, 42, 0, True)
    return features, plan[:count]


def berthub_runner(features):
    from berthub import BertForTask
    from berthub.tasks import collate
    from berthub.training.accumulation import SummedLoss
    from berthub.training.sparse_grads import SparseEmbeddingGrads

    model = BertForTask.from_pretrained(minilm_dir(), head="sequence-classification", num_labels=2).train()
    net, sparse = SummedLoss(model), SparseEmbeddingGrads(model)

    def backward(indices: list[int]) -> None:
        net(collate([features[i] for i in indices], pad_id=0))[0].backward()

    def finish() -> None:
        sparse.densify()

    return model, backward, finish, sparse.active


def transformers_runner(features):
    import contextlib

    import transformers

    transformers.utils.logging.disable_progress_bar()
    model = transformers.BertForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2).train()
    collator = transformers.DataCollatorWithPadding(transformers.BertTokenizerFast.from_pretrained(minilm_dir()))

    def backward(indices: list[int]) -> None:
        rows = [{"input_ids": features[i].input_ids, "token_type_ids": features[i].token_type_ids,
                 "labels": features[i].targets["labels"]} for i in indices]
        model(**collator(rows)).loss.backward()

    return model, backward, lambda: None, contextlib.nullcontext


def time_steps(runner, plan: list[list[list[int]]], mode: str) -> float:
    """ms per optimizer step of forward/backward in `mode` (1x32, reset or accumulated)."""
    model, backward, finish, active = runner
    with active():
        started = time.perf_counter()
        for micro_batches in plan:
            model.zero_grad(set_to_none=True)
            if mode == "1x32":
                backward([i for micro in micro_batches for i in micro])
            for micro in micro_batches if mode != "1x32" else []:
                if mode == "reset":
                    model.zero_grad(set_to_none=True)
                backward(micro)
            finish()
        return 1e3 * (time.perf_counter() - started) / len(plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    features, plan = steps(args.steps)
    runners = {"berthub": berthub_runner(features), "transformers": transformers_runner(features)}
    modes = ("1x32", "reset", "accumulated")
    times = {(lib, mode): [] for lib in runners for mode in modes}
    for _ in range(args.repeats):
        for lib, runner in runners.items():
            time_steps(runner, plan[:2], "1x32")  # warm up this library's caches and allocator
            for mode in modes:
                times[lib, mode].append(time_steps(runner, plan, mode))
    median = {key: statistics.median(values) for key, values in times.items()}
    tokens = sum(len(features[i].input_ids) for step in plan for micro in step for i in micro) / len(plan) / 4
    print(f"Forward + backward of {args.steps} steps of 32 real SST-2 sentences (length-grouped, {tokens:.0f} tokens "
          f"per micro-batch of 8 on average), all-MiniLM-L6-v2, fp32, {args.threads} threads, "
          f"median of {args.repeats} rounds, ms per step")
    print(f"{'library':<13} {'1x32':>8} {'4x8 reset':>10} {'4x8 accumulated':>16} {'reset/1x32':>11} "
          f"{'accumulated/reset':>18} {'accumulated/1x32':>17}")
    for lib in runners:
        one, reset, accumulated = (median[lib, mode] for mode in modes)
        print(f"{lib:<13} {one:>8.1f} {reset:>10.1f} {accumulated:>16.1f} {reset / one:>10.2f}x "
              f"{accumulated / reset:>17.2f}x {accumulated / one:>16.2f}x")


if __name__ == "__main__":
    main()
