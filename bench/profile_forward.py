"""Where berthub's and transformers' BertModel forwards spend their time, op by op, on the same MiniLM weights.

Both models run the same fixed 32x128 batch (no padding) in turn, each call under its own torch.profiler
session, for `--rounds` rounds; the table gives each op's median self CPU time per forward (ms) on each
side, so a slow moment of a shared machine shifts one round of both instead of one library's total.
Usage: python bench/profile_forward.py [--dtype float32|bfloat16] [--rounds 15] [--threads N] [--shapes]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import torch
from common import minilm_dir
from model import fixed_batches
from torch.profiler import ProfilerActivity, profile


def op_times(fn, shapes: bool) -> dict[str, float]:
    """Self CPU ms of each op in one call of `fn`, keyed by op name (and input shapes if asked)."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=shapes) as prof:
        fn()
    times: dict[str, float] = defaultdict(float)
    for event in prof.key_averages(group_by_input_shape=shapes):
        key = f"{event.key} {event.input_shapes}" if shapes else event.key
        times[key] += event.self_cpu_time_total / 1000
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--shapes", action="store_true", help="one row per op and input shapes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    from transformers import BertModel as ReferenceModel

    from berthub import BertModel

    ours = BertModel.from_pretrained(minilm_dir(), dtype=dtype)
    theirs = ReferenceModel.from_pretrained(str(minilm_dir()), attn_implementation="sdpa", dtype=dtype).eval()
    ids, types, mask = fixed_batches(ours.config.vocab_size)[0]
    calls = {"berthub": lambda: ours(ids, types, mask, output_all_encoded_layers=False),
             "transformers": lambda: theirs(input_ids=ids, token_type_ids=types, attention_mask=mask)}
    per_op: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in calls}
    walls: dict[str, list[float]] = {name: [] for name in calls}
    with torch.inference_mode():
        for fn in calls.values():
            fn()
        for _ in range(args.rounds):
            for name, fn in calls.items():
                start = time.perf_counter()
                fn()
                walls[name].append(time.perf_counter() - start)
                for op, ms in op_times(fn, args.shapes).items():
                    per_op[name][op].append(ms)
    ops = sorted(set(per_op["berthub"]) | set(per_op["transformers"]),
                 key=lambda op: -max(_median(per_op[n].get(op)) for n in calls))
    print(f"dtype={args.dtype} threads={args.threads} rounds={args.rounds} torch={torch.__version__}")
    print(f"unprofiled forward, median: berthub {1000 * statistics.median(walls['berthub']):.1f} ms, "
          f"transformers {1000 * statistics.median(walls['transformers']):.1f} ms")
    print(f"{'op (median self CPU ms per forward)':70} {'berthub':>9} {'transformers':>13} {'diff':>8}")
    for op in ops:
        a, b = _median(per_op["berthub"].get(op)), _median(per_op["transformers"].get(op))
        if max(a, b) >= 0.5:
            print(f"{op[:70]:70} {a:9.1f} {b:13.1f} {a - b:+8.1f}")
    totals = {n: statistics.median(sum(v[i] for v in per_op[n].values() if len(v) > i) for i in range(args.rounds))
              for n in calls}
    print(f"{'sum of self CPU (median over rounds)':70} {totals['berthub']:9.1f} {totals['transformers']:13.1f} "
          f"{totals['berthub'] - totals['transformers']:+8.1f}")


def _median(values: list[float] | None) -> float:
    return statistics.median(values) if values else 0.0


if __name__ == "__main__":
    main()
