"""berthub -> Google TF checkpoint: the names Google's code expects, and an exact round trip."""

from __future__ import annotations

import json

import pytest
from berthub_tf import convert, to_tf
from berthub_tf.checkpoint import open_checkpoint
from berthub_tf.errors import OutputExistsError

pytestmark = pytest.mark.tf


@pytest.mark.parametrize("name", ["pretraining", "squad", "classifier"])
def test_tf_to_berthub_to_tf_round_trip_gives_identical_variables(releases, converted, tmp_path, name):
    release = releases.all()[name]
    prefix = to_tf(converted[name], tmp_path / "back" / "bert_model.ckpt")
    back = open_checkpoint(prefix, "tf")
    weights = {n for n in release.variables if "adam" not in n and n != "global_step"}
    assert set(back.variables) == weights
    for variable in weights:
        array = back.read(variable)
        assert array.dtype == release.variables[variable].dtype, variable
        assert array.tobytes() == release.variables[variable].tobytes(), variable


def test_round_trip_checkpoint_converts_again_to_the_same_model_file(releases, converted, tmp_path):
    prefix = to_tf(converted["squad"], tmp_path / "back" / "bert_model.ckpt")
    again = convert(prefix, tmp_path / "back" / "bert_config.json", tmp_path / "again")
    assert (again / "model.safetensors").read_bytes() == (converted["squad"] / "model.safetensors").read_bytes()


def test_to_tf_writes_googles_bert_config_and_the_vocabulary(releases, converted, tmp_path):
    to_tf(converted["pretraining"], tmp_path / "back" / "bert_model.ckpt")
    assert json.loads((tmp_path / "back" / "bert_config.json").read_text()) == json.loads(
        releases.pretraining.config.read_text())
    assert (tmp_path / "back" / "vocab.txt").read_bytes() == releases.pretraining.vocab.read_bytes()


def test_to_tf_can_write_several_shards_that_the_pure_reader_reads(converted, tmp_path):
    prefix = to_tf(converted["classifier"], tmp_path / "back" / "bert_model.ckpt", num_shards=2)
    assert sorted(p.name for p in prefix.parent.glob("*.data-*")) == [
        "bert_model.ckpt.data-00000-of-00002", "bert_model.ckpt.data-00001-of-00002"]
    tf_reader, pure = open_checkpoint(prefix, "tf"), open_checkpoint(prefix, "pure")
    assert all(pure.read(n).tobytes() == tf_reader.read(n).tobytes() for n in tf_reader.variables)


def test_to_tf_refuses_to_overwrite_an_existing_checkpoint(converted, tmp_path):
    to_tf(converted["squad"], tmp_path / "bert_model.ckpt")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(OutputExistsError, match="bert_model.ckpt.index"):
        to_tf(converted["squad"], tmp_path / "bert_model.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
