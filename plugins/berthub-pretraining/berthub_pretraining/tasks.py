"""The `pretraining` and `mlm` tasks for `berthub train` / `berthub evaluate`.

pretraining: instances made by `berthub pretraining-data` (Google's, exactly), in DATA_DIR/train and
  DATA_DIR/dev; masked LM + next sentence with Google's loss on the `google-pretraining` head.
mlm: raw text in DATA_DIR/train.txt and dev.txt (one sentence per line, blank lines between
  documents), packed into windows of whole sentences per document; masked LM only on the
  `google-masked-lm` head, with Google's masking drawn anew every epoch (fixed for evaluation).
Metrics are those of Google's run_pretraining.py evaluation: masked_lm_accuracy, masked_lm_loss,
next_sentence_accuracy, next_sentence_loss (pretraining), and perplexity = exp(masked_lm_loss) (mlm).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from berthub.errors import ConfigError
from berthub.tasks import IGNORE_INDEX, Feature, collate, require_files
from berthub_pretraining import corpus, shards
from berthub_pretraining.instances import InstanceConfig, Vocabulary, mask_tokens


@dataclass
class Example:
    """One instance of a `berthub pretraining-data` folder, as ids; `vocab` is the folder's vocabulary."""

    token_ids: np.ndarray
    segment_ids: np.ndarray
    is_random_next: bool
    masked_lm_positions: np.ndarray
    masked_lm_label_ids: np.ndarray
    vocab: list[str]


class PreTraining:
    """Masked LM + next sentence on Google-exact instances (see the module docstring)."""

    name = "pretraining"
    head = "google-pretraining"
    main_metric = "masked_lm_accuracy"
    labels: list[str] = []
    splits = {"train": ["train/index.json"], "dev": ["dev/index.json"]}

    def head_options(self) -> dict[str, Any]:
        return {}

    def read(self, data_dir: Path, split: str) -> Sequence[Example]:
        """The instances of DATA_DIR/<split>, read lazily from their shards (corpora bigger than memory)."""
        (index,) = require_files(data_dir, self.name, split, self.splits[split])
        return LazyExamples(shards.Instances(index.parent))

    def features(self, examples: Sequence[Example], tokenizer: Any, max_seq_length: int) -> Sequence[Feature]:
        """One feature per instance, built when the trainer asks for it (a lazy sequence with `lengths()`)."""
        if len(examples):
            _check_vocab(examples[0].vocab, tokenizer)
        lengths = _lengths(examples)
        longest = int(max(lengths, default=0))
        if longest > max_seq_length:
            raise ConfigError(f"The instances hold up to {longest} tokens but max_seq_length is {max_seq_length}; "
                              f"train with --max-seq-length {longest} or more (the --max-seq-length the instances "
                              "were made with).")
        return LazyFeatures(examples, lengths)

    def predict(self, examples: Sequence[Example], features: Sequence[Feature], outputs: Sequence[Any]) -> list[dict]:
        """Per instance: the predicted tokens at its masked positions and whether B looks random."""
        answers = []
        for example, feature, (mlm, nsp) in zip(examples, features, outputs, strict=True):
            predicted = [example.vocab[int(mlm[p, 0])] for p in _positions(feature, mlm)]
            answers.append({"masked_lm_predictions": predicted, "is_random_next": bool(np.argmax(nsp) == 1)})
        return answers

    def metrics(self, examples: Sequence[Example], features: Sequence[Feature], outputs: Sequence[Any]) -> dict:
        result = masked_lm_metrics(features, [mlm for mlm, _ in outputs])
        labels = np.array([f.targets["next_sentence_label"] for f in features])
        scores = np.stack([nsp for _, nsp in outputs]).astype(np.float64)
        log_probs = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
        result["next_sentence_accuracy"] = float(np.mean(scores.argmax(1) == labels))
        result["next_sentence_loss"] = float(-np.mean(log_probs[np.arange(len(labels)), labels]))
        return result


def instance_feature(example: Example, index: int) -> Feature:
    """An instance as model input: its ids, segment ids, the original ids at masked positions (-100 elsewhere)
    and next_sentence_label (1 = B is random, Google's convention)."""
    labels = [IGNORE_INDEX] * len(example.token_ids)
    for position, label in zip(example.masked_lm_positions.tolist(), example.masked_lm_label_ids.tolist(),
                               strict=True):
        labels[position] = label
    return Feature(example.token_ids.tolist(), example.segment_ids.tolist(),
                   {"masked_lm_labels": labels, "next_sentence_label": int(example.is_random_next)},
                   example_index=index)


class LazyExamples(Sequence):
    """Examples of an instance folder, read from disk by index; slicing (--limit-train) stays lazy."""

    def __init__(self, instances: shards.Instances, positions: range | None = None) -> None:
        self.instances = instances
        self.positions = range(len(instances)) if positions is None else positions

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return LazyExamples(self.instances, self.positions[index])
        return Example(*self.instances[self.positions[index]], self.instances.vocab)

    def lengths(self) -> np.ndarray:
        lengths = self.instances.lengths()
        return lengths[self.positions.start:self.positions.stop:self.positions.step]


class LazyFeatures(Sequence):
    """Features built on demand from lazy examples; `lengths()` answers without reading any instance."""

    def __init__(self, examples: Sequence[Example], lengths: Sequence[int]) -> None:
        self.examples, self._lengths = examples, lengths

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Feature:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return instance_feature(self.examples[index], index % len(self))

    def lengths(self) -> Sequence[int]:
        return self._lengths


def _lengths(examples: Sequence[Example]) -> Sequence[int]:
    return examples.lengths() if hasattr(examples, "lengths") else [len(e.token_ids) for e in examples]


class MaskedLM:
    """Masked LM only on raw text, masks drawn anew each epoch (see the module docstring).

    Options: masked_lm_prob, max_predictions_per_seq, whole_word_mask (Google's meanings), seed (masks
    depend only on it, the epoch and the window, so they are the same under any batching or DDP).
    """

    name = "mlm"
    head = "google-masked-lm"
    main_metric = "masked_lm_accuracy"
    labels: list[str] = []
    splits = {"train": ["train.txt"], "dev": ["dev.txt"]}

    def __init__(self, masked_lm_prob: float = 0.15, max_predictions_per_seq: int = 20,
                 whole_word_mask: bool = False, seed: int = 12345) -> None:
        self.masking = InstanceConfig(max_predictions_per_seq=max_predictions_per_seq, masked_lm_prob=masked_lm_prob,
                                      do_whole_word_mask=whole_word_mask, random_seed=seed)
        problems = self.masking.problems()
        if problems:
            raise ConfigError("Invalid mlm task options: " + "; ".join(problems))
        self._vocab: Vocabulary | None = None

    def head_options(self) -> dict[str, Any]:
        return {}

    def read(self, data_dir: Path, split: str) -> list[list[str]]:
        """Documents (lists of sentences) of DATA_DIR/<split>.txt."""
        (path,) = require_files(data_dir, self.name, split, self.splits[split])
        documents: list[list[str]] = [[]]
        for line, _ in corpus.lines(path):
            if line:
                documents[-1].append(line)
            elif documents[-1]:
                documents.append([])
        return [d for d in documents if d]

    def features(self, examples: Sequence[list[str]], tokenizer: Any, max_seq_length: int) -> list[Feature]:
        """[CLS] consecutive sentences of one document [SEP], up to max_seq_length tokens (long sentences cut)."""
        self._vocab = Vocabulary.from_tokens(tokenizer.convert_ids_to_tokens(range(len(tokenizer))))
        budget = max_seq_length - 2
        features: list[Feature] = []
        for index, document in enumerate(examples):
            window: list[int] = []
            for sentence in document:
                ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(sentence))
                if window and len(window) + len(ids) > budget:
                    features.append(self._feature(window, index, len(features)))
                    window = []
                for start in range(0, len(ids), budget):
                    window += ids[start:start + budget]
                    if len(window) >= budget:
                        features.append(self._feature(window, index, len(features)))
                        window = []
            if window:
                features.append(self._feature(window, index, len(features)))
        return features

    def _feature(self, window: list[int], example_index: int, number: int) -> Feature:
        ids = [self._vocab.cls_id, *window, self._vocab.sep_id]
        return Feature(ids, [0] * len(ids), {"masked_lm_labels": [IGNORE_INDEX] * len(ids)}, example_index,
                       {"window": number})

    def collate(self, features: Sequence[Feature], pad_id: int, epoch: int | None) -> dict[str, Tensor]:
        """Google's masking of each window, from a generator seeded by (seed, epoch, window); epoch None = eval."""
        if self._vocab is None:
            raise ConfigError("MaskedLM.collate needs the task's features() to have run first (they set the "
                              "vocabulary).")
        masked = []
        for feature in features:
            rng = random.Random(f"{self.masking.random_seed}/{'eval' if epoch is None else epoch}/"
                                f"{feature.extra['window']}")
            ids, positions, labels = mask_tokens(feature.input_ids, self._vocab, self.masking, rng)
            targets = [IGNORE_INDEX] * len(ids)
            for position, label in zip(positions, labels, strict=True):
                targets[position] = label
            masked.append(Feature(ids, feature.token_type_ids, {"masked_lm_labels": targets}, feature.example_index,
                                  feature.extra))
        return collate(masked, pad_id=pad_id)

    def predict(self, examples: Sequence[Any], features: Sequence[Feature], outputs: Sequence[Any]) -> list[dict]:
        """Per window: its evaluation masks' positions and the predicted ids there."""
        answers = []
        for feature, output in zip(features, outputs, strict=True):
            positions = _positions(feature, output)
            answers.append({"window": feature.extra["window"], "positions": positions,
                            "predicted_ids": [int(output[p, 0]) for p in positions]})
        return answers

    def metrics(self, examples: Sequence[Any], features: Sequence[Feature], outputs: Sequence[Any]) -> dict:
        result = masked_lm_metrics(features, outputs)
        result["perplexity"] = math.exp(min(result["masked_lm_loss"], 700.0))
        return result


def _positions(feature: Feature, output: np.ndarray) -> list[int]:
    """The masked positions of a feature: where evaluation scored a label."""
    return [p for p in range(len(feature.input_ids)) if output[p, 2] >= 0]


def masked_lm_metrics(features: Sequence[Feature], outputs: Sequence[np.ndarray]) -> dict[str, float]:
    """masked_lm_accuracy and masked_lm_loss over every masked position of every feature (Google's weighted means).

    outputs: per feature [T', 3] (predicted id, loss, label) with label -1 where nothing was masked.
    """
    correct = total = 0
    loss = 0.0
    for feature, output in zip(features, outputs, strict=True):
        scored = output[: len(feature.input_ids)]
        scored = scored[scored[:, 2] >= 0]
        correct += int((scored[:, 0] == scored[:, 2]).sum())
        total += len(scored)
        loss += float(scored[:, 1].astype(np.float64).sum())
    return {"masked_lm_accuracy": correct / max(total, 1), "masked_lm_loss": loss / max(total, 1)}


def _check_vocab(vocab: list[str], tokenizer: Any) -> None:
    model_tokens = tokenizer.convert_ids_to_tokens(range(len(tokenizer)))
    if list(model_tokens) != list(vocab):
        raise ConfigError(f"The instances were made with another vocabulary ({len(vocab)} tokens) than the model's "
                          f"({len(model_tokens)} tokens); rerun `berthub pretraining-data --vocab` with the model's "
                          "vocab.txt.")
