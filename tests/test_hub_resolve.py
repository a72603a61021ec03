"""What `resolve_model` / `resolve_tokenizer` accept besides hub repos: directories, archive URLs,
vocabulary URLs; where settings come from; how refusals by a hub read. No hub server needed here."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import socket
import tarfile
import time
from pathlib import Path

import pytest
import torch
from faultserver import CountingProxy, FaultServer, Route, proxying, running

from berthub import BertConfig, BertModel
from berthub.errors import AuthError, CorruptDownloadError, NetworkError, NotFoundError
from berthub.sources import registry
from berthub.sources import resolve as hub
from berthub.sources.registry import ModelEntry
from berthub.sources.resolve import resolve_model, resolve_tokenizer
from berthub.sources.settings import PROBE_TIMEOUT_S, HubSettings

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT / "data/vocabs/bert-base-uncased/vocab.txt"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """An empty cache, no offline switch, and a hub address where nothing listens."""
    for name in ("BERTHUB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "BERTHUB_TOKEN", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BERTHUB_ENDPOINT", f"http://127.0.0.1:{_dead_port()}")
    registry.reload()
    yield
    registry.reload()


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def files():
    with running(FaultServer()) as server:
        yield server


@pytest.fixture
def legacy_archive(tmp_path) -> tuple[bytes, dict[str, torch.Tensor]]:
    """A pytorch-pretrained-BERT style .tar.gz: bert_config.json, pytorch_model.bin, vocab.txt."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    state = BertModel(config).state_dict()
    folder = tmp_path / "legacy"
    folder.mkdir()
    (folder / "bert_config.json").write_text(json.dumps(config.to_dict()))
    torch.save(state, folder / "pytorch_model.bin")
    shutil.copyfile(VOCAB, folder / "vocab.txt")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=path.name)
    return buffer.getvalue(), state


def test_local_directory_resolves_to_itself_without_the_network(minilm_dir):
    assert resolve_model(minilm_dir).directory == minilm_dir
    assert resolve_tokenizer(str(minilm_dir)) == hub.Resolved(minilm_dir)


def test_directory_with_google_bert_config_json_is_a_model_directory(tmp_path):
    (tmp_path / "bert_config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    assert resolve_model(tmp_path).directory == tmp_path


def test_directory_without_weights_is_refused_naming_what_is_missing_and_present(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(NotFoundError, match="no model.safetensors or pytorch_model.bin .*holds config.json"):
        resolve_model(tmp_path)


def test_directory_without_vocab_is_not_a_tokenizer_directory(minilm_dir, tmp_path):
    shutil.copyfile(minilm_dir / "config.json", tmp_path / "config.json")
    with pytest.raises(NotFoundError, match="not a tokenizer directory: it has no vocab.txt"):
        resolve_tokenizer(tmp_path)


@pytest.mark.parametrize("path", ["./no-such-model", "/no/such/model", "a/b/c"])
def test_missing_path_is_not_found_without_asking_any_hub(path):
    with pytest.raises(NotFoundError, match=f"No directory '{path}'"):
        resolve_model(path)


def test_unknown_name_suggests_the_closest_registered_names():
    with pytest.raises(NotFoundError, match="Unknown model 'bert-base-chines'. Did you mean 'bert-base-chinese'"):
        resolve_model("bert-base-chines")


def test_archive_url_is_extracted_into_the_cache_and_loads_with_bert_config_json(files, legacy_archive, tmp_path):
    body, state = legacy_archive
    files.routes["/bert/bert-base-uncased.tar.gz"] = Route(body=body)
    url = files.url + "/bert/bert-base-uncased.tar.gz"
    model = BertModel.from_pretrained(url)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], state[key]) for key in state)
    directory = resolve_model(url).directory
    assert directory.is_relative_to(tmp_path / "cache" / "berthub-urls")
    assert json.loads((directory / "config.json").read_text()) == json.loads(
        (directory / "bert_config.json").read_text()
    )
    assert (
        resolve_tokenizer(url).directory == directory and (directory / "vocab.txt").read_bytes() == VOCAB.read_bytes()
    )
    assert len(files.log) == 1


def test_offline_archive_url_loads_from_the_cache_without_a_request(files, legacy_archive, monkeypatch):
    files.routes["/a.tar.gz"] = Route(body=legacy_archive[0])
    first = resolve_model(files.url + "/a.tar.gz")
    monkeypatch.setenv("BERTHUB_OFFLINE", "1")
    assert resolve_model(files.url + "/a.tar.gz") == first
    assert len(files.log) == 1


def test_vocabulary_url_gives_a_tokenizer_directory_with_vocab_txt(files):
    files.routes["/bert-base-uncased-vocab.txt"] = Route(body=VOCAB.read_bytes())
    directory = resolve_tokenizer(files.url + "/bert-base-uncased-vocab.txt").directory
    assert (directory / "vocab.txt").read_bytes() == VOCAB.read_bytes()


def test_single_file_url_is_not_a_model_and_the_error_says_what_to_pass(files):
    files.routes["/pytorch_model.bin"] = Route(body=b"\0" * 100)
    with pytest.raises(NotFoundError, match="single file, not an archive.*tar.gz or .zip"):
        resolve_model(files.url + "/pytorch_model.bin")


def test_registry_entry_with_archive_url_checks_its_sha256(files, legacy_archive):
    body = legacy_archive[0]
    files.routes["/good.tar.gz"] = Route(body=body)
    sha = hashlib.sha256(body).hexdigest()
    registry.register(ModelEntry("legacy-bert", url=files.url + "/good.tar.gz", sha256=sha, do_lower_case=True))
    registry.register(ModelEntry("tampered-bert", url=files.url + "/good.tar.gz", sha256="f" * 64))
    resolved = resolve_model("legacy-bert")
    assert resolved.entry.name == "legacy-bert" and (resolved.directory / "pytorch_model.bin").is_file()
    with pytest.raises(CorruptDownloadError, match=f"sha256 is {sha} but f+ was expected"):
        resolve_model("tampered-bert")


def test_plain_url_downloads_go_through_the_proxy_named_in_the_environment(files, monkeypatch):
    files.routes["/vocab.txt"] = Route(body=VOCAB.read_bytes())
    with proxying(CountingProxy(files.url)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        directory = resolve_tokenizer("http://files.example/vocab.txt").directory
    assert (directory / "vocab.txt").read_bytes() == VOCAB.read_bytes()
    assert [entry.path for entry in proxy.log] == ["/vocab.txt"]


def test_settings_are_read_at_call_time_berthub_variables_first(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://hf.example/")
    monkeypatch.setenv("HF_TOKEN", "hf-token")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("BERTHUB_ENDPOINT")
    monkeypatch.delenv("BERTHUB_CACHE")
    assert HubSettings.from_env() == HubSettings("http://hf.example", "hf-token", tmp_path / "hf", True)
    monkeypatch.setenv("BERTHUB_ENDPOINT", "http://berthub.example")
    monkeypatch.setenv("BERTHUB_TOKEN", "berthub-token")
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "b"))
    monkeypatch.setenv("BERTHUB_OFFLINE", "0")
    assert HubSettings.from_env() == HubSettings("http://berthub.example", "berthub-token", tmp_path / "b", False)
    assert HubSettings.from_env(endpoint="http://arg", token="t", cache_dir=tmp_path, local_files_only=True) == (
        HubSettings("http://arg", "t", tmp_path, True)
    )


def test_default_cache_is_huggingface_hubs_so_its_downloads_are_shared(monkeypatch, tmp_path):
    for name in ("BERTHUB_CACHE", "HF_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    assert HubSettings.from_env().cache_dir == tmp_path / "hf-home" / "hub"


def _refusing_hub(files: FaultServer, status: int, **headers: str) -> None:
    files.routes["/acme/private-bert/resolve/main/config.json"] = Route(body=b"", status=status, headers=headers)


@pytest.mark.parametrize("status", [401, 403])
def test_hub_refusing_access_is_an_auth_error_that_asks_for_a_token(files, monkeypatch, status):
    _refusing_hub(files, status)
    monkeypatch.setenv("BERTHUB_ENDPOINT", files.url)
    with pytest.raises(AuthError, match=f"needs a token with access \\(HTTP {status}\\): set BERTHUB_TOKEN"):
        resolve_model("acme/private-bert")


@pytest.mark.parametrize("status", [401, 403])
def test_a_gated_repo_says_which_page_to_ask_for_access_on(files, monkeypatch, status):
    _refusing_hub(files, status, **{"X-Error-Code": "GatedRepo"})
    monkeypatch.setenv("BERTHUB_ENDPOINT", files.url)
    with pytest.raises(AuthError, match=f"is gated.*request access on {files.url}/acme/private-bert, then set "
                                        "BERTHUB_TOKEN"):
        resolve_model("acme/private-bert")


def test_hub_refusing_a_given_token_says_the_token_was_refused(files, monkeypatch):
    _refusing_hub(files, 401)
    monkeypatch.setenv("BERTHUB_ENDPOINT", files.url)
    with pytest.raises(AuthError, match="the token was refused"):
        resolve_model("acme/private-bert", token="wrong")


def test_unreachable_hub_with_a_cold_cache_is_a_network_error_with_the_way_out():
    started = time.monotonic()
    with pytest.raises(NetworkError) as raised:
        resolve_model("bert-base-uncased")
    message = str(raised.value)
    assert "Cannot reach the hub" in message and "berthub download" in message and "BERTHUB_OFFLINE=1" in message
    assert time.monotonic() - started < 2


def test_silent_hub_gives_up_after_the_short_probe_timeout(monkeypatch):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("BERTHUB_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        with pytest.raises(NetworkError, match="Cannot reach the hub"):
            resolve_model("bert-base-uncased")
        assert time.monotonic() - started < PROBE_TIMEOUT_S + 2


def test_offline_mode_with_a_cold_cache_says_how_to_fill_it(monkeypatch):
    monkeypatch.setenv("BERTHUB_OFFLINE", "1")
    with pytest.raises(NotFoundError, match="not in the cache .*`berthub download bert-base-chinese`"):
        resolve_model("bert-base-chinese")
