"""SQuAD examples -> model windows, as Google's run_squad convert_examples_to_features.

Each window is `[CLS] question [SEP] doc piece [SEP]`. A context longer than one window is cut into
windows of at most `max_seq_length - len(question) - 3` WordPiece tokens, each starting
`doc_stride` tokens after the previous one, so windows overlap. A token seen by several windows is
scored only in the one where it has the most context on both sides (`is_max_context`), so every
answer is decoded from exactly one window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from berthub.tasks import Feature
from berthub_squad.examples import SquadExample


@dataclass(frozen=True)
class DocSpan:
    """A window's slice of the context's WordPiece tokens."""

    start: int
    length: int

    @property
    def end(self) -> int:
        """The last token index inside the span."""
        return self.start + self.length - 1


def doc_spans(num_tokens: int, max_tokens: int, doc_stride: int) -> list[DocSpan]:
    """Google's sliding windows over `num_tokens` context tokens; the last one ends at the last token."""
    spans: list[DocSpan] = []
    start = 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens)
        spans.append(DocSpan(start, length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return spans


def max_context_span(spans: Sequence[DocSpan], position: int) -> int | None:
    """Index of the span where token `position` is most centred: the largest min(left, right) context,
    ties broken towards the longer span (score + 0.01 * length), then the earlier span."""
    best_score, best = None, None
    for index, span in enumerate(spans):
        if not span.start <= position <= span.end:
            continue
        score = min(position - span.start, span.end - position) + 0.01 * span.length
        if best_score is None or score > best_score:
            best_score, best = score, index
    return best


def improve_answer_span(doc_tokens: list[str], start: int, end: int, tokenizer: Any, answer: str) -> tuple[int, int]:
    """Narrow a word-aligned answer to the sub-tokens that spell it (e.g. "1895" inside "(1895-1943)")."""
    wanted = " ".join(tokenizer.tokenize(answer))
    for new_start in range(start, end + 1):
        for new_end in range(end, new_start - 1, -1):
            if " ".join(doc_tokens[new_start : new_end + 1]) == wanted:
                return new_start, new_end
    return start, end


@dataclass
class _Context:
    """A paragraph's WordPiece tokens and the maps between them and its whitespace words."""

    tokens: list[str]
    token_to_word: list[int]
    word_to_token: list[int]


def _tokenize_context(words: Sequence[str], tokenizer: Any) -> _Context:
    context = _Context([], [], [])
    for index, word in enumerate(words):
        context.word_to_token.append(len(context.tokens))
        for piece in tokenizer.tokenize(word):
            context.token_to_word.append(index)
            context.tokens.append(piece)
    return context


def _answer_tokens(example: SquadExample, context: _Context, tokenizer: Any) -> tuple[int, int] | None:
    if example.start_position is None or example.end_position is None:
        return None
    start = context.word_to_token[example.start_position]
    if example.end_position < len(example.doc_tokens) - 1:
        end = context.word_to_token[example.end_position + 1] - 1
    else:
        end = len(context.tokens) - 1
    return improve_answer_span(context.tokens, start, end, tokenizer, example.orig_answer_text or "")


def build_windows(examples: Sequence[SquadExample], tokenizer: Any, max_seq_length: int, doc_stride: int,
                  max_query_length: int, do_lower_case: bool) -> list[Feature]:
    """Every window of every example, in example order.

    targets: start/end_positions of the first gold answer in the window ([CLS] = 0 when the answer
    is not wholly inside it, or the question is unanswerable); none when the example has no gold.
    extra: tokens, token_to_word (window position -> context word), max_context (window positions
    whose token is scored here), do_lower_case (for mapping text back).
    """
    contexts: dict[int, _Context] = {}  # questions of one paragraph share its word list
    features: list[Feature] = []
    for example_index, example in enumerate(examples):
        query = tokenizer.tokenize(example.question_text)[:max_query_length]
        key = id(example.doc_tokens)
        if key not in contexts:
            contexts[key] = _tokenize_context(example.doc_tokens, tokenizer)
        context = contexts[key]
        max_tokens = max_seq_length - len(query) - 3
        if max_tokens < 1:
            raise ValueError(f"max_seq_length {max_seq_length} leaves no room for context after a "
                             f"{len(query)}-token question; raise it or lower max_query_length.")
        answer = _answer_tokens(example, context, tokenizer)
        spans = doc_spans(len(context.tokens), max_tokens, doc_stride)
        for span_index in range(len(spans)):
            features.append(_window(example_index, example, query, context, spans, span_index, answer,
                                    tokenizer, do_lower_case))
    return features


def _window(example_index: int, example: SquadExample, query: list[str], context: _Context,
            spans: list[DocSpan], span_index: int, answer: tuple[int, int] | None, tokenizer: Any,
            do_lower_case: bool) -> Feature:
    span = spans[span_index]
    offset = len(query) + 2  # [CLS] question [SEP]
    tokens = ["[CLS]", *query, "[SEP]", *context.tokens[span.start : span.end + 1], "[SEP]"]
    token_types = [0] * offset + [1] * (span.length + 1)
    token_to_word = {offset + i: context.token_to_word[span.start + i] for i in range(span.length)}
    max_context = [offset + i for i in range(span.length) if max_context_span(spans, span.start + i) == span_index]
    targets: dict[str, Any] = {}
    if example.is_impossible or example.answers:
        # [CLS] stands for "no answer here", as in Google's run_squad; an answer whose offset is wrong
        # (dropped from training, kept on dev for the metrics) points there too.
        start, end = 0, 0
        if answer is not None and span.start <= answer[0] and answer[1] <= span.end:
            start, end = answer[0] - span.start + offset, answer[1] - span.start + offset
        targets = {"start_positions": start, "end_positions": end}
    extra = {"tokens": tokens, "token_to_word": token_to_word, "max_context": frozenset(max_context),
             "do_lower_case": do_lower_case}
    return Feature(list(tokenizer.convert_tokens_to_ids(tokens)), token_types, targets, example_index, extra)
