"""Memory that loading MiniLM adds, in fresh processes: berthub and transformers from_pretrained, and berthub's
load_state_dict into a built model (how `berthub train` resumes), split into anonymous and file-backed pages.

from_pretrained: peak RSS added (VmHWM), the anonymous / file-backed split after it, and RSS added once one
forward has run (memory-mapped weights are read in by then, so this is the steady state).
load_state_dict: peak RSS added by the call alone (VmHWM reset through /proc/self/clear_refs first), with the
file's tensors already in memory, and the bytes torch allocated during the call (torch.profiler).
Usage: python bench/load_memory.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from common import minilm_dir

_SCRIPT = """
import json, sys
def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024
    return fields
library, case, path = sys.argv[1:4]
import torch
if library == "berthub":
    from berthub import BertModel
    import berthub.model.pretrained  # imported before the first status(), so module loading is not counted
else:
    from transformers import BertModel
if case == "from_pretrained":
    before = status()
    model = BertModel.from_pretrained(path)
    loaded = status()
    with torch.inference_mode():
        model(torch.ones(1, 8, dtype=torch.long))
    ran = status()
    print(json.dumps({"peak": loaded["VmHWM"] - before["VmHWM"], "anon": loaded["RssAnon"] - before["RssAnon"],
                      "file": loaded["RssFile"] - before["RssFile"], "after_forward": ran["VmRSS"] - before["VmRSS"]}))
else:
    from safetensors.torch import load_file
    model = BertModel(BertModel.from_pretrained(path).config)
    state = {k: v.clone() for k, v in load_file(path + "/model.safetensors").items()}
    open("/proc/self/clear_refs", "w").write("5")  # resets VmHWM to the current RSS
    before = status()
    model.load_state_dict(state, strict=False)
    peak = status()["VmHWM"] - before["VmRSS"]
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        model.load_state_dict(state, strict=False)  # again, counting what torch allocates (the profiler's own RSS
    allocated = sum(max(event.self_cpu_memory_usage, 0) for event in prof.key_averages())  # spoils peak here)
    print(json.dumps({"peak": peak, "allocated": allocated}))
"""


def measure(library: str, case: str) -> dict:
    result = subprocess.run([sys.executable, "-c", _SCRIPT, library, case, str(minilm_dir())],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    mib = 2**20
    weights = (minilm_dir() / "model.safetensors").stat().st_size
    print(f"MiniLM weights: {weights / mib:.1f} MiB; medians of {args.runs} fresh processes; MiB")
    print(f"{'case':40} {'peak added':>10} {'anon':>7} {'file':>7} {'after 1 forward':>16}")
    for library in ("berthub", "transformers"):
        runs = [measure(library, "from_pretrained") for _ in range(args.runs)]
        med = {key: statistics.median(run[key] for run in runs) / mib for key in runs[0]}
        print(f"{library + ' from_pretrained':40} {med['peak']:10.1f} {med['anon']:7.1f} {med['file']:7.1f} "
              f"{med['after_forward']:16.1f}")
    runs = [measure("berthub", "load_state_dict") for _ in range(args.runs)]
    peak, allocated = (statistics.median(run[key] for run in runs) / mib for key in ("peak", "allocated"))
    print(f"{'berthub load_state_dict (built model)':40} {peak:10.1f}   (torch allocated {allocated:.1f} MiB in it)")


if __name__ == "__main__":
    main()
