"""berthub BertModel vs transformers BertModel on the same MiniLM weights, CPU, one run.

Prints a table of sequences/s and ratios for: fixed 32x128 batches in fp32, bf16 and dynamic int8, real
variable-length SST-2 dev batches (fp32 and int8), and from_pretrained in a fresh process (time, peak RSS).
int8 is `berthub.training.precision.quantize_int8` (torch's dynamic int8, per-channel weights) applied to
both libraries' models alike.
Usage: python bench/model.py [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
from common import REPO, minilm_dir


def timed(fn, repeats: int) -> float:
    """Median seconds of `fn()` after one warm-up call."""
    return timed_together([fn], repeats)[0]


def timed_together(fns, repeats: int) -> list[float]:
    """Median seconds of each of `fns`, called in turn within every repeat (after one warm-up call each),
    so a slow moment of a shared machine hits every candidate alike instead of one of them."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, spent in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


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


def sst2_batches(tokenizer, batch_size: int, count: int):
    lines = (REPO / "data/glue/SST-2/dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    sentences = [line.split("\t")[0] for line in lines if line][: batch_size * count]
    batches = []
    for start in range(0, len(sentences), batch_size):
        encoded = tokenizer(sentences[start:start + batch_size], padding=True, return_tensors="pt")
        batches.append((encoded["input_ids"], encoded["token_type_ids"], encoded["attention_mask"]))
    return batches


def run_batches(model, batches, ours: bool):
    with torch.inference_mode():
        for ids, types, mask in batches:
            if ours:
                model(ids, types, mask, output_all_encoded_layers=False)
            else:
                model(input_ids=ids, token_type_ids=types, attention_mask=mask)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import BertModel as ReferenceModel
    from transformers import BertTokenizerFast

    from berthub import BertModel

    ours = BertModel.from_pretrained(minilm_dir())
    theirs = ReferenceModel.from_pretrained(str(minilm_dir()), attn_implementation="sdpa").eval()
    ours_bf16 = BertModel.from_pretrained(minilm_dir(), dtype=torch.bfloat16)
    theirs_bf16 = ReferenceModel.from_pretrained(str(minilm_dir()), attn_implementation="sdpa",
                                                 dtype=torch.bfloat16).eval()
    from berthub.training.precision import quantize_int8

    ours_int8, theirs_int8 = quantize_int8(ours), quantize_int8(theirs)
    config = ours.config
    rows = []

    ids = torch.randint(1000, config.vocab_size, (32, 128))
    fixed = [(ids, torch.zeros_like(ids), torch.ones_like(ids))]
    t_ours, t_theirs, t_ours16, t_theirs16 = timed_together(
        [lambda: run_batches(ours, fixed, True), lambda: run_batches(theirs, fixed, False),
         lambda: run_batches(ours_bf16, fixed, True), lambda: run_batches(theirs_bf16, fixed, False)], args.repeats)
    peak = matmul_flops_per_second(config, 32 * 128, args.repeats)
    achieved = model_flops(config, 32, 128) / t_ours
    rows.append(("32x128 fp32", 32 / t_ours, 32 / t_theirs, t_theirs / t_ours))
    rows.append(("32x128 bf16 vs transformers bf16", 32 / t_ours16, 32 / t_theirs16, t_theirs16 / t_ours16))
    rows.append(("32x128 bf16 vs transformers fp32", 32 / t_ours16, 32 / t_theirs, t_theirs / t_ours16))
    t_ours8, t_theirs8 = timed_together([lambda: run_batches(ours_int8, fixed, True),
                                         lambda: run_batches(theirs_int8, fixed, False)], args.repeats)
    rows.append(("32x128 int8 vs transformers int8", 32 / t_ours8, 32 / t_theirs8, t_theirs8 / t_ours8))
    rows.append(("32x128 int8 vs berthub fp32", 32 / t_ours8, 32 / t_ours, t_ours / t_ours8))
    with torch.inference_mode():
        full = ours(*fixed[0], output_all_encoded_layers=False)[0]
        low = ours_bf16(*fixed[0], output_all_encoded_layers=False)[0].float()
        low8 = ours_int8(*fixed[0], output_all_encoded_layers=False)[0]
    cosine = torch.nn.functional.cosine_similarity(full.flatten(0, 1), low.flatten(0, 1), dim=-1)
    cosine8 = torch.nn.functional.cosine_similarity(full.flatten(0, 1), low8.flatten(0, 1), dim=-1)

    batches = sst2_batches(BertTokenizerFast(str(minilm_dir() / "vocab.txt")), 32, 27)
    real = sum(int(m.sum()) for _, _, m in batches)
    positions = sum(m.numel() for _, _, m in batches)
    sentences = sum(len(i) for i, _, _ in batches)
    t_ours_var, t_theirs_var = timed_together(
        [lambda: run_batches(ours, batches, True), lambda: run_batches(theirs, batches, False)],
        max(1, args.repeats // 2))
    rows.append(("SST-2 dev, padded per batch, fp32", sentences / t_ours_var, sentences / t_theirs_var,
                 t_theirs_var / t_ours_var))
    t_ours_var8, t_theirs_var8 = timed_together(
        [lambda: run_batches(ours_int8, batches, True), lambda: run_batches(theirs_int8, batches, False)],
        max(1, args.repeats // 2))
    rows.append(("SST-2 dev, padded per batch, int8", sentences / t_ours_var8, sentences / t_theirs_var8,
                 t_theirs_var8 / t_ours_var8))
    rows.append(("SST-2 dev int8 vs berthub fp32", sentences / t_ours_var8, sentences / t_ours_var,
                 t_ours_var / t_ours_var8))

    print(f"threads={args.threads}  torch={torch.__version__}")
    print(f"{'case':38} {'berthub seq/s':>14} {'reference seq/s':>19} {'ratio':>7}")
    print("(reference: transformers in the same precision unless the case names another)")
    for name, a, b, ratio in rows:
        print(f"{name:38} {a:14.1f} {b:19.1f} {ratio:7.2f}x")
    print(f"fp32 matmul peak at these shapes: {peak / 1e9:.1f} GFLOP/s; berthub 32x128 fp32 reaches "
          f"{achieved / 1e9:.1f} GFLOP/s = {100 * achieved / peak:.0f}% of it")
    print(f"bf16 vs fp32 hidden states: cosine min {cosine.min():.5f}, mean {cosine.mean():.6f}")
    print(f"int8 vs fp32 hidden states (random ids): cosine min {cosine8.min():.4f}, mean {cosine8.mean():.4f}")
    print(f"SST-2 dev batches: {100 * (1 - real / positions):.0f}% of positions are padding")

    loads = {lib: [load_in_fresh_process(lib) for _ in range(3)] for lib in ("berthub", "transformers")}
    weight_bytes = (minilm_dir() / "model.safetensors").stat().st_size
    med = {lib: statistics.median(r["seconds"] for r in runs) for lib, runs in loads.items()}
    rss = {lib: statistics.median(r["extra_rss"] for r in runs) for lib, runs in loads.items()}
    print(f"import + from_pretrained(local dir), fresh process, median of 3: berthub {med['berthub']:.2f}s, "
          f"transformers {med['transformers']:.2f}s, ratio {med['berthub'] / med['transformers']:.2f}x")
    print(f"peak RSS added by from_pretrained: berthub {rss['berthub'] / 2**20:.0f} MiB "
          f"({rss['berthub'] / weight_bytes:.2f}x the {weight_bytes / 2**20:.0f} MiB of weights), "
          f"transformers {rss['transformers'] / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
