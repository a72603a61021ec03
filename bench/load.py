"""Loading by name through the cache, against transformers and a plain HTTP copy, in one run.

Publishes the real all-MiniLM-L6-v2 folder to a local `berthub serve` (loopback), registers it as
the name `all-minilm-l6-v2`, then measures:
  - warm load: BertModel.from_pretrained(name) from a filled cache, offline and online (one HEAD),
    against transformers' AutoModel.from_pretrained of the same cached repo (local_files_only / online);
  - network calls made during the offline loads (socket connects counted);
  - cold download of the weights: resolve_model(name) into an empty cache, against a plain HTTP
    copy of the same file from the same server (requests streaming to disk, and curl).
Usage: python bench/load.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import REPO, minilm_dir

REPO_ID = "sentence-transformers/all-MiniLM-L6-v2"
NAME = "all-minilm-l6-v2"


def paired_medians(
    candidates: list[Callable[[], object]], repeats: int, setup: Callable[[], object] = lambda: None
) -> list[float]:
    """Median wall time of each candidate over `repeats` rounds after one warm-up round.

    Candidates run interleaved, in rotating order, so load from other work on this shared machine
    falls on all of them alike. `setup()` runs untimed before every call.
    """
    times: list[list[float]] = [[] for _ in candidates]
    for round_ in range(repeats + 1):
        for offset in range(len(candidates)):
            index = (round_ + offset) % len(candidates)
            setup()
            start = time.perf_counter()
            candidates[index]()
            if round_:
                times[index].append(time.perf_counter() - start)
    return [statistics.median(each) for each in times]


class ConnectCounter:
    """Counts socket connects in this process while active (a network call needs one)."""

    def __init__(self) -> None:
        self.count = 0
        self._original = socket.socket.connect

    def __enter__(self) -> ConnectCounter:
        counter, original = self, self._original

        def counting(sock: socket.socket, address: object) -> object:
            counter.count += 1
            return original(sock, address)

        socket.socket.connect = counting
        return self

    def __exit__(self, *exc: object) -> None:
        socket.socket.connect = self._original


def plain_copy_requests(url: str, target: Path) -> None:
    import requests

    with requests.get(url, stream=True, timeout=60) as response, open(target, "wb") as file:
        response.raise_for_status()
        for chunk in response.iter_content(1 << 20):
            file.write(chunk)


def plain_copy_curl(url: str, target: Path) -> None:
    subprocess.run(["curl", "-sS", "-f", "-o", str(target), url], check=True)


def warm_rows(cache: Path, repeats: int) -> list[list[str]]:
    from transformers import AutoModel

    from berthub import BertModel

    def berthub_load() -> object:
        return BertModel.from_pretrained(NAME)

    def transformers_load(offline: bool) -> object:
        return AutoModel.from_pretrained(REPO_ID, cache_dir=cache, local_files_only=offline)

    rows = []
    for label, offline in (("offline", True), ("online, 1 HEAD", False)):

        def ours(offline: bool = offline) -> object:
            os.environ["BERTHUB_OFFLINE"] = "1" if offline else "0"
            return berthub_load()

        mine, theirs = paired_medians([ours, lambda offline=offline: transformers_load(offline)], repeats)
        ratio = f"{mine / theirs:.2f}"
        rows.append([f"warm load by name, {label} (s)", f"{mine:.3f}", f"{theirs:.3f}", ratio, "<= 0.50"])
    os.environ["BERTHUB_OFFLINE"] = "1"
    with ConnectCounter() as ours:
        berthub_load()
    with ConnectCounter() as theirs:
        transformers_load(True)
    rows.append(["network calls in one offline load", str(ours.count), str(theirs.count), "-", "0"])
    os.environ["BERTHUB_OFFLINE"] = "0"
    return rows


def cold_rows(endpoint: str, scratch: Path, repeats: int) -> list[list[str]]:
    from berthub.sources import resolve as hub

    url = f"{endpoint}/{REPO_ID}/resolve/main/model.safetensors"
    size = (minilm_dir() / "model.safetensors").stat().st_size
    cold_cache = scratch / "cold-cache"

    def empty_cache() -> None:
        shutil.rmtree(cold_cache, ignore_errors=True)
        (scratch / "copy.bin").unlink(missing_ok=True)

    ours, by_requests, by_curl = paired_medians(
        [
            lambda: hub.resolve_model(NAME, cache_dir=cold_cache),
            lambda: plain_copy_requests(url, scratch / "copy.bin"),
            lambda: plain_copy_curl(url, scratch / "copy.bin"),
        ],
        repeats,
        empty_cache,
    )
    best, how = min((by_requests, "requests"), (by_curl, "curl"))
    rate = lambda seconds: f"{size / seconds / 1e6:.0f}"  # noqa: E731
    return [
        [f"cold download, MB/s (vs plain copy, {how})", rate(ours), rate(best), f"{best / ours:.2f}", ">= 0.70"],
        ["  plain copies: requests / curl, MB/s", "-", f"{rate(by_requests)} / {rate(by_curl)}", "-", "-"],
    ]


def print_table(rows: list[list[str]]) -> None:
    header = ["case", "berthub", "reference", "ratio", "target"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from hubserver import HubServer  # not running_hub: it imports huggingface_hub before HF_ENDPOINT is set

    scratch = Path(tempfile.mkdtemp(prefix="berthub-bench-load-"))
    server = HubServer(root=scratch / "hub", extra_args=("--no-access-log",))
    try:
        server.start()
        # huggingface_hub and transformers read these at import time: set them before importing either.
        os.environ.update(
            HF_ENDPOINT=server.endpoint, BERTHUB_ENDPOINT=server.endpoint, HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1", BERTHUB_CACHE=str(scratch / "cache"),
        )  # fmt: skip
        assert "huggingface_hub" not in sys.modules, "imported too early to point it at the local hub"
        from berthub.sources import registry
        from berthub.sources import resolve as hub
        from berthub.sources.publish import push

        push(minilm_dir(), REPO_ID, endpoint=server.endpoint, token=server.token)
        registry.register(registry.ModelEntry(NAME, repo_id=REPO_ID, description="all-MiniLM-L6-v2"))
        hub.resolve_model(NAME)  # fill the cache for the warm loads
        rows = warm_rows(scratch / "cache", args.repeats) + cold_rows(server.endpoint, scratch, args.repeats)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"MiniLM-L6 (90.9 MB safetensors) through berthub serve on 127.0.0.1; median of {args.repeats} runs")
    print_table(rows)


if __name__ == "__main__":
    main()
