"""GLUE metrics: hand-checked values, then agreement with scikit-learn and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from berthub_glue import metrics as M

from berthub.tasks import Feature


def test_accuracy_counts_matches():
    assert M.accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5


def test_f1_of_class_1_by_hand():
    # tp = 2, fp = 1, fn = 1 -> 2*2 / (2*2 + 1 + 1)
    assert M.f1([1, 1, 0, 0, 1], [1, 0, 1, 0, 1]) == pytest.approx(4 / 6)


def test_f1_is_zero_when_no_positive_is_gold_or_predicted():
    assert M.f1([0, 0], [0, 0]) == 0.0


def test_matthews_by_hand():
    # tp = 2, tn = 2, fp = 1, fn = 1 -> (2*2 - 1*1) / sqrt(3*3*3*3) = 1/3
    assert M.matthews_corrcoef([1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 1]) == pytest.approx(1 / 3)


def test_matthews_is_1_perfect_minus_1_inverted_and_0_for_a_constant_guess():
    gold = [0, 1, 1, 0]
    assert M.matthews_corrcoef(gold, gold) == pytest.approx(1.0)
    assert M.matthews_corrcoef(gold, [1 - g for g in gold]) == pytest.approx(-1.0)
    assert M.matthews_corrcoef(gold, [1, 1, 1, 1]) == 0.0


def test_pearson_by_hand():
    # centred x = (-1, 0, 1), y = (-7/3, -1/3, 8/3): 5 / sqrt(2 * 114/9)
    assert M.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 114 / 9))


def test_spearman_gives_ties_their_average_rank():
    # ranks x = (1, 2.5, 2.5, 4), y = (1, 3, 2, 4): 4.5 / sqrt(4.5 * 5)
    assert M.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))


def test_pearson_of_a_constant_is_nan():
    assert math.isnan(M.pearson([1, 1, 1], [1, 2, 3]))


def test_metrics_reject_sequences_of_different_length():
    with pytest.raises(ValueError, match="equal length"):
        M.accuracy([1, 0], [1])


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_equal_scikit_learn(seed):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    gold, pred = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    assert M.accuracy(gold, pred) == pytest.approx(sklearn_metrics.accuracy_score(gold, pred))
    assert M.f1(gold, pred) == pytest.approx(sklearn_metrics.f1_score(gold, pred))
    assert M.matthews_corrcoef(gold, pred) == pytest.approx(sklearn_metrics.matthews_corrcoef(gold, pred))
    gold3, pred3 = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    assert M.matthews_corrcoef(gold3, pred3) == pytest.approx(sklearn_metrics.matthews_corrcoef(gold3, pred3))


@pytest.mark.parametrize("seed", range(5))
def test_correlations_equal_scipy_with_ties(seed):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 26, 300) / 5  # STS-B-like scores in steps of 0.2: many ties
    pred = gold + rng.normal(0, 1.0, 300)
    assert M.pearson(pred, gold) == pytest.approx(stats.pearsonr(pred, gold)[0])
    assert M.spearman(pred, gold) == pytest.approx(stats.spearmanr(pred, gold)[0])
    assert M.spearman(np.round(pred), gold) == pytest.approx(stats.spearmanr(np.round(pred), gold)[0])


def _logits_for(labels: list[str], predicted: list[str]) -> list[np.ndarray]:
    return [np.eye(len(labels))[labels.index(p)] for p in predicted]


def test_sst2_dev_accuracy_from_logits(glue_data):
    from berthub.tasks import get_task

    task = get_task("sst-2")
    examples = task.read(glue_data / "SST-2", "dev")
    features = [Feature([101, 102], [0, 0], {}, i) for i in range(len(examples))]
    predicted = [e.label for e in examples]
    predicted[:100] = ["1" if p == "0" else "0" for p in predicted[:100]]  # 100 wrong on purpose
    scores = task.metrics(examples, features, _logits_for(task.labels, predicted))
    assert scores == {"accuracy": pytest.approx(772 / 872)}
    assert task.main_metric == "accuracy"


def test_mrpc_reports_f1_and_accuracy(glue_files):
    from berthub.tasks import get_task

    task = get_task("mrpc")
    examples = task.read(glue_files / "MRPC", "train")  # gold 1, 0, 1
    features = [Feature([101, 102], [0, 0], {}, i) for i in range(3)]
    scores = task.metrics(examples, features, _logits_for(task.labels, ["1", "1", "0"]))
    # tp = 1, fp = 1, fn = 1 -> F1 = 0.5; one of three right
    assert scores == {"accuracy": pytest.approx(1 / 3), "f1": pytest.approx(0.5)}
    assert task.main_metric == "f1"


def test_cola_reports_matthews(glue_files):
    from berthub.tasks import get_task

    task = get_task("cola")
    examples = task.read(glue_files / "CoLA", "train")  # gold 1, 0, 1, 0, 0
    features = [Feature([101, 102], [0, 0], {}, i) for i in range(5)]
    scores = task.metrics(examples, features, _logits_for(task.labels, ["1", "0", "0", "0", "0"]))
    assert scores["mcc"] == pytest.approx(M.matthews_corrcoef([1, 0, 1, 0, 0], [1, 0, 0, 0, 0]))
    assert task.main_metric == "mcc"


def test_stsb_predicts_the_single_output_as_the_score(glue_files):
    from berthub.tasks import get_task

    task = get_task("sts-b")
    examples = task.read(glue_files / "STS-B", "dev")  # 5.0, 4.75, 0.6
    features = [Feature([101, 102], [0, 0], {}, i) for i in range(3)]
    outputs = [np.array([4.5]), np.array([4.0]), np.array([1.0])]
    assert task.predict(examples, features, outputs) == [4.5, 4.0, 1.0]
    scores = task.metrics(examples, features, outputs)
    assert scores["spearman"] == pytest.approx(1.0)  # same order as gold
    assert scores["pearson"] == pytest.approx(M.pearson([4.5, 4.0, 1.0], [5.0, 4.75, 0.6]))
