"""`berthub pretraining-data` through the `berthub.commands` entry point: help, output folder, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from berthub_pretraining import read_instances
from berthub_pretraining.shards import INDEX

from berthub.cli import main
from berthub.errors import NotFoundError


def _run(*args: str) -> int:
    return main(["pretraining-data", *args, "--no-progress"])


def test_berthub_help_lists_the_plugin_command():
    result = subprocess.run([sys.executable, "-m", "berthub", "--help"], capture_output=True, text=True, check=True)
    assert "pretraining-data" in result.stdout


def test_berthub_plugins_lists_the_command_with_its_distribution(capsys):
    assert main(["plugins", "--kind", "commands", "--check"]) == 0
    out = capsys.readouterr().out
    assert "berthub.commands" in out and "pretraining-data" in out and "berthub-pretraining" in out and "ok" in out


def test_a_broken_plugin_command_leaves_berthub_help_working(tmp_path):
    dist = tmp_path / "broken_cmd-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-cmd\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[berthub.commands]\nbroken = no_such_module_anywhere\n"
                                           "train = no_such_module_either\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "berthub", "--help"], capture_output=True, text=True, env=env)
    assert result.returncode == 0
    assert "pretraining-data" in result.stdout and "models" in result.stdout
    assert "plugin command 'broken' is unavailable" in result.stderr and "broken-cmd" in result.stderr
    assert "names a built-in command" in result.stderr  # 'train' cannot be taken over
    assert "Traceback" not in result.stderr


def test_output_folder_has_an_index_the_vocabulary_and_shards_of_the_asked_size(squad_files, vocab_file, tmp_path):
    out = tmp_path / "out"
    assert _run("--input", str(squad_files[0]), "--vocab", str(vocab_file), "--output", str(out),
                "--dupe-factor", "1", "--instances-per-shard", "40") == 0
    index = json.loads((out / INDEX).read_text())
    assert [s["instances"] for s in index["shards"]][:-1] == [40] * (len(index["shards"]) - 1)
    assert index["instances"] == sum(s["instances"] for s in index["shards"]) == len(list(read_instances(out)))
    assert index["settings"]["max_seq_length"] == 128 and index["settings"]["random_seed"] == 12345
    assert not list(out.glob(".*tmp"))  # atomic writes leave no temporary files
    first = next(read_instances(out))
    assert first["tokens"][0] == "[CLS]" and first["tokens"][-1] == "[SEP]" and len(first["tokens"]) <= 128
    assert first["masked_lm_positions"] == sorted(first["masked_lm_positions"])
    assert not {"[CLS]", "[SEP]"} & set(first["masked_lm_labels"])


def test_a_rerun_replaces_the_folder_whole(squad_files, vocab_file, tmp_path):
    out = tmp_path / "out"
    _run("--input", ",".join(map(str, squad_files)), "--vocab", str(vocab_file), "--output", str(out),
         "--dupe-factor", "1", "--instances-per-shard", "50")
    many = len(list(out.glob("shard-*")))
    _run("--input", str(squad_files[0]), "--vocab", str(vocab_file), "--output", str(out), "--dupe-factor", "1")
    assert many > 1 and len(list(out.glob("shard-*"))) == 1


def test_bad_inputs_fail_with_one_line_naming_them(vocab_file, tmp_path, capsys):
    assert _run("--input", str(tmp_path / "missing-*.txt"), "--vocab", str(vocab_file), "--output",
                str(tmp_path / "o")) == 2
    assert "matches no file" in capsys.readouterr().err
    assert _run("--input", str(vocab_file), "--vocab", str(tmp_path / "nope.txt"), "--output", str(tmp_path)) == 2
    assert "--vocab" in capsys.readouterr().err
    assert _run("--input", str(vocab_file), "--vocab", str(vocab_file), "--output", str(tmp_path / "o"),
                "--max-seq-length", "3", "--masked-lm-prob", "2") == 2
    err = capsys.readouterr().err
    assert "max_seq_length" in err and "masked_lm_prob" in err and err.count("\n") == 1
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    assert _run("--input", str(bad), "--vocab", str(vocab_file), "--output", str(tmp_path / "o")) == 2
    assert "latin1.txt line 1 is not UTF-8" in capsys.readouterr().err


def test_reading_a_folder_without_index_says_it_is_incomplete(tmp_path):
    (tmp_path / "shard-00000.safetensors").write_bytes(b"")
    with pytest.raises(NotFoundError, match="interrupted run"):
        list(read_instances(tmp_path))


def test_masked_positions_hold_mask_kept_or_random_tokens_in_googles_proportions(squad_files, vocab_file,
                                                                                 tmp_path: Path):
    out = tmp_path / "out"
    _run("--input", ",".join(map(str, squad_files)), "--vocab", str(vocab_file), "--output", str(out),
         "--dupe-factor", "3")
    kinds = {"mask": 0, "kept": 0, "other": 0}
    for instance in read_instances(out):
        for position, label in zip(instance["masked_lm_positions"], instance["masked_lm_labels"], strict=True):
            token = instance["tokens"][position]
            kinds["mask" if token == "[MASK]" else "kept" if token == label else "other"] += 1
    total = sum(kinds.values())
    assert abs(kinds["mask"] / total - 0.8) < 0.02
    assert abs(kinds["kept"] / total - 0.1) < 0.02 and abs(kinds["other"] / total - 0.1) < 0.02
