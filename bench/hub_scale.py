"""The hub's storage and replica layouts against each other, in one run (bench/hub.py prints these rows).

Four hubs hold the same real MiniLM folder, each behind nginx (Debian's) with one or two `berthub
serve` replicas:

    disk, SQLite, 1 replica          the default: one folder
    disk, PostgreSQL, 2 replicas     one shared blobs folder (--storage DIR), one database
    S3, PostgreSQL, 1 replica        Ceph's RADOS Gateway (memstore) through boto3, streamed through the hub
    S3, PostgreSQL, 2 replicas       the same, two replicas

For each: N parallel `curl -o /dev/null` of model.safetensors (aggregate MB/s: a C client, so the
servers are what is measured) and open-loop metadata requests at a fixed rate (HEAD /resolve and GET
/api/models alternating; p50/p99 from send to answer). Ratios are against the default layout measured
in the same run. PostgreSQL and the gateway are started here from tests/realservers.py.

Usage: python bench/hub_scale.py [--clients 16] [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

from common import REPO, minilm_dir

sys.path.insert(0, str(REPO / "tests"))
REPO_ID = "bench/all-MiniLM-L6-v2"
WEIGHTS = "model.safetensors"
LAYOUTS = (("disk, SQLite, 1 replica", "disk", False, 1), ("disk, PostgreSQL, 2 replicas", "disk", True, 2),
           ("S3, PostgreSQL, 1 replica", "s3", True, 1), ("S3, PostgreSQL, 2 replicas", "s3", True, 2))


def _cluster(stack: ExitStack, scratch: Path, storage: str, postgres, rgw, replicas: int):
    """Replicas of one hub (started, stopped with `stack`) behind nginx; the nginx endpoint."""
    from hubserver import HubServer, free_port
    from realservers import start_nginx

    name = uuid.uuid4().hex[:8]
    args = ["--no-access-log"]
    if postgres is not None:
        args += ["--database", postgres.create_database(f"bench_{name}")]
    if storage == "s3":
        args += ["--storage", f"s3://{rgw.create_bucket(f'bench-{name}')}/hub"]
    elif replicas > 1:
        args += ["--storage", str(scratch / f"blobs-{name}")]
    ports = [free_port() for _ in range(replicas)]
    lb = start_nginx(scratch / f"nginx-{name}", ports)
    stack.callback(lb.stop)
    for index, port in enumerate(ports):
        hub = HubServer(root=scratch / f"root-{name}-{index}", port=port, extra_args=tuple(args),
                        extra_env=rgw.env if storage == "s3" else {})
        hub.token = "bench-token"
        hub.start()
        stack.callback(hub.stop)
    return lb.endpoint


def _publish(endpoint: str) -> None:
    from hubserver import plain_http_uploads
    from huggingface_hub import HfApi

    with plain_http_uploads():
        api = HfApi(endpoint=endpoint, token="bench-token")
        api.create_repo(REPO_ID)
        api.upload_folder(folder_path=minilm_dir(), repo_id=REPO_ID)


def scale_rows(clients: int, rate: float, seconds: float, repeats: int = 2) -> list[dict]:
    """One row per layout: download MB/s and metadata latency, measured in this run."""
    from hub import latency_row, parallel_curls
    from realservers import start_postgres, start_rgw

    size = (minilm_dir() / WEIGHTS).stat().st_size
    rows = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="berthub-bench-scale-") as tmp:
        postgres, rgw = start_postgres(), start_rgw()
        stack.callback(postgres.stop)
        stack.callback(rgw.stop)
        for name, storage, on_postgres, replicas in LAYOUTS:
            with ExitStack() as hubs:
                endpoint = _cluster(hubs, Path(tmp), storage, postgres if on_postgres else None, rgw, replicas)
                _publish(endpoint)
                count = int(rate * seconds)
                head = ("HEAD", f"{endpoint}/{REPO_ID}/resolve/main/{WEIGHTS}")
                info = ("GET", f"{endpoint}/api/models/{REPO_ID}")
                latency = latency_row(name, [head if i % 2 == 0 else info for i in range(count)], rate)
                rounds = [parallel_curls(endpoint, clients) for _ in range(repeats)]
                throughput = clients * size / statistics.median(r[0] for r in rounds) / 1e6
                rows.append({**latency, "mb_s": throughput, "download_errors": sum(r[1] for r in rounds)})
    return rows


def print_rows(rows: list[dict], clients: int, rate: float, seconds: float) -> None:
    print(f"\nstorage and replicas, behind nginx: {clients} parallel curl of {WEIGHTS}; metadata at {rate:.0f}/s "
          f"for {seconds:.0f} s (HEAD /resolve + GET /api/models alternating)")
    print("| layout | download MB/s | ratio | errors | metadata p50 ms | p99 ms | p99 ratio | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = rows[0]
    for row in rows:
        print(f"| {row['name']} | {row['mb_s']:.0f} | {row['mb_s'] / base['mb_s']:.2f} | {row['download_errors']} | "
              f"{row['p50']:.2f} | {row['p99']:.2f} | {row['p99'] / base['p99']:.2f} | {row['errors']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print_rows(scale_rows(args.clients, args.rate, args.seconds), args.clients, args.rate, args.seconds)


if __name__ == "__main__":
    main()
