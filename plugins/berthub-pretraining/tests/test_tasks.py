"""The `pretraining` and `mlm` tasks and their heads: features, Google's loss, exact accumulation, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from berthub_pretraining import read_instances
from berthub_pretraining.tasks import masked_lm_metrics
from pretraining_support import tiny_model

from berthub.errors import ConfigError
from berthub.tasks import collate, get_task, model_inputs
from berthub.training import Hook, Trainer, TrainingConfig


def test_pretraining_features_carry_googles_instances(instances_dir, tokenizer):
    task = get_task("pretraining")
    examples = task.read(instances_dir, "train")
    features = task.features(examples, tokenizer, 64)
    for feature, instance in zip(features, read_instances(instances_dir / "train"), strict=True):
        assert tokenizer.convert_ids_to_tokens(feature.input_ids) == instance["tokens"]
        assert feature.token_type_ids == instance["segment_ids"]
        assert feature.targets["next_sentence_label"] == int(instance["is_random_next"])
        labels = feature.targets["masked_lm_labels"]
        assert [p for p, label in enumerate(labels) if label >= 0] == instance["masked_lm_positions"]
        assert tokenizer.convert_ids_to_tokens([labels[p] for p in instance["masked_lm_positions"]]) == \
            instance["masked_lm_labels"]


def test_pretraining_refuses_a_shorter_max_seq_length_and_another_vocabulary(instances_dir, tokenizer, data_vocab):
    task = get_task("pretraining")
    examples = task.read(instances_dir, "train")
    with pytest.raises(ConfigError, match="--max-seq-length 6"):
        task.features(examples, tokenizer, 32)
    from berthub.tokenization import BertTokenizer

    with pytest.raises(ConfigError, match="another vocabulary"):
        task.features(examples, BertTokenizer(data_vocab("bert-base-cased"), do_lower_case=False), 64)


@pytest.fixture
def data_vocab():
    from pretraining_support import REPO_DATA

    return lambda name: str(REPO_DATA / "vocabs" / name / "vocab.txt")


def test_pretraining_loss_is_transformers_bert_for_pretraining_loss(instances_dir, tokenizer, tmp_path):
    transformers = pytest.importorskip("transformers")
    task = get_task("pretraining")
    features = task.features(task.read(instances_dir, "dev"), tokenizer, 64)[:8]
    model = tiny_model("google-pretraining").eval()
    model.save_pretrained(tmp_path)
    theirs = transformers.BertForPreTraining.from_pretrained(tmp_path).eval()
    batch = collate(features)
    with torch.no_grad():
        ours = model(**batch)
        reference = theirs(**model_inputs(batch), labels=batch["masked_lm_labels"],
                           next_sentence_label=batch["next_sentence_label"]).loss
    assert abs(float(ours) - float(reference)) < 1e-5


def _train(task, data, tmp_path, batch_size, accumulation, tokenizer, hooks=(), **settings):
    model = tiny_model(task.head)
    # Adam's epsilon 1e-3: both segment rows and the tied vocabulary get gradients near zero in some entries,
    # where Adam's g / (|g| + 1e-6) would blow fp32 rounding (1e-8) of equal gradients up to 1e-6 updates.
    settings = {"max_steps": 3, **settings}
    config = TrainingConfig(output_dir=tmp_path, batch_size=batch_size, gradient_accumulation_steps=accumulation,
                            learning_rate=1e-3, warmup=0.0, progress=False, max_seq_length=64, adam_epsilon=1e-3,
                            **settings)
    Trainer(model, task, tokenizer, config, hooks=hooks).train(data)
    return model


def _difference(a, b) -> float:
    return max((pa - pb).abs().max().item() for pa, pb in zip(a.parameters(), b.parameters(), strict=True))


def test_four_micro_batches_update_like_one_batch_with_googles_two_means(instances_dir, tokenizer, tmp_path):
    task = get_task("pretraining")
    data = task.read(instances_dir, "train")[:48]
    whole = _train(task, data, tmp_path / "a", 16, 1, tokenizer)
    accumulated = _train(task, data, tmp_path / "b", 4, 4, tokenizer)
    assert _difference(whole, tiny_model(task.head)) > 1e-3
    assert _difference(whole, accumulated) < 1e-6


def test_mlm_masks_are_new_each_epoch_and_the_same_under_any_batching(tokenizer, tmp_path):
    from pretraining_support import corpus_text, squad_articles

    (tmp_path / "train.txt").write_text(corpus_text(squad_articles()[0]), encoding="utf-8")
    task = get_task("mlm", whole_word_mask=True)
    features = task.features(task.read(tmp_path, "train"), tokenizer, 64)
    assert all(len(f.input_ids) <= 64 for f in features) and len(features) > 10
    first, again, second = (task.collate(features, 0, epoch) for epoch in (0, 0, 1))
    assert torch.equal(first["input_ids"], again["input_ids"])
    assert not torch.equal(first["masked_lm_labels"], second["masked_lm_labels"])
    alone = task.collate(features[3:4], 0, 0)
    width = alone["input_ids"].shape[1]
    assert torch.equal(alone["masked_lm_labels"][0], first["masked_lm_labels"][3, :width])
    evaluation = task.collate(features, 0, None)
    assert torch.equal(evaluation["input_ids"], task.collate(features, 0, None)["input_ids"])
    labels = first["masked_lm_labels"]
    pieces = tokenizer.convert_ids_to_tokens(range(len(tokenizer)))
    for row, position in (labels >= 0).nonzero().tolist():  # whole words: a masked ## piece follows a masked one
        if pieces[labels[row, position]].startswith("##"):
            assert labels[row, position - 1] >= 0


def test_mlm_accumulation_is_exact(tokenizer, tmp_path):
    from pretraining_support import corpus_text, squad_articles

    (tmp_path / "train.txt").write_text(corpus_text([p for a in squad_articles()[:2] for p in a]), encoding="utf-8")
    task = get_task("mlm")
    data = task.read(tmp_path, "train")
    whole = _train(task, data, tmp_path / "a", 16, 1, tokenizer, group_by_length=False)
    accumulated = _train(task, data, tmp_path / "b", 4, 4, tokenizer, group_by_length=False)
    assert _difference(whole, accumulated) < 1e-6


def test_masked_lm_metrics_are_googles_weighted_means():
    from berthub.tasks import Feature

    features = [Feature([1, 2, 3, 4], [0] * 4), Feature([1, 2, 3], [0] * 3)]
    # (predicted id, loss, label) per position; label -1 = not masked. Padding rows beyond the feature are ignored.
    outputs = [np.array([[-1, 0, -1], [7, 0.5, 7], [8, 1.5, 9], [-1, 0, -1], [5, 9.0, 5]]),
               np.array([[3, 1.0, 3], [-1, 0, -1], [-1, 0, -1]])]
    metrics = masked_lm_metrics(features, outputs)
    assert metrics == {"masked_lm_accuracy": 2 / 3, "masked_lm_loss": pytest.approx(1.0)}


class _InMemory:
    """The pretraining task with every feature materialised in a list (the trainer's classic input)."""

    def __init__(self) -> None:
        self._task = get_task("pretraining")

    def __getattr__(self, name):
        return getattr(self._task, name)

    def features(self, examples, tokenizer, max_seq_length):
        return list(self._task.features(examples, tokenizer, max_seq_length))


def test_instances_read_lazily_from_disk_train_exactly_like_instances_in_memory(instances_dir, tokenizer, tmp_path):
    task = get_task("pretraining")
    data = task.read(instances_dir, "train")
    assert not isinstance(data, list) and len(data[:40]) == 40  # slicing (--limit-train) stays lazy
    features = task.features(data, tokenizer, 64)
    assert list(features.lengths()) == [len(features[i].input_ids) for i in range(len(features))]
    lazy = _train(task, data[:40], tmp_path / "lazy", 8, 1, tokenizer)
    listed = _train(_InMemory(), data[:40], tmp_path / "listed", 8, 1, tokenizer)
    assert _difference(lazy, listed) == 0.0


class _Killed(Exception):
    pass


class _Crash(Hook):
    """Stops the run after `step` as a kill would: nothing after that step is written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, trainer, state, loss) -> None:
        if state.step == self.step:
            raise _Killed


def test_mlm_resumed_in_its_second_epoch_gives_bit_identical_weights(tokenizer, tmp_path):
    from pretraining_support import corpus_text, squad_articles

    (tmp_path / "train.txt").write_text(corpus_text(squad_articles()[0]), encoding="utf-8")
    task = get_task("mlm")
    data = task.read(tmp_path, "train")
    per_epoch = len(task.features(data, tokenizer, 64)) // 8
    settings = {"max_steps": None, "epochs": 2, "save_steps": per_epoch + 1, "group_by_length": False}
    whole = _train(task, data, tmp_path / "whole", 8, 1, tokenizer, **settings)
    with pytest.raises(_Killed):
        _train(task, data, tmp_path / "resumed", 8, 1, tokenizer, hooks=[_Crash(per_epoch + 3)], **settings)
    resumed = _train(task, data, tmp_path / "resumed", 8, 1, tokenizer, resume=True, **settings)
    for (name, a), b in zip(whole.named_parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b), name
