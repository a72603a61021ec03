"""SQuAD v2.0: unanswerable questions train towards [CLS] and are scored by the null threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from berthub.tasks import get_task

V2_FILES = Path(__file__).resolve().parent / "squad_v2_files"


@pytest.fixture(scope="module")
def v2(tokenizer):
    task = get_task("squad-v2.0")
    examples = task.read(V2_FILES, "dev")
    return task, examples, task.features(examples, tokenizer, 64)


def test_unanswerable_questions_have_no_gold_answer_and_point_at_cls(v2):
    task, examples, features = v2
    assert [(e.qas_id, e.is_impossible, e.answers) for e in examples] == [
        ("q-built", False, ["1868"]), ("q-demolished", True, [])]
    impossible = [f for f in features if f.example_index == 1]
    assert all(f.targets == {"start_positions": 0, "end_positions": 0} for f in impossible)


def test_answerable_targets_point_at_the_answer(v2):
    _, _, features = v2
    (feature,) = [f for f in features if f.example_index == 0]
    assert feature.extra["tokens"][feature.targets["start_positions"]] == "1868"


def _outputs(features, span_score: float, null_score: float):
    outputs = []
    for f in features:
        start, end = np.full(len(f.input_ids), -5.0), np.full(len(f.input_ids), -5.0)
        year = f.extra["tokens"].index("1868")
        start[year] = end[year] = span_score / 2
        start[0] = end[0] = null_score / 2
        outputs.append((start, end))
    return outputs


def test_metrics_score_abstaining_on_the_unanswerable_question(v2):
    task, examples, features = v2
    # both questions: span "1868" scores 6, null scores 2 for q-built's window and 8 for the other
    outputs = _outputs(features, 6.0, 2.0)
    outputs[1] = _outputs(features[1:], 6.0, 8.0)[0]
    assert task.predict(examples, features, outputs) == ["1868", ""]
    scores = task.metrics(examples, features, outputs)
    assert scores["exact_match"] == scores["f1"] == 100.0
    assert scores["NoAns_exact_match"] == scores["HasAns_exact_match"] == 100.0


def test_a_higher_null_threshold_answers_more(tokenizer, v2):
    _, examples, features = v2
    outputs = _outputs(features, 6.0, 8.0)
    lenient = get_task("squad-v2.0", null_threshold=5.0)
    assert lenient.predict(examples, features, outputs) == ["1868", "1868"]
