"""What each entry of a TF2 (object-based) checkpoint is, from its TrackableObjectGraph.

`tf.train.Checkpoint` saves objects, not names: the bundle's keys are paths through the saved
objects (`encoder/layer_with_weights-4/_attention_layer/_query_dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`)
and the `_CHECKPOINTABLE_OBJECT_GRAPH` entry holds the graph itself, a TrackableObjectGraph protobuf:

    TrackableObject   children = 1 (ObjectReference: node_id = 1, local_name = 2)
                      attributes = 2 (SerializedTensor: name = 1, full_name = 2, checkpoint_key = 3)
                      slot_variables = 3 (SlotVariableReference: original = 1, slot_name = 2, slot node = 3)

Each variable keeps the name Keras gave it when it was created (`full_name`, e.g.
`transformer/layer_0/self_attention/query/kernel`): that is what model_garden.py maps. The graph
also tells what is not a weight: optimizer slots and the optimizer's own variables (reachable only
through the optimizer), the checkpoint's save counter, and object metadata such as Keras configs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from berthub_tf.errors import CheckpointFormatError
from berthub_tf.protowire import grouped, message, number, text

WEIGHT = "weight"
OPTIMIZER = "optimizer state"
COUNTER = "checkpoint counter"
METADATA = "object metadata"
TOKENIZER = "tokenizer setting"

_COUNTERS = {"save_counter", "global_step"}  # tf.train.Checkpoint's and Orbit's step counters
_OPTIMIZER_NAMES = {"optimizer"}  # the child tf.train.Checkpoint(optimizer=...) and Keras give it
_TOKENIZER_SETTINGS = {"do_lower_case"}  # what Model Garden's TF Hub exporter saves beside the model
_WHERE = "the TF2 checkpoint's object graph (_CHECKPOINTABLE_OBJECT_GRAPH)"


@dataclass(frozen=True)
class SavedEntry:
    """One bundle entry as the object graph describes it."""

    key: str  # the bundle key (checkpoint_key)
    full_name: str  # the variable's own name, "" where the graph records none
    kind: str  # WEIGHT, OPTIMIZER, COUNTER, METADATA or TOKENIZER
    root_child: str  # the first step of the object path ("encoder", "model", "variables", ...)


@dataclass(frozen=True)
class _Node:
    children: tuple[tuple[int, str], ...]
    attributes: tuple[tuple[str, str, str], ...]  # (name, full_name, checkpoint_key)
    slots: tuple[int, ...]  # node ids of the optimizer slot variables this node owns


def describe(serialized: bytes) -> dict[str, SavedEntry]:
    """Every bundle key the object graph names, with what it holds."""
    nodes = _parse(serialized)
    if not nodes:
        raise CheckpointFormatError(f"{_WHERE[0].upper()}{_WHERE[1:]} has no objects: the checkpoint is corrupt.")
    optimizers = {i for i, node in enumerate(nodes) if node.slots}
    optimizers |= {child for child, name in nodes[0].children if name in _OPTIMIZER_NAMES}
    reached = _reachable(nodes, optimizers)
    entries = {}
    for node_id, node in enumerate(nodes):
        for name, full_name, key in node.attributes:
            root_child = key.split("/", 1)[0]
            kind = _kind(name, root_child, node_id in reached)
            entries[key] = SavedEntry(key, full_name, kind, root_child)
    return entries


def _kind(attribute: str, root_child: str, reached: bool) -> str:
    if attribute != "VARIABLE_VALUE":
        return METADATA
    if not reached:
        return OPTIMIZER
    if root_child in _COUNTERS:
        return COUNTER
    if root_child in _TOKENIZER_SETTINGS:
        return TOKENIZER
    return WEIGHT


def _reachable(nodes: list[_Node], optimizers: set[int]) -> set[int]:
    """Nodes reachable from the root without passing through an optimizer (the model's own objects)."""
    seen, queue = {0}, deque([0])
    while queue:
        for child, _ in nodes[queue.popleft()].children:
            if child not in seen and child not in optimizers:
                seen.add(child)
                queue.append(child)
    return seen


def _parse(serialized: bytes) -> list[_Node]:
    nodes = []
    for raw in grouped(serialized, _WHERE).get(1, []):
        fields = grouped(message(raw, _WHERE), _WHERE)
        children = []
        for reference in fields.get(1, []):
            ref = grouped(message(reference, _WHERE), _WHERE)
            children.append((number(ref, 1, _WHERE), text(ref.get(2, [b""])[0], _WHERE)))
        attributes = []
        for tensor in fields.get(2, []):
            t = grouped(message(tensor, _WHERE), _WHERE)
            attributes.append(tuple(text(t.get(n, [b""])[0], _WHERE) for n in (1, 2, 3)))
        slots = tuple(number(grouped(message(slot, _WHERE), _WHERE), 3, _WHERE) for slot in fields.get(3, []))
        nodes.append(_Node(tuple(children), tuple(attributes), slots))  # type: ignore[arg-type]
    for node in nodes:
        bad = [child for child, _ in node.children if child >= len(nodes)]
        bad += [slot for slot in node.slots if slot >= len(nodes)]
        if bad:
            raise CheckpointFormatError(f"{_WHERE} refers to object {bad[0]} of {len(nodes)}: the checkpoint is "
                                        f"corrupt.")
    return nodes
