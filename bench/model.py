"""berthub BertModel vs transformers BertModel on the same MiniLM weights, CPU.

Prints a table of sequences/s and ratios for: fixed 32x128 batches and real variable-length SST-2 dev batches,
each in fp32, bf16 (weights loaded as bf16) and dynamic int8 (`berthub.training.precision.quantize_int8`,
torch's dynamic int8 with per-channel weights, applied to both libraries' models alike); then
`from_pretrained` in a fresh process (time, peak RSS).

Every timing runs in a fresh process that loads one model and times only that model, as a user's process
would: models timed side by side in one process change each other's speed through the memory allocator
(whether a large tensor finds its pages mapped depends on what the previous model freed). berthub's and
transformers' processes alternate, `--rounds` times per case, and each ratio is the median over rounds of
the pair taken back to back (a busy neighbour on a shared machine slows both of a pair).
Usage: python bench/model.py [--rounds 5] [--repeats 7] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import REPO, machine, minilm_dir, run_worker

PRECISIONS = ("fp32", "bf16", "int8")


def timed(fn, repeats: int) -> float:
    """Median seconds of `fn()` after one warm-up call."""
    fn()
    spent = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        spent.append(time.perf_counter() - start)
    return statistics.median(spent)


def model_flops(config, batch: int, length: int) -> float:
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token = 2 * (4 * h * h + 2 * h * i) + 4 * length * h
    return batch * length * layers * per_token


def matmul_flops_per_second(config, tokens: int, repeats: int) -> float:
    """This CPU's fp32 matmul rate at the model's own shapes (the FFN's two matmuls)."""
    x = torch.randn(tokens, config.hidden_size)
    w1 = torch.randn(config.intermediate_size, config.hidden_size)
    w2 = torch.randn(config.hidden_size, config.intermediate_size)
    seconds = timed(lambda: torch.nn.functional.linear(torch.nn.functional.linear(x, w1), w2), repeats)
    return 2 * 2 * tokens * config.hidden_size * config.intermediate_size / seconds


def sst2_batches(batch_size: int = 32, count: int = 27):
    """The first batch_size * count SST-2 dev sentences, padded per batch by transformers' fast tokenizer."""
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(str(minilm_dir() / "vocab.txt"))
    lines = (REPO / "data/glue/SST-2/dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    sentences = [line.split("\t")[0] for line in lines if line][: batch_size * count]
    batches = []
    for start in range(0, len(sentences), batch_size):
        encoded = tokenizer(sentences[start:start + batch_size], padding=True, return_tensors="pt")
        batches.append((encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"]))
    return batches


def fixed_batches(vocab_size: int):
    """One 32x128 batch of random token ids (the same in every process), no padding."""
    ids = torch.randint(1000, vocab_size, (32, 128), generator=torch.Generator().manual_seed(0))
    return [(ids, torch.zeros_like(ids), torch.ones_like(ids))]


def load(library: str, precision: str):
    """The MiniLM BertModel of `library` ("berthub" or "transformers") in `precision`, in eval mode."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    if library == "berthub":
        from berthub import BertModel

        model = BertModel.from_pretrained(minilm_dir(), dtype=dtype)
    else:
        from transformers import BertModel

        model = BertModel.from_pretrained(str(minilm_dir()), attn_implementation="sdpa", dtype=dtype).eval()
    if precision == "int8":
        from berthub.training.precision import quantize_int8

        model = quantize_int8(model)
    return model


def run_batches(model, batches, ours: bool):
    with torch.inference_mode():
        for ids, types, mask in batches:
            if ours:
                model(ids, types, mask, output_all_encoded_layers=False)
            else:
                model(input_ids=ids, token_type_ids=types, attention_mask=mask)


def worker(library: str, precision: str, workload: str, repeats: int) -> dict:
    """In this process: load one model, then time `repeats` passes over the workload's batches."""
    model = load(library, precision)
    batches = fixed_batches(model.config.vocab_size) if workload == "fixed" else sst2_batches()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds = timed(lambda: run_batches(model, batches, library == "berthub"), repeats)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"seconds": seconds, "faults_per_pass": faults / (repeats + 1),
            "sequences": sum(len(ids) for ids, _, _ in batches)}


def measured(precision: str, workload: str, args) -> dict[str, list[dict]]:
    """`args.rounds` back-to-back pairs of berthub and transformers processes (the order alternating)."""
    runs = {"berthub": [], "transformers": []}
    for round_ in range(args.rounds):
        order = ("berthub", "transformers") if round_ % 2 == 0 else ("transformers", "berthub")
        for library in order:
            repeats = args.repeats if workload == "fixed" else max(1, args.repeats // 3)  # 27 batches a pass
            command = [str(Path(__file__).resolve()), "--worker", library, precision, workload,
                       "--repeats", str(repeats)]
            runs[library].append(run_worker(command, args.threads, f"{library} {precision} {workload}"))
    return runs


def rows_for(workload: str, label: str, args) -> list[tuple]:
    """Table rows for one workload: berthub vs transformers in each precision, then cross-precision rows."""
    runs = {precision: measured(precision, workload, args) for precision in PRECISIONS}

    def median(precision, library):
        return statistics.median(run["seconds"] for run in runs[precision][library])

    sequences = runs["fp32"]["berthub"][0]["sequences"]
    rows = []
    for precision in PRECISIONS:
        pairs = zip(runs[precision]["berthub"], runs[precision]["transformers"], strict=True)
        ratio = statistics.median(theirs["seconds"] / ours["seconds"] for ours, theirs in pairs)
        rows.append((f"{label} {precision}", sequences / median(precision, "berthub"),
                     sequences / median(precision, "transformers"), ratio))
    for precision, other, library in (("bf16", "fp32", "transformers"), ("int8", "fp32", "berthub")):
        rows.append((f"{label} {precision} vs {library} {other}", sequences / median(precision, "berthub"),
                     sequences / median(other, library), median(other, library) / median(precision, "berthub")))
    faults = {key: statistics.median(run["faults_per_pass"] for run in runs["bf16"][key]) for key in runs["bf16"]}
    print(f"{label} bf16: page faults per pass, berthub {faults['berthub']:.0f}, "
          f"transformers {faults['transformers']:.0f}", file=sys.stderr)
    return rows


def cosines(full) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token cosine of berthub's bf16 and int8 hidden states with `full`'s (fp32) on the fixed batch."""
    half, low = load("berthub", "bf16"), load("berthub", "int8")
    batch = fixed_batches(full.config.vocab_size)[0]
    with torch.inference_mode():
        outputs = [model(*batch, output_all_encoded_layers=False)[0].float().flatten(0, 1)
                   for model in (full, half, low)]
    return tuple(torch.nn.functional.cosine_similarity(outputs[0], other, dim=-1) for other in outputs[1:])


_LOAD_SCRIPT = """
import json, sys, time
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
library, path = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if library == "berthub":
    from berthub import BertModel
else:
    from transformers import BertModel
imported, before = time.perf_counter(), status("VmRSS")
model = BertModel.from_pretrained(path)
end = time.perf_counter()
print(json.dumps({"seconds": end - start, "load_seconds": end - imported, "extra_rss": status("VmHWM") - before}))
"""


def load_in_fresh_process(library: str) -> dict:
    """Import + from_pretrained(local dir) in a new interpreter: seconds and peak RSS added by the load."""
    result = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, library, str(minilm_dir())],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def print_loads() -> None:
    loads = {lib: [load_in_fresh_process(lib) for _ in range(3)] for lib in ("berthub", "transformers")}
    weight_bytes = (minilm_dir() / "model.safetensors").stat().st_size
    med = {lib: statistics.median(r["seconds"] for r in runs) for lib, runs in loads.items()}
    rss = {lib: statistics.median(r["extra_rss"] for r in runs) for lib, runs in loads.items()}
    print(f"import + from_pretrained(local dir), fresh process, median of 3: berthub {med['berthub']:.2f}s, "
          f"transformers {med['transformers']:.2f}s, ratio {med['berthub'] / med['transformers']:.2f}x")
    print(f"peak RSS added by from_pretrained: berthub {rss['berthub'] / 2**20:.0f} MiB "
          f"({rss['berthub'] / weight_bytes:.2f}x the {weight_bytes / 2**20:.0f} MiB of weights), "
          f"transformers {rss['transformers'] / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="berthub/transformers process pairs per case")
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed passes over the 32x128 batch in each process (a third of it over SST-2's 27)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--worker", nargs=3, metavar=("LIBRARY", "PRECISION", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.repeats)))
        return

    rows = rows_for("fixed", "32x128", args) + rows_for("sst2", "SST-2 dev, padded per batch,", args)
    full = load("berthub", "fp32")
    config = full.config
    peak = matmul_flops_per_second(config, 32 * 128, args.repeats)
    achieved = model_flops(config, 32, 128) * rows[0][1] / 32
    bf16_cosine, int8_cosine = cosines(full)
    batches = sst2_batches()
    padding = 1 - sum(int(m.sum()) for _, _, m in batches) / sum(m.numel() for _, _, m in batches)

    print(f"{machine()}; threads={args.threads}  torch={torch.__version__}  rounds={args.rounds}")
    print(f"{'case':52} {'berthub seq/s':>14} {'reference seq/s':>16} {'ratio':>7}")
    print("(reference: transformers in the same precision unless the case names another; ratio: median of paired"
          " rounds, or of medians for cross-precision rows)")
    for name, ours, theirs, ratio in rows:
        print(f"{name:52} {ours:14.1f} {theirs:16.1f} {ratio:7.2f}x")
    print(f"fp32 matmul peak at these shapes: {peak / 1e9:.1f} GFLOP/s; berthub 32x128 fp32 reaches "
          f"{achieved / 1e9:.1f} GFLOP/s = {100 * achieved / peak:.0f}% of it")
    print(f"bf16 vs fp32 hidden states: cosine min {bf16_cosine.min():.5f}, mean {bf16_cosine.mean():.6f}")
    print(f"int8 vs fp32 hidden states (random ids): cosine min {int8_cosine.min():.4f}, "
          f"mean {int8_cosine.mean():.4f}")
    print(f"SST-2 dev batches: {100 * padding:.0f}% of positions are padding")
    print_loads()


if __name__ == "__main__":
    main()
