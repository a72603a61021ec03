"""Instance shards on disk: safetensors files of flat id arrays plus one JSON index, written atomically.

A folder written by `berthub pretraining-data` holds:

    index.json                 format, version, the flags, the input files, and the shards in order
    vocab.txt                  the vocabulary the ids refer to (so tokens can be read back as strings)
    shard-00000.safetensors    instances concatenated: tokens / segment_ids (offsets), is_random_next,
                               masked_lm_positions / masked_lm_labels (offsets into them)

Each shard and the index are written to a temporary name and renamed, and the index is written last,
so a folder with an index.json is always complete. `read_instances(path)` yields Google's
TrainingInstance fields as a dict per instance; `Instances(path)` reads them lazily by index (what
training uses: memory holds 25 bytes per instance, not the instances).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berthub.errors import InputError, NotFoundError
from berthub.files import write_bytes_atomic, write_text_atomic
from berthub.sources.settings import VOCAB_NAME
from berthub_pretraining.instances import Instance

FORMAT = "berthub-pretraining-instances"
VERSION = 1
INDEX = "index.json"
VOCAB = VOCAB_NAME


def shard_name(number: int) -> str:
    return f"shard-{number:05d}.safetensors"


def encode_shard(instances: Sequence[Instance]) -> bytes:
    """The safetensors bytes of `instances` (ids as int32, flags as int8, offsets as int64)."""
    from safetensors.numpy import save

    def flat(rows: list[list[int]], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        values = np.fromiter((v for r in rows for v in r), dtype=dtype, count=int(offsets[-1]))
        return values, offsets

    tokens, token_offsets = flat([i.token_ids for i in instances], np.int32)
    segments, _ = flat([i.segment_ids for i in instances], np.int8)
    positions, masked_offsets = flat([i.masked_lm_positions for i in instances], np.int32)
    labels, _ = flat([i.masked_lm_label_ids for i in instances], np.int32)
    return save({"tokens": tokens, "token_offsets": token_offsets, "segment_ids": segments,
                 "is_random_next": np.array([i.is_random_next for i in instances], dtype=np.int8),
                 "masked_lm_positions": positions, "masked_lm_labels": labels, "masked_offsets": masked_offsets})


def write_shard(folder: Path, number: int, instances: Sequence[Instance]) -> dict[str, Any]:
    """Write one shard atomically; -> its index entry."""
    write_bytes_atomic(folder / shard_name(number), encode_shard(instances))
    return {"file": shard_name(number), "instances": len(instances),
            "tokens": sum(len(i.token_ids) for i in instances)}


def write_index(folder: Path, vocab_tokens: Sequence[str], shards: list[dict[str, Any]],
                settings: dict[str, Any]) -> Path:
    """vocab.txt, then index.json (last, so its presence means the folder is complete)."""
    write_text_atomic(folder / VOCAB, "".join(t + "\n" for t in vocab_tokens))
    index = {"format": FORMAT, "version": VERSION, "instances": sum(s["instances"] for s in shards),
             "settings": settings, "shards": shards}
    write_text_atomic(folder / INDEX, json.dumps(index, indent=1) + "\n")
    return folder / INDEX


_DTYPES = {"I64": np.int64, "I32": np.int32, "I8": np.int8}
_MAX_OPEN = 64  # shard files kept open at once by one reader


class Shard:
    """One shard read lazily: only its offsets and flags are held (17 bytes per instance); each instance's
    ids are read from the file when asked for, so a corpus far bigger than memory can be trained on."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as handle:
                size = int.from_bytes(handle.read(8), "little")
                header = json.loads(handle.read(size))
                self._fields = {k: v for k, v in header.items() if k != "__metadata__"}
                self._start = 8 + size
                self.token_offsets, self.masked_offsets, self.is_random_next = (
                    self._whole(handle, name) for name in ("token_offsets", "masked_offsets", "is_random_next"))
        except FileNotFoundError:
            raise NotFoundError(f"Shard {path} is missing; rerun `berthub pretraining-data` for its folder.") from None
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"Shard {path} is not a readable instance shard ({error}); rerun "
                             "`berthub pretraining-data`.") from error

    def _whole(self, handle: Any, name: str) -> np.ndarray:
        field = self._fields[name]
        begin, end = field["data_offsets"]
        handle.seek(self._start + begin)
        return np.frombuffer(handle.read(end - begin), dtype=_DTYPES[field["dtype"]])

    def _part(self, handle: Any, name: str, first: int, last: int) -> np.ndarray:
        field = self._fields[name]
        dtype = np.dtype(_DTYPES[field["dtype"]])
        offset = self._start + field["data_offsets"][0] + first * dtype.itemsize
        return np.frombuffer(os.pread(handle.fileno(), (last - first) * dtype.itemsize, offset), dtype=dtype)

    def __len__(self) -> int:
        return len(self.is_random_next)

    def lengths(self) -> np.ndarray:
        return np.diff(self.token_offsets)

    def ids(self, index: int, handle: Any) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray, np.ndarray]:
        """(token ids, segment ids, is_random_next, masked positions, masked label ids) of instance `index`."""
        first, last = int(self.token_offsets[index]), int(self.token_offsets[index + 1])
        m_first, m_last = int(self.masked_offsets[index]), int(self.masked_offsets[index + 1])
        return (self._part(handle, "tokens", first, last), self._part(handle, "segment_ids", first, last),
                bool(self.is_random_next[index]), self._part(handle, "masked_lm_positions", m_first, m_last),
                self._part(handle, "masked_lm_labels", m_first, m_last))


class Instances(Sequence):
    """Every instance of an instance folder (or of one shard file) as a lazy sequence of id tuples.

    `instances[i]` -> (token ids, segment ids, is_random_next, masked positions, masked label ids);
    `lengths()` -> every instance's token count without reading any instance; `vocab` -> the tokens.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        folder, paths = (path, shard_paths(path)) if path.is_dir() else (path.parent, [path])
        self.vocab = vocab_tokens(folder)
        self.shards = [Shard(p) for p in paths]
        self._ends = np.cumsum([len(s) for s in self.shards])
        self._handles: dict[int, Any] = {}

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def __getitem__(self, index: int) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(f"instance {index} of {len(self)}")
        index %= len(self)
        number = int(np.searchsorted(self._ends, index, side="right"))
        local = index - (int(self._ends[number - 1]) if number else 0)
        if number not in self._handles:
            if len(self._handles) >= _MAX_OPEN:  # thousands of shards must not exhaust file descriptors
                self.close()
            self._handles[number] = open(self.shards[number].path, "rb")  # kept open: one pread per field
        return self.shards[number].ids(local, self._handles[number])

    def lengths(self) -> np.ndarray:
        return np.concatenate([s.lengths() for s in self.shards]) if self.shards else np.zeros(0, dtype=np.int64)

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def read_index(folder: Path) -> dict[str, Any]:
    """The index.json of an instance folder, checked for format and version."""
    path = Path(folder) / INDEX
    if not path.is_file():
        raise NotFoundError(f"{folder} holds no {INDEX}: it is not a complete folder written by "
                            "`berthub pretraining-data` (an interrupted run leaves none).")
    index = json.loads(path.read_text(encoding="utf-8"))
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise InputError(f"{path} is not a {FORMAT} index of version {VERSION} "
                         f"(format {index.get('format')!r}, version {index.get('version')!r}).")
    return index


def shard_paths(folder: Path) -> list[Path]:
    """The shard files of an instance folder, in instance order."""
    folder = Path(folder)
    return [folder / shard["file"] for shard in read_index(folder)["shards"]]


def vocab_tokens(folder: Path) -> list[str]:
    """The vocabulary the folder's ids refer to (split on \\n only, like vocab.txt readers)."""
    text = (Path(folder) / VOCAB).read_text(encoding="utf-8")
    return text.split("\n")[:-1]


def read_instances(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every instance of an instance folder (or of one of its shards), in order, read lazily from disk.

    Yields dicts with Google's TrainingInstance fields: tokens (list of str, [CLS] A [SEP] B [SEP] as
    masked), segment_ids (list of int), is_random_next (bool), masked_lm_positions (sorted list of int)
    and masked_lm_labels (the original tokens there, list of str).
    """
    instances = Instances(path)
    tokens = instances.vocab
    try:
        for index in range(len(instances)):
            ids, segments, is_random_next, positions, labels = instances[index]
            yield {"tokens": [tokens[i] for i in ids], "segment_ids": segments.tolist(),
                   "is_random_next": is_random_next, "masked_lm_positions": positions.tolist(),
                   "masked_lm_labels": [tokens[i] for i in labels]}
    finally:
        instances.close()
