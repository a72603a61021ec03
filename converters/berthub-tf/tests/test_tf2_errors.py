"""Damaged or unexpected TF2 inputs give one clear error each and leave nothing behind."""

from __future__ import annotations

import shutil

import pytest
from berthub_tf import convert
from berthub_tf.errors import CheckpointFormatError, MissingFileError
from berthub_tf.object_graph import describe
from berthub_tf.tf_reader import BundleReader

pytestmark = pytest.mark.tf


def test_a_corrupt_object_graph_fails_its_checksum(model_garden, tmp_path):
    folder = shutil.copytree(model_garden / "v2", tmp_path / "v2")
    entry = BundleReader(folder / "ckpt-1").entries["_CHECKPOINTABLE_OBJECT_GRAPH"]
    shard = folder / "ckpt-1.data-00000-of-00001"
    data = bytearray(shard.read_bytes())
    data[entry.offset + entry.size - 10] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CheckpointFormatError, match="_CHECKPOINTABLE_OBJECT_GRAPH.*fails its crc32c check"):
        convert(folder / "ckpt-1", None, tmp_path / "out", reader="pure")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", [b"\x0a\x05\x0a\x03", b"\x0a\x02\x0a\x80", b"\x0b\x00", b"\x0a\x03\x0a\x01\x08"])
def test_a_malformed_object_graph_is_refused_not_misread(damage):
    with pytest.raises(CheckpointFormatError, match="corrupt"):
        describe(damage)


def test_a_savedmodel_graph_that_is_not_a_protobuf_is_refused(model_garden, tmp_path):
    folder = shutil.copytree(model_garden / "hub_erf", tmp_path / "hub")
    (folder / "saved_model.pb").write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointFormatError, match="saved_model.pb"):
        convert(folder, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_savedmodel_without_its_variables_names_what_is_missing(model_garden, tmp_path):
    folder = shutil.copytree(model_garden / "hub_erf", tmp_path / "hub")
    shutil.rmtree(folder / "variables")
    with pytest.raises(MissingFileError, match="has no variables/variables.index"):
        convert(folder, None, tmp_path / "out")
