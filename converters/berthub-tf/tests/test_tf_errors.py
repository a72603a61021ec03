"""Bad input gives one clear error each, and never leaves a partial output directory behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from berthub_tf import convert
from berthub_tf.errors import (
    MissingFileError,
    OutputExistsError,
    ShapeMismatchError,
    UnknownVariablesError,
)

pytestmark = pytest.mark.tf


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def _config_with(release, tmp_path: Path, **changes: object) -> Path:
    values = {**json.loads(release.config.read_text()), **changes}
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(values))
    return path


@pytest.mark.parametrize("reader", ["tf", "pure"])
def test_unknown_variables_are_all_listed_and_nothing_is_written(releases, tmp_path, reader):
    release, out = releases.unknown, tmp_path / "out"
    with pytest.raises(UnknownVariablesError) as error:
        convert(release.prefix, release.config, out, reader=reader)
    message = str(error.value)
    assert "has 2 variables" in message and "--ignore" in message
    assert "bert/encoder/layer_0/attention/self/relative_position/kernel" in message
    assert "my_task/logits/bias" in message
    assert _leftovers(tmp_path) == []


def test_ignore_patterns_let_a_checkpoint_with_extra_variables_convert(releases, tmp_path):
    release = releases.unknown
    out = convert(release.prefix, release.config, tmp_path / "out",
                  ignore=["*/relative_position/*", "my_task/*"])
    report = json.loads((out / "conversion_report.json").read_text())
    assert sorted(i["name"] for i in report["ignored"]) == [
        "bert/encoder/layer_0/attention/self/relative_position/kernel", "my_task/logits/bias"]


def test_config_with_a_different_hidden_size_is_refused_naming_the_shapes(releases, tmp_path):
    release = releases.pretraining
    config = _config_with(release, tmp_path, hidden_size=768, intermediate_size=3072)
    with pytest.raises(ShapeMismatchError) as error:
        convert(release.prefix, config, tmp_path / "out")
    expected = "'bert/embeddings/word_embeddings' has shape [30522, 384], the config implies [30522, 768]"
    assert expected in str(error.value)
    assert _leftovers(tmp_path) == ["bert_config.json"]


def test_config_with_fewer_layers_than_the_checkpoint_is_refused(releases, tmp_path):
    release = releases.pretraining
    with pytest.raises(ShapeMismatchError, match="layers up to layer_5 but num_hidden_layers is 4"):
        convert(release.prefix, _config_with(release, tmp_path, num_hidden_layers=4), tmp_path / "out")
    assert _leftovers(tmp_path) == ["bert_config.json"]


def test_config_with_more_layers_than_the_checkpoint_lists_the_missing_variables(releases, tmp_path):
    release = releases.pretraining
    with pytest.raises(ShapeMismatchError, match=r"'bert/encoder/layer_7/output/LayerNorm/beta' is missing"):
        convert(release.prefix, _config_with(release, tmp_path, num_hidden_layers=8), tmp_path / "out")
    assert _leftovers(tmp_path) == ["bert_config.json"]


@pytest.mark.parametrize("reader", ["tf", "pure"])
def test_truncated_data_shard_is_one_clear_error_and_leaves_nothing(releases, tmp_path, reader):
    folder = tmp_path / "release"
    shutil.copytree(releases.pretraining.folder, folder)
    shard = folder / "bert_model.ckpt.data-00000-of-00001"
    with open(shard, "r+b") as handle:
        handle.truncate(shard.stat().st_size // 2)
    with pytest.raises(Exception) as error:
        convert(folder / "bert_model.ckpt", folder / "bert_config.json", tmp_path / "out", reader=reader)
    assert "truncated" in str(error.value)
    assert type(error.value).__module__ == "berthub_tf.errors"
    assert _leftovers(tmp_path) == ["release"]


def test_missing_checkpoint_names_the_index_file(releases, tmp_path):
    with pytest.raises(MissingFileError, match=r"nope\.ckpt\.index' does not exist"):
        convert(tmp_path / "nope.ckpt", releases.squad.config, tmp_path / "out")
    assert _leftovers(tmp_path) == []


def test_missing_config_names_the_file(releases, tmp_path):
    with pytest.raises(MissingFileError, match="bert_config.json file '.*missing.json' does not exist"):
        convert(releases.squad.prefix, tmp_path / "missing.json", tmp_path / "out")
    assert _leftovers(tmp_path) == []


def test_missing_vocab_names_the_file(releases, tmp_path):
    with pytest.raises(MissingFileError, match="vocab.txt file"):
        convert(releases.squad.prefix, releases.squad.config, tmp_path / "out", tmp_path / "vocab.txt")
    assert _leftovers(tmp_path) == []


def test_existing_output_is_not_overwritten_unless_asked(releases, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        convert(releases.squad.prefix, releases.squad.config, out)
    assert _leftovers(out) == ["keep.txt"]
    convert(releases.squad.prefix, releases.squad.config, out, overwrite=True)
    assert "keep.txt" not in _leftovers(out) and _leftovers(tmp_path) == ["out"]


def test_two_task_heads_in_one_checkpoint_are_refused_with_the_ignore_hint(releases, tmp_path):
    from berthub_tf.to_tf import write_checkpoint

    variables = {**releases.squad.variables, "output_weights": releases.classifier.variables["output_weights"],
                 "output_bias": releases.classifier.variables["output_bias"]}
    variables = {k: v for k, v in variables.items() if "adam" not in k}
    prefix = write_checkpoint(variables, tmp_path / "both" / "model.ckpt")
    with pytest.raises(UnknownVariablesError, match="several heads.*--ignore"):
        convert(prefix, releases.squad.config, tmp_path / "out")
    assert _leftovers(tmp_path) == ["both"]
