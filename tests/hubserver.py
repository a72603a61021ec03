"""Run a real `berthub serve` for tests: a subprocess on a free port, a fresh root and a write token.

Reused by every test that needs a hub (registry/cache, converter, trainer, demo), through the
`hub_server` fixture in tests/conftest.py, or directly:

    with running_hub(tmp_path / "hub") as hub:
        HfApi(endpoint=hub.endpoint, token=hub.token).create_repo("acme/tiny-bert")

huggingface_hub and transformers read HF_ENDPOINT at import time, so code under test that cannot take
`endpoint=` should run in a subprocess with `env=hub.client_env()`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 60.0  # the server imports torch (through berthub) before it answers


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HubServer:
    """A `berthub serve` subprocess. `endpoint`, `token` and `root` are what tests use."""

    root: Path
    token: str = field(default_factory=lambda: "test-" + secrets.token_hex(12))
    port: int = 0
    extra_args: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. S3_ENDPOINT_URL and AWS_* for --storage s3://
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def unique_repo_id(self, name: str = "model", namespace: str = "test") -> str:
        """A repo id no other test on this server uses (the fixture is shared by a whole session)."""
        return f"{namespace}/{name}-{uuid.uuid4().hex[:8]}"

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for a subprocess whose berthub / huggingface_hub / transformers use this hub."""
        env = dict(os.environ if base is None else base)
        env.update(
            HF_ENDPOINT=self.endpoint,
            BERTHUB_ENDPOINT=self.endpoint,
            HF_TOKEN=self.token,
            BERTHUB_TOKEN=self.token,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        )
        return env

    def start(self) -> HubServer:
        """Start on a free port, or restart on the same port after `kill`/`stop`; wait until it answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.log_path = self.root.parent / f"{self.root.name}-server.log"
        env = dict(os.environ, BERTHUB_SERVER_TOKEN=self.token, PYTHONUNBUFFERED="1", **self.extra_env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "berthub", "serve", "--root", str(self.root),
                   "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=REPO_ROOT)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"berthub serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/api/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"berthub serve did not answer within {READY_TIMEOUT_S}s:\n{self.log()}")

    def log(self) -> str:
        """What the server printed so far (for assertion messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up, like a crash or a power cut."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it hangs."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def plain_http_uploads() -> Iterator[None]:
    """Make in-process huggingface_hub upload over plain HTTP (LFS) instead of Xet, and subprocesses too.

    With hf_xet installed huggingface_hub uploads through Xet, which only the public hub has; the switch
    is a module constant read at call time, and HF_HUB_DISABLE_XET for child processes.
    """
    from huggingface_hub import constants

    previous = constants.HF_HUB_DISABLE_XET, os.environ.get("HF_HUB_DISABLE_XET")
    constants.HF_HUB_DISABLE_XET = True
    os.environ["HF_HUB_DISABLE_XET"] = "1"
    try:
        yield
    finally:
        constants.HF_HUB_DISABLE_XET = previous[0]
        if previous[1] is None:
            os.environ.pop("HF_HUB_DISABLE_XET", None)
        else:
            os.environ["HF_HUB_DISABLE_XET"] = previous[1]


@contextlib.contextmanager
def running_hub(root: Path, extra_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None,
                token: str | None = None) -> Iterator[HubServer]:
    """A started HubServer on a fresh `root`, stopped on exit whatever happens; while it runs,
    huggingface_hub in this process and its children uploads over plain HTTP. `token`: the hub-admin
    token (replicas of one hub share it)."""
    hub = HubServer(root=Path(root), extra_args=extra_args, extra_env=extra_env or {})
    if token:
        hub.token = token
    with plain_http_uploads():
        try:
            yield hub.start()
        finally:
            hub.stop()
