"""Instance shards on disk: safetensors files of flat id arrays plus one JSON index, written atomically.

A folder written by `berthub pretraining-data` holds:

    index.json                 format, version, the flags, the input files, and the shards in order
    vocab.txt                  the vocabulary the ids refer to (so tokens can be read back as strings)
    shard-00000.safetensors    instances concatenated: tokens / segment_ids (offsets), is_random_next,
                               masked_lm_positions / masked_lm_labels (offsets into them)

Each shard and the index are written to a temporary name and renamed, and the index is written last,
so a folder with an index.json is always complete. `read_instances(path)` yields Google's
TrainingInstance fields as a dict per instance, reading one shard at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from berthub.config import write_bytes_atomic, write_text_atomic
from berthub.errors import InputError, NotFoundError
from berthub_pretraining.instances import Instance

FORMAT = "berthub-pretraining-instances"
VERSION = 1
INDEX = "index.json"
VOCAB = "vocab.txt"


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


@dataclass
class ShardArrays:
    """One shard's arrays (numpy), with per-instance access by index."""

    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["is_random_next"])

    def ids(self, index: int) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray, np.ndarray]:
        """(token ids, segment ids, is_random_next, masked positions, masked label ids) of instance `index`."""
        a = self.arrays
        start, end = a["token_offsets"][index], a["token_offsets"][index + 1]
        m_start, m_end = a["masked_offsets"][index], a["masked_offsets"][index + 1]
        return (a["tokens"][start:end], a["segment_ids"][start:end], bool(a["is_random_next"][index]),
                a["masked_lm_positions"][m_start:m_end], a["masked_lm_labels"][m_start:m_end])


def load_shard(path: Path) -> ShardArrays:
    from safetensors.numpy import load_file

    try:
        return ShardArrays(load_file(str(path)))
    except FileNotFoundError:
        raise NotFoundError(f"Shard {path} is missing; rerun `berthub pretraining-data` for its folder.") from None
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise InputError(f"Shard {path} is not a readable instance shard ({error}); rerun "
                         "`berthub pretraining-data`.") from error


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
    """Every instance of an instance folder (or of one of its shards), in order, one shard in memory at a time.

    Yields dicts with Google's TrainingInstance fields: tokens (list of str, [CLS] A [SEP] B [SEP] as
    masked), segment_ids (list of int), is_random_next (bool), masked_lm_positions (sorted list of int)
    and masked_lm_labels (the original tokens there, list of str).
    """
    path = Path(path)
    folder, shards = (path, shard_paths(path)) if path.is_dir() else (path.parent, [path])
    tokens = vocab_tokens(folder)
    for shard_path in shards:
        shard = load_shard(shard_path)
        for index in range(len(shard)):
            ids, segments, is_random_next, positions, labels = shard.ids(index)
            yield {"tokens": [tokens[i] for i in ids], "segment_ids": segments.tolist(),
                   "is_random_next": is_random_next, "masked_lm_positions": positions.tolist(),
                   "masked_lm_labels": [tokens[i] for i in labels]}
