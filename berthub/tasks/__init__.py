"""The tasks room: the Task protocol dataset plugins implement, and features to batches and back.

    protocol.py  Task, Feature, get_task (tasks by name), require_files, the predict hook
    batch.py     collate (features -> padded tensors), model_inputs, unbatch (outputs -> one item per feature)
    spans.py     answer spans from start/end logits, as Google's run_squad picks them

`berthub.tasks` is what a dataset plugin imports (docs/plugins.md, "Stable API").
"""

from berthub.plugins.head_contract import IGNORE_INDEX, TARGET_KINDS, TargetKind
from berthub.tasks.batch import MODEL_INPUTS, Outputs, collate, model_inputs, unbatch
from berthub.tasks.protocol import *  # Task, Feature, get_task and the rest of the protocol's __all__
from berthub.tokenizer.inputs import encode_pair

__all__ = [
    "IGNORE_INDEX", "MODEL_INPUTS", "TARGET_KINDS", "Feature", "Outputs", "Target", "TargetKind", "Task",
    "collate", "encode_pair", "examples_from_inputs", "get_task", "model_inputs", "output_names",
    "require_files", "target_kinds", "task_options", "unbatch",
]  # fmt: skip
