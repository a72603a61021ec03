"""Which of Google's formats a path holds, told from the files alone.

| format | files | variable names |
|---|---|---|
| TF1 checkpoint | PREFIX.index + PREFIX.data-* (tf.compat.v1 Saver) | `bert/encoder/layer_0/...` |
| TF2 checkpoint | the same files, plus a `_CHECKPOINTABLE_OBJECT_GRAPH` entry (tf.train.Checkpoint) | object paths |
| SavedModel | saved_model.pb + variables/variables.* (+ assets/vocab.txt) | object paths |

A SavedModel whose variables have no object graph (a TF1 hub module) holds TF1 names and converts
as a TF1 checkpoint of its variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from berthub_tf import saved_model
from berthub_tf.checkpoint import Checkpoint, open_checkpoint
from berthub_tf.object_graph import TOKENIZER, SavedEntry, describe

TF1, TF2, SAVED_MODEL = "TF1 checkpoint", "TF2 checkpoint", "SavedModel"


@dataclass(frozen=True)
class Source:
    """An opened checkpoint or SavedModel and what its object graph says about each entry."""

    format: str
    checkpoint: Checkpoint
    saved_model: Path | None = None  # the SavedModel folder
    entries: dict[str, SavedEntry] | None = None  # TF2 and SavedModel: the object graph's description

    @property
    def path(self) -> Path:
        """What the user named: the SavedModel folder or the checkpoint prefix."""
        return self.saved_model if self.saved_model is not None else self.checkpoint.prefix

    def files(self) -> list[Path]:
        return saved_model.files(self.saved_model) if self.saved_model is not None else self.checkpoint.files()

    def do_lower_case(self) -> bool | None:
        """The casing Model Garden's TF Hub exporter saved beside the model, if it did."""
        for entry in (self.entries or {}).values():
            if entry.kind == TOKENIZER and entry.root_child == "do_lower_case":
                return bool(self.checkpoint.read(entry.key).reshape(-1)[0])
        return None


def open_source(path: str | Path, reader: str = "auto") -> Source:
    """Open `path` (a checkpoint prefix, its .index or a shard, or a SavedModel folder) and tell its format."""
    location = Path(path).expanduser()
    folder = location if saved_model.is_saved_model(location) else None
    checkpoint = open_checkpoint(saved_model.variables_prefix(folder) if folder else location, reader)
    graph = checkpoint.object_graph()
    if graph is None:
        return Source(TF1, checkpoint)
    return Source(SAVED_MODEL if folder else TF2, checkpoint, folder, describe(graph))
