"""TF checkpoint -> berthub conversion of a BERT-base-sized checkpoint: TensorFlow's reader vs berthub's.

Writes a 110M-parameter checkpoint in Google's naming with TensorFlow (encoder + pretraining heads,
like Google's bert_model.ckpt), then converts it once with each reader, each in a fresh process,
and prints one table: conversion time, process time including imports, peak RSS (and its ratio to
the weight bytes), and the time to read every variable without writing. Both outputs must be
byte-identical. Targets (issue 7): conversion <= 10 s, peak RSS <= 2x the weight bytes.
Each measurement is the median of --repeats fresh processes (peak RSS: the largest).
Usage: python bench/convert.py [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

BASE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
        "initializer_range": 0.02}

_CHILD = textwrap.dedent("""
    import json, sys, time
    start = time.perf_counter()
    from berthub_tf import convert
    from berthub_tf.checkpoint import open_checkpoint
    mode, reader, prefix, config, out = sys.argv[1:6]
    if reader == "tf":
        import tensorflow  # timed with the imports, so "work" is the reading and writing alone
    imported = time.perf_counter()
    if mode == "convert":
        convert(prefix, config, out, reader=reader)
    else:
        checkpoint = open_checkpoint(prefix, reader)
        total = sum(checkpoint.read(name).nbytes for name in checkpoint.variables)
    done = time.perf_counter()
    # VmHWM: this process's peak resident set since exec (ru_maxrss would include the forking parent's).
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    peak_mb = int(status["VmHWM"].split()[0]) / 1024
    print(json.dumps({"import_s": imported - start, "work_s": done - imported, "peak_rss_mb": peak_mb}))
""")


def google_variables(seed: int = 0) -> dict[str, np.ndarray]:
    """BERT-base's variables (the shapes Google's modeling.py and run_pretraining.py create), random values."""
    from berthub_tf.names import MLM, NSP, expected_variables

    from berthub.model import BertConfig

    rng = np.random.default_rng(seed)
    mappings = expected_variables(BertConfig.from_dict(BASE), {MLM, NSP})
    return {m.source: rng.standard_normal(m.tf_shape, dtype=np.float32) * 0.02 for m in mappings}


def run_child(mode: str, reader: str, folder: Path, out: Path) -> dict[str, float]:
    """Run one conversion (or read-all) in a fresh interpreter; its times and peak RSS."""
    command = [sys.executable, "-c", _CHILD, mode, reader, str(folder / "bert_model.ckpt"),
               str(folder / "bert_config.json"), str(out)]
    started = time.perf_counter()
    child = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if child.returncode != 0:
        raise SystemExit(f"{mode} with the {reader} reader failed (exit {child.returncode})")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per measurement (default 3)")
    parser.add_argument("--keep", type=Path, help="write the checkpoint and outputs here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="berthub-bench-convert-") as tmp:
        root = args.keep or Path(tmp)
        table = bench(root, args.repeats)
    print(table)


def repeated(mode: str, reader: str, folder: Path, out: Path, repeats: int) -> dict[str, float]:
    """Median times and the largest peak RSS over `repeats` fresh processes (outputs replaced each time)."""
    runs = []
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        runs.append(run_child(mode, reader, folder, out))
    result = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    result["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
    return result


def bench(root: Path, repeats: int) -> str:
    from berthub_tf.to_tf import write_checkpoint

    folder = root / "bert-base-tf"
    variables = google_variables()
    weight_bytes = sum(v.nbytes for v in variables.values())
    started = time.perf_counter()
    write_checkpoint(variables, folder / "bert_model.ckpt")
    written_s = time.perf_counter() - started
    (folder / "bert_config.json").write_text(json.dumps(BASE))
    params = sum(v.size for v in variables.values())
    del variables
    results = {}
    for reader in ("tf", "pure"):
        results[reader] = repeated("convert", reader, folder, root / f"out-{reader}", repeats)
        results[reader]["read_s"] = repeated("read", reader, folder, root / "unused", repeats)["work_s"]
    outputs = [(root / f"out-{reader}" / "model.safetensors").read_bytes() for reader in ("tf", "pure")]
    same = outputs[0] == outputs[1]
    return _table(results, params, weight_bytes, written_s, same)


def _table(results: dict[str, dict[str, float]], params: int, weight_bytes: int, written_s: float, same: bool) -> str:
    mb = weight_bytes / 2**20
    lines = [f"BERT-base-sized TF checkpoint: {params / 1e6:.1f}M parameters, {mb:.0f} MiB of float32 weights "
             f"(written by TensorFlow in {written_s:.1f} s)",
             "", "convert: checkpoint -> model directory (read, transpose, write safetensors, sha256 of sources), "
             "after imports; process: the whole fresh interpreter incl. importing torch (and TensorFlow for tf).",
             "", "| reader | convert (s) | process incl. imports (s) | read all variables (s) | peak RSS (MiB) | "
             "peak RSS / weights |", "|---|---|---|---|---|---|"]
    for reader, label in (("tf", "TensorFlow (tf.train.load_checkpoint)"), ("pure", "berthub numpy reader")):
        r = results[reader]
        lines.append(f"| {label} | {r['work_s']:.2f} | {r['process_s']:.2f} | {r['read_s']:.2f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / mb:.2f}x |")
    tf_, pure = results["tf"], results["pure"]
    lines += ["", f"pure / TensorFlow: convert time {pure['work_s'] / tf_['work_s']:.2f}x, process time "
              f"{pure['process_s'] / tf_['process_s']:.2f}x, read time {pure['read_s'] / tf_['read_s']:.2f}x, "
              f"peak RSS {pure['peak_rss_mb'] / tf_['peak_rss_mb']:.2f}x",
              f"model.safetensors byte-identical between readers: {'yes' if same else 'NO'}",
              f"targets: convert <= 10 s: {'met' if max(tf_['work_s'], pure['work_s']) <= 10 else 'MISSED'} "
              f"(both readers); peak RSS <= 2x weights: tf {'met' if tf_['peak_rss_mb'] <= 2 * mb else 'MISSED'}, "
              f"pure {'met' if pure['peak_rss_mb'] <= 2 * mb else 'MISSED'}"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
