"""SQuAD v1.1 and v2.0 as berthub Tasks (registered as squad-v1.1 and squad-v2.0).

Options (get_task("squad-v1.1", doc_stride=128, ...)), with Google's run_squad defaults:
doc_stride 128, max_query_length 64, n_best_size 20, max_answer_length 30, and for v2.0
null_threshold 0.0 (answer "" when the null score beats the best span by more than this).
The data directory holds the official JSON files: train-v1.1.json / dev-v1.1.json, or
train-v2.0.json / dev-v2.0.json. There is no public test split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berthub.errors import InputError, NotFoundError
from berthub.tasks import Feature, require_files
from berthub_squad.decode import Answer, decode
from berthub_squad.evaluate import evaluate
from berthub_squad.examples import SquadExample, read_examples
from berthub_squad.windows import build_windows

Logits = tuple[np.ndarray, np.ndarray]


class SquadTask:
    """Extractive question answering on SQuAD: one start and one end logit per token."""

    head = "question-answering"
    main_metric = "f1"
    labels: list[str] = []

    def __init__(self, version: str = "1.1", doc_stride: int = 128, max_query_length: int = 64,
                 n_best_size: int = 20, max_answer_length: int = 30, null_threshold: float = 0.0) -> None:
        if version not in ("1.1", "2.0"):
            raise ValueError(f"SQuAD version must be '1.1' or '2.0', got {version!r}.")
        self.version = version
        self.name = f"squad-v{version}"
        self.splits = {"train": [f"train-v{version}.json"], "dev": [f"dev-v{version}.json"]}
        self.doc_stride, self.max_query_length = doc_stride, max_query_length
        self.n_best_size, self.max_answer_length = n_best_size, max_answer_length
        self.null_threshold = null_threshold

    def head_options(self) -> dict[str, Any]:
        return {}

    def read(self, data_dir: Path | str, split: str) -> list[SquadExample]:
        if split not in self.splits:
            raise NotFoundError(f"Task '{self.name}' has no split '{split}'; splits: {', '.join(self.splits)} "
                                "(SQuAD's test set is not public).")
        (path,) = require_files(data_dir, self.name, split, self.splits[split])
        return read_examples(path, skip_unfindable=split == "train")

    def features(self, examples: Sequence[SquadExample], tokenizer: Any, max_seq_length: int) -> list[Feature]:
        return build_windows(examples, tokenizer, max_seq_length, self.doc_stride, self.max_query_length,
                             _do_lower_case(tokenizer))

    def answers(self, examples: Sequence[SquadExample], features: Sequence[Feature],
                outputs: Sequence[Logits]) -> list[Answer]:
        """The decoded Answer (text, n-best, null score difference) of every example."""
        if len(features) != len(outputs):
            raise InputError(f"{len(features)} features but {len(outputs)} outputs; give one per feature.")
        by_example: list[list[int]] = [[] for _ in examples]
        for index, feature in enumerate(features):
            by_example[feature.example_index].append(index)
        return [decode(example, [features[i] for i in indexes], [outputs[i] for i in indexes],
                       self.n_best_size, self.max_answer_length, with_null=self.version == "2.0",
                       null_threshold=self.null_threshold)
                for example, indexes in zip(examples, by_example, strict=True)]

    def predict(self, examples: Sequence[SquadExample], features: Sequence[Feature],
                outputs: Sequence[Logits]) -> list[str]:
        """The answer text of every example ("" = no answer)."""
        return [answer.text for answer in self.answers(examples, features, outputs)]

    def metrics(self, examples: Sequence[SquadExample], features: Sequence[Feature],
                outputs: Sequence[Logits]) -> dict[str, float]:
        predictions = dict(zip((e.qas_id for e in examples), self.predict(examples, features, outputs), strict=True))
        scores = evaluate({e.qas_id: e.answers for e in examples}, predictions, self.version)
        return {k: float(v) for k, v in scores.items() if not k.endswith("total")}


def _do_lower_case(tokenizer: Any) -> bool:
    """Whether the tokenizer lower-cases, which mapping predictions back to text must repeat."""
    for owner in (tokenizer, getattr(tokenizer, "basic_tokenizer", None)):
        value = getattr(owner, "do_lower_case", None)
        if isinstance(value, bool):
            return value
    raise InputError("SQuAD needs to know whether the tokenizer lower-cases: give it a `do_lower_case` "
                     "attribute (berthub's BertTokenizer has one).")


def squad_v1(**options: Any) -> SquadTask:
    """SQuAD v1.1: every question has an answer in its paragraph."""
    return SquadTask("1.1", **options)


def squad_v2(**options: Any) -> SquadTask:
    """SQuAD v2.0: some questions have no answer; the null answer competes with the best span."""
    return SquadTask("2.0", **options)
