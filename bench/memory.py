"""Peak memory and time of one MiniLM training step (forward + backward, 32 x 128, fp32, CPU) with and
without gradient checkpointing, berthub and transformers, each in a fresh process.

Usage: python bench/memory.py [--batch 32] [--length 128] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import minilm_dir

_STEP = """
import json, sys, time, torch
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
library, path, checkpointing, batch, length, threads = sys.argv[1:7]
torch.set_num_threads(int(threads))
if library == "berthub":
    from berthub import BertModel
    model = BertModel.from_pretrained(path)
else:
    from transformers import BertModel
    model = BertModel.from_pretrained(path, attn_implementation="sdpa")
if checkpointing == "1":
    model.gradient_checkpointing_enable()
model.train()
ids = torch.randint(1000, 30000, (int(batch), int(length)))
def step():
    out = model(ids, torch.zeros_like(ids), torch.ones_like(ids))
    hidden = out[0] if library == "berthub" else out.last_hidden_state
    hidden = hidden[-1] if isinstance(hidden, list) else hidden
    hidden.square().mean().backward()
    model.zero_grad(set_to_none=True)
step()
start = time.perf_counter()
step()
print(json.dumps({"seconds": time.perf_counter() - start, "peak": peak()}))
"""


def measure(library: str, checkpointing: bool, args: argparse.Namespace) -> dict:
    result = subprocess.run([sys.executable, "-c", _STEP, library, str(minilm_dir()), str(int(checkpointing)),
                             str(args.batch), str(args.length), str(args.threads)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"one training step, MiniLM, {args.batch}x{args.length}, fp32, threads={args.threads}; "
          "peak RSS of the process")
    print(f"{'library':13} {'checkpointing':>13} {'peak RSS MiB':>13} {'step s':>8}")
    for library in ("berthub", "transformers"):
        for checkpointing in (False, True):
            row = measure(library, checkpointing, args)
            print(f"{library:13} {'on' if checkpointing else 'off':>13} {row['peak'] / 2**20:13.0f} "
                  f"{row['seconds']:8.2f}")


if __name__ == "__main__":
    main()
