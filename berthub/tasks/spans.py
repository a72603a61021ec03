"""Answer spans from start/end logits, as Google's run_squad picks them (n-best, max answer length).

Shared by the question-answering pipeline (berthub/inference/runners.py) and the SQuAD plugin, so both keep
the same rule: the n_best_size highest start logits and the n_best_size highest end logits form
candidate spans; a span is kept when its start may start an answer, its end may end one, end >= start
and it is at most max_answer_length tokens long. Candidates rank by start logit + end logit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def best_indexes(logits: np.ndarray, n: int) -> list[int]:
    """Positions of the n highest logits, highest first (ties: lower position first)."""
    return [int(i) for i in np.argsort(-np.asarray(logits), kind="stable")[:n]]


def candidate_spans(start_logits: np.ndarray, end_logits: np.ndarray, can_start: Callable[[int], bool],
                    can_end: Callable[[int], bool], n_best_size: int = 20,
                    max_answer_length: int = 30) -> list[tuple[int, int]]:
    """(start, end) token positions of the candidate answers of one window, unsorted."""
    spans = []
    ends = best_indexes(end_logits, n_best_size)
    for start in best_indexes(start_logits, n_best_size):
        if not can_start(start):
            continue
        spans += [(start, end) for end in ends if can_end(end) and start <= end < start + max_answer_length]
    return spans
