"""Entity-level scores: conlleval's chunk rules on hand-checked cases, and agreement with seqeval."""

from __future__ import annotations

import random

import pytest
from berthub_ner.entities import entities, entity_scores


def test_bio_entities():
    assert entities(["B-PER", "I-PER", "O", "B-LOC"]) == {("PER", 0, 1), ("LOC", 3, 3)}


def test_b_after_i_of_the_same_type_starts_a_new_entity():
    assert entities(["B-LOC", "I-LOC", "B-LOC"]) == {("LOC", 0, 1), ("LOC", 2, 2)}


def test_iob1_entities_start_with_i():
    assert entities(["I-LOC", "B-LOC", "O", "I-ORG", "I-ORG"]) == {("LOC", 0, 0), ("LOC", 1, 1), ("ORG", 3, 4)}


def test_a_type_change_inside_ends_one_entity_and_starts_another():
    assert entities(["B-PER", "I-LOC"]) == {("PER", 0, 0), ("LOC", 1, 1)}


def test_iobes_single_and_end_tags():
    assert entities(["S-PER", "B-ORG", "E-ORG", "O"]) == {("PER", 0, 0), ("ORG", 1, 2)}


def test_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    # gold: 3 entities; predicted: PER (right), ORG (right), LOC at (1, 1) (wrong) -> P 2/3, R 2/3
    scores = entity_scores(gold, predicted)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["accuracy"] == pytest.approx(4 / 6)


def test_a_partly_right_boundary_is_wrong():
    scores = entity_scores([["B-PER", "I-PER"]], [["B-PER", "O"]])
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.0, 0.0, 0.0)


def test_no_entities_at_all_scores_zero_not_an_error():
    assert entity_scores([["O"]], [["O"]])["f1"] == 0.0


def _perturb(tags: list[str], labels: list[str], rng: random.Random) -> list[str]:
    return [rng.choice(labels) if rng.random() < 0.15 else t for t in tags]


@pytest.mark.parametrize("seed", range(3))
def test_scores_equal_seqeval_on_perturbed_wnut17_dev(wnut_dir, seed):
    seqeval = pytest.importorskip("seqeval.metrics")
    from berthub.tasks import get_task

    task = get_task("wnut17")
    gold = [s.tags for s in task.read(wnut_dir, "dev")]
    rng = random.Random(seed)
    # perturbed tags include I- without B- and type changes: the cases where tag schemes differ
    predicted = [_perturb(tags, task.labels, rng) for tags in gold]
    scores = entity_scores(gold, predicted)
    assert scores["precision"] == pytest.approx(seqeval.precision_score(gold, predicted))
    assert scores["recall"] == pytest.approx(seqeval.recall_score(gold, predicted))
    assert scores["f1"] == pytest.approx(seqeval.f1_score(gold, predicted))
    assert scores["accuracy"] == pytest.approx(seqeval.accuracy_score(gold, predicted))


def test_iob1_scores_equal_seqeval(conll2003_dir):
    seqeval = pytest.importorskip("seqeval.metrics")
    from berthub.tasks import get_task

    gold = [s.tags for s in get_task("conll-ner").read(conll2003_dir, "train")]
    predicted = [[t.replace("B-", "I-") for t in tags] for tags in gold]  # merges "Oslo Norway"
    assert entity_scores(gold, predicted)["f1"] == pytest.approx(seqeval.f1_score(gold, predicted))
    assert entity_scores(gold, predicted)["f1"] == pytest.approx(2 * (5 / 6) * (5 / 7) / (5 / 6 + 5 / 7))
