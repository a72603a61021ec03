"""berthub BertModel now vs at a git revision vs transformers, interleaved in one process, on MiniLM weights.

For a change to modeling.py: the revision's berthub/modeling.py is loaded beside the working tree's (same
process, same weights, same batches), and the three forwards take turns within every round, so a busy moment
of a shared machine falls on all three. Prints median and 25th-percentile ms per forward, ratios of medians,
minor page faults per forward, and the largest difference of the last hidden state from the revision's.
Usage: python bench/ab_forward.py [--rev HEAD] [--rounds 21] [--dtype float32|bfloat16] [--sst2]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import REPO, minilm_dir


def baseline_module(rev: str):
    """berthub/modeling.py as of `rev`, imported under another name beside the current one."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:berthub/modeling.py"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp(prefix="berthub-ab-")) / "modeling_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("berthub_modeling_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def batches(config, sst2: bool):
    """bench/model.py's workloads: its fixed 32x128 batch, or its 27 padded SST-2 dev batches."""
    from model import fixed_batches, sst2_batches

    return sst2_batches() if sst2 else fixed_batches(config.vocab_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--sst2", action="store_true", help="real padded SST-2 dev batches instead of 32x128")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    from transformers import BertModel as ReferenceModel

    from berthub import BertModel

    new = BertModel.from_pretrained(minilm_dir(), dtype=dtype)
    old = baseline_module(args.rev).BertModel.from_pretrained(minilm_dir(), dtype=dtype)
    ref = ReferenceModel.from_pretrained(str(minilm_dir()), attn_implementation="sdpa", dtype=dtype).eval()
    data = batches(new.config, args.sst2)

    def ours(model):
        return lambda: [model(i, t, m, output_all_encoded_layers=False)[0] for i, t, m in data]

    calls = {f"berthub at {args.rev}": ours(old), "berthub (working tree)": ours(new),
             "transformers": lambda: [ref(input_ids=i, token_type_ids=t, attention_mask=m) for i, t, m in data]}
    seconds = {name: [] for name in calls}
    faults = {name: 0 for name in calls}
    with torch.inference_mode():
        for fn in calls.values():
            fn()
        for round_ in range(args.rounds):
            names = list(calls)[round_ % 3:] + list(calls)[:round_ % 3]  # rotate who goes first
            for name in names:
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                start = time.perf_counter()
                calls[name]()
                seconds[name].append(time.perf_counter() - start)
                faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        before, after = calls[f"berthub at {args.rev}"](), calls["berthub (working tree)"]()
        diff = max(float((a[m.bool()] - b[m.bool()]).abs().max())
                   for a, b, (_, _, m) in zip(before, after, data, strict=True))
    load = Path("/proc/loadavg").read_text().split()[:3]
    ref_median = statistics.median(seconds["transformers"])
    print(f"{'32x128' if not args.sst2 else 'SST-2 dev (27 batches)'} {args.dtype}, threads={args.threads}, "
          f"rounds={args.rounds}, load average at the end {' '.join(load)}")
    print(f"{'model':28} {'median ms':>10} {'p25 ms':>8} {'transformers/it':>16} {'faults/call':>12}")
    for name, spent in seconds.items():
        median, p25 = statistics.median(spent), statistics.quantiles(spent, n=4)[0]
        print(f"{name:28} {1000 * median:10.1f} {1000 * p25:8.1f} {ref_median / median:15.3f}x "
              f"{faults[name] / args.rounds:12.0f}")
    print(f"max |last hidden state, working tree - {args.rev}| at real tokens: {diff:.3g}")


if __name__ == "__main__":
    main()
