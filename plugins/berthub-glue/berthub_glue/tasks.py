"""The nine GLUE tasks (MNLI twice: matched and mismatched dev/test) as berthub Tasks.

Each task reads the original files of GLUE's download (download_glue_data.py), in the folder
holding them (`--data-dir data/glue/SST-2`). Column layouts, per split, are GLUE's own:

| task  | train / dev columns (0-based: text a, text b, label)                    | header         | labels      |
|-------|-------------------------------------------------------------------------|----------------|-------------|
| CoLA  | source, label, original mark, sentence (3, -, 1)                        | none           | 0, 1        |
| SST-2 | sentence, label (0, -, 1)                                               | yes            | 0, 1        |
| MRPC  | Quality, #1 ID, #2 ID, #1 String, #2 String (3, 4, 0)                   | yes, UTF-8 BOM | 0, 1        |
| STS-B | index, genre, ..., sentence1, sentence2, score (7, 8, 9)                | yes            | float 0-5   |
| QQP   | id, qid1, qid2, question1, question2, is_duplicate (3, 4, 5)            | yes            | 0, 1        |
| MNLI  | 12 columns (train) / 16 (dev), gold_label last (8, 9, last)             | yes            | c / e / n   |
| QNLI  | index, question, sentence, label (1, 2, 3)                              | yes            | (not_)entailment |
| RTE   | index, sentence1, sentence2, label (1, 2, 3)                            | yes            | (not_)entailment |
| WNLI  | index, sentence1, sentence2, label (1, 2, 3)                            | yes            | 0, 1        |

MNLI's labels are contradiction, entailment, neutral (Google's order). The 0/1 tasks also have
`label_names` (SST-2: negative, positive; CoLA: unacceptable, acceptable; MRPC, QQP, WNLI: not_/
equivalent, duplicate, entailment), which a trained model keeps as its config.json `id2label`;
`labels`, `predict` and the metrics keep GLUE's own 0/1 values.

Test files have an index column and no label. Files are read with quoting off (GLUE's TSVs are
not quoted and hold stray quote characters) and with a leading BOM removed.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from berthub.errors import InputError, NotFoundError
from berthub.tasks import Feature, encode_pair, require_files
from berthub_glue import metrics as M


@dataclass(frozen=True)
class GlueExample:
    """One sentence or sentence pair; label is the label name (a float for STS-B), None on test."""

    guid: str
    text_a: str
    text_b: str | None
    label: str | float | None


@dataclass(frozen=True)
class Columns:
    """Where one split's fields are (0-based; -1 = last column) and whether the first row is a header."""

    text_a: int
    text_b: int | None
    label: int | None
    header: bool = True


@dataclass(frozen=True)
class _Split:
    file: str
    columns: Columns


class GlueTask:
    """One GLUE task: reads its files, builds features, decodes logits and computes its official metrics."""

    head = "sequence-classification"

    def __init__(self, name: str, labels: list[str], main_metric: str, splits: dict[str, _Split],
                 label_names: list[str] | None = None, pipeline_task: str | None = None) -> None:
        self.name, self.labels, self.main_metric = name, labels, main_metric
        # Classification is answered as transformers' text-classification pipeline answers it (label name and
        # score; a pair as text / text_pair or sentence1 / sentence2); QNLI's question / sentence records and
        # STS-B's scores through this task's own predict hook.
        self.pipeline_task = pipeline_task
        self.label_names = label_names or labels  # what the outputs mean, saved with a trained model
        self._splits = splits
        self.splits = {split: [s.file] for split, s in splits.items()}

    @property
    def is_regression(self) -> bool:
        return not self.labels

    def head_options(self) -> dict[str, Any]:
        return {"num_labels": len(self.labels) or 1}

    def read(self, data_dir: Path | str, split: str) -> list[GlueExample]:
        if split not in self._splits:
            raise NotFoundError(f"Task '{self.name}' has no split '{split}'; splits: {', '.join(self._splits)}.")
        spec = self._splits[split]
        (path,) = require_files(data_dir, self.name, split, [spec.file])
        rows = _read_tsv(path)[1 if spec.columns.header else 0 :]
        return [self._example(path, line, row, spec.columns, split) for line, row in rows]

    def _example(self, path: Path, line: int, row: list[str], cols: Columns, split: str) -> GlueExample:
        wanted = [i for i in (cols.text_a, cols.text_b, cols.label) if i is not None and i >= 0]
        if len(row) <= max(wanted, default=0):
            raise InputError(f"{path} line {line}: {len(row)} columns, but task '{self.name}' reads column "
                             f"{max(wanted)} (0-based). Is this the original GLUE file for '{self.name}'?")
        label: str | float | None = None
        if cols.label is not None:
            label = self._label(path, line, row[cols.label])
        text_b = row[cols.text_b] if cols.text_b is not None else None
        return GlueExample(f"{split}-{line}", row[cols.text_a], text_b, label)

    def _label(self, path: Path, line: int, raw: str) -> str | float:
        if self.is_regression:
            try:
                return float(raw)
            except ValueError:
                raise InputError(f"{path} line {line}: score {raw!r} is not a number.") from None
        if raw not in self.labels:
            raise InputError(f"{path} line {line}: label {raw!r} is not one of {self.labels} of task '{self.name}'.")
        return raw

    def features(self, examples: Sequence[GlueExample], tokenizer: Any, max_seq_length: int) -> list[Feature]:
        out = []
        for index, example in enumerate(examples):
            ids, types = encode_pair(tokenizer, example.text_a, example.text_b, max_seq_length)
            targets: dict[str, Any] = {}
            if example.label is not None:
                targets["labels"] = float(example.label) if self.is_regression else self.labels.index(example.label)
            out.append(Feature(ids, types, targets, index))
        return out

    def predict(self, examples: Sequence[GlueExample], features: Sequence[Feature],
                outputs: Sequence[np.ndarray]) -> list[str | float]:
        """The predicted label name (or STS-B score) of each example, from its feature's logits."""
        predicted: list[str | float | None] = [None] * len(examples)
        for feature, logits in zip(features, outputs, strict=True):
            logits = np.asarray(logits)
            value = float(logits.reshape(-1)[0]) if self.is_regression else self.labels[int(np.argmax(logits))]
            predicted[feature.example_index] = value
        missing = [i for i, p in enumerate(predicted) if p is None]
        if missing:
            raise InputError(f"No prediction for {len(missing)} example(s) of '{self.name}', e.g. #{missing[0]}.")
        return predicted  # type: ignore[return-value]

    def examples_from_inputs(self, records: Sequence[str | dict]) -> list[GlueExample]:
        """The predict hook (berthub predict): a string is one sentence; a dict gives it as "sentence" /
        "text" / "sentence1" and the second of a pair as "sentence2" / "text_pair", or (QNLI) "question"
        and "sentence", as the GLUE files name their columns."""
        examples = []
        for index, record in enumerate(records):
            fields = {"text": record} if isinstance(record, str) else record
            first, second = (("question",), ("sentence",)) if "question" in fields else (
                ("sentence1", "sentence", "text"), ("sentence2", "text_pair"))
            text_a = next((fields[k] for k in first if k in fields), None)
            text_b = next((fields[k] for k in second if k in fields), None)
            if not isinstance(text_a, str):
                raise InputError(f"Input {index} of task '{self.name}' has no sentence (fields: {sorted(fields)}).")
            examples.append(GlueExample(f"input-{index}", text_a, text_b, None))
        return examples

    def metrics(self, examples: Sequence[GlueExample], features: Sequence[Feature],
                outputs: Sequence[np.ndarray]) -> dict[str, float]:
        if any(e.label is None for e in examples):
            raise InputError(f"Task '{self.name}': metrics need gold labels; the test split has none.")
        predicted = self.predict(examples, features, outputs)
        if self.is_regression:
            gold_scores = [float(e.label) for e in examples]  # type: ignore[arg-type]
            return {"pearson": M.pearson(predicted, gold_scores), "spearman": M.spearman(predicted, gold_scores)}
        gold = [self.labels.index(e.label) for e in examples]  # type: ignore[arg-type]
        pred = [self.labels.index(p) for p in predicted]  # type: ignore[arg-type]
        scores = {"accuracy": M.accuracy(gold, pred)}
        if self.main_metric == "f1":
            scores["f1"] = M.f1(gold, pred)
        if self.main_metric == "mcc":
            scores["mcc"] = M.matthews_corrcoef(gold, pred)
        return scores


def _read_tsv(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-empty line."""
    with open(path, encoding="utf-8-sig", newline="") as handle:  # utf-8-sig drops MRPC's BOM
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            return [(reader.line_num, row) for row in reader if row]
        except UnicodeDecodeError as error:
            raise InputError(f"{path} is not UTF-8 text (line {reader.line_num + 1}: {error.reason} at byte "
                             f"{error.start} of the chunk read). GLUE files are UTF-8: convert it, e.g. "
                             "`iconv -f latin1 -t utf-8`.") from None


def _standard(test_columns: Columns, columns: Columns, dev: str = "dev.tsv", test: str = "test.tsv") -> dict:
    return {"train": _Split("train.tsv", columns), "dev": _Split(dev, columns), "test": _Split(test, test_columns)}


_BINARY = ["0", "1"]
_NLI = ["entailment", "not_entailment"]
_MNLI = ["contradiction", "entailment", "neutral"]


def cola() -> GlueTask:
    """CoLA: grammatical acceptability; Matthews correlation."""
    return GlueTask("cola", _BINARY, "mcc", _standard(Columns(1, None, None), Columns(3, None, 1, header=False)),
                    ["unacceptable", "acceptable"], "text-classification")


def sst2() -> GlueTask:
    """SST-2: binary sentiment of movie-review sentences; accuracy."""
    return GlueTask("sst-2", _BINARY, "accuracy", _standard(Columns(1, None, None), Columns(0, None, 1)),
                    ["negative", "positive"], "text-classification")


def mrpc() -> GlueTask:
    """MRPC: are two news sentences paraphrases; F1 (and accuracy)."""
    return GlueTask("mrpc", _BINARY, "f1", _standard(Columns(3, 4, None), Columns(3, 4, 0)),
                    ["not_equivalent", "equivalent"], "text-classification")


def stsb() -> GlueTask:
    """STS-B: sentence similarity score 0-5 (regression, one output); Pearson and Spearman."""
    return GlueTask("sts-b", [], "spearman", _standard(Columns(7, 8, None), Columns(7, 8, 9)))


def qqp() -> GlueTask:
    """QQP: are two Quora questions duplicates; F1 (and accuracy)."""
    return GlueTask("qqp", _BINARY, "f1", _standard(Columns(1, 2, None), Columns(3, 4, 5)),
                    ["not_duplicate", "duplicate"], "text-classification")


def mnli() -> GlueTask:
    """MNLI with the matched (in-genre) dev and test sets; accuracy."""
    return GlueTask("mnli", _MNLI, "accuracy", _standard(Columns(8, 9, None), Columns(8, 9, -1),
                                                          "dev_matched.tsv", "test_matched.tsv"),
                    pipeline_task="text-classification")


def mnli_mismatched() -> GlueTask:
    """MNLI trained on the same train.tsv, evaluated on the mismatched (cross-genre) dev and test sets."""
    return GlueTask("mnli-mm", _MNLI, "accuracy", _standard(Columns(8, 9, None), Columns(8, 9, -1),
                                                             "dev_mismatched.tsv", "test_mismatched.tsv"),
                    pipeline_task="text-classification")


def qnli() -> GlueTask:
    """QNLI: does the sentence answer the question; accuracy."""
    return GlueTask("qnli", _NLI, "accuracy", _standard(Columns(1, 2, None), Columns(1, 2, 3)))


def rte() -> GlueTask:
    """RTE: textual entailment; accuracy."""
    return GlueTask("rte", _NLI, "accuracy", _standard(Columns(1, 2, None), Columns(1, 2, 3)),
                    pipeline_task="text-classification")


def wnli() -> GlueTask:
    """WNLI: Winograd schema as entailment; accuracy."""
    return GlueTask("wnli", _BINARY, "accuracy", _standard(Columns(1, 2, None), Columns(1, 2, 3)),
                    ["not_entailment", "entailment"], "text-classification")
