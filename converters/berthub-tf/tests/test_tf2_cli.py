"""`berthub convert tf` on TF2 checkpoints and SavedModels: --verify, --hidden-act, --push."""

from __future__ import annotations

import hashlib
import json
import urllib.request

import pytest

from berthub.cli import main

pytestmark = pytest.mark.tf


def test_verify_on_a_savedmodel_compares_tensors_and_tensorflows_outputs(model_garden, tmp_path, capsys):
    assert main(["convert", "tf", "--checkpoint", str(model_garden / "hub"), "--output", str(tmp_path / "out"),
                 "--verify"]) == 0
    out = capsys.readouterr().out
    assert "Converted SavedModel" in out and "as BertForMaskedLM: 44 tensors" in out
    assert "hidden_act: gelu_new (the SavedModel's graph computes the tanh approximation of gelu (Pow ops))" in out
    assert "44/44 tensors identical to the checkpoint" in out and "0 variables unaccounted" in out
    assert "ran the SavedModel's graph on a padded batch of 3 x 12" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("sequence_output", "pooled_output",
                                                                                  "mlm_logits"))]
    assert [row[0] for row in rows] == ["sequence_output", "pooled_output", "mlm_logits"]
    assert all(row[4] == "ok" and float(row[3]) <= 1e-5 for row in rows)


def test_verify_on_a_tf2_checkpoint_compares_with_tensorflows_reading(model_garden, tmp_path, capsys):
    assert main(["convert", "tf", "--checkpoint", str(model_garden / "v2"), "--output", str(tmp_path / "out"),
                 "--verify"]) == 0
    out = capsys.readouterr().out
    assert "39/39 tensors identical to the checkpoint (read with the tensorflow reader)" in out
    assert "holds weights but no graph" in out
    assert "hidden_act: gelu_new (a TF2 checkpoint holds no graph" in out


def test_verify_fails_when_the_activation_is_not_the_graphs(model_garden, tmp_path, capsys):
    assert main(["convert", "tf", "--checkpoint", str(model_garden / "hub_erf"), "--output", str(tmp_path / "out"),
                 "--verify", "--hidden-act", "relu"]) == 1
    out = capsys.readouterr().out
    assert "hidden_act: relu (--hidden-act)" in out and "DIFFERENT" in out


def test_hidden_act_is_refused_for_a_tf1_checkpoint(releases, tmp_path, capsys):
    assert main(["convert", "tf", "--checkpoint", str(releases.squad.folder), "--output", str(tmp_path / "out"),
                 "--hidden-act", "gelu_new"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--hidden-act is for TF2 checkpoints and SavedModels" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_push_publishes_a_card_naming_the_source_format_and_file_hashes(model_garden, hub, tmp_path, capsys):
    repo = hub.unique_repo_id("bert-from-savedmodel")
    assert main(["convert", "tf", "--checkpoint", str(model_garden / "hub"), "--output", str(tmp_path / "out"),
                 "--push", repo, "--endpoint", hub.endpoint, "--token", hub.token]) == 0
    with urllib.request.urlopen(f"{hub.endpoint}/{repo}/resolve/main/README.md") as response:
        card = response.read().decode()
    assert "converted from the TF Hub / Kaggle SavedModel `hub`" in card
    graph = hashlib.sha256((model_garden / "hub" / "saved_model.pb").read_bytes()).hexdigest()
    assert f"| `saved_model.pb` | {(model_garden / 'hub' / 'saved_model.pb').stat().st_size:,} | `{graph}` |" in card
    assert "hidden_act `gelu_new`" in card
    with urllib.request.urlopen(f"{hub.endpoint}/{repo}/resolve/main/conversion_report.json") as response:
        assert json.loads(response.read())["format"] == "SavedModel"
