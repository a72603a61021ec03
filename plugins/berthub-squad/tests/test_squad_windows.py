"""Windows over long contexts (Google's doc_stride), checked on every question of the real dev set."""

from __future__ import annotations

from collections import defaultdict

import pytest
from berthub_squad.windows import DocSpan, doc_spans, improve_answer_span, max_context_span

from berthub.tasks import get_task

MAX_SEQ, STRIDE = 128, 32  # small windows, so most dev contexts need several overlapping ones


def test_windows_step_by_doc_stride_and_the_last_ends_at_the_last_token():
    assert doc_spans(10, 4, 3) == [DocSpan(0, 4), DocSpan(3, 4), DocSpan(6, 4)]
    assert doc_spans(3, 4, 3) == [DocSpan(0, 3)]
    assert doc_spans(9, 4, 8) == [DocSpan(0, 4), DocSpan(4, 4), DocSpan(8, 1)]  # stride capped at window


def test_max_context_prefers_the_window_with_more_context_on_its_short_side():
    # Google's example: "bought" (token 7) has 4 left / 0 right in B and 1 left / 3 right in C.
    spans = [DocSpan(0, 5), DocSpan(3, 5), DocSpan(6, 5)]  # the man went to the | to the store and bought | ...
    assert max_context_span(spans, 7) == 2
    assert max_context_span(spans, 0) == 0
    assert max_context_span(spans, 11) is None


def test_improve_answer_span_narrows_to_the_sub_tokens_of_the_answer(tokenizer):
    tokens = tokenizer.tokenize("(1895-1943)")
    start, end = improve_answer_span(tokens, 0, len(tokens) - 1, tokenizer, "1895")
    assert tokens[start : end + 1] == ["1895"]


@pytest.fixture(scope="module")
def windows(dev_examples, tokenizer):
    return get_task("squad-v1.1", doc_stride=STRIDE).features(dev_examples, tokenizer, MAX_SEQ)


@pytest.fixture(scope="module")
def by_example(windows):
    groups = defaultdict(list)
    for feature in windows:
        groups[feature.example_index].append(feature)
    return groups


def _context_positions(feature):
    """Window positions of context tokens: after [CLS] question [SEP], before the final [SEP]."""
    first = feature.token_type_ids.index(1)
    return range(first, len(feature.input_ids) - 1)


@pytest.mark.slow
def test_every_window_is_cls_question_sep_context_sep_within_max_seq_length(windows, tokenizer):
    cls, sep = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
    assert len(windows) == 32675
    for feature in windows:
        assert len(feature.input_ids) <= MAX_SEQ
        assert feature.input_ids[0] == cls and feature.input_ids[-1] == sep
        assert feature.input_ids[feature.token_type_ids.index(1) - 1] == sep
        assert set(feature.extra["token_to_word"]) == set(_context_positions(feature))


@pytest.mark.slow
def test_every_context_token_is_scored_in_exactly_one_window(dev_examples, by_example, tokenizer):
    checked = 0
    for index, features in by_example.items():
        scored = [f.extra["tokens"][p] for f in features for p in sorted(f.extra["max_context"])]
        context = [piece for word in dev_examples[index].doc_tokens for piece in tokenizer.tokenize(word)]
        assert scored == context
        checked += len(features) > 1
    assert checked > 8000  # most questions really were split into several windows


@pytest.mark.slow
def test_each_answer_is_scored_once_in_the_window_where_it_is_most_centred(by_example):
    for features in by_example.values():
        holding = [f for f in features if f.targets["start_positions"] > 0]  # answer wholly inside
        assert holding, "every dev answer fits in some window"
        scored_in = [f for f in holding if f.targets["start_positions"] in f.extra["max_context"]]
        assert len(scored_in) == 1

        def centred(f):
            start, positions = f.targets["start_positions"], _context_positions(f)
            return min(start - positions.start, positions.stop - 1 - start) + 0.01 * len(positions)

        assert centred(scored_in[0]) == max(centred(f) for f in holding)


@pytest.mark.slow
def test_answer_targets_point_at_the_answer_tokens(dev_examples, by_example, tokenizer):
    for index, features in by_example.items():
        wanted = " ".join(tokenizer.tokenize(dev_examples[index].orig_answer_text))
        for f in features:
            start, end = f.targets["start_positions"], f.targets["end_positions"]
            if start:
                text = " ".join(f.extra["tokens"][start : end + 1])
                # the answer's sub-tokens, or the whole words around it when it starts or ends inside a
                # word piece ("39" in "739" = "73 ##9")
                assert text == wanted or wanted.replace(" ##", "") in text.replace(" ##", "")


def test_question_is_cut_at_max_query_length(dev_examples, tokenizer):
    (feature, *_) = get_task("squad-v1.1", max_query_length=4).features(dev_examples[:1], tokenizer, 384)
    assert feature.extra["tokens"][:6] == ["[CLS]", "which", "nfl", "team", "represented", "[SEP]"]
