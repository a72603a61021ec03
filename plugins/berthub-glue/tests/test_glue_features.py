"""GLUE features: [CLS] a [SEP] b [SEP] windows with Google's pair truncation, on real QNLI and SST-2 rows."""

from __future__ import annotations

import pytest

from berthub.tasks import get_task


def test_qnli_pair_has_segment_ids_0_then_1_and_the_label_id(glue_data, tokenizer):
    task = get_task("qnli")
    example = task.read(glue_data / "QNLI", "dev")[0]
    (feature,) = task.features([example], tokenizer, 128)
    tokens = ["[CLS]", *tokenizer.tokenize(example.text_a), "[SEP]", *tokenizer.tokenize(example.text_b), "[SEP]"]
    assert feature.input_ids == tokenizer.convert_tokens_to_ids(tokens)
    first_b = len(tokenizer.tokenize(example.text_a)) + 2
    assert feature.token_type_ids == [0] * first_b + [1] * (len(tokens) - first_b)
    assert feature.targets == {"labels": task.labels.index(example.label)}


def test_sst2_single_sentence_features_keep_example_order(glue_data, tokenizer):
    task = get_task("sst-2")
    examples = task.read(glue_data / "SST-2", "dev")[:50]
    features = task.features(examples, tokenizer, 16)
    assert [f.example_index for f in features] == list(range(50))
    assert all(len(f.input_ids) <= 16 and set(f.token_type_ids) == {0} for f in features)
    assert [f.targets["labels"] for f in features] == [int(e.label) for e in examples]


def test_test_split_features_have_no_targets(glue_files, tokenizer):
    task = get_task("rte")
    (feature,) = task.features(task.read(glue_files / "RTE", "test"), tokenizer, 64)
    assert feature.targets == {}


def _google_lengths(a: int, b: int, budget: int) -> tuple[int, int]:
    """Google's _truncate_seq_pair in closed form: the longer side loses the excess; when both must
    shrink they end at ceil / floor of half the budget (ties pop from the second text)."""
    excess = a + b - budget
    if excess <= 0:
        return a, b
    if abs(a - b) >= excess:
        return (a - excess, b) if a > b else (a, b - excess)
    return budget - budget // 2, budget // 2


@pytest.mark.parametrize("max_seq_length", [24, 48])
def test_pair_truncation_is_googles_longest_first(glue_data, tokenizer, max_seq_length):
    task = get_task("qnli")
    examples = task.read(glue_data / "QNLI", "dev")[:300]
    cut = 0
    for example, feature in zip(examples, task.features(examples, tokenizer, max_seq_length), strict=True):
        a, b = tokenizer.tokenize(example.text_a), tokenizer.tokenize(example.text_b)
        keep_a, keep_b = _google_lengths(len(a), len(b), max_seq_length - 3)
        tokens = ["[CLS]", *a[:keep_a], "[SEP]", *b[:keep_b], "[SEP]"]
        assert feature.input_ids == tokenizer.convert_tokens_to_ids(tokens)
        assert feature.token_type_ids == [0] * (keep_a + 2) + [1] * (keep_b + 1)
        cut += (keep_a, keep_b) != (len(a), len(b))
    assert cut > 100  # the check really exercised truncation
