"""Real fine-tuning of the real all-MiniLM-L6-v2 weights on real data, on CPU, with small budgets.

Each test trains through the registered task plugins (sst-2, qnli, squad-v1.1, wnut17) exactly as
`berthub train` does, and prints what it reached; docs/training.md records the numbers of a full run.
Where only a dev split ships (QNLI, SQuAD), training and scoring use disjoint parts of it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from berthub import BertForTask, BertTokenizer
from berthub.tasks import get_task
from berthub.training.trainer import Trainer, TrainingConfig, set_seed

pytestmark = pytest.mark.slow

SETTINGS = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-4, "warmup": 0.1, "weight_decay": 0.01,
            "max_grad_norm": 1.0, "seed": 42, "progress": False}


def finetune(minilm: Path, task_name: str, train: list, dev: list, output_dir: Path, **settings):
    task = get_task(task_name)
    tokenizer = BertTokenizer.from_pretrained(minilm)
    set_seed(42)
    model = BertForTask.from_pretrained(minilm, head=task.head, **task.head_options())
    trainer = Trainer(model, task, tokenizer, TrainingConfig(output_dir=output_dir, **{**SETTINGS, **settings}))
    result = trainer.train(train, eval_examples=dev)
    print(f"\n{task_name}: {len(train)} training examples, {result.steps} steps, "
          f"{result.samples_per_s:.1f} samples/s, dev {result.best_metrics}")
    return result


def transformers_sst2_accuracy(minilm: Path, train: list, dev: list, output_dir: Path, max_length: int) -> float:
    """transformers' Trainer with the settings of SETTINGS on the same sentences (the reference)."""
    import numpy as np
    import transformers

    tokenizer = transformers.BertTokenizer.from_pretrained(minilm)
    transformers.set_seed(42)
    model = transformers.BertForSequenceClassification.from_pretrained(minilm, num_labels=2)

    def encode(examples):
        return [{**tokenizer(e.text_a, truncation=True, max_length=max_length), "labels": int(e.label)}
                for e in examples]

    arguments = transformers.TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=SETTINGS["epochs"], per_device_train_batch_size=16,
        per_device_eval_batch_size=64, learning_rate=SETTINGS["learning_rate"], warmup_steps=SETTINGS["warmup"],
        weight_decay=SETTINGS["weight_decay"], max_grad_norm=SETTINGS["max_grad_norm"], seed=42,
        lr_scheduler_type="linear", adam_epsilon=1e-6, save_strategy="no", eval_strategy="no", report_to="none",
        disable_tqdm=True, use_cpu=True, dataloader_num_workers=0)
    trainer = transformers.Trainer(model=model, args=arguments, train_dataset=encode(train),
                                   data_collator=transformers.DataCollatorWithPadding(tokenizer))
    trainer.train()
    logits = trainer.predict(encode(dev)).predictions
    return float(np.mean(np.argmax(logits, -1) == np.array([int(e.label) for e in dev])))


def test_sst2_reaches_well_above_majority_and_matches_transformers_trainer(minilm_dir, data_dir, tmp_path):
    task = get_task("sst-2")
    train = task.read(data_dir / "glue" / "SST-2", "train")[:1500]
    dev = task.read(data_dir / "glue" / "SST-2", "dev")
    majority = max(sum(e.label == "1" for e in dev), sum(e.label == "0" for e in dev)) / len(dev)
    ours = finetune(minilm_dir, "sst-2", train, dev, tmp_path / "berthub", max_seq_length=64).best_metrics
    reference = transformers_sst2_accuracy(minilm_dir, train, dev, tmp_path / "transformers", 64)
    print(f"sst-2 dev accuracy: berthub {ours['accuracy']:.4f}, transformers Trainer {reference:.4f}, "
          f"majority {majority:.4f}")
    assert ours["accuracy"] > majority + 0.2
    # 872 dev sentences: one standard error of an accuracy near 0.8 is about 0.014.
    assert abs(ours["accuracy"] - reference) < 0.04


def test_pair_task_qnli_learns_entailment(minilm_dir, data_dir, tmp_path):
    pairs = get_task("qnli").read(data_dir / "glue" / "QNLI", "dev")
    train, dev = pairs[:2000], pairs[-600:]
    metrics = finetune(minilm_dir, "qnli", train, dev, tmp_path, max_seq_length=128).best_metrics
    # Balanced classes: chance is 0.5 and one standard error on 600 pairs is 0.02, so 0.58 is 4 of them above.
    assert metrics["accuracy"] > 0.58


def test_squad_subset_answers_questions(minilm_dir, data_dir, tmp_path):
    questions = get_task("squad-v1.1").read(data_dir / "squad", "dev")
    train, dev = questions[:800], questions[-300:]  # the dev file is ordered by article: no shared paragraph
    assert not {" ".join(e.doc_tokens) for e in train} & {" ".join(e.doc_tokens) for e in dev}
    metrics = finetune(minilm_dir, "squad-v1.1", train, dev, tmp_path, max_seq_length=192, epochs=2,
                       learning_rate=2e-4).best_metrics
    assert set(metrics) >= {"exact_match", "f1"} and all(math.isfinite(v) for v in metrics.values())
    assert metrics["f1"] > 15  # a model that has not learnt spans scores near 0-5 F1


def test_ner_wnut17_finds_entities(minilm_dir, data_dir, tmp_path):
    task = get_task("wnut17")
    train = task.read(data_dir / "wnut17", "train")[:1500]
    dev = task.read(data_dir / "wnut17", "dev")
    metrics = finetune(minilm_dir, "wnut17", train, dev, tmp_path, max_seq_length=96, epochs=2,
                       learning_rate=2e-4).best_metrics
    assert {"precision", "recall", "f1"} <= set(metrics)
    assert metrics["f1"] > 0.2  # predicting "O" everywhere scores 0; this budget reaches about 0.39
