"""`berthub convert tf|to-tf`: the command line over the converter, including --verify and --push."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request

import numpy as np
import pytest
import torch

from berthub import BertForQuestionAnswering
from berthub.cli import main

pytestmark = pytest.mark.tf


def _args(release, output, *extra: str) -> list[str]:
    return ["convert", "tf", "--checkpoint", str(release.prefix), "--config", str(release.config),
            "--vocab", str(release.vocab), "--output", str(output), *extra]


def test_convert_help_lists_every_registered_converter(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["convert", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "TF1/TF2 BERT checkpoint or SavedModel -> berthub model directory" in out
    assert "berthub model directory -> Google TensorFlow checkpoint" in out


def test_verify_prints_a_table_with_every_tensor_identical(releases, tmp_path, capsys):
    assert main(_args(releases.classifier, tmp_path / "out", "--verify", "--reader", "pure")) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.endswith("identical") and "/" not in line.split()[0]]
    assert len(rows) == 105  # 5 embeddings + 6 layers x 16 + pooler 2 + classifier 2
    assert "105/105 tensors identical to the checkpoint (read with the pure reader); 0 variables unaccounted" in out
    assert "skipped" in out and "(pure reader;" in out


def test_unknown_variables_are_a_one_line_error_with_exit_code_2(releases, tmp_path, capsys):
    assert main(_args(releases.unknown, tmp_path / "out", "--reader", "pure")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("berthub convert: error: Checkpoint") and "\n" not in err
    assert "my_task/logits/bias" in err and not (tmp_path / "out").exists()


def test_checkpoint_folder_is_enough_to_find_config_and_vocab(releases, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["convert", "tf", "--checkpoint", str(releases.squad.folder), "--output", str(out),
                 "--reader", "pure"]) == 0
    assert (out / "vocab.txt").read_bytes() == releases.squad.vocab.read_bytes()
    assert "as BertForQuestionAnswering" in capsys.readouterr().out


def test_to_tf_command_writes_a_checkpoint_tf_reads(converted, tmp_path, capsys):
    prefix = tmp_path / "tf" / "bert_model.ckpt"
    assert main(["convert", "to-tf", str(converted["squad"]), "--output", str(prefix)]) == 0
    assert sorted(p.name for p in prefix.parent.iterdir()) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index", "vocab.txt"]


_PUSH_THEN_LOAD = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    from berthub.cli import main
    from berthub import BertForQuestionAnswering
    args = json.loads(sys.argv[1])
    assert main(args["cli"]) == 0
    model = BertForQuestionAnswering.from_pretrained(args["repo"], cache_dir=args["cache"])
    with torch.no_grad():
        start, end = model(torch.tensor(args["ids"]))
    np.save(args["result"], torch.stack([start, end]).numpy())
""")


@pytest.mark.slow
def test_push_then_from_pretrained_repo_id_gives_the_same_outputs(releases, converted, hub, tmp_path):
    repo = hub.unique_repo_id("bert-squad-from-tf")
    ids = [[101, 7592, 1010, 2088, 999, 102]]
    payload = {"cli": _args(releases.squad, tmp_path / "out", "--reader", "pure", "--push", repo),
               "repo": repo, "cache": str(tmp_path / "cache"), "ids": ids, "result": str(tmp_path / "r.npy")}
    run = subprocess.run([sys.executable, "-c", _PUSH_THEN_LOAD, json.dumps(payload)], env=hub.client_env(),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    with torch.no_grad():
        start, end = BertForQuestionAnswering.from_pretrained(converted["squad"])(torch.tensor(ids))
    assert np.array_equal(np.load(tmp_path / "r.npy"), torch.stack([start, end]).numpy())
    with urllib.request.urlopen(f"{hub.endpoint}/{repo}/resolve/main/README.md") as response:
        card = response.read().decode()
    assert "converted from the Google TensorFlow BERT checkpoint `bert_model.ckpt`" in card
    index_sha = json.loads((converted["squad"] / "conversion_report.json").read_text())["source"]["files"][0]
    assert index_sha["sha256"] in card
