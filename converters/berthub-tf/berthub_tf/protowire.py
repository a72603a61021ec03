"""Just enough of the protobuf wire format to read TensorFlow's files without TensorFlow.

A serialized message is a sequence of (field number, wire type, value): varints, fixed 32/64-bit
words and length-prefixed bytes (strings and nested messages). The few messages berthub-tf reads
(BundleEntryProto, TrackableObjectGraph, the op names of a SavedModel's graph) are decoded field
by field from these pairs, so no generated protobuf code (and no TensorFlow) is needed.

Every read is bounded by its buffer: a varint longer than 64 bits, a length running past the end
or a group (wire types 3/4, which TensorFlow never writes) is a `CheckpointFormatError` naming
`where` the bytes came from, never an IndexError or a silently short value.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from berthub_tf.errors import CheckpointFormatError

_MAX_VARINT_BYTES = 10  # 64 bits, 7 per byte


def varint(buf: bytes, pos: int, where: str = "the buffer") -> tuple[int, int]:
    """(value, next position) of the varint at `pos`."""
    result = shift = 0
    for index in range(_MAX_VARINT_BYTES):
        if pos + index >= len(buf):
            raise CheckpointFormatError(f"A varint runs past the end of its buffer: {where} is corrupt.")
        byte = buf[pos + index]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos + index + 1
        shift += 7
    raise CheckpointFormatError(f"A varint is longer than 64 bits: {where} is corrupt.")


def fields(buf: bytes, where: str = "the buffer") -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs of a serialized message; ints for scalars, bytes otherwise."""
    pos = 0
    while pos < len(buf):
        tag, pos = varint(buf, pos, where)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, pos = varint(buf, pos, where)
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            if pos + size > len(buf):
                raise CheckpointFormatError(f"A fixed-size field runs past the end of its buffer: {where} is corrupt.")
            (value,) = struct.unpack_from("<Q" if size == 8 else "<I", buf, pos)
            pos += size
        elif wire_type == 2:
            length, pos = varint(buf, pos, where)
            if pos + length > len(buf):
                raise CheckpointFormatError(f"A field of {length} bytes runs past the end of its buffer: "
                                            f"{where} is corrupt.")
            value, pos = buf[pos : pos + length], pos + length
        else:
            raise CheckpointFormatError(f"Unsupported protobuf wire type {wire_type}: {where} is corrupt.")
        yield number, value


def grouped(buf: bytes, where: str = "the buffer") -> dict[int, list[int | bytes]]:
    """A message's fields by number, each a list in wire order (repeated fields keep every value)."""
    out: dict[int, list[int | bytes]] = {}
    for number, value in fields(buf, where):
        out.setdefault(number, []).append(value)
    return out


def message(value: int | bytes, where: str) -> bytes:
    """A nested message's bytes; a number where a message belongs is corruption."""
    if not isinstance(value, bytes):
        raise CheckpointFormatError(f"A message field holds a number: {where} is corrupt.")
    return value


def number(values: dict[int, list[int | bytes]], field: int, where: str) -> int:
    """The first value of a scalar field of `grouped` output (0 when absent, as protobuf defaults)."""
    value = values.get(field, [0])[0]
    if not isinstance(value, int):
        raise CheckpointFormatError(f"A number field holds bytes: {where} is corrupt.")
    return value


def text(value: int | bytes, where: str) -> str:
    """A string field's value; anything else (a varint where a string belongs) is corruption."""
    if not isinstance(value, bytes):
        raise CheckpointFormatError(f"A string field holds a number: {where} is corrupt.")
    return value.decode("utf-8", errors="backslashreplace")


def signed64(value: int) -> int:
    """A varint read as the two's-complement int64 protobuf stores it."""
    return value - (1 << 64) if value >= 1 << 63 else value
