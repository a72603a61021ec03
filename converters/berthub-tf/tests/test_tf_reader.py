"""The TensorFlow-free checkpoint reader gives exactly TensorFlow's tensors, or a clear refusal."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from berthub_tf.checkpoint import open_checkpoint
from berthub_tf.errors import CheckpointFormatError, MissingFileError, UnsupportedFeatureError
from berthub_tf.tf_reader import BundleReader, _mask, crc32c_python

pytestmark = pytest.mark.tf


@pytest.mark.parametrize("name", ["pretraining", "squad", "classifier", "sharded", "unknown"])
def test_pure_reader_gives_tensorflow_identical_tensors_for_every_variable(releases, name):
    release = releases.all()[name]
    tf_reader, pure = open_checkpoint(release.prefix, "tf"), open_checkpoint(release.prefix, "pure")
    assert pure.variables == tf_reader.variables
    assert set(pure.variables) == set(release.variables)
    for variable in tf_reader.variables:
        ours, theirs = pure.read(variable), tf_reader.read(variable)
        assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), variable
        assert ours.tobytes() == theirs.tobytes(), variable


def test_sharded_checkpoint_is_read_from_all_three_data_files(releases):
    reader = BundleReader(releases.sharded.prefix)
    assert reader.num_shards == 3
    assert {entry.shard_id for entry in reader.entries.values()} == {0, 1, 2}
    assert [p.name for p in reader.files()] == ["bert_model.ckpt.index"] + [
        f"bert_model.ckpt.data-0000{i}-of-00003" for i in range(3)]


def test_pure_reader_returns_exactly_what_was_saved(releases):
    reader = BundleReader(releases.squad.prefix)
    for name, saved in releases.squad.variables.items():
        assert np.array_equal(reader.read(name), saved), name
    assert reader.read("global_step").dtype == np.int64


def _copy(release, tmp_path: Path) -> Path:
    folder = tmp_path / "copy"
    shutil.copytree(release.folder, folder)
    return folder / "bert_model.ckpt"


def test_truncated_data_shard_is_refused_before_anything_is_read(releases, tmp_path):
    prefix = _copy(releases.pretraining, tmp_path)
    shard = Path(f"{prefix}.data-00000-of-00001")
    with open(shard, "r+b") as handle:
        handle.truncate(shard.stat().st_size - 1000)
    with pytest.raises(MissingFileError, match="truncated"):
        BundleReader(prefix)


def test_missing_data_shard_is_named(releases, tmp_path):
    prefix = _copy(releases.sharded, tmp_path)
    Path(f"{prefix}.data-00001-of-00003").unlink()
    with pytest.raises(MissingFileError, match=r"data-00001-of-00003' is missing"):
        BundleReader(prefix)


def test_corrupted_tensor_bytes_fail_the_crc32c_check(releases, tmp_path):
    prefix = _copy(releases.pretraining, tmp_path)
    entry = BundleReader(prefix).entries["bert/pooler/dense/bias"]
    with open(f"{prefix}.data-00000-of-00001", "r+b") as handle:
        handle.seek(entry.offset + 5)
        byte = handle.read(1)
        handle.seek(entry.offset + 5)
        handle.write(bytes([byte[0] ^ 0xFF]))
    reader = BundleReader(prefix)
    reader.read("bert/pooler/dense/kernel")  # other tensors still read
    with pytest.raises(CheckpointFormatError, match="crc32c"):
        reader.read("bert/pooler/dense/bias")


def test_compressed_index_block_is_refused_with_a_clear_error(releases, tmp_path):
    prefix = _copy(releases.pretraining, tmp_path)
    index = Path(f"{prefix}.index")
    data = bytearray(index.read_bytes())
    offset, size = _first_data_block(bytes(data))
    data[offset + size] = 1  # the block trailer's compression byte: 1 = snappy
    crc = _mask(crc32c_python(bytes(data[offset : offset + size + 1])))
    data[offset + size + 1 : offset + size + 5] = struct.pack("<I", crc)
    index.write_bytes(bytes(data))
    with pytest.raises(UnsupportedFeatureError, match="compressed index block"):
        BundleReader(prefix)


def _first_data_block(data: bytes) -> tuple[int, int]:
    from berthub_tf.tf_reader import _block_handle, _block_records, _read_block

    footer = data[-48:]
    _, pos = _block_handle(footer, 0)
    index_handle, _ = _block_handle(footer, pos)
    first_value = next(_block_records(_read_block(data, index_handle, Path("index")), Path("index")))[1]
    return _block_handle(first_value, 0)[0]


def test_unsupported_dtype_is_refused_naming_the_variable_and_dtype(tmp_path):
    import ml_dtypes
    from berthub_tf.to_tf import write_checkpoint

    prefix = write_checkpoint({"bert/pooler/dense/bias": np.ones(4, dtype=ml_dtypes.bfloat16)}, tmp_path / "m.ckpt")
    with pytest.raises(UnsupportedFeatureError, match="'bert/pooler/dense/bias' has TensorFlow dtype bfloat16"):
        BundleReader(prefix).read("bert/pooler/dense/bias")


def test_auto_reader_falls_back_to_tensorflow_for_what_the_numpy_reader_cannot_decode(tmp_path):
    import ml_dtypes
    from berthub_tf.to_tf import write_checkpoint

    prefix = write_checkpoint({"x": np.ones(4, dtype=ml_dtypes.bfloat16), "y": np.ones(2, np.float32)}, tmp_path / "m")
    assert open_checkpoint(prefix, "auto").kind == "tensorflow"


def test_auto_reader_prefers_tensorflow_when_the_numpy_reader_could_not_verify_checksums(releases, monkeypatch):
    import berthub_tf.checkpoint

    assert open_checkpoint(releases.squad.prefix, "auto").kind == "pure"
    monkeypatch.setattr(berthub_tf.checkpoint, "checksums_available", lambda: False)
    assert open_checkpoint(releases.squad.prefix, "auto").kind == "tensorflow"


def test_missing_index_names_the_prefix_it_looked_for(tmp_path):
    with pytest.raises(MissingFileError, match=r"model\.ckpt\.index' does not exist"):
        open_checkpoint(tmp_path / "model.ckpt", "pure")


def test_index_path_and_shard_path_are_accepted_as_the_prefix(releases):
    index = f"{releases.pretraining.prefix}.index"
    shard = f"{releases.pretraining.prefix}.data-00000-of-00001"
    assert open_checkpoint(index, "pure").prefix == open_checkpoint(shard, "pure").prefix == releases.pretraining.prefix


def test_python_crc32c_matches_the_published_check_value():
    assert crc32c_python(b"123456789") == 0xE3069283  # RFC 3720 / iSCSI check value


def test_partitioned_variable_is_listed_refused_by_the_numpy_reader_and_read_by_auto(tmp_path):
    import tensorflow as tf

    value = np.arange(24, dtype=np.float32).reshape(6, 4)

    def rows(shape, dtype=None, partition_info=None):  # each partition gets its own rows of `value`
        start = partition_info.var_offset[0]
        return tf.constant(value[start : start + shape[0]])

    graph = tf.Graph()
    with graph.as_default():
        variable = tf.compat.v1.get_variable("bert/embeddings/word_embeddings", shape=value.shape, initializer=rows,
                                             partitioner=tf.compat.v1.fixed_size_partitioner(2))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(session, str(tmp_path / "model.ckpt"), write_meta_graph=False, write_state=False)
    assert variable is not None
    pure = open_checkpoint(prefix, "pure")
    assert list(pure.variables) == ["bert/embeddings/word_embeddings"]
    with pytest.raises(UnsupportedFeatureError, match="partitioned variable"):
        pure.read("bert/embeddings/word_embeddings")
    auto = open_checkpoint(prefix, "auto")
    assert auto.kind == "tensorflow"
    assert np.array_equal(auto.read("bert/embeddings/word_embeddings"), value)


@pytest.mark.parametrize("prefix", ["encoder/ckpt-1", "v2/ckpt-1", "pretrainer/ckpt-1", "hub/variables/variables"])
def test_pure_reader_reads_tf2_checkpoints_and_their_object_graph_as_tensorflow_does(model_garden, prefix):
    tf_reader, pure = open_checkpoint(model_garden / prefix, "tf"), open_checkpoint(model_garden / prefix, "pure")
    assert pure.variables == tf_reader.variables
    assert pure.object_graph() == tf_reader.object_graph() and len(pure.object_graph()) > 1000
    for name, info in tf_reader.variables.items():
        if info.dtype != np.dtype("O"):
            assert pure.read(name).tobytes() == tf_reader.read(name).tobytes(), name
