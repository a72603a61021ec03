"""Run every benchmark and rewrite its measured block in bench/RESULTS.md.

Each benchmark's section in RESULTS.md holds its latest output between two markers:

    <!-- output: bench/model.py -->
    ```
    ...what the script printed...
    ```
    <!-- end output -->

This script runs each `bench/*.py` in turn (one at a time: they share the machine's cores), and
replaces those blocks with the new output and a line naming the machine, the command and the date.
A benchmark without markers gets a new section at the end. Prose around the blocks is kept.

Usage: python bench/run_all.py [NAME ...]   (names like `model`, `tokenizer`; default: all)
"""

from __future__ import annotations

import datetime
import platform
import re
import subprocess
import sys
from pathlib import Path

from common import machine

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
ORDER = ["model", "tokenizer", "load", "convert", "hub", "train", "accumulation", "bertadam06", "predict", "pretrain",
         "finetune_parity"]


def _machine() -> str:
    return f"{machine()}, Python {platform.python_version()}"


def _block(script: str, output: str) -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!-- output: {script} -->\n_Last run: `python {script}` on {_machine()}, {stamp}._\n\n"
            f"```\n{output.rstrip()}\n```\n<!-- end output -->")


def _replace(text: str, script: str, block: str) -> str:
    pattern = re.compile(rf"<!-- output: {re.escape(script)} -->.*?<!-- end output -->", re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + f"\n\n## {script}\n\n{block}\n"


def main(names: list[str]) -> int:
    scripts = names or [n for n in ORDER if (BENCH / f"{n}.py").exists()]
    failed = []
    for name in scripts:
        script = f"bench/{name}.py"
        print(f"== {script}", flush=True)
        run = subprocess.run([sys.executable, script], cwd=BENCH.parent, capture_output=True, text=True)
        print(run.stdout, end="", flush=True)
        if run.returncode != 0:
            print(run.stderr[-4000:], file=sys.stderr)
            failed.append(script)
            continue
        RESULTS.write_text(_replace(RESULTS.read_text(encoding="utf-8"), script, _block(script, run.stdout)),
                           encoding="utf-8")
    if failed:
        print(f"failed: {', '.join(failed)} (their RESULTS.md blocks were left as they were)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
