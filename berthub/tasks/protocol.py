"""The Task protocol that dataset plugins implement, the Feature it yields, and finding tasks by name.

A task turns files in a data directory into model inputs and turns model outputs back into
answers and metrics. Tasks register by name in the `berthub.datasets` entry-point group; the
registered object is a callable (a class, or a function) that builds the task from keyword
options, e.g. `sst-2 = "berthub_glue.tasks:sst2"`. `get_task("sst-2")` finds and builds it.

The flow a trainer follows:

    task = get_task("sst-2")                                  # options: get_task("squad-v1.1", doc_stride=128)
    model = BertForTask.from_pretrained(name, head=task.head, **task.head_options())
    examples = task.read(data_dir, "train")                   # "train" | "dev" | "test"
    features = task.features(examples, tokenizer, max_seq_length=128)
    batch = collate(features[i:i + 32], kinds=target_kinds(task))  # dict of tensors, dynamic padding
    loss = model(**batch)                                     # targets present -> the head's loss
    outputs = unbatch(model(**model_inputs(batch)))           # one numpy array (or tuple) per feature
    task.metrics(examples, features, outputs)                 # {"accuracy": 0.93, ...}; main_metric names the key
    task.predict(examples, features, outputs)                 # one answer per example (label, span text, tags)

Outputs are in feature order. Token-level arrays may be longer than the feature (padding of its
batch): tasks only read the first `len(feature.input_ids)` positions.

Plugins import all of these from `berthub.tasks` (the room's face, docs/plugins.md's stable API): the
protocol here; `collate`, `model_inputs`, `unbatch` from berthub.tasks.batch; `encode_pair` (Google's pair
truncation) from berthub.tokenizer.inputs; `IGNORE_INDEX` (the target no loss reads) from the head contract.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from berthub.errors import NotFoundError, PluginError
from berthub.plugins.head_contract import TARGET_KINDS, TargetKind
from berthub.tasks.batch import Outputs

__all__ = ["Feature", "Target", "Task", "examples_from_inputs", "get_task", "output_names", "require_files",
           "target_kinds", "task_options"]

Target = int | float | list[int] | list[float]


@dataclass
class Feature:
    """One model input window.

    input_ids / token_type_ids: the unpadded window, [CLS] ... [SEP] included.
    targets: keys are the head's `targets`, each of one kind (see `Task.target_kinds`): "scalar", an int
      or float per window ({"labels": 1}; QA {"start_positions": s, "end_positions": e}); "token", a
      list with one int per input id and -100 where the loss ignores the token; "vector", a list of K
      numbers per window (multi-label 0/1 indicators, several regression outputs). Empty when the
      split has no gold answers.
    example_index: the example it came from (SQuAD makes several windows per example).
    extra: what post-processing needs (e.g. window token -> original word maps).
    """

    input_ids: list[int]
    token_type_ids: list[int]
    targets: dict[str, Target] = field(default_factory=dict)
    example_index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    """What a dataset plugin provides.

    name: the registered name ("sst-2"); head: the registered head it trains ("sequence-classification");
    main_metric: the key of `metrics()` used to pick the best checkpoint ("accuracy");
    labels: label names in id order ([] for regression and span tasks);
    splits: split -> file names it reads, relative to the data directory (for docs and errors).
    label_names (optional): what the outputs mean, in id order, when `labels` are codes (SST-2's
      "0"/"1" -> ["negative", "positive"]); a trained model keeps them as its id2label. Default: labels.
    target_kinds (optional): target key -> "scalar" | "token" | "vector"; a list target not declared
      here is a "token" target, so a per-example vector ({"labels": [0.0, 1.0, 1.0]}) must be declared
      ({"labels": "vector"}) to collate as one [B, K] float tensor.
    examples_from_inputs (optional): the predict hook below; `berthub predict` and `berthub.pipeline`
      answer raw text for a model trained on this task through it, whatever the head.
    pipeline_task (optional): a built-in pipeline task ("text-classification", ...) that answers raw text
      for a model trained on this task instead of the hook (SST-2's, for transformers-shaped answers).
    """

    name: str
    head: str
    main_metric: str
    labels: list[str]
    splits: dict[str, list[str]]

    def head_options(self) -> dict[str, Any]:
        """Keyword options for the head, e.g. {"num_labels": 2}."""
        ...

    def read(self, data_dir: Path, split: str) -> list[Any]:
        """The examples of `split`; missing files raise NotFoundError naming them and data_dir."""
        ...

    def features(self, examples: Sequence[Any], tokenizer: Any, max_seq_length: int) -> list[Feature]:
        """Model input windows, each at most max_seq_length ids, in example order."""
        ...

    def predict(self, examples: Sequence[Any], features: Sequence[Feature], outputs: Sequence[Outputs]) -> list[Any]:
        """One answer per example from the head outputs of every feature (label, score, span text, tags)."""
        ...

    def metrics(self, examples: Sequence[Any], features: Sequence[Feature],
                outputs: Sequence[Outputs]) -> dict[str, float]:
        """The task's official metrics against the gold answers of `examples`."""
        ...


_REQUIRED = ("name", "head", "main_metric", "labels", "splits", "head_options", "read", "features", "predict",
             "metrics")


# The options get_task built each task with, so a trainer can save them (training.json) beside the model.
_BUILT_WITH: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def get_task(name: str, **options: Any) -> Task:
    """Build the task registered as `name` with keyword `options`; errors list the registered names."""
    from berthub.plugins import loader

    factory: Callable[..., Any] = loader.load("datasets", name)
    try:
        task = factory(**options)
    except TypeError as error:
        raise PluginError(f"Task '{name}' could not be built with options {options}: {error}.") from error
    missing = [attr for attr in _REQUIRED if not hasattr(task, attr)]
    if missing:
        where = loader.describe("datasets", name)
        raise PluginError(f"Task '{name}' ({where}) is missing {', '.join(missing)} of the Task protocol "
                          "(see berthub.tasks.Task); fix or uninstall that plugin.")
    target_kinds(task)  # a bad declaration fails here, naming the plugin, not in the middle of training
    try:
        _BUILT_WITH[task] = dict(options)
    except TypeError:  # an unhashable task object: its options are simply not recorded
        pass
    return task


def task_options(task: Any) -> dict[str, Any] | None:
    """The keyword options `get_task` built `task` with; None for a task built some other way."""
    try:
        return _BUILT_WITH.get(task)
    except TypeError:
        return None


def output_names(task: Any) -> list[str]:
    """The names of a task's outputs in id order: its optional `label_names`, else its `labels`."""
    return list(getattr(task, "label_names", None) or task.labels)


def target_kinds(task: Any) -> dict[str, TargetKind]:
    """The task's declared `target_kinds` (empty when it declares none), checked against TARGET_KINDS."""
    kinds = getattr(task, "target_kinds", None) or {}
    if not isinstance(kinds, dict) or any(kind not in TARGET_KINDS for kind in kinds.values()):
        raise PluginError(f"Task '{getattr(task, 'name', task)}' declares target_kinds {kinds!r}; each value must be "
                          f"one of {', '.join(TARGET_KINDS)} (see berthub.tasks.Task).")
    return dict(kinds)


def require_files(data_dir: Path | str, task: str, split: str, files: Sequence[str]) -> list[Path]:
    """The paths of `files` under data_dir; if any is missing, one NotFoundError names them all."""
    data_dir = Path(data_dir)
    paths = [data_dir / name for name in files]
    missing = [str(p.relative_to(data_dir)) for p in paths if not p.is_file()]
    if missing:
        where = f"which {data_dir} lacks" if data_dir.is_dir() else f"in {data_dir}, a folder that does not exist"
        raise NotFoundError(f"Task '{task}' split '{split}' needs {', '.join(missing)}, {where}. Pass the folder "
                            "holding the task's original files (--data-dir).")
    return paths


def examples_from_inputs(task: Task, records: Sequence[Any]) -> list[Any]:
    """The predict hook: `task`'s examples built from raw inputs, for `berthub predict` / `berthub.pipeline`.

    A task that wants to answer raw text defines `examples_from_inputs(records) -> list of examples`,
    where each record is a string (one command-line TEXT) or a dict (one JSONL object or TSV row, e.g.
    {"sentence": "..."}); the examples then go through the task's own `features` and `predict`, so a
    plugin head answers with the task's own post-processing. A record the task cannot read is an
    InputError naming the record and the fields it needs.
    """
    hook = getattr(task, "examples_from_inputs", None)
    if hook is None:
        raise PluginError(f"Task '{task.name}' has no examples_from_inputs(records) method, so it cannot answer raw "
                          "text; add that predict hook to the plugin (see docs/plugins.md), or pick a "
                          "built-in pipeline task.")
    examples = list(hook(records))
    if len(examples) != len(records):
        raise PluginError(f"Task '{task.name}' made {len(examples)} examples of {len(records)} inputs; its "
                          "examples_from_inputs must return one example per input.")
    return examples
