"""CPU time the hub app spends per metadata request, in process: no network, no client, no uvicorn.

bench/hub.py measures the served hub end to end, but on a shared machine its latencies swing by
1.5x between runs; this measures only the server's own work, as CPU time of this process (time
spent waiting for the other processes on the machine does not count), so a change to the request
path shows even when the machine is busy. Requests: HEAD /resolve (what every cached
from_pretrained sends) and GET /api/models/{id} (model_info), on a repo holding the real MiniLM
config, card and weights.

Compare two trees (e.g. before and after a change) by running it under each:

    PYTHONPATH=/path/to/old/tree python bench/hub_request_cost.py
    python bench/hub_request_cost.py

Usage: python bench/hub_request_cost.py [--requests 1000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from common import minilm_dir

REPO_ID = "bench/all-MiniLM-L6-v2"
REQUESTS = {"HEAD /resolve": ("HEAD", f"/{REPO_ID}/resolve/main/config.json"),
            "GET /api/models/{id}": ("GET", f"/api/models/{REPO_ID}")}


def _fill(root: Path) -> None:
    """The MiniLM folder as one commit, through the storage API every version of the hub has."""
    from berthub.server.objects import AddFile, FileEntry
    from berthub.server.storage import Storage

    storage = Storage(root)
    storage.create_repo(REPO_ID)
    operations = []
    for path in sorted(p for p in minilm_dir().iterdir() if p.is_file()):
        data = path.read_bytes()
        sha256 = storage.put_bytes(data)
        entry = (FileEntry.large(path.name, sha256, len(data)) if path.suffix == ".safetensors"
                 else FileEntry.regular(path.name, data))
        operations.append(AddFile(entry))
    storage.apply(REPO_ID, "main", operations, title="MiniLM")


async def _call(app, method: str, path: str, headers: list | None = None) -> None:  # noqa: ANN001 (any ASGI app)
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"127.0.0.1"), *(headers or [])], "scheme": "http", "server": ("127.0.0.1", 8080),
             "client": ("127.0.0.1", 5000), "http_version": "1.1", "root_path": "", "asgi": {"version": "3.0"}}
    statuses = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [200]:
        raise RuntimeError(f"{method} {path} answered {statuses}")


async def _measure(app, method: str, path: str, requests: int, rounds: int) -> float:  # noqa: ANN001
    """Best-of-rounds CPU microseconds per request."""
    for _ in range(200):  # warm: parsed cards and configs, the commit cache
        await _call(app, method, path)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            await _call(app, method, path)
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    import berthub
    from berthub.server.app import create_app
    from berthub.server.http import ServerConfig

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "hub"
        _fill(root)
        app = create_app(ServerConfig(root=root, tokens={}))
        print(f"berthub from {Path(berthub.__file__).parent}; CPU microseconds per request, best of "
              f"{args.rounds} x {args.requests}")
        for label, (method, path) in REQUESTS.items():
            cost = asyncio.run(_measure(app, method, path, args.requests, args.rounds))
            print(f"| {label} | {cost:.1f} |")


if __name__ == "__main__":
    main()
