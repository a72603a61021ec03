"""`berthub models`, `berthub download`, `berthub cache ls | rm | verify` against the session hub."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
import torch
from faultserver import CountingProxy, FaultServer, Route, proxying, running

from berthub import BertConfig, BertModel, push
from berthub.cli import main
from berthub.sources import registry
from berthub.sources.registry import ModelEntry
from berthub.sources.resolve import resolve_tokenizer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def repo_id(hub_server, tmp_path_factory) -> str:
    """A small BERT with the real bert-base-chinese vocabulary on the session hub."""
    directory = tmp_path_factory.mktemp("cli") / "model"
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=21128, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    )
    BertModel(config).save_pretrained(directory)
    shutil.copyfile(ROOT / "data/vocabs/bert-base-chinese/vocab.txt", directory / "vocab.txt")
    repo = hub_server.unique_repo_id("cli-bert")
    push(directory, repo, endpoint=hub_server.endpoint, token=hub_server.token)
    return repo


@pytest.fixture
def cli_env(hub_server, repo_id, tmp_path, monkeypatch):
    """`cli-bert` registered for repo_id; berthub pointed at the hub through a counting proxy, empty cache."""
    registry.reload()
    registry.register(ModelEntry("cli-bert", repo_id=repo_id, description="tiny Chinese BERT for CLI tests"))
    with proxying(CountingProxy(hub_server.endpoint)) as proxy:
        monkeypatch.setenv("BERTHUB_ENDPOINT", proxy.url)
        monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
        monkeypatch.delenv("BERTHUB_OFFLINE", raising=False)
        yield proxy
    registry.reload()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _row(output: str, first_cell: str) -> list[str]:
    return next(line.split() for line in output.splitlines() if line.split()[:1] == [first_cell])


def test_models_lists_names_with_repo_ids_and_whether_they_are_cached(cli_env, repo_id, capsys):
    code, out, _ = _run(capsys, "models")
    assert code == 0
    assert _row(out, "bert-base-chinese") == ["bert-base-chinese", "google-bert/bert-base-chinese", "no", "-"]
    assert _row(out, "cli-bert") == ["cli-bert", repo_id, "no", "-"]


def test_download_fills_the_cache_so_models_shows_it_cached_with_its_size(cli_env, repo_id, capsys):
    code, out, _ = _run(capsys, "download", "cli-bert")
    assert code == 0 and "model:" in out and "tokenizer:" in out
    files = sorted(entry.path.rsplit("/", 1)[-1] for entry in cli_env.downloads())
    assert files == ["config.json", "model.safetensors", "vocab.txt"]
    _, out, _ = _run(capsys, "models", "cli-*")
    name, repo, cached, size, unit = _row(out, "cli-bert")
    assert (repo, cached, unit) == (repo_id, "yes", "MB") and float(size) > 0


def test_download_of_an_unknown_name_exits_2_with_the_suggestion(cli_env, capsys):
    code, _, err = _run(capsys, "download", "cli-bret")
    assert code == 2 and "Unknown model 'cli-bret'. Did you mean 'cli-bert'" in err
    assert len(err.strip().splitlines()) == 1


def test_cache_ls_shows_each_repo_with_its_names_and_revision(cli_env, repo_id, capsys):
    _run(capsys, "download", "cli-bert")
    code, out, _ = _run(capsys, "cache", "ls")
    row = _row(out, repo_id)
    assert code == 0 and row[1] == "cli-bert" and row[2] == "main"
    assert "1 entries" in out


def test_cache_verify_passes_on_fresh_downloads_and_names_a_corrupted_blob(cli_env, repo_id, capsys, tmp_path):
    _run(capsys, "download", "cli-bert")
    code, out, _ = _run(capsys, "cache", "verify")
    assert code == 0 and f"ok      {repo_id} (3 files checked)" in out  # config.json, model.safetensors, vocab.txt
    weights = next((tmp_path / "cache").glob("models--*/snapshots/*/model.safetensors")).resolve()
    with open(weights, "r+b") as file:
        file.seek(100)
        file.write(b"\xff\xff\xff\xff")
    code, out, err = _run(capsys, "cache", "verify", "cli-bert")
    assert code == 2 and f"CORRUPT {repo_id}: blobs/{weights.name}: content hashes to" in out
    assert "berthub cache rm NAME" in err


def test_cache_rm_removes_a_model_by_name_and_refuses_one_not_cached(cli_env, repo_id, capsys, tmp_path):
    _run(capsys, "download", "cli-bert")
    code, out, _ = _run(capsys, "cache", "rm", "cli-bert")
    assert code == 0 and out.startswith(f"removed {repo_id}")
    assert not list((tmp_path / "cache").glob("models--*"))
    code, _, err = _run(capsys, "cache", "rm", "cli-bert")
    assert code == 2 and "'cli-bert' is not in the cache" in err


@pytest.mark.parametrize("command", [["models"], ["download"], ["cache"]])
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0 and "examples:" in capsys.readouterr().out


def test_url_downloads_are_listed_verified_and_removed_like_repos(cli_env, capsys, tmp_path):
    archive = tmp_path / "vocab.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(ROOT / "data/vocabs/bert-base-cased/vocab.txt", arcname="vocab.txt")
    with running(FaultServer({"/bert/vocab.tar.gz": Route(body=archive.read_bytes())})) as files:
        url = files.url + "/bert/vocab.tar.gz"
        resolve_tokenizer(url)
    _, out, _ = _run(capsys, "cache", "ls")
    assert _row(out, url)[1:3] == ["-", "url"]
    code, out, _ = _run(capsys, "cache", "verify", url)
    assert code == 0 and f"ok      {url} (2 files checked)" in out  # the archive and the vocab.txt from it
    code, _, _ = _run(capsys, "cache", "rm", url)
    assert code == 0 and not list((tmp_path / "cache" / "berthub-urls").iterdir())


def test_download_revision_fetches_that_commit_not_the_latest(cli_env, hub_server, capsys, tmp_path):
    repo, commits = hub_server.unique_repo_id("two-commits"), []
    config = BertConfig(vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    for seed in (0, 1):
        torch.manual_seed(seed)
        BertModel(config).save_pretrained(tmp_path / f"v{seed}")
        commits.append(push(tmp_path / f"v{seed}", repo, endpoint=hub_server.endpoint, token=hub_server.token).oid)
    code, out, _ = _run(capsys, "download", repo, "--revision", commits[0])
    assert code == 0
    directory = Path(out.split("model:", 1)[1].split()[0])
    assert directory.name == commits[0]
    assert (directory / "model.safetensors").read_bytes() == (tmp_path / "v0" / "model.safetensors").read_bytes()
    code, out, _ = _run(capsys, "download", repo)  # main: the second commit
    assert Path(out.split("model:", 1)[1].split()[0]).name == commits[1]
