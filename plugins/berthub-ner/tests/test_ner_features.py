"""NER features: the first piece of each word carries its tag, long sentences are cut at word boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from berthub_ner.conll import Sentence

from berthub.tasks import IGNORE_INDEX, collate, get_task


@pytest.fixture(scope="module")
def task():
    return get_task("wnut17")


def test_first_sub_token_is_labelled_and_the_rest_ignored(task, tokenizer):
    sentence = Sentence(["Empire", "Statebuilding", "rocks"], ["B-location", "I-location", "O"])
    (feature,) = task.features([sentence], tokenizer, 32)
    tokens = ["[CLS]", *tokenizer.tokenize("Empire Statebuilding rocks"), "[SEP]"]
    assert feature.input_ids == tokenizer.convert_tokens_to_ids(tokens)
    labels = feature.targets["labels"]
    assert len(labels) == len(tokens)
    named = {tokens[i]: task.labels[label] for i, label in enumerate(labels) if label != IGNORE_INDEX}
    assert named == {"Empire": "B-location", "State": "I-location", "rocks": "O"}
    assert sum(label != IGNORE_INDEX for label in labels) == 3


def test_a_word_the_tokenizer_deletes_keeps_a_position(task, tokenizer):
    (feature,) = task.features([Sentence(["hi", "\u200b", "there"], ["O", "O", "O"])], tokenizer, 16)
    assert len(feature.extra["positions"]) == 3


def test_a_long_sentence_becomes_several_features_covering_every_word_once(task, tokenizer):
    words = [f"word{i}" for i in range(40)]
    sentence = Sentence(words, ["O"] * 40)
    features = task.features([sentence], tokenizer, 16)
    assert len(features) > 1 and all(len(f.input_ids) <= 16 for f in features)
    covered = [f.extra["first_word"] + i for f in features for i in range(len(f.extra["positions"]))]
    assert covered == list(range(40))


def _gold_logits(task, features):
    outputs = []
    for f in features:
        logits = np.zeros((len(f.input_ids) + 3, len(task.labels)))  # + batch padding, ignored
        for position, label in enumerate(f.targets["labels"]):
            logits[position, max(label, 0)] = 1.0
        outputs.append(logits)
    return outputs


@pytest.mark.slow
def test_gold_logits_give_f1_1_on_the_real_dev_set(task, tokenizer, wnut_dir):
    examples = task.read(wnut_dir, "dev")
    features = task.features(examples, tokenizer, 64)  # short windows: some sentences are split
    assert len(features) > len(examples)
    outputs = _gold_logits(task, features)
    assert task.predict(examples, features, outputs) == [s.tags for s in examples]
    assert task.metrics(examples, features, outputs) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "accuracy": 1.0}


def test_features_collate_into_a_padded_batch(task, tokenizer, wnut_dir):
    features = task.features(task.read(wnut_dir, "dev")[:4], tokenizer, 128)
    batch = collate(features)
    width = max(len(f.input_ids) for f in features)
    assert batch["labels"].shape == batch["input_ids"].shape == (4, width)
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
