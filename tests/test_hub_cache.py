"""Hub repos through the cache, against the session's real `berthub serve` (through a counting proxy):
which files are fetched, revisions, reuse of huggingface_hub's own downloads, outages, concurrency."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from faultserver import CountingProxy, proxying
from huggingface_hub import hf_hub_download

from berthub import BertConfig, BertModel, push
from berthub.errors import CorruptDownloadError, NetworkError, NotFoundError
from berthub.sources import urls as download
from berthub.sources.resolve import resolve_model, resolve_tokenizer
from berthub.sources.settings import PROBE_TIMEOUT_S

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT / "data/vocabs/bert-base-cased/vocab.txt"


def _tiny_model(directory: Path, seed: int, formats: tuple[str, ...] = ("safetensors",)) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=28996, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    model = BertModel(config)
    model.save_pretrained(directory)
    if "bin" in formats:
        torch.save(model.state_dict(), directory / "pytorch_model.bin")
    if "safetensors" not in formats:
        (directory / "model.safetensors").unlink()
    shutil.copyfile(VOCAB, directory / "vocab.txt")
    return model.state_dict()


@pytest.fixture(scope="module")
def repos(hub_server, tmp_path_factory):
    """Repos on the session hub: name -> (repo_id, weights); "history" -> (repo_id, [(commit, weights)])."""
    root = tmp_path_factory.mktemp("repos")
    published = {}
    for name, formats in (("both", ("safetensors", "bin")), ("bin-only", ("bin",))):
        directory = root / name
        weights = _tiny_model(directory, seed=len(published), formats=formats)
        (directory / "tf_model.h5").write_bytes(b"not needed by berthub")
        repo_id = hub_server.unique_repo_id(name)
        push(directory, repo_id, endpoint=hub_server.endpoint, token=hub_server.token)
        published[name] = (repo_id, weights)
    history_id, history = hub_server.unique_repo_id("history"), []
    for seed in (10, 11):
        weights = _tiny_model(root / f"history-{seed}", seed)
        commit = push(root / f"history-{seed}", history_id, endpoint=hub_server.endpoint, token=hub_server.token)
        history.append((commit.oid, weights))
    published["history"] = (history_id, history)
    return published


@pytest.fixture
def proxy(hub_server, tmp_path, monkeypatch):
    with proxying(CountingProxy(hub_server.endpoint)) as started:
        monkeypatch.setenv("BERTHUB_ENDPOINT", started.url)
        monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
        for name in ("BERTHUB_OFFLINE", "HF_HUB_OFFLINE", "BERTHUB_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        yield started


def _downloaded(proxy: CountingProxy) -> list[str]:
    return sorted(entry.path.rsplit("/", 1)[-1] for entry in proxy.downloads())


def _equal(model: BertModel, weights: dict[str, torch.Tensor]) -> bool:
    loaded = model.state_dict()
    return all(torch.equal(loaded[key], weights[key]) for key in weights)


def test_model_fetches_config_and_safetensors_only_when_both_formats_exist(repos, proxy):
    repo_id, weights = repos["both"]
    assert _equal(BertModel.from_pretrained(repo_id), weights)
    assert _downloaded(proxy) == ["config.json", "model.safetensors"]


def test_repo_without_safetensors_loads_pytorch_model_bin_and_later_offline(repos, proxy, monkeypatch):
    repo_id, weights = repos["bin-only"]
    assert _equal(BertModel.from_pretrained(repo_id), weights)
    assert _downloaded(proxy) == ["config.json", "pytorch_model.bin"]
    proxy.log.clear()
    monkeypatch.setenv("BERTHUB_OFFLINE", "1")
    assert resolve_model(repo_id).directory.joinpath("pytorch_model.bin").is_file() and proxy.log == []


def test_tokenizer_fetches_only_the_vocabulary(repos, proxy):
    directory = resolve_tokenizer(repos["both"][0]).directory
    assert (directory / "vocab.txt").read_bytes() == VOCAB.read_bytes()
    assert _downloaded(proxy) == ["vocab.txt"]  # tokenizer_config.json: asked, absent, remembered


def test_revision_selects_the_commit_and_main_is_the_latest(repos, proxy):
    repo_id, [(first, first_weights), (_, latest_weights)] = repos["history"]
    assert _equal(BertModel.from_pretrained(repo_id, revision=first), first_weights)
    assert _equal(BertModel.from_pretrained(repo_id), latest_weights)
    assert resolve_model(repo_id, revision=first).commit == first


def test_cached_commit_revision_is_loaded_without_asking_the_hub(repos, proxy):
    repo_id, [(first, _), _] = repos["history"]
    resolve_model(repo_id, revision=first)
    proxy.log.clear()
    assert resolve_model(repo_id, revision=first).commit == first
    assert proxy.log == []


def test_unknown_repo_and_unknown_revision_are_not_found(repos, proxy):
    with pytest.raises(NotFoundError, match="No repository 'acme/no-such-bert'"):
        resolve_model("acme/no-such-bert")
    with pytest.raises(NotFoundError, match="at revision v9 .*no such revision"):
        resolve_model(repos["both"][0], revision="v9")


def test_files_downloaded_by_huggingface_hub_itself_are_reused(hub_minilm, minilm_dir, proxy, tmp_path):
    repo_id, _ = hub_minilm
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"):
        hf_hub_download(repo_id, name, cache_dir=tmp_path / "cache", endpoint=proxy.url)
    proxy.log.clear()
    model = BertModel.from_pretrained(repo_id)
    assert resolve_tokenizer(repo_id).directory == resolve_model(repo_id).directory
    assert proxy.downloads() == []
    assert _equal(model, BertModel.from_pretrained(minilm_dir).state_dict())


def test_hub_answering_503_falls_back_to_the_cache_with_one_warning(repos, proxy, caplog):
    repo_id, weights = repos["both"]
    BertModel.from_pretrained(repo_id)
    proxy.fail_with = 503
    with caplog.at_level(logging.WARNING, logger="berthub"):
        assert _equal(BertModel.from_pretrained(repo_id), weights)
    assert len(caplog.records) == 1 and "HTTP 503" in caplog.records[0].getMessage()


@pytest.fixture
def waits(monkeypatch) -> list[int]:
    """The retry numbers download.Retry was asked to sleep before (it does not actually sleep)."""
    asked: list[int] = []
    monkeypatch.setattr(download.Retry, "sleep_before", lambda self, attempt: asked.append(attempt))
    return asked


def test_cold_load_asks_a_hub_answering_503_again_and_succeeds_once_it_recovers(repos, proxy, waits):
    repo_id, weights = repos["both"]
    proxy.fail_next = 2  # the first two metadata probes fail; nothing is cached to fall back on
    assert _equal(BertModel.from_pretrained(repo_id), weights)
    assert waits == [1, 2]
    assert _downloaded(proxy) == ["config.json", "model.safetensors"]


def test_cold_load_gives_up_on_a_hub_that_keeps_answering_503_with_a_network_error(repos, proxy, waits):
    repo_id, _ = repos["both"]
    proxy.fail_with = 503
    with pytest.raises(NetworkError, match="HTTP 503"):
        BertModel.from_pretrained(repo_id)
    assert len(waits) == download.Retry().attempts - 1
    assert len(proxy.log) == download.Retry().attempts


def test_silent_hub_with_a_warm_cache_loads_after_the_short_probe_timeout(repos, proxy, monkeypatch, caplog):
    repo_id, weights = repos["both"]
    BertModel.from_pretrained(repo_id)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("BERTHUB_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="berthub"):
            assert _equal(BertModel.from_pretrained(repo_id), weights)
        assert time.monotonic() - started < PROBE_TIMEOUT_S + 2
    assert len(caplog.records) == 1


_LOAD_IN_A_PROCESS = """
import hashlib, sys
from berthub import BertModel
from berthub.sources import registry
registry.register(registry.ModelEntry("bert-under-test", repo_id=sys.argv[1]))
model = BertModel.from_pretrained("bert-under-test")
print(hashlib.sha256(model.embeddings.word_embeddings.weight.detach().numpy().tobytes()).hexdigest())
"""


def _client_env(proxy: CountingProxy, cache: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "BERTHUB_"))}
    env.update(BERTHUB_ENDPOINT=proxy.url, BERTHUB_CACHE=str(cache), HF_HUB_DISABLE_XET="1", PYTHONPATH=str(ROOT))
    env.update(HF_HUB_DISABLE_PROGRESS_BARS="1", **extra)
    return env


def test_four_processes_loading_the_same_uncached_name_download_each_file_once(hub_minilm, minilm_dir, proxy, tmp_path):
    repo_id, _ = hub_minilm
    env = _client_env(proxy, tmp_path / "cache")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _LOAD_IN_A_PROCESS, repo_id], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=300)[0].strip() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0]
    assert _downloaded(proxy) == ["config.json", "model.safetensors"]
    expected = hashlib.sha256((minilm_dir / "model.safetensors").read_bytes()).hexdigest()
    blobs = list((tmp_path / "cache").glob("models--*/blobs/*"))
    assert expected in {blob.name for blob in blobs} and not [b for b in blobs if b.suffix == ".incomplete"]
    assert len(set(outputs)) == 1


def test_hub_downloads_go_through_the_proxy_named_in_the_environment(repos, proxy, tmp_path):
    repo_id, _ = repos["both"]
    env = _client_env(proxy, tmp_path / "cache", HTTP_PROXY=proxy.url, NO_PROXY="")
    env["BERTHUB_ENDPOINT"] = "http://hub.invalid"  # only the proxy can reach it
    done = subprocess.run([sys.executable, "-c", _LOAD_IN_A_PROCESS, repo_id], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _downloaded(proxy) == ["config.json", "model.safetensors"]


def test_interrupted_weights_download_is_resumed_from_its_incomplete_blob(hub_minilm, minilm_dir, proxy, tmp_path):
    repo_id, _ = hub_minilm
    weights = (minilm_dir / "model.safetensors").read_bytes()
    sha = hashlib.sha256(weights).hexdigest()
    blobs = tmp_path / "cache" / f"models--{repo_id.replace('/', '--')}" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / f"{sha}.incomplete").write_bytes(weights[:10_000_000])  # as a killed download leaves it
    directory = resolve_model(repo_id).directory
    assert (directory / "model.safetensors").read_bytes() == weights
    [get] = [entry for entry in proxy.downloads() if entry.path.endswith("model.safetensors")]
    assert get.range == "bytes=10000000-" and not (blobs / f"{sha}.incomplete").exists()


def test_weights_that_do_not_hash_to_their_etag_are_removed_and_the_next_load_downloads_them_whole(
        hub_minilm, minilm_dir, proxy, tmp_path):
    repo_id, _ = hub_minilm
    weights = (minilm_dir / "model.safetensors").read_bytes()
    sha = hashlib.sha256(weights).hexdigest()
    blobs = tmp_path / "cache" / f"models--{repo_id.replace('/', '--')}" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / f"{sha}.incomplete").write_bytes(bytes(10_000_000))  # a resumable prefix holding the wrong bytes
    with pytest.raises(CorruptDownloadError, match=sha):
        resolve_model(repo_id)
    assert sorted(p.name for p in blobs.iterdir() if sha in p.name) == []  # neither the blob nor the partial
    directory = resolve_model(repo_id).directory
    assert hashlib.sha256((directory / "model.safetensors").read_bytes()).hexdigest() == sha
