"""Named-entity recognition on CoNLL files as berthub Tasks (registered as wnut17 and conll-ner).

Features follow the BERT paper's NER set-up: each word is WordPiece-tokenized, its first piece
carries the word's tag and the other pieces are ignored by the loss (-100), as are [CLS] and [SEP].
A sentence longer than max_seq_length - 2 pieces is cut at word boundaries into several features,
so every word gets exactly one prediction. Predictions are the argmax at each word's first piece;
metrics are entity-level precision / recall / F1 (conlleval rules) and token accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berthub.errors import InputError, NotFoundError
from berthub.tasks import IGNORE_INDEX, Feature, require_files
from berthub_ner.conll import Sentence, read_conll
from berthub_ner.entities import entity_scores

WNUT17_LABELS = ["O", "B-corporation", "I-corporation", "B-creative-work", "I-creative-work", "B-group",
                 "I-group", "B-location", "I-location", "B-person", "I-person", "B-product", "I-product"]
CONLL2003_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


class NerTask:
    """Token classification over CoNLL files; `files` maps split -> file name in the data directory."""

    head = "token-classification"
    main_metric = "f1"

    def __init__(self, name: str, files: dict[str, str], labels: Sequence[str]) -> None:
        if "O" not in labels:
            raise ValueError(f"NER labels must include 'O', got {list(labels)}.")
        self.name, self.labels = name, list(labels)
        self.splits = {split: [file] for split, file in files.items()}

    def head_options(self) -> dict[str, Any]:
        return {"num_labels": len(self.labels)}

    def read(self, data_dir: Path | str, split: str) -> list[Sentence]:
        if split not in self.splits:
            raise NotFoundError(f"Task '{self.name}' has no split '{split}'; splits: {', '.join(self.splits)}.")
        (path,) = require_files(data_dir, self.name, split, self.splits[split])
        return read_conll(path, self.labels)

    def features(self, examples: Sequence[Sentence], tokenizer: Any, max_seq_length: int) -> list[Feature]:
        budget = max_seq_length - 2
        if budget < 1:
            raise ValueError(f"max_seq_length must be at least 3, got {max_seq_length}.")
        features: list[Feature] = []
        for index, sentence in enumerate(examples):
            # A word the tokenizer deletes entirely (a zero-width character) still needs a position.
            pieces = [tokenizer.tokenize(word) or ["[UNK]"] for word in sentence.tokens]
            for first, last in _chunks([len(p) for p in pieces], budget):
                features.append(self._feature(index, sentence, pieces, first, last, budget, tokenizer))
        return features

    def _feature(self, index: int, sentence: Sentence, pieces: list[list[str]], first: int, last: int,
                 budget: int, tokenizer: Any) -> Feature:
        tokens, labels, positions = ["[CLS]"], [IGNORE_INDEX], []
        for word in range(first, last):
            word_pieces = pieces[word][: budget - len(tokens) + 1]  # only a single over-long word is cut
            positions.append(len(tokens))
            tokens += word_pieces
            labels += [self.labels.index(sentence.tags[word])] + [IGNORE_INDEX] * (len(word_pieces) - 1)
        tokens.append("[SEP]")
        labels.append(IGNORE_INDEX)
        ids = list(tokenizer.convert_tokens_to_ids(tokens))
        targets: dict[str, Any] = {"labels": labels} if sentence.tags else {}
        return Feature(ids, [0] * len(ids), targets, index, {"first_word": first, "positions": positions})

    def predict(self, examples: Sequence[Sentence], features: Sequence[Feature],
                outputs: Sequence[np.ndarray]) -> list[list[str]]:
        """One tag per word of every sentence: the argmax at the word's first piece."""
        predicted: list[list[str | None]] = [[None] * len(s.tokens) for s in examples]
        for feature, logits in zip(features, outputs, strict=True):
            best = np.asarray(logits).argmax(axis=-1)
            first = feature.extra["first_word"]
            for offset, position in enumerate(feature.extra["positions"]):
                predicted[feature.example_index][first + offset] = self.labels[int(best[position])]
        for number, tags in enumerate(predicted):
            if None in tags:
                raise InputError(f"Sentence {number} of '{self.name}' has words without a prediction; "
                                 "give outputs for every feature of every example.")
        return predicted  # type: ignore[return-value]

    def metrics(self, examples: Sequence[Sentence], features: Sequence[Feature],
                outputs: Sequence[np.ndarray]) -> dict[str, float]:
        return entity_scores([s.tags for s in examples], self.predict(examples, features, outputs))


def _chunks(lengths: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Word ranges [first, last) whose piece counts fit in `budget` (a longer single word stands alone)."""
    chunks, first, used = [], 0, 0
    for word, length in enumerate(lengths):
        if used and used + length > budget:
            chunks.append((first, word))
            first, used = word, 0
        used += length
    if first < len(lengths):
        chunks.append((first, len(lengths)))
    return chunks


def wnut17(**options: Any) -> NerTask:
    """WNUT-17 emerging and rare entities (6 types, BIO); the official file names."""
    files = {"train": "wnut17train.conll", "dev": "emerging.dev.conll", "test": "emerging.test.annotated"}
    return NerTask("wnut17", {**files, **options.pop("files", {})}, options.pop("labels", WNUT17_LABELS), **options)


def conll_ner(**options: Any) -> NerTask:
    """Any CoNLL-format NER set: CoNLL-2003's tags and train.txt / dev.txt / test.txt unless
    `labels=[...]` and `files={"train": ..., "dev": ..., "test": ...}` say otherwise."""
    files = {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}
    return NerTask("conll-ner", {**files, **options.pop("files", {})}, options.pop("labels", CONLL2003_LABELS),
                   **options)
