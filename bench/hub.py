"""`berthub serve` against nginx serving the same file to the same clients, in one run.

1. Throughput: N parallel huggingface_hub.hf_hub_download of the real MiniLM model.safetensors
   (90.9 MB), each into its own empty cache, from berthub serve (1 and 2 workers) and from nginx
   (Debian's package, started here) answering the same /resolve URL with the hub's headers
   (X-Repo-Commit, X-Linked-Etag, X-Linked-Size) so the stock client accepts it. Every downloaded
   file is checked (size + sha256); any error is counted. Aggregate MB/s and the ratio to nginx.
2. Metadata latency: an open-loop client sends a fixed 200 requests/s for 10 s: HEAD /resolve
   (what every cached from_pretrained sends) and GET /api/models/{id} (model_info), alternating;
   p50/p99 from send to response, and nginx answering the same HEAD as the reference.

3. Storage and replicas (bench/hub_scale.py): download MB/s and metadata p99 for blobs on disk vs in S3
   (Ceph's RADOS Gateway) and 1 vs 2 replicas on PostgreSQL behind nginx, against the default layout.

Usage: python bench/hub.py [--clients 32] [--repeats 2] [--rate 200] [--seconds 10] [--workers 1 2] [--layouts-only]
Needs nginx, and for 3. PostgreSQL and Ceph: apt-get install nginx-light postgresql ceph-mon ceph-osd radosgw.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import REPO, minilm_dir

sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
REPO_ID = "bench/all-MiniLM-L6-v2"
WEIGHTS = "model.safetensors"

NGINX_CONF = """
{user}
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy; fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {files};
    location ~ ^/{repo_id}/resolve/[^/]+/(.+)$ {{
      try_files /$1 =404;
      add_header X-Repo-Commit {commit} always;
      add_header X-Linked-Etag '"{sha256}"' always;
      add_header X-Linked-Size {size} always;
    }}
  }}
}}
"""


def start_nginx(scratch: Path, commit: str, workers: int) -> tuple[subprocess.Popen, str]:
    """nginx serving model.safetensors at the hub's /resolve URL, as a child process."""
    from hubserver import free_port

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("bench/hub.py needs nginx as the reference: apt-get install nginx-light")
    prefix, files = scratch / "nginx", scratch / "nginx-files"
    prefix.mkdir()
    files.mkdir()
    weights = files / WEIGHTS
    shutil.copy(minilm_dir() / WEIGHTS, weights)
    port = free_port()
    conf = NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "", workers=workers, prefix=prefix,
                             port=port, files=files, repo_id=REPO_ID, commit=commit,
                             sha256=hashlib.sha256(weights.read_bytes()).hexdigest(), size=weights.stat().st_size)
    (prefix / "nginx.conf").write_text(conf)
    process = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])
    endpoint = f"http://127.0.0.1:{port}"
    _wait_for(f"{endpoint}/{REPO_ID}/resolve/main/{WEIGHTS}", process)
    return process, endpoint


def _wait_for(url: str, process: subprocess.Popen) -> None:
    import requests

    for _ in range(100):
        if process.poll() is not None:
            sys.exit(f"nginx exited with {process.returncode}")
        try:
            if requests.head(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    sys.exit(f"nginx did not answer {url}")


def parallel_downloads(endpoint: str, clients: int, scratch: Path, expected_sha: str) -> tuple[float, int]:
    """(seconds for all `clients` hf_hub_downloads to finish, errors); files are verified then removed."""
    from huggingface_hub import hf_hub_download

    barrier = threading.Barrier(clients + 1)
    paths: list[str | None] = [None] * clients
    errors: list[BaseException] = []

    def client(index: int) -> None:
        barrier.wait()
        try:
            paths[index] = hf_hub_download(REPO_ID, WEIGHTS, endpoint=endpoint, cache_dir=scratch / f"c{index}")
        except Exception as error:  # counted, not raised: the bench reports how many failed
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    bad = sum(1 for path in paths if path is None or _sha256(Path(path)) != expected_sha)
    for index in range(clients):
        shutil.rmtree(scratch / f"c{index}", ignore_errors=True)
    return seconds, max(bad, len(errors))


def parallel_curls(endpoint: str, clients: int) -> tuple[float, int]:
    """(seconds, errors) for `clients` curl processes fetching the weights to /dev/null at once: a C
    client that does not need the CPU the Python clients do, so the server's own speed shows."""
    url = f"{endpoint}/{REPO_ID}/resolve/main/{WEIGHTS}"
    start = time.perf_counter()
    processes = [subprocess.Popen(["curl", "-fsS", "-o", "/dev/null", "-w", "%{size_download}", url],
                                  stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    sizes = [process.communicate()[0] for process in processes]
    seconds = time.perf_counter() - start
    expected = str((minilm_dir() / WEIGHTS).stat().st_size)
    failed = [process.returncode or size != expected for size, process in zip(sizes, processes, strict=True)]
    return seconds, sum(failed)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(8 * 1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


async def _open_loop(requests_: list[tuple[str, str]], rate: float) -> tuple[list[float], int]:
    """Send requests_[i] at t0 + i/rate whatever the answers do; latencies (s) from send to response."""
    try:
        import httpx2 as httpx
    except ImportError:
        import httpx
    latencies: list[float] = []
    errors = 0

    async def one(client, method: str, url: str) -> None:
        nonlocal errors
        sent = time.perf_counter()
        try:
            response = await client.request(method, url)
            if response.status_code != 200:
                errors += 1
        except httpx.HTTPError:
            errors += 1
        latencies.append(time.perf_counter() - sent)

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        for method, url in requests_[:20]:  # warm the connection pool
            await client.request(method, url)
        start, tasks = time.perf_counter(), []
        for index, (method, url) in enumerate(requests_):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, method, url)))
        await asyncio.gather(*tasks)
    return latencies, errors


def latency_row(name: str, requests_: list[tuple[str, str]], rate: float) -> dict:
    latencies, errors = asyncio.run(_open_loop(requests_, rate))
    ordered = sorted(latencies)
    return {"name": name, "sent": len(latencies), "errors": errors, "p50": statistics.median(ordered) * 1000,
            "p99": ordered[int(0.99 * (len(ordered) - 1))] * 1000, "max": ordered[-1] * 1000}


def start_hub(root: Path, workers: int):
    """berthub serve on `root`, returned once every worker process answers (not just the first)."""
    import requests
    from hubserver import HubServer

    hub = HubServer(root=root, extra_args=("--no-access-log", "--workers", str(workers))).start()
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while len(seen) < workers and time.monotonic() < deadline:
        seen.add(requests.get(f"{hub.endpoint}/api/health", headers={"Connection": "close"}).json()["pid"])
        time.sleep(0.05)
    return hub


def publish(root: Path) -> str:
    """Upload the MiniLM folder to a hub stored in `root`; returns the commit id."""
    from hubserver import plain_http_uploads
    from huggingface_hub import HfApi

    hub = start_hub(root, 1)
    try:
        with plain_http_uploads():
            api = HfApi(endpoint=hub.endpoint, token=hub.token)
            api.create_repo(REPO_ID)
            return api.upload_folder(folder_path=minilm_dir(), repo_id=REPO_ID).oid
    finally:
        hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="download rounds per server (median reported)")
    parser.add_argument("--rate", type=float, default=200.0, help="metadata requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="berthub serve worker counts")
    parser.add_argument("--layouts-only", action="store_true",
                        help="only the storage and replica rows (disk vs S3, 1 vs 2 replicas: bench/hub_scale.py)")
    args = parser.parse_args()
    if not args.layouts_only:
        _against_nginx(args)
    from hub_scale import print_rows, scale_rows

    print_rows(scale_rows(args.clients, args.rate, args.seconds), args.clients, args.rate, args.seconds)


def _against_nginx(args: argparse.Namespace) -> None:

    size = (minilm_dir() / WEIGHTS).stat().st_size
    expected_sha = _sha256(minilm_dir() / WEIGHTS)
    # Clients download into memory (tmpfs) when possible: the bench measures serving, not this disk.
    memory = "/dev/shm" if Path("/dev/shm").is_dir() and shutil.disk_usage("/dev/shm").free > 8e9 else None
    with tempfile.TemporaryDirectory(prefix="berthub-bench-hub-") as tmp, \
            tempfile.TemporaryDirectory(prefix="berthub-bench-clients-", dir=memory) as clients_dir:
        scratch = Path(tmp)
        commit = publish(scratch / "hub")
        nginx, nginx_endpoint = start_nginx(scratch, commit, workers=os.cpu_count() or 1)
        try:
            servers = [("nginx (reference, sendfile)", nginx_endpoint, None)]
            servers += [(f"berthub serve, {w} worker{'s' if w > 1 else ''}", None, w) for w in args.workers]
            downloads, curls, latencies = [], [], []
            for name, endpoint, workers in servers:
                hub = start_hub(scratch / "hub", workers) if workers else None
                endpoint = hub.endpoint if hub else endpoint
                try:
                    # Latency first, on a quiet server; then the download rounds.
                    latencies.extend(_latencies(name, endpoint, hub is not None, args))
                    rounds = [parallel_downloads(endpoint, args.clients, Path(clients_dir), expected_sha)
                              for _ in range(args.repeats)]
                    seconds = statistics.median(r[0] for r in rounds)
                    downloads.append((name, args.clients * size / seconds / 1e6, sum(r[1] for r in rounds)))
                    if shutil.which("curl"):
                        rounds = [parallel_curls(endpoint, args.clients) for _ in range(args.repeats)]
                        seconds = statistics.median(r[0] for r in rounds)
                        curls.append((name, args.clients * size / seconds / 1e6, sum(r[1] for r in rounds)))
                finally:
                    if hub:
                        hub.stop()
        finally:
            nginx.terminate()
            nginx.wait()
    _print(args, size, downloads, curls, latencies)


def _latencies(name: str, endpoint: str, is_hub: bool, args: argparse.Namespace) -> list[dict]:
    count = int(args.rate * args.seconds)
    head = ("HEAD", f"{endpoint}/{REPO_ID}/resolve/main/{WEIGHTS}")
    if not is_hub:
        return [latency_row(f"{name}: HEAD /resolve", [head] * count, args.rate)]
    info = ("GET", f"{endpoint}/api/models/{REPO_ID}")
    mixed = [head if index % 2 == 0 else info for index in range(count)]
    return [latency_row(f"{name}: HEAD /resolve + GET /api/models (alternating)", mixed, args.rate)]


def _print(args: argparse.Namespace, size: int, downloads: list, curls: list, latencies: list) -> None:
    for title, rows in ((f"{args.clients} parallel hf_hub_download", downloads),
                        (f"{args.clients} parallel curl -o /dev/null (server-bound reference)", curls)):
        if not rows:
            continue
        print(f"\n{title} of {WEIGHTS} ({size / 1e6:.1f} MB), median of {args.repeats} rounds, 127.0.0.1")
        print("| server | aggregate MB/s | ratio vs nginx | errors |\n|---|---:|---:|---:|")
        for name, rate, errors in rows:
            print(f"| {name} | {rate:.0f} | {rate / rows[0][1]:.2f} | {errors} |")
    print(f"\nmetadata at {args.rate:.0f} requests/s for {args.seconds:.0f} s (open loop, latency from send)")
    print("| server: requests | sent | errors | p50 ms | p99 ms | max ms | p99 ratio vs nginx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in latencies:
        print(f"| {row['name']} | {row['sent']} | {row['errors']} | {row['p50']:.2f} | {row['p99']:.2f} | "
              f"{row['max']:.1f} | {row['p99'] / latencies[0]['p99']:.2f} |")


if __name__ == "__main__":
    main()
