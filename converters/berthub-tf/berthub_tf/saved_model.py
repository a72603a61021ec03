"""A TF Hub / Kaggle SavedModel folder, read without TensorFlow.

    saved_model.pb           the graph (a SavedModel protobuf), the functions TensorFlow runs
    variables/variables.*    the weights: a TF2 object-based checkpoint (the same tensor bundle format)
    assets/vocab.txt         the vocabulary Model Garden's exporter attaches

Of the graph, berthub needs only which activation it computes, so only the op names of the graph's
nodes and of its function library are decoded:

    SavedModel.meta_graphs = 2 -> MetaGraphDef.graph_def = 2 -> GraphDef.node = 1 -> NodeDef.op = 2
                                                                 GraphDef.library = 2 -> FunctionDefLibrary.function = 1
                                                                     -> FunctionDef.node_def = 3 -> NodeDef.op = 2
"""

from __future__ import annotations

from pathlib import Path

from berthub.sources.settings import TF_SAVED_MODEL_NAME, VOCAB_NAME
from berthub_tf.errors import CheckpointFormatError, MissingFileError
from berthub_tf.protowire import grouped, message, text

GRAPH_NAME = TF_SAVED_MODEL_NAME
VARIABLES_PREFIX = Path("variables") / "variables"
MAX_GRAPH_BYTES = 1 << 30  # BERT-large's graph is tens of MB; protobuf itself stops at 2 GiB
_MAX_FILES = 1000


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / GRAPH_NAME).is_file()


def variables_prefix(folder: Path) -> Path:
    prefix = folder / VARIABLES_PREFIX
    if not Path(f"{prefix}.index").is_file():
        raise MissingFileError(f"SavedModel '{folder}' has no {VARIABLES_PREFIX}.index: its weights are missing. "
                               f"Copy the whole SavedModel folder, variables/ included.")
    return prefix


def vocab_file(folder: Path) -> Path | None:
    """assets/vocab.txt, which Model Garden's exporter attaches to BERT SavedModels."""
    path = folder / "assets" / VOCAB_NAME
    return path if path.is_file() else None


def files(folder: Path) -> list[Path]:
    """Every file of the SavedModel, in a stable order (for the report's hashes)."""
    found = sorted(p for p in folder.rglob("*") if p.is_file())
    if len(found) > _MAX_FILES:
        raise CheckpointFormatError(f"'{folder}' holds {len(found)} files; a SavedModel has a handful. "
                                    f"Point --checkpoint at the SavedModel folder itself.")
    return found


def graph_ops(folder: Path) -> set[str]:
    """The names of every op in the SavedModel's graphs and functions (e.g. "Erf", "Tanh", "MatMul")."""
    path = folder / GRAPH_NAME
    size = path.stat().st_size
    if size > MAX_GRAPH_BYTES:
        raise CheckpointFormatError(f"'{path}' is {size:,} bytes, more than the {MAX_GRAPH_BYTES:,} a BERT graph "
                                    f"needs: not a BERT SavedModel.")
    where = f"'{path}'"
    ops: set[str] = set()
    for meta_graph in grouped(path.read_bytes(), where).get(2, []):
        for graph_def in grouped(message(meta_graph, where), where).get(2, []):
            graph = grouped(message(graph_def, where), where)
            ops |= _node_ops(graph.get(1, []), where)
            for library in graph.get(2, []):
                for function in grouped(message(library, where), where).get(1, []):
                    ops |= _node_ops(grouped(message(function, where), where).get(3, []), where)
    if not ops:
        raise CheckpointFormatError(f"{where} holds no graph: it is not a TensorFlow 2 SavedModel.")
    return ops


def _node_ops(nodes: list[int | bytes], where: str) -> set[str]:
    return {text(op, where) for node in nodes for op in grouped(message(node, where), where).get(2, [])[:1]}
