"""`berthub.push` / `berthub push`: model cards, endpoint and token defaults, and clear failures."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml
from hubserver import free_port
from huggingface_hub import HfApi, hf_hub_download

import berthub
from berthub.errors import AuthError, ConfigError, NetworkError, NotFoundError
from berthub.sources.publish import CardFacts, model_card


def _metadata(card: str) -> dict:
    return yaml.safe_load(card.split("---")[1])


@pytest.fixture
def tiny_model(tmp_path, minilm_dir):
    """A model directory without README.md: MiniLM's config and vocabulary (weights are not needed)."""
    folder = tmp_path / "tiny-bert"
    folder.mkdir()
    for name in ("config.json", "vocab.txt"):
        shutil.copy(minilm_dir / name, folder / name)
    return folder


def test_card_has_yaml_metadata_config_and_how_to_load(minilm_dir):
    card = model_card(minilm_dir, "acme/minilm", CardFacts(base_model="nreimers/MiniLM-L6-H384-uncased",
                                                            license="apache-2.0"))
    metadata = _metadata(card)
    assert metadata["library_name"] == "berthub"
    assert metadata["license"] == "apache-2.0"
    assert metadata["base_model"] == "nreimers/MiniLM-L6-H384-uncased"
    assert {"berthub", "bert"} <= set(metadata["tags"])
    assert "22.7M parameters (6 layers, 384 hidden size, 12 attention heads)" in card
    assert "| Hidden size | 384 |" in card
    assert 'BertModel.from_pretrained("acme/minilm")' in card


def test_card_says_what_a_conversion_came_from(tiny_model):
    card = model_card(tiny_model, "acme/bert", {"converted_from": "the Google TF checkpoint uncased_L-12_H-768_A-12"})
    assert "Converted from the Google TF checkpoint uncased_L-12_H-768_A-12." in card
    assert _metadata(card)["license"] == "unknown"  # never guessed
    assert "base_model" not in _metadata(card)


def test_card_records_task_metrics_and_hyperparameters_of_a_training_run(tiny_model):
    card = model_card(tiny_model, "acme/bert-mrpc", {"task": "sequence-classification", "metrics": {"f1": 0.88125},
                                                     "hyperparameters": {"learning_rate": 2e-5, "epochs": 3}})
    assert _metadata(card)["pipeline_tag"] == "text-classification"
    assert "| f1 | 0.8812 |" in card
    assert "| learning_rate | 2e-05 |" in card and "| epochs | 3 |" in card


def test_card_facts_with_an_unknown_field_name_the_allowed_ones(tiny_model):
    with pytest.raises(ConfigError, match="allowed: base_model, converted_from"):
        model_card(tiny_model, "acme/bert", {"base": "x"})


def test_push_adds_a_generated_card_when_the_directory_has_none(hub_server, tiny_model, tmp_path):
    repo_id = hub_server.unique_repo_id("carded")
    commit = berthub.push(tiny_model, repo_id, endpoint=hub_server.endpoint, token=hub_server.token,
                          card={"converted_from": "a test"})
    readme = hf_hub_download(repo_id, "README.md", revision=commit.oid, endpoint=hub_server.endpoint,
                             cache_dir=tmp_path / "cache")
    assert _metadata(open(readme).read())["library_name"] == "berthub"
    assert not (tiny_model / "README.md").exists()  # the user's directory is left as it was
    assert commit.startswith(f"{hub_server.endpoint}/{repo_id}/commit/")


def test_push_reads_endpoint_and_token_from_the_environment(hub_server, tiny_model, monkeypatch):
    monkeypatch.setenv("BERTHUB_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("BERTHUB_TOKEN", hub_server.token)
    repo_id = hub_server.unique_repo_id("from-env")
    berthub.push(tiny_model, repo_id, private=True, revision="experiments")
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    assert api.model_info(repo_id).private is True
    assert "config.json" in api.list_repo_files(repo_id, revision="experiments")
    assert api.list_repo_files(repo_id) == []  # main untouched: the push went to its own branch


def test_push_with_a_wrong_token_is_an_auth_error(hub_server, tiny_model):
    with pytest.raises(AuthError, match="BERTHUB_TOKEN"):
        berthub.push(tiny_model, hub_server.unique_repo_id(), endpoint=hub_server.endpoint, token="wrong")


def test_push_to_an_unreachable_hub_is_a_network_error(tiny_model):
    with pytest.raises(NetworkError, match="Cannot reach the hub"):
        berthub.push(tiny_model, "acme/bert", endpoint=f"http://127.0.0.1:{free_port()}", token="x")


def test_push_of_a_directory_without_config_is_refused(tmp_path):
    with pytest.raises(NotFoundError, match="not a model directory"):
        berthub.push(tmp_path, "acme/bert", endpoint="http://127.0.0.1:1", token="x")


@pytest.mark.slow
def test_cli_push_failure_is_one_line_and_nonzero(tiny_model):
    result = subprocess.run([sys.executable, "-m", "berthub", "push", str(tiny_model), "acme/bert",
                             "--endpoint", f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip().startswith("berthub push: error: Cannot reach the hub")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "push"])
def test_help_shows_examples(command):
    result = subprocess.run([sys.executable, "-m", "berthub", command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "examples:" in result.stdout
