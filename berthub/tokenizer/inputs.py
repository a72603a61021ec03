"""Turning WordPiece ids into model inputs: [CLS]/[SEP], token types, Google's truncation, padding.

Shared by the pure-Python and the `tokenizers` paths of BertTokenizer, so both give the same inputs,
and by tasks: `encode_pair` is a task's Google-style pair, `pad_rows` / `stack_inputs` pad every batch
(berthub.tasks.batch.collate builds on them). transformers' own truncation rule for `tokenizer(...)` is
in berthub.tokenizer.call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from berthub.errors import InputError

# A text is a string, or a list of words (pre-split text; their tokens then carry word indices).
Text = str | Sequence[str]
PADDINGS = ("longest", "max_length", False)


@dataclass(frozen=True)
class Encoding:
    """One model input of T tokens: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`, then [PAD]s.

    input_ids, token_type_ids (0 for A and its [CLS]/[SEP], 1 for B and its [SEP], 0 for padding) and
    attention_mask (1 for real tokens) all have length T. word_ids, only when the texts were lists of
    words, gives each token's word index in its own text, None for [CLS]/[SEP]/[PAD].
    num_truncated counts the tokens that truncation to max_length removed.
    """

    input_ids: list[int]
    token_type_ids: list[int]
    attention_mask: list[int]
    word_ids: list[int | None] | None = None
    num_truncated: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class Specials:
    """Ids of the special tokens that framing and padding insert."""

    cls: int
    sep: int
    pad: int


def truncated_lengths(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
    """Lengths Google's `_truncate_seq_pair` leaves: drop the last token of the longer sequence
    (of B on a tie) until `len_a + len_b <= budget`, in closed form."""
    excess = len_a + len_b - budget
    if excess <= 0:
        return len_a, len_b
    if len_a > len_b:
        cut = min(len_a - len_b, excess)
        len_a, excess = len_a - cut, excess - cut
    elif len_b > len_a:
        cut = min(len_b - len_a, excess)
        len_b, excess = len_b - cut, excess - cut
    # Now equal: the rule alternates, starting with B.
    return len_a - excess // 2, len_b - (excess + 1) // 2


def fit_lengths(
    len_a: int, len_b: int | None, max_length: int | None, limit: int, index: int | None
) -> tuple[int, int]:
    """Segment lengths after truncation to max_length (counting [CLS]/[SEP]); without max_length a
    sequence longer than `limit` (the model's max_len) is an InputError."""
    specials = 2 if len_b is None else 3
    if max_length is None:
        total = len_a + (len_b or 0) + specials
        if total > limit:
            where = "" if index is None else f"Text {index}: "
            raise InputError(
                f"{where}{total} tokens with [CLS]/[SEP] exceed this tokenizer's max_len {limit}, the "
                "longest sequence the model can take; pass max_length= to truncate (longest first)."
            )
        return len_a, len_b or 0
    if len_b is None:
        return min(len_a, max_length - 2), 0
    return truncated_lengths(len_a, len_b, max_length - 3)


def encode_pair(tokenizer: Any, text_a: str, text_b: str | None, max_seq_length: int) -> tuple[list[int], list[int]]:
    """`[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` ids and token type ids, as Google's run_classifier builds them.

    Pairs longer than max_seq_length lose tokens from the end of the longer side, one at a time,
    the second text on ties (Google's _truncate_seq_pair, as `truncated_lengths`; Hugging Face's Rust
    tokenizers break ties the other way); a single text is cut at the end. Needs only the tokenizer's
    `tokenize` and `convert_tokens_to_ids`, so a task plugin can pass any tokenizer that has them.
    """
    reserved = 3 if text_b is not None else 2
    if max_seq_length <= reserved:
        raise ValueError(f"max_seq_length must exceed {reserved} to hold any text, got {max_seq_length}.")
    tokens_a = tokenizer.tokenize(text_a)
    tokens_b = tokenizer.tokenize(text_b) if text_b is not None else None
    len_a, len_b = truncated_lengths(len(tokens_a), len(tokens_b or ()), max_seq_length - reserved)
    tokens = frame(tokens_a, tokens_b, len_a, len_b, "[CLS]", "[SEP]")
    types = [0] * (len_a + 2) + [1] * (len(tokens) - len_a - 2)
    return list(tokenizer.convert_tokens_to_ids(tokens)), types


def check_options(max_length: int | None, padding: str | bool, pair: bool) -> None:
    problems = []
    smallest = 3 if pair else 2
    if max_length is not None and (not isinstance(max_length, int) or max_length < smallest):
        problems.append(f"max_length={max_length!r} must be an int >= {smallest} (room for [CLS] and [SEP])")
    if padding not in PADDINGS:
        problems.append(f"padding={padding!r} must be one of {PADDINGS}")
    if padding == "max_length" and max_length is None:
        problems.append("padding='max_length' needs max_length")
    if problems:
        raise InputError("Invalid encoding options: " + "; ".join(problems) + ".")


def frame(a: Sequence, b: Sequence | None, len_a: int, len_b: int, first, sep) -> list:
    """`[first] a[:len_a] [sep]` (+ `b[:len_b] [sep]`): ids with [CLS]/[SEP], or word ids with None."""
    row = [first, *a[:len_a], sep]
    if b is not None:
        row += b[:len_b]
        row.append(sep)
    return row


@dataclass
class Framed:
    """N framed sequences: rows of ids with [CLS]/[SEP], the length of each segment A (with [CLS] and
    its [SEP]), word indices per token (None at specials) when texts were word lists, and how many
    tokens truncation dropped from each."""

    rows: list[list[int]]
    firsts: list[int]
    word_rows: list[list[int | None]] | None
    dropped: list[int]
    pad_id: int

    def encoding(self, i: int, pad_to: int | None) -> Encoding:
        row, first = self.rows[i], self.firsts[i]
        n = len(row)
        padding = 0 if pad_to is None else max(0, pad_to - n)
        return Encoding(
            input_ids=row + [self.pad_id] * padding,
            token_type_ids=[0] * first + [1] * (n - first) + [0] * padding,
            attention_mask=[1] * n + [0] * padding,
            word_ids=None if self.word_rows is None else self.word_rows[i] + [None] * padding,
            num_truncated=self.dropped[i],
        )

    def batch(self, pad_to: int | None, padding: bool, return_tensors: str | None) -> dict:
        """{"input_ids", "token_type_ids", "attention_mask"[, "word_ids"]}: [N, T] LongTensors
        (return_tensors="pt") or lists; T = pad_to or the longest row; padding=False: no [PAD]."""
        if not padding and return_tensors is None:
            return self._ragged()
        if not padding and len(set(map(len, self.rows))) > 1:
            raise InputError("padding=False cannot make a tensor of unequal lengths; pass padding='longest'.")
        arrays = stack_inputs(self.rows, self.pad_id, pad_to, segment_b=self.firsts)
        if self.word_rows is not None:
            words = [[-1 if w is None else w for w in row] for row in self.word_rows]
            arrays["word_ids"] = pad_rows(words, arrays["input_ids"].shape[1], -1)
        if return_tensors == "pt":
            import torch

            return {name: torch.from_numpy(array) for name, array in arrays.items()}
        return {name: array.tolist() for name, array in arrays.items()}

    def _ragged(self) -> dict[str, list[list[int]]]:
        out = {
            "input_ids": self.rows,
            "token_type_ids": [[0] * f + [1] * (len(r) - f) for r, f in zip(self.rows, self.firsts, strict=True)],
            "attention_mask": [[1] * len(r) for r in self.rows],
        }
        if self.word_rows is not None:
            out["word_ids"] = [[-1 if w is None else w for w in row] for row in self.word_rows]
        return out


def frame_texts(
    batch_ids: Callable[[list[str]], list[list[int]]],
    texts: Sequence[Text],
    pairs: Sequence[Text] | None,
    *,
    max_length: int | None,
    limit: int,
    specials: Specials,
) -> Framed:
    """Tokenize texts (and pairs) with batch_ids, truncate to max_length and frame them."""
    ids_a, words_a = _ids(batch_ids, texts, "texts")
    ids_b, words_b = (None, None) if pairs is None else _ids(batch_ids, pairs, "pairs")
    if pairs is not None and (words_a is None) != (words_b is None):
        words_a = words_a or [[None] * len(ids) for ids in ids_a]
        words_b = words_b or [[None] * len(ids) for ids in ids_b]
    lens_b = [None] * len(ids_a) if ids_b is None else [len(b) for b in ids_b]
    numbered = len(ids_a) > 1  # errors name the text's index only in a batch
    kept = [
        fit_lengths(len(a), lb, max_length, limit, i if numbered else None)
        for i, (a, lb) in enumerate(zip(ids_a, lens_b, strict=True))
    ]
    return _frame_all(ids_a, ids_b, words_a, words_b, kept, specials)


def _ids(batch_ids: Callable, texts: Sequence[Text], what: str) -> tuple[list[list[int]], list[list[int]] | None]:
    """WordPiece ids of each text, and for lists of words each token's word index."""
    if isinstance(texts, str):
        raise InputError(f"{what} is one string; pass a list of texts (or use encode for one text).")
    strings = not texts or isinstance(texts[0], str)
    bad = next((i for i, t in enumerate(texts) if not (isinstance(t, str) if strings else _is_word_list(t))), None)
    if bad is not None:
        raise InputError(f"{what}[{bad}] is {type(texts[bad]).__name__}: pass all strings, or all lists of words.")
    if strings:
        return batch_ids(list(texts)), None
    pieces = iter(batch_ids([word for text in texts for word in text]))
    ids, owners = [], []
    for text in texts:
        row, owner = [], []
        for index in range(len(text)):
            piece_ids = next(pieces)
            row += piece_ids
            owner += [index] * len(piece_ids)
        ids.append(row)
        owners.append(owner)
    return ids, owners


def _is_word_list(value: object) -> bool:
    return not isinstance(value, str) and isinstance(value, Sequence) and all(isinstance(w, str) for w in value)


def _frame_all(ids_a: list, ids_b: list | None, words_a: list | None, words_b: list | None,
              kept: list[tuple[int, int]], specials: Specials) -> Framed:
    """Frame each example's ids (and word indices) with the lengths `kept` after truncation."""
    b_rows = ids_b or [None] * len(ids_a)
    rows = [frame(a, b, la, lb, specials.cls, specials.sep) for a, b, (la, lb) in zip(ids_a, b_rows, kept, strict=True)]
    word_rows = None
    if words_a is not None:
        wb_rows = words_b or [None] * len(ids_a)
        word_rows = [frame(a, b, la, lb, None, None) for a, b, (la, lb) in zip(words_a, wb_rows, kept, strict=True)]
    dropped = [
        len(a) + (0 if b is None else len(b)) - la - lb for a, b, (la, lb) in zip(ids_a, b_rows, kept, strict=True)
    ]
    return Framed(rows, [la + 2 for la, _ in kept], word_rows, dropped, specials.pad)


def pad_rows(rows: Sequence[Sequence[int]], width: int, value: int) -> np.ndarray:
    """[N, width] int64: each row, then `value` up to width. The one padding of berthub's batches
    (tokenizer outputs, task features, token targets)."""
    lens = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lens.sum()))
    out = np.full((len(rows), width), value, dtype=np.int64)
    out[np.arange(width) < lens[:, None]] = flat
    return out


def stack_inputs(rows: Sequence[Sequence[int]], pad_id: int, pad_to: int | None = None, *,
                 types: Sequence[Sequence[int]] | None = None,
                 segment_b: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """input_ids / token_type_ids / attention_mask as [N, T] int64 arrays, T = the longest row or pad_to.

    Token types come from `types` (one list per row, padded with 0) or, for rows framed here, from
    `segment_b` (where segment B starts in each row: type 1 from there to the row's end).
    """
    lens = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = max(int(lens.max(initial=0)), pad_to or 0)
    mask = np.arange(width) < lens[:, None]
    if types is not None:
        token_types = pad_rows(types, width, 0)
    else:
        starts = np.asarray(segment_b, dtype=np.int64).reshape(-1, 1)
        token_types = ((np.arange(width) >= starts) & mask).astype(np.int64)
    return {"input_ids": pad_rows(rows, width, pad_id), "token_type_ids": token_types,
            "attention_mask": mask.astype(np.int64)}
