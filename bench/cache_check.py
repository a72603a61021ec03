"""What checking cached files costs a load: from_pretrained of a cached MiniLM by name, before vs after
issue 26's client cache (each file hashed once, then a stat per load), interleaved in one run.

The real all-MiniLM-L6-v2 folder is pushed to a local `berthub serve` and registered as a name; one cache
is filled. Before: berthub at `--before` (default: `git merge-base HEAD main`), exported with `git archive`
into a temporary folder; after: this tree. Each round starts one fresh worker process per tree, in
alternating order (A B, B A, ...), on the same cache. A worker loads once untimed (the after tree's first
load hashes what has no record yet, once), then times `--loads` loads offline and `--loads` online (one
HEAD each), and the check alone: integrity.damaged_files over config.json and model.safetensors as a
load runs it (before: the safetensors size check; after: that and a stat against each file's hash
record), and, for scale, with `full=True` (a re-hash, what BERTHUB_VERIFY=1 costs every load).
Times are CPU seconds of the worker process (time.process_time, one torch thread), which other work on
a shared machine does not inflate the way it inflates wall time; each is a median over the calls.
Usage: python bench/cache_check.py [--rounds 7] [--loads 30] [--before REV]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, machine, minilm_dir

REPO_ID = "sentence-transformers/all-MiniLM-L6-v2"
NAME = "bench-cache-minilm"  # the demo plugin registers all-minilm-l6-v2 itself

_WORKER = """
import json, os, statistics, sys, time
import berthub
from berthub import BertModel
from berthub.sources import integrity, registry
from berthub.sources.resolve import resolve_model
name, repo_id, loads = sys.argv[1], sys.argv[2], int(sys.argv[3])
registry.register(registry.ModelEntry(name, repo_id=repo_id))
BertModel.from_pretrained(name)

def median_s(call, times):
    taken = []
    for _ in range(times):
        start = time.process_time()
        call()
        taken.append(time.process_time() - start)
    return statistics.median(taken)

found = {}
for mode in ("offline", "online"):
    os.environ["BERTHUB_OFFLINE"] = "1" if mode == "offline" else "0"
    found[mode] = median_s(lambda: BertModel.from_pretrained(name), loads)
os.environ["BERTHUB_OFFLINE"] = "1"
directory = resolve_model(name).directory
names = ["config.json", "model.safetensors"]
found["check"] = median_s(lambda: integrity.damaged_files(directory, names, full=False), 20 * loads)
found["rehash"] = median_s(lambda: integrity.damaged_files(directory, names, full=True), 3)
found["file"] = berthub.__file__
print(json.dumps(found))
"""


def export_tree(revision: str, into: Path) -> Path:
    """berthub/ as it was at `revision`, in `into`; the folder to put on PYTHONPATH."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "berthub"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_worker(tree: Path, env: dict[str, str], loads: int) -> dict:
    done = subprocess.run([sys.executable, "-c", _WORKER, NAME, REPO_ID, str(loads)], capture_output=True,
                          text=True, env={**env, "PYTHONPATH": str(tree)}, cwd=tree, check=False)
    if done.returncode:
        raise RuntimeError(f"worker on {tree} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["file"].startswith(str(tree)):
        raise RuntimeError(f"the worker for {tree} imported berthub from {result['file']}")
    return result


def measure(trees: dict[str, Path], env: dict[str, str], rounds: int, loads: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {label: [] for label in trees}
    for round_ in range(rounds):
        order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
        for label in order:
            results[label].append(run_worker(trees[label], env, loads))
    return results


def report(results: dict[str, list[dict]]) -> None:
    before, after = results["before"], results["after"]
    print("case (CPU time, median)                before     after   after/before (median of pairs, min-max)")
    for key, label, unit, scale in (("offline", "from_pretrained by name, offline", "ms", 1e3),
                                    ("online", "from_pretrained by name, online", "ms", 1e3),
                                    ("check", "the check of 2 cached files", "us", 1e6),
                                    ("rehash", "a full re-hash (BERTHUB_VERIFY=1)", "ms", 1e3)):
        b = statistics.median(r[key] for r in before) * scale
        a = statistics.median(r[key] for r in after) * scale
        ratios = sorted(x[key] / y[key] for x, y in zip(after, before, strict=True))
        print(f"{label:<37} {b:7.2f}{unit} {a:7.2f}{unit}   {statistics.median(ratios):.3f}x "
              f"({ratios[0]:.3f}-{ratios[-1]:.3f})")
    added = [x["offline"] - y["offline"] for x, y in zip(after, before, strict=True)]
    print(f"offline load, after - before: median of pairs {statistics.median(added) * 1e6:+.0f} us CPU per load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--loads", type=int, default=30)
    parser.add_argument("--before", default=None, help="the before tree's git revision (default: merge base with main)")
    args = parser.parse_args()
    before = args.before or subprocess.run(["git", "-C", str(REPO), "merge-base", "HEAD", "main"], check=True,
                                           capture_output=True, text=True).stdout.strip()
    sys.path.insert(0, str(REPO / "tests"))
    from hubserver import HubServer

    scratch = Path(tempfile.mkdtemp(prefix="berthub-bench-cache-check-"))
    server = HubServer(root=scratch / "hub", extra_args=("--no-access-log",))
    try:
        server.start()
        env = {**os.environ, "BERTHUB_ENDPOINT": server.endpoint, "BERTHUB_CACHE": str(scratch / "cache"),
               "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "OMP_NUM_THREADS": "1"}
        os.environ.update(env)
        from berthub.sources import registry
        from berthub.sources.publish import push
        from berthub.sources.resolve import resolve_model

        push(minilm_dir(), REPO_ID, endpoint=server.endpoint, token=server.token)
        registry.register(registry.ModelEntry(NAME, repo_id=REPO_ID))
        resolve_model(NAME)
        trees = {"before": export_tree(before, scratch / "before"), "after": REPO}
        results = measure(trees, env, args.rounds, args.loads)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    after = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=9", "HEAD"], capture_output=True,
                           text=True).stdout.strip()
    print(f"{machine()}; before {before[:9]}, after {after} and the working tree")
    print(f"MiniLM-L6 (90.9 MB safetensors) cached from berthub serve on 127.0.0.1; {args.rounds} rounds, "
          f"medians of {args.loads} loads per worker")
    report(results)


if __name__ == "__main__":
    main()
