"""Real servers for the hub's scale tests, started from the project's own files: PostgreSQL, Ceph's RADOS
Gateway (S3) and nginx, all from Debian packages (.ci/run installs them).

    pg = start_postgres(folder)           initdb + postgres on a free port (trust auth, fsync off)
    url = pg.create_database("t1")        postgresql+psycopg://berthub@127.0.0.1:PORT/t1
    s3 = start_rgw(folder)                tests/servers/ceph-rgw/start-rgw.sh: 1 mon, 1 memstore OSD, radosgw
    s3.create_bucket("b1"); s3.env        S3_ENDPOINT_URL and AWS_* for `berthub serve --storage s3://b1`
    lb = start_nginx(folder, [8081, 8082])  round-robin in front of two hub replicas

Each is stopped by its `stop()`, by the process ids it started (never by name). A server that cannot
start raises `Unavailable`; `unavailable(reason)` then fails the test in CI (CI=true), where the
packages must be there, and skips it elsewhere, naming what to install.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hubserver import REPO_ROOT, free_port

RGW_SCRIPTS = REPO_ROOT / "tests" / "servers" / "ceph-rgw"
PACKAGES = "apt-get install postgresql nginx-light ceph-mon ceph-osd radosgw"


class Unavailable(RuntimeError):
    """A real server could not be started here."""


def unavailable(reason: str) -> None:
    """Fail (in CI) or skip (elsewhere) the calling test because a real server is missing."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must provide it: {PACKAGES})")
    pytest.skip(f"{reason}; install with: {PACKAGES}")


def _wait(check, what: str, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise Unavailable(f"{what} exited with {process.returncode}: {_tail(log)}")
        if check():
            return
        time.sleep(0.1)
    raise Unavailable(f"{what} did not start within {timeout:.0f}s: {_tail(log)}")


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""


def _stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# ---- PostgreSQL ------------------------------------------------------------------------------
@dataclass
class Postgres:
    folder: Path
    port: int
    process: subprocess.Popen

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://berthub@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=berthub dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT)  # "fast shutdown"
        shutil.rmtree(self.folder, ignore_errors=True)


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise Unavailable("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres)")
    return found[-1].parent


def start_postgres() -> Postgres:
    """A throwaway PostgreSQL on 127.0.0.1 (its own folder under /tmp: the server may not run as root, so
    as root it runs as the `postgres` user Debian's package creates)."""
    bindir = _postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="berthub-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    log = folder / "postgres.log"
    init = subprocess.run([str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "berthub", "--auth=trust",
                           "--no-sync", "-E", "UTF8", "--locale=C"], user=user, capture_output=True, text=True)
    if init.returncode:
        raise Unavailable(f"initdb failed: {init.stderr[-2000:]}")
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen([str(bindir / "postgres"), "-D", str(folder / "data"), "-p", str(port), "-k",
                                    str(folder), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                                    "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                                    "-c", "max_connections=300"], user=user, stdout=out, stderr=subprocess.STDOUT)
    ready = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    _wait(lambda: subprocess.run(ready).returncode == 0, "PostgreSQL", 60, process, log)
    return Postgres(folder, port, process)


# ---- Ceph RADOS Gateway (S3) -----------------------------------------------------------------
@dataclass
class RadosGateway:
    folder: Path
    env: dict[str, str] = field(default_factory=dict)  # S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...

    def client(self):  # noqa: ANN201 (a boto3 S3 client)
        import boto3
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                        response_checksum_validation="when_required")
        return boto3.client("s3", endpoint_url=self.env["S3_ENDPOINT_URL"], config=config,
                            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        subprocess.run(["bash", str(RGW_SCRIPTS / "stop-rgw.sh"), "--purge"], env={**os.environ,
                       "CEPH_RUN_DIR": str(self.folder)}, capture_output=True)


def start_rgw() -> RadosGateway:
    """A throwaway single-node Ceph with a RADOS Gateway (~3-7 s), under a folder of its own."""
    if not shutil.which("radosgw") or not shutil.which("ceph-mon") or not shutil.which("ceph-osd"):
        raise Unavailable("Ceph's RADOS Gateway is not installed (radosgw, ceph-mon, ceph-osd)")
    folder = Path(tempfile.mkdtemp(prefix="berthub-rgw-"))
    started = subprocess.run(["bash", str(RGW_SCRIPTS / "start-rgw.sh")], capture_output=True, text=True,
                             env={**os.environ, "CEPH_RUN_DIR": str(folder)}, timeout=300)
    gateway = RadosGateway(folder)
    if started.returncode:
        gateway.stop()
        raise Unavailable(f"start-rgw.sh failed: {started.stderr[-2000:]}")
    for line in (folder / "s3.env").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        gateway.env[name] = value
    return gateway


# ---- nginx -------------------------------------------------------------------------------------
NGINX_CONF = """
{user}
worker_processes 2;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy; fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;
  upstream hub {{
{servers}
    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    location / {{
      proxy_pass http://hub;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 300s;
      proxy_next_upstream error timeout http_502 http_503;
    }}
  }}
}}
"""


@dataclass
class Nginx:
    folder: Path
    port: int
    process: subprocess.Popen

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        _stop(self.process, signal.SIGQUIT)  # graceful: finishes the requests in flight


def start_nginx(folder: Path, backends: list[int]) -> Nginx:
    """nginx balancing over `backends` (ports on 127.0.0.1) round-robin; a backend that refuses the
    connection is skipped (what a load balancer does for a replica that died)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise Unavailable("nginx is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(f"    server 127.0.0.1:{backend} max_fails=0;" for backend in backends)
    conf = NGINX_CONF.format(user="user root;" if os.geteuid() == 0 else "", folder=folder, servers=servers, port=port)
    (folder / "nginx.conf").write_text(conf)
    process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def answers() -> bool:
        import socket

        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    _wait(answers, "nginx", 20, process, folder / "error.log")
    return Nginx(folder, port, process)


if __name__ == "__main__":  # a manual check: start and stop everything
    pg, s3 = start_postgres(), start_rgw()
    print(pg.create_database("check"), s3.env, file=sys.stderr)
    pg.stop()
    s3.stop()
