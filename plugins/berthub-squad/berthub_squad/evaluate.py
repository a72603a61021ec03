"""The official SQuAD metrics: exact match and token F1 after answer normalisation, best over the gold answers.

normalize_answer is the official scripts' (evaluate-v1.1.py, evaluate-v2.0.py): lower-case, drop
ASCII punctuation, drop the articles a / an / the, collapse whitespace. v1.1 and v2.0 differ only
where an answer is empty: v2.0 scores an unanswerable question (no gold answer) as the single gold
answer "", and F1 between two empty answers is 1 there. Scores are percentages, as the scripts print.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, remove punctuation and articles, collapse whitespace (the official normalisation)."""
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised answers are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str, empty_matches_empty: bool = False) -> float:
    """Token-level F1 of the normalised answers (bag of words).

    With empty_matches_empty (v2.0), an empty answer scores 1.0 against an empty one and 0.0 against
    any other; v1.1 scores every comparison with an empty side 0.0.
    """
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if empty_matches_empty and (not predicted or not wanted):
        return float(predicted == wanted)
    same = sum((Counter(predicted) & Counter(wanted)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def evaluate(golds: Mapping[str, Sequence[str]], predictions: Mapping[str, str], version: str = "1.1") -> dict:
    """{"exact_match", "f1", "total"} over every question of `golds` (question id -> gold answer texts).

    A question without a prediction scores 0 (as evaluate-v1.1.py does; evaluate-v2.0.py would leave it
    out of the total). For version "2.0" the result also has HasAns_* and NoAns_* (exact_match, f1,
    total) over the questions with and without gold answers.
    """
    if version not in ("1.1", "2.0"):
        raise ValueError(f"SQuAD version must be '1.1' or '2.0', got {version!r}.")
    v2 = version == "2.0"
    exact: dict[str, float] = {}
    f1: dict[str, float] = {}
    for qid, answers in golds.items():
        if v2:
            answers = [a for a in answers if normalize_answer(a)] or [""]
        predicted = predictions.get(qid)
        if predicted is None:
            exact[qid] = f1[qid] = 0.0
            continue
        exact[qid] = max(exact_match(predicted, a) for a in answers)
        f1[qid] = max(f1_score(predicted, a, empty_matches_empty=v2) for a in answers)
    result = _percentages(exact, f1, list(golds))
    if v2:
        has_answer = [qid for qid, answers in golds.items() if answers]
        no_answer = [qid for qid, answers in golds.items() if not answers]
        for prefix, ids in (("HasAns_", has_answer), ("NoAns_", no_answer)):
            if ids:
                result.update({prefix + k: v for k, v in _percentages(exact, f1, ids).items()})
    return result


def _percentages(exact: Mapping[str, float], f1: Mapping[str, float], ids: Sequence[str]) -> dict:
    total = len(ids)
    if not total:
        return {"exact_match": 0.0, "f1": 0.0, "total": 0}
    return {"exact_match": 100.0 * sum(exact[i] for i in ids) / total,
            "f1": 100.0 * sum(f1[i] for i in ids) / total, "total": total}
