"""`berthub pretraining-data` writes exactly the instances of Google's create_pretraining_data.py.

The reference is Google's own code, run from installed packages (nothing re-implemented here):
bert-tensorflow 1.0.4 ships Google's create_pretraining_data.py and tokenization.py (per-piece masking);
tf-models-official 2.2.0 ships the same script with --do_whole_word_mask, unchanged in its algorithm
(installed by `make .venv/.test` without its dependencies). Both run their create_training_instances
on the same files, vocabulary, flags and random.Random(seed); every instance must be equal, in order.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from berthub_pretraining import read_instances

from berthub.cli import main

FLAGS = {"max_seq_length": 64, "max_predictions_per_seq": 12, "masked_lm_prob": 0.2, "dupe_factor": 2,
         "short_seq_prob": 0.3, "random_seed": 4242}


def _google_instances(which: str, files: list[Path], vocab_file: Path, **flags) -> list[dict]:
    """Google's instances, from its own code run in a fresh process (tests/google_reference.py)."""
    package = {"bert": "bert", "official": "official"}[which]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{'bert-tensorflow' if which == 'bert' else 'tf-models-official 2.2.0'} is not installed "
                    "(make .venv/.test installs it)")
    command = [sys.executable, str(Path(__file__).with_name("google_reference.py")), which, str(vocab_file),
               json.dumps(flags), *map(str, files)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def _berthub(files: list[Path], vocab_file: Path, output: Path, *extra: str) -> list[dict]:
    args = ["pretraining-data", "--input", ",".join(str(f) for f in files), "--vocab", str(vocab_file),
            "--output", str(output), "--no-progress", *extra]
    for name, value in FLAGS.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    assert main(args) == 0
    return list(read_instances(output))


def test_several_files_are_one_run_with_exactly_googles_instances(squad_files, vocab_file, tmp_path):
    ours = _berthub(squad_files, vocab_file, tmp_path / "out")
    theirs = _google_instances("bert", squad_files, vocab_file, **FLAGS)
    assert len(ours) == len(theirs) > 300
    assert ours == theirs
    assert any(i["is_random_next"] for i in ours) and not all(i["is_random_next"] for i in ours)


def test_whole_word_masking_gives_exactly_googles_instances(squad_files, vocab_file, tmp_path):
    ours = _berthub(squad_files, vocab_file, tmp_path / "out", "--do-whole-word-mask")
    theirs = _google_instances("official", squad_files, vocab_file, **FLAGS, do_whole_word_mask=True)
    assert ours == theirs
    pieces = [(i, p) for i in ours for p, label in zip(i["masked_lm_positions"], i["masked_lm_labels"], strict=True)
              if label.startswith("##")]
    assert pieces, "the corpus should have masked multi-piece words"
    for instance, position in pieces:  # a masked "##" piece is masked with the piece before it (if any)
        assert position - 1 in instance["masked_lm_positions"] or instance["tokens"][position - 1] in ("[CLS]", "[SEP]")


def test_processes_make_one_google_run_per_file(squad_files, vocab_file, tmp_path):
    out = tmp_path / "out"
    _berthub(squad_files, vocab_file, out, "--processes", "2")
    shards = sorted(out.glob("shard-*.safetensors"))
    assert len(shards) == len(squad_files)
    for shard, path in zip(shards, squad_files, strict=True):
        assert list(read_instances(shard)) == _google_instances("bert", [path], vocab_file, **FLAGS)
