"""The official SQuAD EM / F1 (evaluate-v1.1.py and evaluate-v2.0.py), on hand-checked cases."""

from __future__ import annotations

import pytest
from berthub_squad.evaluate import evaluate, exact_match, f1_score, normalize_answer


def test_normalisation_lowercases_and_drops_punctuation_articles_and_extra_space():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Theodore") == "theodore"  # articles only as whole words


def test_exact_match_compares_normalised_answers():
    assert exact_match("the Broncos", "Broncos.") == 1.0
    assert exact_match("Denver Broncos", "Broncos") == 0.0


def test_f1_by_hand():
    # prediction {denver, broncos, team}, gold {broncos}: precision 1/3, recall 1 -> 0.5
    assert f1_score("Denver Broncos team", "the Broncos") == pytest.approx(0.5)
    # tokens count with multiplicity: common = {go: 1, stop: 1}, precision = recall = 2/3
    assert f1_score("go go stop", "go stop stop") == pytest.approx(2 / 3)


def test_empty_answers_score_zero_in_v11_and_match_each_other_in_v20():
    assert f1_score("", "") == 0.0
    assert f1_score("", "", empty_matches_empty=True) == 1.0
    assert f1_score("Broncos", "", empty_matches_empty=True) == 0.0


def test_evaluate_takes_the_best_gold_answer_and_reports_percentages():
    golds = {"q1": ["Denver Broncos", "Broncos"], "q2": ["Santa Clara, California"], "q3": ["1968"]}
    predictions = {"q1": "Broncos", "q2": "Santa Clara", "q3": "1969"}
    scores = evaluate(golds, predictions)
    # q1: EM 1, F1 1; q2: EM 0, F1 = 2 * (1 * 2/3) / (1 + 2/3) = 0.8; q3: 0, 0
    assert scores == {"exact_match": pytest.approx(100 / 3), "f1": pytest.approx(180 / 3), "total": 3}


def test_a_missing_prediction_counts_as_wrong():
    assert evaluate({"q1": ["a b"], "q2": ["c"]}, {"q1": "a b"})["exact_match"] == 50.0


def test_v20_splits_answerable_and_unanswerable_questions():
    golds = {"has": ["Gull Rock"], "none": [], "none2": []}
    predictions = {"has": "Gull Rock", "none": "", "none2": "1962"}
    scores = evaluate(golds, predictions, version="2.0")
    assert scores["exact_match"] == pytest.approx(200 / 3)
    assert (scores["HasAns_exact_match"], scores["HasAns_total"]) == (100.0, 1)
    assert (scores["NoAns_exact_match"], scores["NoAns_f1"], scores["NoAns_total"]) == (50.0, 50.0, 2)
