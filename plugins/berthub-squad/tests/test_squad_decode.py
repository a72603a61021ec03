"""Span decoding: n-best rules, mapping back to the original text, and gold spans on the real dev set."""

from __future__ import annotations

import numpy as np
import pytest
from berthub_squad.decode import decode, final_text
from berthub_squad.evaluate import evaluate
from berthub_squad.examples import SquadExample

from berthub.tasks import Feature, get_task


def test_final_text_keeps_the_original_casing_and_drops_the_trailing_possessive():
    assert final_text("steve smith", "Steve Smith's", do_lower_case=True) == "Steve Smith"


def test_final_text_maps_a_sub_word_prediction_inside_punctuation():
    assert final_text("1895", "(1895-1943)", do_lower_case=True) == "1895"


def test_final_text_aligns_across_characters_the_tokenizer_deletes():
    # SQuAD dev has "model—\u200b\u200bmany": zero-width spaces vanish from the tokenized text.
    assert final_text("english university model", "English university model—\u200b\u200bmany",
                      do_lower_case=True) == "English university model"


def test_final_text_falls_back_to_the_whole_original_when_the_prediction_is_not_in_it():
    assert final_text("paris", "London,", do_lower_case=True) == "London,"


def _example_and_window(tokenizer):
    words = "The Eiffel Tower was finished in 1889 in Paris .".split()
    example = SquadExample("q", "When was it finished?", words, ["1889"], "1889", 6, 6)
    (feature,) = get_task("squad-v1.1").features([example], tokenizer, 64)
    return example, feature


def _logits(feature, starts, ends):
    s, e = np.full(len(feature.input_ids), -5.0), np.full(len(feature.input_ids), -5.0)
    for position, value in starts.items():
        s[position] = value
    for position, value in ends.items():
        e[position] = value
    return s, e


def _position(feature, token):
    return feature.extra["tokens"].index(token, feature.token_type_ids.index(1))


def test_best_span_is_the_highest_start_plus_end(tokenizer):
    example, feature = _example_and_window(tokenizer)
    year, paris = _position(feature, "1889"), _position(feature, "paris")
    answer = decode(example, [feature], [_logits(feature, {year: 3.0, paris: 2.0}, {year: 3.0, paris: 2.5})])
    assert answer.text == "1889"
    assert [c.text for c in answer.nbest[:2]] == ["1889", "1889 in Paris"]


def test_spans_ending_before_they_start_or_in_the_question_are_not_candidates(tokenizer):
    example, feature = _example_and_window(tokenizer)
    year, paris, question = _position(feature, "1889"), _position(feature, "paris"), 2
    outputs = [_logits(feature, {paris: 9.0, year: 1.0, question: 20.0}, {year: 9.0, paris: 2.0, question: 20.0})]
    # paris..1889 (18) is reversed and the question scores (40) are not context: paris..paris (11) wins
    assert decode(example, [feature], outputs).text == "Paris"


def test_spans_longer_than_max_answer_length_are_skipped(tokenizer):
    example, feature = _example_and_window(tokenizer)
    the, year = _position(feature, "the"), _position(feature, "1889")
    outputs = [_logits(feature, {the: 9.0, year: 1.0}, {year: 9.0})]
    assert decode(example, [feature], outputs).text == "The Eiffel Tower was finished in 1889"
    assert decode(example, [feature], outputs, max_answer_length=3).text == "1889"


def test_v2_answers_empty_when_the_null_score_beats_the_best_span_by_more_than_the_threshold(tokenizer):
    example, feature = _example_and_window(tokenizer)
    year = _position(feature, "1889")
    outputs = [_logits(feature, {0: 4.0, year: 3.0}, {0: 4.0, year: 3.0})]  # null 8 vs span 6
    answer = decode(example, [feature], outputs, with_null=True)
    assert (answer.text, answer.null_score_diff) == ("", pytest.approx(2.0))
    assert decode(example, [feature], outputs, with_null=True, null_threshold=2.5).text == "1889"
    assert decode(example, [feature], outputs, with_null=False).text == "1889"


def _gold_outputs(features: list[Feature]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Logits that put the gold start and end where each window's targets say, and nothing elsewhere."""
    outputs = []
    for f in features:
        start, end = np.zeros(len(f.input_ids)), np.zeros(len(f.input_ids))
        if f.targets["start_positions"]:
            start[f.targets["start_positions"]] = end[f.targets["end_positions"]] = 10.0
        outputs.append((start, end))
    return outputs


def _token_aligned_ids(squad_dir) -> set[str]:
    """Questions whose first gold answer starts and ends on a WordPiece boundary, by transformers' own
    tokenizer and its character offsets (an implementation independent of ours)."""
    import json

    transformers = pytest.importorskip("transformers")
    fast = transformers.BertTokenizerFast.from_pretrained(str(squad_dir.parent / "vocabs" / "bert-base-uncased"),
                                                          do_lower_case=True)
    assert fast.tokenize("unaffable") == ["una", "##ffa", "##ble"]  # the real vocabulary, not an empty one
    aligned = set()
    for article in json.loads((squad_dir / "dev-v1.1.json").read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            offsets = fast(paragraph["context"], add_special_tokens=False, return_offsets_mapping=True)
            starts = {s for s, _ in offsets["offset_mapping"]}
            ends = {e for _, e in offsets["offset_mapping"]}
            for qa in paragraph["qas"]:
                first = qa["answers"][0]
                if first["answer_start"] in starts and first["answer_start"] + len(first["text"]) in ends:
                    aligned.add(qa["id"])
    return aligned


@pytest.mark.slow
@pytest.mark.parametrize("max_seq_length, doc_stride", [(384, 128), (128, 32)])
def test_gold_spans_decode_to_em_and_f1_100_on_the_real_dev_set(dev_examples, tokenizer, squad_dir,
                                                                 max_seq_length, doc_stride):
    # max_answer_length is lifted: some gold answers are longer than Google's default of 30 tokens.
    task = get_task("squad-v1.1", doc_stride=doc_stride, n_best_size=5, max_answer_length=max_seq_length)
    features = task.features(dev_examples, tokenizer, max_seq_length)
    predictions = dict(zip((e.qas_id for e in dev_examples),
                           task.predict(dev_examples, features, _gold_outputs(features)), strict=True))
    aligned = _token_aligned_ids(squad_dir)
    golds = {e.qas_id: e.answers for e in dev_examples if e.qas_id in aligned}
    assert len(golds) == 10538  # the other 32 answers start or end inside a WordPiece ("8" in "20–18")
    scores = evaluate(golds, predictions)
    assert (scores["exact_match"], scores["f1"]) == (100.0, 100.0)
    everything = evaluate({e.qas_id: e.answers for e in dev_examples}, predictions)
    assert everything["exact_match"] > 99.7
