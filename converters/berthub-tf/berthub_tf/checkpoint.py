"""One interface over the two ways to read a TF checkpoint: TensorFlow's reader or our own.

Both give the same `Checkpoint` interface and, on every checkpoint the tests write, byte-identical
arrays. `reader="auto"` picks the numpy bundle reader (tf_reader.py: about 4x faster than
TensorFlow's and a third of the memory, see bench/RESULTS.md) whenever TensorFlow is absent or
the reader can verify checksums (google-crc32c installed), and TensorFlow otherwise; it also
falls back to TensorFlow, when installed, for checkpoints the numpy reader does not decode
(compressed index blocks, partitioned variables, bfloat16 or string tensors).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from berthub_tf.errors import (
    CheckpointFormatError,
    MissingFileError,
    TensorFlowMissingError,
    UnsupportedFeatureError,
)
from berthub_tf.tf_reader import DTYPES, BundleReader

READERS = ("auto", "tf", "pure")
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"  # a TF2 (object-based) checkpoint's table of contents


@dataclass(frozen=True)
class VariableInfo:
    dtype: np.dtype
    shape: tuple[int, ...]


class Checkpoint(Protocol):
    """What conversion needs from a checkpoint reader."""

    prefix: Path
    kind: str  # "tensorflow" or "pure"
    variables: dict[str, VariableInfo]

    def read(self, name: str) -> np.ndarray: ...

    def object_graph(self) -> bytes | None:
        """The serialized TrackableObjectGraph of a TF2 checkpoint; None for a TF1 (name-based) one."""

    def files(self) -> list[Path]: ...

    @property
    def checksum_note(self) -> str: ...


def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported (checked without importing it: that takes seconds)."""
    return importlib.util.find_spec("tensorflow") is not None


def open_checkpoint(prefix: str | Path, reader: str = "auto") -> Checkpoint:
    """Open `prefix` (PREFIX.index + PREFIX.data-*) with TensorFlow ("tf"), berthub's numpy reader
    ("pure"), or the best available for this checkpoint ("auto", see the module docstring)."""
    if reader not in READERS:
        raise ValueError(f"reader must be one of {', '.join(READERS)}, got {reader!r}")
    prefix = normalise_prefix(prefix)
    if reader == "tf":
        return TensorFlowCheckpoint(prefix)
    if reader == "pure":
        return PureCheckpoint(prefix)
    has_tf = tensorflow_available()
    if has_tf and not checksums_available():
        return TensorFlowCheckpoint(prefix)
    try:
        pure = PureCheckpoint(prefix)
    except UnsupportedFeatureError:
        if not has_tf:
            raise
        return TensorFlowCheckpoint(prefix)
    return TensorFlowCheckpoint(prefix) if has_tf and pure.unsupported() else pure


def checksums_available() -> bool:
    """Whether the numpy reader can verify tensor crc32c (the google-crc32c package is installed)."""
    return importlib.util.find_spec("google_crc32c") is not None


def normalise_prefix(prefix: str | Path) -> Path:
    """Accept `bert_model.ckpt`, `bert_model.ckpt.index` or a data shard path; return the prefix."""
    text = str(prefix)
    if text.endswith(".index"):
        text = text[: -len(".index")]
    elif ".data-" in Path(text).name:
        text = text[: text.rindex(".data-")]
    path = Path(text).expanduser()
    if not Path(f"{path}.index").is_file():
        hint = ""
        if path.is_dir():
            found = sorted(p.name[: -len(".index")] for p in path.glob("*.index"))
            hint = f" It is a directory; checkpoints in it: {', '.join(found) or 'none'}."
        raise MissingFileError(
            f"No TensorFlow checkpoint at '{prefix}': '{path}.index' does not exist.{hint} Pass the prefix, "
            f"e.g. bert_model.ckpt for bert_model.ckpt.index + bert_model.ckpt.data-00000-of-00001."
        )
    return path


class PureCheckpoint:
    """The TensorFlow-free reader behind the `Checkpoint` interface."""

    kind = "pure"

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self._bundle = BundleReader(prefix)
        self.variables = {}
        for name, entry in self._bundle.entries.items():
            dtype = entry.dtype if entry.dtype_enum in DTYPES else np.dtype("O")
            self.variables[name] = VariableInfo(dtype, entry.shape)

    def read(self, name: str) -> np.ndarray:
        return self._bundle.read(name)

    def object_graph(self) -> bytes | None:
        return self._bundle.read_string(OBJECT_GRAPH_KEY) if OBJECT_GRAPH_KEY in self._bundle.entries else None

    def unsupported(self) -> list[str]:
        """Variables this reader cannot return (unsupported dtype, or slices of a partitioned variable)."""
        return [n for n, e in self._bundle.entries.items()
                if n != OBJECT_GRAPH_KEY and (e.dtype_enum not in DTYPES or e.has_slices)]

    def files(self) -> list[Path]:
        return self._bundle.files()

    @property
    def checksum_note(self) -> str:
        if self._bundle.checksums_verified:
            return "crc32c of every tensor read was verified (google-crc32c)"
        return "tensor crc32c not verified: install google-crc32c (pip install 'berthub-tf[crc]')"


class TensorFlowCheckpoint:
    """TensorFlow's own checkpoint reader behind the `Checkpoint` interface."""

    kind = "tensorflow"

    def __init__(self, prefix: Path) -> None:
        if not tensorflow_available():
            raise TensorFlowMissingError(
                "The TensorFlow reader was asked for but TensorFlow is not installed. Install it "
                "(pip install 'berthub-tf[tensorflow]') or use --reader pure."
            )
        import tensorflow as tf

        self.prefix = prefix
        self._errors = tf.errors.OpError
        try:
            self._reader = tf.train.load_checkpoint(str(prefix))
        except self._errors as error:
            raise CheckpointFormatError(f"TensorFlow cannot open checkpoint '{prefix}': {error.message}") from None
        shapes = self._reader.get_variable_to_shape_map()
        dtypes = self._reader.get_variable_to_dtype_map()
        self.variables = {
            name: VariableInfo(_numpy_dtype(dtypes[name]), tuple(int(d) for d in shape))
            for name, shape in shapes.items()
        }

    def read(self, name: str) -> np.ndarray:
        try:
            return np.asarray(self._reader.get_tensor(name))
        except (self._errors, IndexError, ValueError, RuntimeError) as error:  # TF's bindings raise all of these
            raise CheckpointFormatError(
                f"TensorFlow cannot read '{name}' from '{self.prefix}': {getattr(error, 'message', error)}. The "
                f"data shards are probably truncated or corrupt; copy the checkpoint again."
            ) from None

    def object_graph(self) -> bytes | None:
        if OBJECT_GRAPH_KEY not in self.variables:
            return None
        value = self._reader.get_tensor(OBJECT_GRAPH_KEY)
        return value if isinstance(value, bytes) else bytes(np.asarray(value).item())

    def files(self) -> list[Path]:
        shards = sorted(self.prefix.parent.glob(f"{self.prefix.name}.data-*-of-*"))
        return [Path(f"{self.prefix}.index"), *shards]

    @property
    def checksum_note(self) -> str:
        return "crc32c of every tensor read was verified by TensorFlow"


def _numpy_dtype(tf_dtype: object) -> np.dtype:
    try:
        return np.dtype(tf_dtype.as_numpy_dtype)  # type: ignore[attr-defined]
    except TypeError:
        return np.dtype("O")
