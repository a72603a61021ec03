"""Start/end logits of an example's windows -> its answer text, as Google's run_squad write_predictions.

For each window, the n_best_size best starts and ends form candidate spans; a candidate is kept
when both ends are context tokens, the start is scored in this window (max context), end >= start
and it is at most max_answer_length tokens long. Candidates are ranked by start + end logit and
mapped back to the original text. For SQuAD v2.0 the null answer ([CLS], position 0) competes: its
score is the lowest start[0] + end[0] over the windows, and the example is answered "" when
null score - best span score > null_threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from berthub.tasks import Feature
from berthub.tasks.spans import candidate_spans
from berthub.tokenizer import BasicTokenizer
from berthub_squad.examples import SquadExample


@dataclass(frozen=True)
class Candidate:
    """One n-best answer: its text and the logits of its ends."""

    text: str
    start_logit: float
    end_logit: float

    @property
    def score(self) -> float:
        return self.start_logit + self.end_logit


@dataclass(frozen=True)
class Answer:
    """The decoded answer of one example, its n-best list and (v2.0) null score minus best span score."""

    text: str
    nbest: list[Candidate]
    null_score_diff: float | None = None


@dataclass(frozen=True)
class _Span:
    feature: int
    start: int
    end: int
    start_logit: float
    end_logit: float


def _spans(features: Sequence[Feature], logits: Sequence[tuple[np.ndarray, np.ndarray]], n_best_size: int,
           max_answer_length: int) -> list[_Span]:
    spans = []
    for index, (feature, (start_logits, end_logits)) in enumerate(zip(features, logits, strict=True)):
        to_word, max_context = feature.extra["token_to_word"], feature.extra["max_context"]
        # Logits come padded to the batch's longest window; only this window's own positions are candidates.
        length = len(feature.input_ids)
        starts = {p for p in to_word if p in max_context}
        for start, end in candidate_spans(start_logits[:length], end_logits[:length], starts.__contains__,
                                          to_word.__contains__, n_best_size, max_answer_length):
            spans.append(_Span(index, start, end, float(start_logits[start]), float(end_logits[end])))
    return spans


def decode(example: SquadExample, features: Sequence[Feature], outputs: Sequence[tuple[np.ndarray, np.ndarray]],
           n_best_size: int = 20, max_answer_length: int = 30, with_null: bool = False,
           null_threshold: float = 0.0) -> Answer:
    """The answer to `example` from the (start_logits, end_logits) of each of its windows."""
    logits = [(np.asarray(s)[: len(f.input_ids)], np.asarray(e)[: len(f.input_ids)])
              for f, (s, e) in zip(features, outputs, strict=True)]
    spans = _spans(features, logits, n_best_size, max_answer_length)
    null: _Span | None = None
    if with_null and features:
        index = min(range(len(features)), key=lambda i: logits[i][0][0] + logits[i][1][0])
        null = _Span(index, 0, 0, float(logits[index][0][0]), float(logits[index][1][0]))
        spans.append(null)
    spans.sort(key=lambda s: s.start_logit + s.end_logit, reverse=True)
    nbest: list[Candidate] = []
    seen: set[str] = set()
    for span in spans:
        if len(nbest) >= n_best_size:
            break
        text = "" if span.start == 0 else _span_text(example, features[span.feature], span)
        if text not in seen:
            seen.add(text)
            nbest.append(Candidate(text, span.start_logit, span.end_logit))
    if null is not None and "" not in seen:
        nbest.append(Candidate("", null.start_logit, null.end_logit))
    if not nbest:
        nbest.append(Candidate("", 0.0, 0.0))  # Google writes "empty"; no span is the honest answer
    if null is None:
        return Answer(nbest[0].text, nbest)
    best_span = next((c for c in nbest if c.text), None)
    if best_span is None:
        return Answer("", nbest, float("inf"))
    diff = null.start_logit + null.end_logit - best_span.score
    return Answer("" if diff > null_threshold else best_span.text, nbest, diff)


def _span_text(example: SquadExample, feature: Feature, span: _Span) -> str:
    pieces = " ".join(feature.extra["tokens"][span.start : span.end + 1])
    pieces = " ".join(pieces.replace(" ##", "").replace("##", "").strip().split())
    to_word = feature.extra["token_to_word"]
    original = " ".join(example.doc_tokens[to_word[span.start] : to_word[span.end] + 1])
    return final_text(pieces, original, feature.extra["do_lower_case"])


@lru_cache(maxsize=2)
def _basic_tokenizer(do_lower_case: bool) -> BasicTokenizer:
    return BasicTokenizer(do_lower_case=do_lower_case)


def _without_spaces(text: str) -> tuple[str, dict[int, int]]:
    kept = [(i, c) for i, c in enumerate(text) if c != " "]
    return "".join(c for _, c in kept), {j: i for j, (i, _) in enumerate(kept)}


def _normalized_chars(text: str, basic: BasicTokenizer) -> tuple[str, dict[int, int]]:
    """`text` as the basic tokenizer rewrites it, spaces dropped, and each output char -> its source char."""
    chars: list[str] = []
    source: dict[int, int] = {}
    for i, c in enumerate(text):
        for out in "".join(basic.tokenize(c)):
            source[len(chars)] = i
            chars.append(out)
    return "".join(chars), source


def final_text(predicted: str, original: str, do_lower_case: bool) -> str:
    """The part of `original` (whitespace words from the context) that `predicted` (WordPiece text,
    lower-cased and split on punctuation) spells, e.g. ("steve smith", "Steve Smith's") -> "Steve Smith".

    As Google's get_final_text: basic-tokenize the original, find the prediction in it, and map the
    match back through character alignments that ignore spaces, or return the whole original when
    that is not possible. One improvement: where Google's alignment fails, each original character is
    passed through the basic tokenizer, so characters it deletes (zero-width spaces, control
    characters) no longer break the alignment.
    """
    basic = _basic_tokenizer(do_lower_case)
    tokenized = " ".join(basic.tokenize(original))
    start = tokenized.find(predicted)
    if start == -1:
        return original
    end = start + len(predicted) - 1
    tokenized_chars, tokenized_map = _without_spaces(tokenized)
    original_chars, original_map = _without_spaces(original)
    if len(original_chars) != len(tokenized_chars):
        original_chars, original_map = _normalized_chars(original, basic)
        if len(original_chars) != len(tokenized_chars):
            return original
    to_stripped = {v: k for k, v in tokenized_map.items()}
    if start not in to_stripped or end not in to_stripped:
        return original
    return original[original_map[to_stripped[start]] : original_map[to_stripped[end]] + 1]
