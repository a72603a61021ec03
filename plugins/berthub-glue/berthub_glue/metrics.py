"""GLUE's official metrics, in plain numpy: accuracy, F1, Matthews correlation, Pearson and Spearman.

They follow the definitions GLUE's scorer uses (scikit-learn's and scipy's): F1 of the positive
class 1, Matthews correlation over all classes, Spearman as Pearson on average ranks of ties.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy(gold: Sequence[int], predicted: Sequence[int]) -> float:
    """Fraction of items where predicted == gold."""
    gold_a, pred_a = _pair(gold, predicted)
    return float(np.mean(gold_a == pred_a))


def f1(gold: Sequence[int], predicted: Sequence[int], positive: int = 1) -> float:
    """F1 of the `positive` class: 2·tp / (2·tp + fp + fn); 0.0 when there is no positive anywhere."""
    gold_a, pred_a = _pair(gold, predicted)
    tp = int(np.sum((gold_a == positive) & (pred_a == positive)))
    wrong = int(np.sum((gold_a == positive) != (pred_a == positive)))
    return 2 * tp / (2 * tp + wrong) if tp or wrong else 0.0


def matthews_corrcoef(gold: Sequence[int], predicted: Sequence[int]) -> float:
    """Matthews correlation for any number of classes (Gorodkin's R_K); 0.0 when undefined."""
    gold_a, pred_a = _pair(gold, predicted)
    classes, encoded = np.unique(np.concatenate([gold_a, pred_a]), return_inverse=True)
    k, n = len(classes), len(gold_a)
    confusion = np.zeros((k, k), dtype=np.float64)
    np.add.at(confusion, (encoded[:n], encoded[n:]), 1)
    true_counts, pred_counts = confusion.sum(axis=1), confusion.sum(axis=0)
    correct, total = np.trace(confusion), confusion.sum()
    numerator = correct * total - pred_counts @ true_counts
    denominator = np.sqrt((total**2 - pred_counts @ pred_counts) * (total**2 - true_counts @ true_counts))
    return float(numerator / denominator) if denominator else 0.0


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation; nan when either side is constant (the correlation is undefined)."""
    xa, ya = _pair(x, y, dtype=np.float64)
    xc, yc = xa - xa.mean(), ya - ya.mean()
    denominator = np.sqrt((xc @ xc) * (yc @ yc))
    return float(xc @ yc / denominator) if denominator else float("nan")


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation: Pearson on ranks, tied values sharing their average rank."""
    xa, ya = _pair(x, y, dtype=np.float64)
    return pearson(_average_ranks(xa), _average_ranks(ya))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1  # ranks start at 1; ties share the mean
        start = end + 1
    return ranks


def _pair(a: Sequence, b: Sequence, dtype: type = np.int64) -> tuple[np.ndarray, np.ndarray]:
    a_arr, b_arr = np.asarray(a, dtype=dtype), np.asarray(b, dtype=dtype)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1 or len(a_arr) == 0:
        raise ValueError(f"Metrics need two non-empty 1-d sequences of equal length, got shapes "
                         f"{a_arr.shape} and {b_arr.shape}.")
    return a_arr, b_arr
