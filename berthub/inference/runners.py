"""What each pipeline task makes of raw text and of the model's outputs (run by berthub/inference/pipelines.py).

A runner turns records (a string, or a dict of fields) into model input windows (berthub.tasks.Feature,
one or more per record) and the windows' outputs back into one answer per record, as transformers'
pipeline of the same name answers:

* text-classification: {"label", "score"}: softmax over the labels (sigmoid for one output or a
  multi-label model). For problem_type "regression" the score is the raw value, as transformers gives it;
  a one-output regression model answers {"score": value} alone unless id2label names its output
  (transformers adds its placeholder label "LABEL_0");
* token-classification: entities as transformers' aggregation_strategy="simple" groups them
  (B-/I- tags joined, mean score, "O" dropped), with character "start"/"end", the decoded "word" and
  the original "text";
* question-answering: {"score", "start", "end", "answer"}: SQuAD's n-best spans (berthub/tasks/spans.py)
  over windows of max_seq_length with doc_stride (Google's: the step between window starts), the
  answer cut from the context by character offsets and widened to whole words (align_to_words, as
  transformers does); score = start x end probability, each a softmax over the window's context
  tokens. Across windows the best start + end logit wins (SQuAD), so where a context needs several
  windows the answer can differ from transformers', which compares per-window probabilities;
* fill-mask: the top_k fills of each [MASK] as {"score", "token", "token_str", "sequence"}.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from berthub.errors import InputError
from berthub.model.labels import placeholder_labels
from berthub.tasks import spans
from berthub.tasks.protocol import Feature
from berthub.tokenizer.call import join_wordpieces

Record = str | dict[str, Any]

_TEXT_FIELDS = ("text", "sentence", "sentence1", "question", "premise")
_PAIR_FIELDS = ("text_pair", "sentence2", "hypothesis")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def text_of(record: Record, task: str, index: int, names: Sequence[str] = _TEXT_FIELDS) -> str:
    """The text of a record: a string record is its own text, a dict gives the first of `names` it has."""
    if isinstance(record, str):
        return record
    return field(record, names, task, index)  # type: ignore[return-value]


def field(record: Record, names: Sequence[str], task: str, index: int, required: bool = True) -> str | None:
    """The first of `names` a dict record has; a missing required field is an InputError naming them."""
    if not isinstance(record, dict | str):
        raise InputError(f"Input {index} is {type(record).__name__}; {task} takes strings or JSON objects.")
    found = next((record[n] for n in names if isinstance(record, dict) and isinstance(record.get(n), str)), None)
    if found is None and required:
        keys = sorted(record) if isinstance(record, dict) else "a plain string"
        raise InputError(f"Input {index} has no {' / '.join(repr(n) for n in names)} field ({keys} given), which "
                         f"{task} needs.")
    return found


class TextClassification:
    name = "text-classification"

    def __init__(self, tokenizer: Any, labels: list[str], problem_type: str | None, max_length: int) -> None:
        self.tokenizer, self.labels, self.problem_type, self.max_length = tokenizer, labels, problem_type, max_length

    def prepare(self, records: Sequence[Record]) -> tuple[Any, list[Feature]]:
        texts = [text_of(r, self.name, i) for i, r in enumerate(records)]
        pairs = [field(r, _PAIR_FIELDS, self.name, i, required=False) for i, r in enumerate(records)]
        if any(p is not None for p in pairs) and not all(p is not None for p in pairs):
            raise InputError("Some inputs have a text_pair and some do not; predict them in separate calls.")
        encoded = self.tokenizer(texts, pairs if pairs and pairs[0] is not None else None, truncation=True,
                                 max_length=self.max_length)
        return records, _features(encoded)

    def keep(self, feature: Feature, output: np.ndarray) -> np.ndarray:
        return output

    def answers(self, state: Any, features: list[Feature], outputs: list[np.ndarray]) -> list[dict[str, Any]]:
        return [self._answer(np.asarray(logits, dtype=np.float32)) for logits in outputs]

    def _answer(self, logits: np.ndarray) -> dict[str, Any]:
        if self.problem_type == "regression" and len(logits) == 1:
            named = self.labels[:1] != placeholder_labels(1)  # transformers would answer its placeholder LABEL_0
            return {"label": self.labels[0], "score": float(logits[0])} if named else {"score": float(logits[0])}
        if self.problem_type == "regression":
            best = int(np.argmax(logits))
            return {"label": self.labels[best], "score": float(logits[best])}
        if len(logits) == 1 or self.problem_type == "multi_label_classification":
            scores = 1.0 / (1.0 + np.exp(-logits))
        else:
            scores = softmax(logits)
        best = int(np.argmax(scores))
        return {"label": self.labels[best], "score": float(scores[best])}


class TokenClassification:
    name = "token-classification"

    def __init__(self, tokenizer: Any, labels: list[str], max_length: int) -> None:
        self.tokenizer, self.labels, self.max_length = tokenizer, labels, max_length

    def prepare(self, records: Sequence[Record]) -> tuple[Any, list[Feature]]:
        texts = [text_of(r, self.name, i, ("text", "sentence")) for i, r in enumerate(records)]
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length, return_offsets_mapping=True,
                                 return_special_tokens_mask=True)
        return texts, _features(encoded, "offset_mapping", "special_tokens_mask")

    def keep(self, feature: Feature, output: np.ndarray) -> np.ndarray:
        return output[: len(feature.input_ids)]

    def answers(self, texts: list[str], features: list[Feature], outputs: list[np.ndarray]) -> list[list[dict]]:
        return [self._entities(texts[f.example_index], f, np.asarray(o, np.float32))
                for f, o in zip(features, outputs, strict=True)]

    def _entities(self, text: str, feature: Feature, logits: np.ndarray) -> list[dict[str, Any]]:
        scores = softmax(logits)
        groups: list[list[tuple[str, float, str, tuple[int, int]]]] = []
        for position, token_id in enumerate(feature.input_ids):
            if feature.extra["special_tokens_mask"][position]:
                continue
            best = int(np.argmax(scores[position]))
            start, end = feature.extra["offset_mapping"][position]
            is_unk = token_id == self.tokenizer.unk_token_id
            token = text[start:end] if is_unk else self.tokenizer.convert_ids_to_tokens([token_id])[0]
            entry = (self.labels[best], float(scores[position, best]), token, (start, end))
            begins, tag = _tag(entry[0])
            if groups and _tag(groups[-1][-1][0])[1] == tag and not begins:
                groups[-1].append(entry)
            else:
                groups.append([entry])
        return [_entity(group, text) for group in groups if group[0][0].split("-", 1)[-1] != "O"]


def _tag(label: str) -> tuple[bool, str]:
    """(starts an entity, entity type) of a label, as transformers' get_tag reads B-/I- prefixes."""
    if label.startswith(("B-", "I-")):
        return label.startswith("B-"), label[2:]
    return False, label


def _entity(group: list[tuple[str, float, str, tuple[int, int]]], text: str) -> dict[str, Any]:
    start, end = group[0][3][0], group[-1][3][1]
    return {"entity_group": group[0][0].split("-", 1)[-1], "score": float(np.mean([g[1] for g in group],
            dtype=np.float32)), "word": join_wordpieces([g[2] for g in group], True), "start": start, "end": end,
            "text": text[start:end]}


class QuestionAnswering:
    name = "question-answering"

    def __init__(self, tokenizer: Any, max_seq_length: int = 384, doc_stride: int = 128,
                 max_query_length: int = 64, n_best_size: int = 20, max_answer_length: int = 30,
                 align_to_words: bool = True) -> None:
        self.tokenizer, self.align_to_words = tokenizer, align_to_words
        self.max_seq_length, self.doc_stride, self.max_query_length = max_seq_length, doc_stride, max_query_length
        self.n_best_size, self.max_answer_length = n_best_size, max_answer_length

    def prepare(self, records: Sequence[Record]) -> tuple[Any, list[Feature]]:
        contexts, features = [], []
        for index, record in enumerate(records):
            question = field(record, ("question",), self.name, index)
            context = field(record, ("context",), self.name, index)
            contexts.append(context)
            features += self._windows(index, question, context)
        return contexts, features

    def _windows(self, index: int, question: str, context: str) -> list[Feature]:
        """Google's run_squad windows: the question (at most max_query_length tokens), then the context
        from successive starts doc_stride tokens apart, each window at most max_seq_length tokens."""
        question_ids = self.tokenizer(question)["input_ids"][1:-1][: self.max_query_length]
        with warnings.catch_warnings():  # a context longer than the model takes is what windows are for
            warnings.simplefilter("ignore")
            encoded = self.tokenizer(context, return_offsets_mapping=True)
        ids, offsets = encoded["input_ids"][1:-1], encoded["offset_mapping"][1:-1]
        budget = self.max_seq_length - len(question_ids) - 3
        if budget < 1:
            raise InputError(f"Input {index}: max_seq_length {self.max_seq_length} leaves no room for the context.")
        starts, start = [], 0
        while True:
            starts.append(start)
            if start + budget >= len(ids):
                break
            start += min(budget, self.doc_stride)
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        windows = []
        for start in starts:
            piece = ids[start : start + budget]
            first = len(question_ids) + 2
            windows.append(Feature(
                input_ids=[cls, *question_ids, sep, *piece, sep], token_type_ids=[0] * first + [1] * (len(piece) + 1),
                example_index=index,
                extra={"first": first, "offsets": offsets[start : start + len(piece)],
                       "max_context": _max_context(starts, budget, len(ids), start)},
            ))
        return windows

    def keep(self, feature: Feature, output: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        n = len(feature.input_ids)
        return np.asarray(output[0][:n], np.float32), np.asarray(output[1][:n], np.float32)

    def answers(self, contexts: list[str], features: list[Feature], outputs: list) -> list[dict[str, Any]]:
        best: list[tuple[float, dict[str, Any]] | None] = [None] * len(contexts)
        for feature, (start_logits, end_logits) in zip(features, outputs, strict=True):
            found = self._best(contexts[feature.example_index], feature, start_logits, end_logits)
            current = best[feature.example_index]
            if found is not None and (current is None or found[0] > current[0]):
                best[feature.example_index] = found
        return [{"score": 0.0, "start": 0, "end": 0, "answer": ""} if b is None else b[1] for b in best]

    def _best(self, context: str, feature: Feature, start_logits: np.ndarray,
              end_logits: np.ndarray) -> tuple[float, dict[str, Any]] | None:
        first, offsets, max_context = feature.extra["first"], feature.extra["offsets"], feature.extra["max_context"]
        context_positions = np.arange(first, first + len(offsets))
        start_probs, end_probs = (_masked_softmax(logits, context_positions) for logits in (start_logits, end_logits))
        found = spans.candidate_spans(
            start_logits, end_logits, lambda p: first <= p < first + len(offsets) and max_context[p - first],
            lambda p: first <= p < first + len(offsets), self.n_best_size, self.max_answer_length,
        )
        if not found:
            return None
        start, end = max(found, key=lambda se: start_logits[se[0]] + end_logits[se[1]])
        score = float(start_probs[start] * end_probs[end])
        if self.align_to_words:
            start, end = self._whole_words(feature, start, end, first + len(offsets))
        begin, finish = offsets[start - first][0], offsets[end - first][1]
        return float(start_logits[start] + end_logits[end]), {"score": score, "start": int(begin), "end": int(finish),
                                                              "answer": context[begin:finish]}


    def _whole_words(self, feature: Feature, start: int, end: int, stop: int) -> tuple[int, int]:
        """The span widened to whole words: back over "##" pieces at its start, on over those after its end."""
        tokens = self.tokenizer.convert_ids_to_tokens(feature.input_ids)
        first = feature.extra["first"]
        while start > first and tokens[start].startswith("##"):
            start -= 1
        while end + 1 < stop and tokens[end + 1].startswith("##"):
            end += 1
        return start, end


def _masked_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax over the `allowed` positions only (others get probability 0)."""
    out = np.zeros_like(logits)
    out[allowed] = softmax(logits[allowed])
    return out


def _max_context(starts: list[int], budget: int, total: int, start: int) -> list[bool]:
    """Whether each token of the window at `start` has its most context there (Google's
    _check_is_max_context: min(left, right) context + 0.01 x window length, first window on ties)."""
    def score(s: int, position: int) -> float:
        length = min(budget, total - s)
        return min(position - s, s + length - 1 - position) + 0.01 * length

    flags = []
    for position in range(start, min(start + budget, total)):
        holders = [s for s in starts if s <= position < s + budget]
        flags.append(max(holders, key=lambda s: score(s, position)) == start)
    return flags


class FillMask:
    name = "fill-mask"

    def __init__(self, tokenizer: Any, max_length: int, top_k: int = 5) -> None:
        self.tokenizer, self.max_length, self.top_k = tokenizer, max_length, top_k

    def prepare(self, records: Sequence[Record]) -> tuple[Any, list[Feature]]:
        texts = [text_of(r, self.name, i, ("text", "sentence")) for i, r in enumerate(records)]
        features = _features(self.tokenizer(texts, truncation=True, max_length=self.max_length))
        for index, feature in enumerate(features):
            if self.tokenizer.mask_token_id not in feature.input_ids:
                raise InputError(f"Input {index} has no [MASK] token to fill: {texts[index][:60]!r}.")
        return texts, features

    def keep(self, feature: Feature, output: np.ndarray) -> np.ndarray:
        return np.asarray(output[self._masks(feature)], np.float32)  # only the [MASK] rows of [T, V]

    def _masks(self, feature: Feature) -> list[int]:
        return [i for i, t in enumerate(feature.input_ids) if t == self.tokenizer.mask_token_id]

    def answers(self, texts: list[str], features: list[Feature], outputs: list[np.ndarray]) -> list:
        return [self._fills(f, o) for f, o in zip(features, outputs, strict=True)]

    def _fills(self, feature: Feature, logits: np.ndarray) -> list:
        masks = self._masks(feature)
        per_mask = []
        for row, position in zip(logits, masks, strict=True):
            probs = softmax(row)
            fills = []
            for token_id in np.argsort(-probs, kind="stable")[: self.top_k]:
                ids = list(feature.input_ids)
                ids[position] = int(token_id)
                fills.append({"score": float(probs[token_id]), "token": int(token_id),
                              "token_str": self.tokenizer.decode([int(token_id)]),
                              "sequence": self.tokenizer.decode(ids, skip_special_tokens=len(masks) == 1)})
            per_mask.append(fills)
        return per_mask[0] if len(per_mask) == 1 else per_mask


def _features(encoded: dict[str, list], *extra: str) -> list[Feature]:
    return [Feature(input_ids=ids, token_type_ids=types, example_index=i,
                    extra={name: encoded[name][i] for name in extra})
            for i, (ids, types) in enumerate(zip(encoded["input_ids"], encoded["token_type_ids"], strict=True))]
