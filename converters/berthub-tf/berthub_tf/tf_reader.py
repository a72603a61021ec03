"""Read a TensorFlow checkpoint (the V2 "tensor bundle" format) without TensorFlow.

A checkpoint `PREFIX` is `PREFIX.index` plus data shards `PREFIX.data-SSSSS-of-NNNNN`.
The index is a LevelDB-style table (sorted keys, prefix-compressed blocks, a 48-byte footer)
mapping each variable name to a `BundleEntryProto` (dtype, shape, shard, offset, size, crc32c);
the empty key holds a `BundleHeaderProto` (shard count, endianness, format version).
Tensor bytes sit raw and little-endian in the shards, so reading one is a seek and a read.

The few protobuf fields are decoded by hand (protowire.py: varints and length prefixes), so
this needs nothing beyond numpy. Anything this reader does not support (compressed index
blocks, big-endian bundles, partitioned variables, string tensors other than scalars, unusual
dtypes) raises
`UnsupportedFeatureError` saying what was found, instead of returning wrong numbers.
Tensor checksums are verified when `google-crc32c` is installed (a pure-Python crc32c would
take minutes on BERT-large); index block checksums are always verified (they are small).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from berthub_tf.errors import CheckpointFormatError, MissingFileError, UnsupportedFeatureError
from berthub_tf.protowire import fields, signed64, varint

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER_SIZE = 5
_NO_COMPRESSION = 0
_SUPPORTED_BUNDLE_VERSION = 1
_CRC_CHUNK = 4 << 20

# TensorFlow DataType enum values (types.proto) that map one-to-one onto a little-endian numpy dtype.
DTYPES: dict[int, np.dtype] = {enum: np.dtype(code) for enum, code in (
    (1, "<f4"), (2, "<f8"), (3, "<i4"), (4, "u1"), (5, "<i2"), (6, "i1"),  # float double int32 uint8 int16 int8
    (9, "<i8"), (10, "?"), (17, "<u2"), (19, "<f2"), (22, "<u4"), (23, "<u8"),  # int64 bool uint16 half uint32 uint64
)}
_DT_STRING = 7
_DTYPE_NAMES = {_DT_STRING: "string", 8: "complex64", 14: "bfloat16", 18: "complex128", 20: "resource", 21: "variant"}


@dataclass(frozen=True)
class BundleEntry:
    """Where one variable's bytes live, as the index records it."""

    name: str
    dtype_enum: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None
    has_slices: bool

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of this tensor; raises for dtypes this reader cannot decode."""
        if self.dtype_enum not in DTYPES:
            kind = _DTYPE_NAMES.get(self.dtype_enum, f"enum {self.dtype_enum}")
            raise UnsupportedFeatureError(
                f"Variable '{self.name}' has TensorFlow dtype {kind}, which the TensorFlow-free reader does "
                f"not decode. Install TensorFlow (pip install 'berthub-tf[tensorflow]') and use --reader tf."
            )
        return DTYPES[self.dtype_enum]


class BundleReader:
    """The variables of one checkpoint, read with numpy.

    >>> reader = BundleReader("model/bert_model.ckpt")
    >>> reader.entries["bert/embeddings/word_embeddings"].shape     # (vocab_size, hidden_size)
    >>> reader.read("bert/embeddings/word_embeddings")              # np.ndarray [V, H] float32
    """

    def __init__(self, prefix: str | Path, *, verify_checksums: bool = True) -> None:
        self.prefix = Path(prefix)
        index_path = Path(f"{self.prefix}.index")
        if not index_path.is_file():
            raise MissingFileError(
                f"No TensorFlow checkpoint at '{self.prefix}': '{index_path}' does not exist. Pass the prefix "
                f"(e.g. bert_model.ckpt for bert_model.ckpt.index + bert_model.ckpt.data-00000-of-00001)."
            )
        records = dict(_read_table(index_path))
        if b"" not in records:
            raise CheckpointFormatError(f"'{index_path}' has no bundle header: it is not a TF V2 checkpoint index.")
        self.num_shards = _parse_header(records.pop(b""), index_path)
        self.entries: dict[str, BundleEntry] = {}
        for key, value in records.items():
            if key.startswith(b"\x00"):  # a slice of a partitioned variable (OrderedCode key), not a variable
                continue
            entry = _parse_entry(key.decode("utf-8", errors="backslashreplace"), value)
            self.entries[entry.name] = entry
        self._crc32c = _fast_crc32c() if verify_checksums else None
        self._check_shards()

    @property
    def checksums_verified(self) -> bool:
        """Whether `read` verifies each tensor's crc32c (needs the google-crc32c package)."""
        return self._crc32c is not None

    def shard_path(self, shard_id: int) -> Path:
        return Path(f"{self.prefix}.data-{shard_id:05d}-of-{self.num_shards:05d}")

    def files(self) -> list[Path]:
        """The index and every data shard of this checkpoint."""
        return [Path(f"{self.prefix}.index")] + [self.shard_path(i) for i in range(self.num_shards)]

    def read(self, name: str) -> np.ndarray:
        """The tensor stored under `name`, as a fresh array with the recorded dtype and shape."""
        if name not in self.entries:
            raise KeyError(f"Variable '{name}' is not in checkpoint '{self.prefix}'")
        entry = self.entries[name]
        if entry.has_slices:
            raise UnsupportedFeatureError(
                f"Variable '{name}' is stored as slices of a partitioned variable, which the TensorFlow-free "
                f"reader does not reassemble. Use --reader tf (needs TensorFlow)."
            )
        dtype = entry.dtype
        count = int(np.prod(entry.shape, dtype=np.int64))
        if count * dtype.itemsize != entry.size:
            raise CheckpointFormatError(
                f"Variable '{name}' records {entry.size} bytes but its shape {list(entry.shape)} and dtype "
                f"{dtype} need {count * dtype.itemsize}: the index is corrupt."
            )
        with open(self.shard_path(entry.shard_id), "rb") as handle:
            handle.seek(entry.offset)
            array = np.empty(entry.shape, dtype=dtype)
            got = handle.readinto(memoryview(array.reshape(-1).view(np.uint8)))
        if got != entry.size:
            raise CheckpointFormatError(
                f"Data shard '{self.shard_path(entry.shard_id)}' ended after {got} of the {entry.size} bytes of "
                f"'{name}': the file is truncated. Copy the checkpoint again."
            )
        self._check_crc(entry, memoryview(array.reshape(-1).view(np.uint8)))
        return array

    def read_string(self, name: str) -> bytes:
        """The bytes of a scalar string tensor, such as a TF2 checkpoint's `_CHECKPOINTABLE_OBJECT_GRAPH`.

        TensorFlow stores a string tensor as varint64 lengths, a masked crc32c of the lengths (each
        as a little-endian uint32), then the bytes; the entry's crc32c covers all of it.
        """
        if name not in self.entries:
            raise KeyError(f"Variable '{name}' is not in checkpoint '{self.prefix}'")
        entry = self.entries[name]
        if entry.dtype_enum != _DT_STRING or entry.shape != () or entry.has_slices:
            raise UnsupportedFeatureError(f"'{name}' in '{self.prefix}' is not a scalar string tensor.")
        with open(self.shard_path(entry.shard_id), "rb") as handle:
            handle.seek(entry.offset)
            raw = handle.read(entry.size)
        where = f"string tensor '{name}' in '{self.shard_path(entry.shard_id)}'"
        length, pos = varint(raw, 0, where)
        if len(raw) != entry.size or pos + 4 + length != len(raw):
            raise CheckpointFormatError(f"The {where} does not hold the {entry.size} bytes its index entry "
                                        f"records: the checkpoint is truncated or corrupt.")
        (stored,) = struct.unpack_from("<I", raw, pos)
        lengths = struct.pack("<I" if length <= 0xFFFFFFFF else "<Q", length)  # what the checksums cover
        if _mask(crc32c_python(lengths)) != stored:
            raise CheckpointFormatError(f"The {where} fails its length checksum: the data shard is corrupt.")
        self._check_crc(entry, memoryview(lengths + raw[pos:]))
        return raw[pos + 4 :]

    def _check_crc(self, entry: BundleEntry, data: memoryview) -> None:
        if self._crc32c is None or entry.crc32c is None:
            return
        actual = _mask(self._crc32c(data))
        if actual != entry.crc32c:
            raise CheckpointFormatError(
                f"Variable '{entry.name}' in '{self.shard_path(entry.shard_id)}' fails its crc32c check "
                f"(recorded {entry.crc32c:#010x}, computed {actual:#010x}): the data shard is corrupt."
            )

    def _check_shards(self) -> None:
        """Fail up front, naming every problem, if shards are missing or too short for their entries."""
        needed: dict[int, int] = {}
        for entry in self.entries.values():
            if entry.shard_id >= self.num_shards:
                raise CheckpointFormatError(
                    f"Variable '{entry.name}' points at shard {entry.shard_id} but the header says there are "
                    f"{self.num_shards} shards: the index is corrupt."
                )
            needed[entry.shard_id] = max(needed.get(entry.shard_id, 0), entry.offset + entry.size)
        problems = []
        for shard_id in range(self.num_shards):
            path = self.shard_path(shard_id)
            if not path.is_file():
                problems.append(f"'{path}' is missing")
            elif path.stat().st_size < needed.get(shard_id, 0):
                problems.append(
                    f"'{path}' is truncated ({path.stat().st_size} bytes, entries need {needed[shard_id]})"
                )
        if problems:
            raise MissingFileError(
                f"Checkpoint '{self.prefix}' is incomplete: {'; '.join(problems)}. Copy every "
                f"{self.prefix.name}.data-* file beside the .index file."
            )


# --- the LevelDB table that holds the index -------------------------------------------------------


def _read_table(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) record of a LevelDB-format table file, in key order."""
    data = path.read_bytes()
    if len(data) < _FOOTER_SIZE:
        raise CheckpointFormatError(f"'{path}' is {len(data)} bytes, too short to be a checkpoint index.")
    footer = data[-_FOOTER_SIZE:]
    (magic,) = struct.unpack("<Q", footer[-8:])
    if magic != _TABLE_MAGIC:
        raise CheckpointFormatError(f"'{path}' does not end with the table magic number: not a TF V2 index.")
    _, pos = _block_handle(footer, 0)  # the metaindex block: TF leaves it empty
    index_handle, _ = _block_handle(footer, pos)
    for _, handle_bytes in _block_records(_read_block(data, index_handle, path), path):
        block_handle, _ = _block_handle(handle_bytes, 0)
        yield from _block_records(_read_block(data, block_handle, path), path)


def _block_handle(buf: bytes, pos: int) -> tuple[tuple[int, int], int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return (offset, size), pos


def _read_block(data: bytes, handle: tuple[int, int], path: Path) -> bytes:
    offset, size = handle
    end = offset + size + _BLOCK_TRAILER_SIZE
    if end > len(data):
        raise CheckpointFormatError(f"'{path}' is truncated: a block ends at byte {end} of {len(data)}.")
    contents, compression = data[offset : offset + size], data[offset + size]
    (stored_crc,) = struct.unpack("<I", data[offset + size + 1 : end])
    if _mask(crc32c_python(data[offset : offset + size + 1])) != stored_crc:
        raise CheckpointFormatError(f"'{path}' fails a block checksum at byte {offset}: the index is corrupt.")
    if compression != _NO_COMPRESSION:
        raise UnsupportedFeatureError(
            f"'{path}' has a compressed index block (compression type {compression}); TensorFlow writes "
            f"uncompressed ones and the TensorFlow-free reader supports only those. Use --reader tf."
        )
    return contents


def _block_records(block: bytes, path: Path) -> Iterator[tuple[bytes, bytes]]:
    """Decode a block's prefix-compressed records; the restart array at its end is not needed."""
    (num_restarts,) = struct.unpack("<I", block[-4:])
    limit = len(block) - 4 * (num_restarts + 1)
    if limit < 0:
        raise CheckpointFormatError(f"'{path}' has a malformed block (restart count {num_restarts}).")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_length, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_length]
        pos += value_length


# --- the two index protobufs: BundleHeaderProto and BundleEntryProto -------------------------------

_WHERE = "the index"


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    return varint(buf, pos, _WHERE)


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    return fields(buf, _WHERE)


def _parse_header(buf: bytes, path: Path) -> int:
    num_shards, endianness, min_consumer = 0, 0, 0
    for number, value in _fields(buf):
        if number == 1:
            num_shards = int(value)
        elif number == 2:
            endianness = int(value)
        elif number == 3:
            min_consumer = dict(_fields(value)).get(2, 0)
    if endianness != 0:
        raise UnsupportedFeatureError(
            f"'{path}' is a big-endian bundle; the TensorFlow-free reader reads little-endian ones. Use --reader tf."
        )
    if min_consumer > _SUPPORTED_BUNDLE_VERSION:
        raise UnsupportedFeatureError(
            f"'{path}' needs a bundle reader of version {min_consumer}; this one reads version "
            f"{_SUPPORTED_BUNDLE_VERSION}. Use --reader tf with a recent TensorFlow."
        )
    if num_shards < 1:
        raise CheckpointFormatError(f"'{path}' records {num_shards} data shards: the index is corrupt.")
    return num_shards


_ENTRY_FIELDS = {1: "dtype", 3: "shard_id", 4: "offset", 5: "size", 6: "crc32c"}  # BundleEntryProto


def _parse_entry(name: str, buf: bytes) -> BundleEntry:
    fields = {"dtype": 0, "shard_id": 0, "offset": 0, "size": 0, "crc32c": None}
    shape: list[int] = []
    has_slices = False
    for number, value in _fields(buf):
        if number == 2:
            shape = [signed64(dict(_fields(dim)).get(1, 0)) for n, dim in _fields(value) if n == 2]
        elif number == 7:
            has_slices = True
        elif number in _ENTRY_FIELDS:
            fields[_ENTRY_FIELDS[number]] = value
    return BundleEntry(name=name, shape=tuple(shape), has_slices=has_slices, dtype_enum=fields["dtype"],
                       shard_id=fields["shard_id"], offset=fields["offset"], size=fields["size"],
                       crc32c=fields["crc32c"])


# --- crc32c (Castagnoli), masked the way LevelDB and TensorFlow store it ---------------------------


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_TABLE = _make_table()


def crc32c_python(data: bytes) -> int:
    """crc32c of a small buffer; fine for index blocks, far too slow for tensors."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _fast_crc32c() -> Callable[[memoryview], int] | None:
    try:
        import google_crc32c
    except ImportError:
        return None

    def crc32c(view: memoryview) -> int:
        # The C extension takes only `bytes`; copying in chunks keeps the extra memory small.
        crc = 0
        for start in range(0, len(view), _CRC_CHUNK):
            crc = google_crc32c.extend(crc, bytes(view[start : start + _CRC_CHUNK]))
        return crc

    return crc32c
