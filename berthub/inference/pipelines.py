"""`berthub.pipeline`: raw text in, answers out, from any saved model (registry name, hub repo or folder).

    classify = berthub.pipeline("runs/sst2/best")       # the task and labels come from the saved model
    classify("a gripping, funny film")                  # {"label": "positive", "score": 0.98}
    classify(["one text", "another"])                   # one answer per input, in input order

The task comes from the folder. A model `berthub train` made names its task in training.json: that task
answers through its own predict hook (examples_from_inputs -> features -> predict, windows as long as in
training), whatever its head, unless the task names a built-in pipeline task for raw text
(`pipeline_task`: SST-2's is "text-classification"). When that task is not installed (the error names
its distribution) or has no hook, a model with a built-in head is answered by the built-in pipeline of
that head, with a warning saying why. Otherwise the head decides: berthub's `berthub_head` in
config.json, else transformers' `architectures`; labels from `id2label`. Inputs are tokenized once,
sorted by length and run in batches of `batch_size` padded only to their own longest window, so little
compute goes to padding (and, masked, padding changes nothing).
The answers of each task are described in berthub/inference/runners.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import torch

from berthub.errors import InputError, NotFoundError, PluginError
from berthub.inference import runners
from berthub.model.pretrained import locate, locate_extra
from berthub.plugins.loader import builtin_head_class, builtin_heads, head_for_architecture
from berthub.sources.settings import CONFIG_NAMES, TRAINING_INFO_NAME
from berthub.tasks.batch import collate, model_inputs, unbatch
from berthub.tasks.protocol import Feature, examples_from_inputs

logger = logging.getLogger("berthub")

TASKS = ("text-classification", "token-classification", "question-answering", "fill-mask")
_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification", "qa": "question-answering"}


@dataclass(frozen=True)
class SavedModel:
    """What a model folder says about itself: config.json and (berthub fine-tuning) training.json."""

    directory: Path
    config: dict[str, Any]
    training: dict[str, Any]

    @classmethod
    def read(cls, directory: Path, name: str | Path | None = None) -> SavedModel:
        """The folder's files; `name`, the model as asked for (a hub repo's training.json is fetched beside it)."""
        config_file = next((directory / n for n in CONFIG_NAMES if (directory / n).is_file()),
                           None)
        if config_file is None:
            raise NotFoundError(f"{directory} has no config.json; it is not a model folder.")
        training_file = locate_extra(directory if name is None else name, directory, TRAINING_INFO_NAME)
        training = json.loads(training_file.read_text(encoding="utf-8")) if training_file is not None else {}
        return cls(directory, json.loads(config_file.read_text(encoding="utf-8")), training)

    @property
    def head(self) -> str | None:
        return self.config.get("berthub_head")

    @property
    def trained_for(self) -> str | None:
        """The pipeline task its head answers: the `pipeline_tag` of berthub's own head, named in config.json or
        by its transformers class (None: a bare encoder, a plugin head, or a head no pipeline task fits)."""
        head = self.head or head_for_architecture((self.config.get("architectures") or [None])[0])
        if head is None or head not in builtin_heads():
            return None
        tag = builtin_head_class(head).facts.pipeline_tag
        return tag if tag in TASKS else None

    def labels(self) -> list[str]:
        """Label names in id order: config.json's id2label, else LABEL_i for each output."""
        id2label = self.config.get("id2label") or {}
        count = ((self.config.get("berthub_head_options") or {}).get("num_labels") or len(id2label)
                 or self.config.get("num_labels") or 2)
        return [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(count)]

    @property
    def problem_type(self) -> str | None:
        """config.json's `problem_type`; for a one-output sequence classifier saved by berthub before it wrote
        one, "regression" (berthub's head has always trained one output with MSE)."""
        if self.config.get("problem_type"):
            return str(self.config["problem_type"])
        one_output = (self.config.get("berthub_head_options") or {}).get("num_labels") == 1
        return "regression" if self.head == "sequence-classification" and one_output else None


class Pipeline:
    """A model, its tokenizer and a task runner: `pipe(text_or_record)` or `pipe([...])` -> answers."""

    def __init__(self, runner: Any, model: torch.nn.Module, device: torch.device, batch_size: int) -> None:
        self.runner, self.model, self.device = runner, model.to(device).eval(), device
        self.batch_size = _batch_size(batch_size)

    @property
    def task(self) -> str:
        return self.runner.name

    def __call__(self, inputs: str | dict | Iterable[str | dict], *, progress: bool = False) -> Any:
        """One answer for one input (a string or a dict of fields), a list of answers for a list."""
        if isinstance(inputs, str | dict):
            return self.predict([inputs])[0]
        return self.predict(list(inputs), progress=progress)

    def predict(self, records: Sequence[str | dict], progress: bool = False) -> list[Any]:
        """The answers of `records`, in their order (a progress bar over windows when `progress`)."""
        if not records:
            return []
        state, features = self.runner.prepare(records)
        return self.runner.answers(state, features, self._outputs(features, progress))

    def _outputs(self, features: list[Feature], progress: bool) -> list[Any]:
        """Head outputs of every window: shortest first in batches padded to their own longest window."""
        from tqdm.auto import tqdm

        order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
        outputs: list[Any] = [None] * len(features)
        pad_id = getattr(self.runner.tokenizer, "pad_token_id", 0) or 0
        with torch.inference_mode(), tqdm(total=len(order), unit="window", desc=self.task, disable=not progress) as bar:
            for start in range(0, len(order), self.batch_size):
                chosen = order[start : start + self.batch_size]
                batch = model_inputs(collate([features[i] for i in chosen], pad_id))
                logits = self.model(**{name: tensor.to(self.device) for name, tensor in batch.items()})
                for index, row in zip(chosen, unbatch(logits), strict=True):
                    outputs[index] = self.runner.keep(features[index], row)
                bar.update(len(chosen))
        return outputs


class _PluginRunner:
    """A plugin task answered through its predict hook (tasks.examples_from_inputs) and its `predict`."""

    def __init__(self, task: Any, tokenizer: Any, max_length: int) -> None:
        self.task, self.tokenizer, self.max_length, self.name = task, tokenizer, max_length, task.name

    def prepare(self, records: Sequence[Any]) -> tuple[Any, list[Feature]]:
        examples = examples_from_inputs(self.task, records)
        return examples, self.task.features(examples, self.tokenizer, self.max_length)

    def keep(self, feature: Feature, output: Any) -> Any:
        return output

    def answers(self, examples: Any, features: list[Feature], outputs: list[Any]) -> list[Any]:
        return list(self.task.predict(examples, features, outputs))


def pipeline(model: str | Path, task: str | None = None, device: str | torch.device | None = None,
             batch_size: int = 32, *, revision: str | None = None, **options: Any) -> Pipeline:
    """A Pipeline for `model` (registry name, hub repo id or folder).

    task: None (from the saved model), one of TASKS (aliases "sentiment-analysis", "ner", "qa"), or a
    registered dataset task name (answered by its plugin). device: None = GPU if present, else CPU.
    options go to the task runner: top_k (fill-mask); max_seq_length, doc_stride, max_query_length,
    n_best_size, max_answer_length, align_to_words (question-answering; SQuAD's defaults 384, 128, 64,
    20, 30, and transformers' word alignment).
    """
    chosen, batch_size = _device(device), _batch_size(batch_size)  # checked before any weights load
    directory = Path(locate(model, revision=revision).directory)
    saved = SavedModel.read(directory, model)
    kind = _choose_task(saved, task, str(model))
    tokenizer = _tokenizer(model, revision)
    limit = min(tokenizer.max_len, int(saved.config.get("max_position_embeddings", 512)))
    if kind in TASKS:
        runner, net = _builtin(kind, saved, tokenizer, limit, options)
    else:
        runner, net = _plugin(kind, saved, tokenizer, limit, options)
    return Pipeline(runner, net, chosen, batch_size)


def _batch_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"batch_size={value!r} must be a positive int.")
    return value


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device={device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'.") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={device!r}: no CUDA GPU is visible to torch here; use device='cpu'.")
    return chosen


def _choose_task(saved: SavedModel, task: str | None, name: str) -> str:
    """The pipeline task (one of TASKS) or the plugin task name that answers for this model."""
    if task is not None:
        return _asked_task(saved, task, name)
    trained = saved.training.get("task")
    if trained:
        answering, why_not = _saved_task_answers(saved, str(trained))
        if answering is not None:
            return answering
        if saved.trained_for is not None:
            logger.warning("Answering '%s' with the built-in %s pipeline (a text and an optional text_pair per "
                           "input), not its task's own predict hook: %s", name, saved.trained_for, why_not)
            return saved.trained_for
        raise PluginError(f"'{name}' cannot answer raw text: {why_not}")
    if saved.trained_for is not None:
        return saved.trained_for
    if saved.head is not None:
        raise InputError(f"'{name}' carries the plugin head '{saved.head}' but no training.json naming its task; "
                         "pass task= the registered task it was trained on (see `berthub plugins`).")
    raise InputError(f"'{name}' has no task head berthub can answer with (config.json has no berthub_head or "
                     f"known architectures); pass task= one of {', '.join(TASKS)}.")


def _saved_task_answers(saved: SavedModel, trained: str) -> tuple[str | None, str]:
    """(what answers for a model trained on `trained`, or None; and if None, why that task cannot).

    The task's own hook answers (examples_from_inputs, features, predict), unless the task names a built-in
    pipeline task for raw text (`pipeline_task`, e.g. SST-2's "text-classification")."""
    from berthub.plugins import loader
    from berthub.tasks.protocol import get_task

    what = f"Task '{trained}' (the one this model was trained on)"
    try:
        loader.require("datasets", trained, saved.training.get("task_distribution"), what)
        built = get_task(trained, **(saved.training.get("task_options") or {}))
    except PluginError as error:
        return None, str(error)
    chosen = getattr(built, "pipeline_task", None)
    if chosen in TASKS:
        return chosen, ""
    if not hasattr(built, "examples_from_inputs"):
        return None, (f"{what} has no examples_from_inputs(records) predict hook; its plugin needs one to answer raw "
                      "text (docs/plugins.md, 'Answer raw text').")
    return trained, ""


def _asked_task(saved: SavedModel, task: str, name: str) -> str:
    """The task a caller asked for by name, checked against what the model was trained for."""
    kind = _ALIASES.get(task, task)
    if kind in TASKS:
        if saved.trained_for not in (None, kind):
            raise InputError(f"'{name}' was fine-tuned for {saved.trained_for}, not {kind}; omit the task "
                             f"(or pass task='{saved.trained_for}').")
        if saved.trained_for is None and kind != "fill-mask":
            raise InputError(f"'{name}' has no trained {kind} head (it is a bare encoder or a plugin head); "
                             "fine-tune it first (`berthub train`), or omit the task.")
        return kind
    from berthub.plugins import loader

    if task == saved.training.get("task"):
        loader.require("datasets", task, saved.training.get("task_distribution"),
                       f"Task '{task}' (the one this model was trained on)")
    registered = loader.names("datasets")
    if task not in registered:
        raise InputError(f"Unknown task '{task}': use one of {', '.join(TASKS)} or a registered dataset task "
                         f"({', '.join(registered) or 'none installed'}; see `berthub plugins`).")
    return task


def _tokenizer(model: str | Path, revision: str | None) -> Any:
    from berthub.tokenizer.bert import BertTokenizer

    return BertTokenizer.from_pretrained(model, revision=revision, use_fast=find_spec("tokenizers") is not None)


def _builtin(kind: str, saved: SavedModel, tokenizer: Any, limit: int, options: dict[str, Any]):
    from berthub.model import task_models as classes

    labels = saved.labels()
    sized = {} if saved.head is not None else {"num_labels": len(labels)}
    unknown = set(options) - {"top_k"} if kind == "fill-mask" else set(options) - {
        "max_seq_length", "doc_stride", "max_query_length", "n_best_size", "max_answer_length", "align_to_words"}
    if options and (unknown or kind in ("text-classification", "token-classification")):
        raise InputError(f"Options {sorted(options)} do not apply to {kind}.")
    if kind == "text-classification":
        model = classes.BertForSequenceClassification.from_pretrained(saved.directory, **sized)
        return runners.TextClassification(tokenizer, labels, saved.problem_type, limit), model
    if kind == "token-classification":
        model = classes.BertForTokenClassification.from_pretrained(saved.directory, **sized)
        return runners.TokenClassification(tokenizer, labels, limit), model
    if kind == "question-answering":
        return runners.QuestionAnswering(tokenizer, **options), classes.BertForQuestionAnswering.from_pretrained(
            saved.directory)
    return runners.FillMask(tokenizer, limit, **options), classes.BertForMaskedLM.from_pretrained(saved.directory)


def _plugin(name: str, saved: SavedModel, tokenizer: Any, limit: int, options: dict[str, Any]):
    from berthub.model.task_models import BertForTask
    from berthub.tasks.protocol import get_task

    trained_on_it = name == saved.training.get("task")
    task_options = {**((saved.training.get("task_options") or {}) if trained_on_it else {}), **options}
    task = get_task(name, **task_options)
    if saved.head not in (None, task.head):
        raise InputError(f"Task '{name}' trains the '{task.head}' head, but {saved.directory} carries "
                         f"'{saved.head}'; pass the task this model was trained for.")
    trained_length = (saved.training.get("hyperparameters") or {}).get("max_seq_length") if trained_on_it else None
    length = min(int(trained_length), limit) if trained_length else limit  # windows as long as in training
    return _PluginRunner(task, tokenizer, length), BertForTask.from_pretrained(saved.directory, head=task.head)
