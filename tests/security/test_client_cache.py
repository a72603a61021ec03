"""The client side: a flaky hub is retried, a damaged cache is caught on the next load, a lying hub is refused.

Against the session's `berthub serve` through a CountingProxy that can fail chosen requests.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from faultserver import CountingProxy, Logged, proxying

from berthub import BertConfig, BertModel, push
from berthub.errors import CorruptDownloadError, NetworkError
from berthub.sources import hashed, integrity
from berthub.sources import urls as download
from berthub.sources.resolve import resolve_model

ROOT = Path(__file__).resolve().parents[2]
VOCAB = ROOT / "data/vocabs/bert-base-cased/vocab.txt"


@pytest.fixture(scope="module")
def tiny_repo(hub_server, tmp_path_factory) -> tuple[str, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32))
    folder = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(folder)
    shutil.copyfile(VOCAB, folder / "vocab.txt")
    repo_id = hub_server.unique_repo_id("tiny")
    push(folder, repo_id, endpoint=hub_server.endpoint, token=hub_server.token)
    return repo_id, model.state_dict()


@pytest.fixture
def proxy(hub_server, tmp_path, monkeypatch):
    with proxying(CountingProxy(hub_server.endpoint)) as started:
        monkeypatch.setenv("BERTHUB_ENDPOINT", started.url)
        monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
        for name in ("BERTHUB_OFFLINE", "HF_HUB_OFFLINE", "BERTHUB_TOKEN", "BERTHUB_VERIFY"):
            monkeypatch.delenv(name, raising=False)
        yield started


@pytest.fixture
def waits(monkeypatch) -> list[int]:
    """The retry numbers download.Retry was asked to sleep before (it does not actually sleep)."""
    asked: list[int] = []
    monkeypatch.setattr(download.Retry, "sleep_before", lambda self, attempt: asked.append(attempt))
    return asked


def _fail_first(method: str, suffix: str, status: int = 500, times: int = 1):
    left = [times]

    def rule(request: Logged) -> int | None:
        if request.method == method and request.path.endswith(suffix) and left[0] > 0:
            left[0] -= 1
            return status
        return None
    return rule


def _same(model: BertModel, weights: dict[str, torch.Tensor]) -> bool:
    loaded = model.state_dict()
    return all(torch.equal(loaded[key], weights[key]) for key in weights)


@pytest.mark.parametrize("method, suffix, status", [("HEAD", "model.safetensors", 500),
                                                    ("HEAD", "model.safetensors", 429),
                                                    ("GET", "config.json", 502)])
def test_one_failing_answer_during_a_cold_load_is_retried(tiny_repo, proxy, waits, method, suffix, status):
    repo_id, weights = tiny_repo
    proxy.fail_when = _fail_first(method, suffix, status)
    assert _same(BertModel.from_pretrained(repo_id), weights)
    assert waits == [1]


def test_a_hub_failing_the_weights_metadata_every_time_gives_up_after_the_promised_attempts(tiny_repo, proxy, waits):
    repo_id, _ = tiny_repo
    proxy.fail_when = _fail_first("HEAD", "model.safetensors", 503, times=100)
    with pytest.raises(NetworkError, match="HTTP 503"):
        resolve_model(repo_id)
    assert len(waits) == download.Retry().attempts - 1


def _cached_weights(repo_id: str) -> Path:
    return resolve_model(repo_id).directory / "model.safetensors"


def test_truncated_cached_weights_are_removed_and_downloaded_again_online(tiny_repo, proxy):
    repo_id, weights = tiny_repo
    blob = _cached_weights(repo_id).resolve()
    size = blob.stat().st_size
    with open(blob, "r+b") as handle:
        handle.truncate(size - 100)
    assert _same(BertModel.from_pretrained(repo_id), weights)
    assert blob.stat().st_size == size
    assert [e.path.rsplit("/", 1)[-1] for e in proxy.downloads()].count("model.safetensors") == 2


def test_truncated_cached_weights_offline_are_a_clear_error_and_removed(tiny_repo, proxy, monkeypatch):
    repo_id, _ = tiny_repo
    blob = _cached_weights(repo_id).resolve()
    with open(blob, "r+b") as handle:
        handle.truncate(blob.stat().st_size - 100)
    monkeypatch.setenv("BERTHUB_OFFLINE", "1")
    with pytest.raises(CorruptDownloadError, match=r"damaged \(model.safetensors: .*truncated") as error:
        BertModel.from_pretrained(repo_id)
    assert "\n" not in str(error.value) and "online" in str(error.value)
    assert not blob.exists()


def _flip_a_weight_byte(blob: Path) -> None:
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF  # inside the last tensor: the header and the size stay valid
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))


def _weights_downloads(proxy: CountingProxy) -> int:
    return [e.path.rsplit("/", 1)[-1] for e in proxy.downloads()].count("model.safetensors")


def test_a_flipped_weights_byte_is_found_on_the_next_load_and_downloaded_again(tiny_repo, proxy, caplog):
    repo_id, weights = tiny_repo
    _flip_a_weight_byte(_cached_weights(repo_id).resolve())
    with caplog.at_level(logging.WARNING, logger="berthub"):
        assert _same(BertModel.from_pretrained(repo_id), weights)
    assert "model.safetensors: content hashes to" in caplog.text
    assert _weights_downloads(proxy) == 2


@pytest.mark.parametrize("hub", ["offline", "answering 503"])
def test_a_flipped_weights_byte_without_a_hub_is_a_one_line_error_naming_the_file(tiny_repo, proxy, waits,
                                                                                   monkeypatch, hub):
    repo_id, _ = tiny_repo
    blob = _cached_weights(repo_id).resolve()
    _flip_a_weight_byte(blob)
    if hub == "offline":
        monkeypatch.setenv("BERTHUB_OFFLINE", "1")
    else:
        proxy.fail_with = 503
    with pytest.raises(CorruptDownloadError, match=r"damaged \(model.safetensors: content hashes to") as error:
        BertModel.from_pretrained(repo_id)
    message = str(error.value)
    assert "\n" not in message and str(blob.parent.parent / "snapshots") in message
    assert ("Load it again while online" if hub == "offline" else "HTTP 503") in message
    assert not blob.exists()


def test_a_damaged_blob_whose_mtime_was_put_back_is_still_found(tiny_repo, proxy, monkeypatch):
    repo_id, _ = tiny_repo
    blob = _cached_weights(repo_id).resolve()
    before = blob.stat()
    _flip_a_weight_byte(blob)
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `touch -r` or `rsync -t` would
    assert (blob.stat().st_size, blob.stat().st_mtime_ns, blob.stat().st_ino) == (
        before.st_size, before.st_mtime_ns, before.st_ino)
    monkeypatch.setenv("BERTHUB_OFFLINE", "1")
    with pytest.raises(CorruptDownloadError, match="model.safetensors: content hashes to"):
        resolve_model(repo_id)


def _hashed(caplog) -> list[Path]:
    return [Path(r.args[0]) for r in caplog.records if r.getMessage().startswith("Hashing ")]


def test_weights_are_hashed_while_downloading_and_no_later_load_hashes_anything(tiny_repo, proxy, monkeypatch,
                                                                                caplog):
    repo_id, _ = tiny_repo
    with caplog.at_level(logging.INFO, logger="berthub.sources"):
        BertModel.from_pretrained(repo_id)
        cold = _hashed(caplog)
        caplog.clear()
        BertModel.from_pretrained(repo_id)
        monkeypatch.setenv("BERTHUB_OFFLINE", "1")
        BertModel.from_pretrained(repo_id)
    directory = resolve_model(repo_id).directory
    assert cold == [(directory / "config.json").resolve()]  # fetched by huggingface_hub, which does not hash it
    assert _hashed(caplog) == []


def test_a_cache_where_hashes_cannot_be_recorded_still_loads_rehashing_with_one_warning(tiny_repo, proxy, caplog):
    repo_id, weights = tiny_repo
    repo_folder = _cached_weights(repo_id).resolve().parent.parent
    shutil.rmtree(repo_folder / ".berthub-hashed")
    (repo_folder / ".berthub-hashed").write_text("in the way")  # writing a record fails, as on a read-only cache
    hashed._unwritable.clear()
    with caplog.at_level(logging.INFO, logger="berthub.sources"):
        for _ in range(2):
            assert _same(BertModel.from_pretrained(repo_id), weights)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "berthub cache verify" in warnings[0].getMessage()
    assert len(_hashed(caplog)) == 4  # config.json and the weights, on each load


def test_verify_rehashes_even_a_blob_recorded_as_unchanged(tiny_repo, proxy, monkeypatch):
    repo_id, weights = tiny_repo
    blob = _cached_weights(repo_id).resolve()
    _flip_a_weight_byte(blob)
    integrity.remember_blob(blob)  # what a write within the clock tick of the hashed bytes would leave
    monkeypatch.setenv("BERTHUB_VERIFY", "1")
    assert _same(BertModel.from_pretrained(repo_id), weights)
    assert _weights_downloads(proxy) == 2


def test_verify_argument_offline_names_the_flipped_file(tiny_repo, proxy, monkeypatch):
    repo_id, _ = tiny_repo
    _flip_a_weight_byte(_cached_weights(repo_id).resolve())
    monkeypatch.setenv("BERTHUB_OFFLINE", "1")
    with pytest.raises(CorruptDownloadError, match="model.safetensors: content hashes to"):
        resolve_model(repo_id, verify=True)


class _LyingHub(BaseHTTPRequestHandler):
    commit = ""

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("X-Repo-Commit", self.commit)
        self.send_header("ETag", '"abc"')
        self.send_header("Content-Length", "2")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("commit", ["../../../../etc", "not-hex-at-all", "0123abc", "A" * 40])
def test_a_hub_answering_a_commit_that_is_no_40_hex_id_is_refused(commit, tmp_path, monkeypatch):
    handler = type("Handler", (_LyingHub,), {"commit": commit})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("BERTHUB_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(NetworkError, match="not a 40-hex commit id"):
            resolve_model("acme/model", cache_dir=tmp_path / "cache")
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "etc").exists() and not list((tmp_path / "cache").rglob("snapshots"))
