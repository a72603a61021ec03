"""`BertTokenizer.__call__`: transformers' options and outputs on berthub's WordPiece ids.

transformers (5.x) runs its BertTokenizer through the `tokenizers` library, so its truncation is
Rust's: "longest_first" shortens the longer sequence until both are equal, then splits what is
left with the extra token going to the SECOND sequence (`budget // 2` to the first); Google's
`_truncate_seq_pair` (BertTokenizer.encode / batch_encode, the Task features) gives the extra token
to the FIRST sequence. Everything else here follows transformers' resolution rules:

* truncation=None truncates ("longest_first") only when max_length is given and padding is off;
* max_length=None with padding="max_length" or truncation means the tokenizer's max_len;
* padding="max_length" pads to max_length but never shortens; padding=True pads to the longest row;
* padded positions: [PAD] ids, token type 0, attention 0, special_tokens_mask 1, offsets (0, 0).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from berthub.errors import InputError
from berthub.tokenizer.inputs import Specials, frame

_PADDING = {False: None, "do_not_pad": None, True: "longest", "longest": "longest", "max_length": "max_length"}
_TRUNCATION = {False: None, "do_not_truncate": None, True: "longest_first", "longest_first": "longest_first",
               "only_first": "only_first", "only_second": "only_second"}
_TENSORS = (None, "pt", "np")
NO_SPAN = (0, 0)

Span = tuple[int, int]
# WordPiece ids of a batch of texts, and (when offsets are asked for) each token's character span.
Tokenized = tuple[list[list[int]], list[list[Span]] | None]


@dataclass(frozen=True)
class CallOptions:
    """Resolved options: padding "longest" | "max_length" | None, truncation strategy or None."""

    padding: str | None
    truncation: str | None
    max_length: int | None
    return_tensors: str | None
    offsets: bool
    special_tokens_mask: bool


def call_options(padding: Any, truncation: Any, max_length: Any, return_tensors: Any, *, offsets: bool,
                 special_tokens_mask: bool, model_max_length: int | None, pair: bool) -> CallOptions:
    """Check every option (one InputError lists all problems) and apply transformers' defaults."""
    problems = []
    if not _hashable_in(padding, _PADDING):
        problems.append(f"padding={padding!r} must be one of False, True, 'longest', 'max_length', 'do_not_pad'")
    if truncation is not None and not _hashable_in(truncation, _TRUNCATION):
        problems.append(f"truncation={truncation!r} must be one of None, False, True, 'longest_first', "
                        "'only_first', 'only_second', 'do_not_truncate'")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0):
        problems.append(f"max_length={max_length!r} must be a non-negative int")
    if return_tensors not in _TENSORS:
        problems.append(f"return_tensors={return_tensors!r} must be None, 'pt' or 'np'")
    if problems:
        raise InputError("Invalid tokenizer options: " + "; ".join(problems) + ".")
    pad = _PADDING[padding]
    if truncation is None:
        strategy = "longest_first" if max_length is not None and pad is None else None
    else:
        strategy = _TRUNCATION[truncation]
    if max_length is None and (pad == "max_length" or strategy):
        max_length = model_max_length
        pad = None if pad == "max_length" and max_length is None else pad
        strategy = strategy if max_length is not None else None
    specials = 3 if pair else 2
    if strategy and max_length is not None and max_length < specials:
        raise InputError(f"max_length={max_length} leaves no room for [CLS]/[SEP] ({specials} tokens); pass "
                         f"max_length >= {specials}, or truncation=False.")
    return CallOptions(pad, strategy, max_length, return_tensors, offsets, special_tokens_mask)


def _hashable_in(value: Any, table: dict) -> bool:
    try:
        return value in table and not (isinstance(value, int) and not isinstance(value, bool))
    except TypeError:
        return False


def rust_truncated_lengths(len_a: int, len_b: int | None, budget: int, strategy: str) -> tuple[int, int]:
    """Segment lengths the `tokenizers` library keeps for `budget` tokens (max_length - specials).

    Deliberately not Google's rule (berthub.tokenizer.inputs.truncated_lengths): ties and odd budgets
    split the other way, as transformers' `tokenizer(...)` does."""
    if len_b is None:
        if len_a <= budget:
            return len_a, 0
        if strategy == "only_second":
            raise InputError("truncation='only_second' needs a second text (text_pair) to shorten; use "
                             "truncation='longest_first' for single texts.")
        return budget, 0
    if len_a + len_b <= budget:
        return len_a, len_b
    if budget == 0:  # the library empties both texts whatever the strategy
        return 0, 0
    if strategy == "longest_first":
        swap = len_a > len_b
        short, long = (len_b, len_a) if swap else (len_a, len_b)
        long = short if short > budget else max(short, budget - short)
        if short + long > budget:
            short = budget // 2
            long = short + budget % 2
        return (min(len_a, long), min(len_b, short)) if swap else (min(len_a, short), min(len_b, long))
    excess = len_a + len_b - budget
    index = 0 if strategy == "only_first" else 1
    length = (len_a, len_b)[index]
    if length <= excess:
        which = ("first", "second")[index]
        raise InputError(f"truncation='{strategy}' cannot fit {len_a} + {len_b} tokens into {budget}: the {which} "
                         f"text has only {length}; use truncation='longest_first' or a larger max_length.")
    return (len_a - excess, len_b) if index == 0 else (len_a, len_b - excess)


def encode_batch(tokenized_a: Tokenized, tokenized_b: Tokenized | None, options: CallOptions,
                 specials: Specials, model_max_length: int | None) -> dict[str, Any]:
    """The model inputs of N texts (or pairs) as transformers' BertTokenizer returns them (batched)."""
    ids_a, spans_a = tokenized_a
    ids_b, spans_b = tokenized_b if tokenized_b is not None else (None, None)
    rows: dict[str, list[list[Any]]] = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    if options.special_tokens_mask:
        rows["special_tokens_mask"] = []
    if options.offsets:
        rows["offset_mapping"] = []
    for i, a in enumerate(ids_a):
        b = None if ids_b is None else ids_b[i]
        len_a, len_b = len(a), (0 if b is None else len(b))
        if options.truncation and options.max_length is not None:
            budget = options.max_length - (2 if b is None else 3)
            len_a, len_b = rust_truncated_lengths(len(a), None if b is None else len(b), budget, options.truncation)
        row = frame(a, b, len_a, len_b, specials.cls, specials.sep)
        rows["input_ids"].append(row)
        rows["token_type_ids"].append([0] * (len_a + 2) + [1] * (len(row) - len_a - 2))
        rows["attention_mask"].append([1] * len(row))
        if options.special_tokens_mask:
            rows["special_tokens_mask"].append(frame([0] * len_a, None if b is None else [0] * len_b,
                                                     len_a, len_b, 1, 1))
        if options.offsets:
            rows["offset_mapping"].append(frame(spans_a[i], None if b is None else spans_b[i],
                                                len_a, len_b, NO_SPAN, NO_SPAN))
    _warn_if_too_long(rows["input_ids"], model_max_length)
    width = _padded_width(rows["input_ids"], options)
    if width is not None:
        _pad_rows(rows, width, specials.pad)
    return _as_output(rows, options.return_tensors)


def _warn_if_too_long(rows: list[list[int]], model_max_length: int | None) -> None:
    longest = max(map(len, rows), default=0)
    if model_max_length is not None and longest > model_max_length:
        warnings.warn(f"A sequence of {longest} tokens is longer than this tokenizer's max_len {model_max_length}; "
                      "the model cannot take it. Pass truncation=True (and max_length=...).", stacklevel=4)


def _padded_width(rows: list[list[int]], options: CallOptions) -> int | None:
    if options.padding == "longest":
        return max(map(len, rows), default=0)
    if options.padding == "max_length":
        return options.max_length
    return None


_PAD_VALUES = {"token_type_ids": 0, "attention_mask": 0, "special_tokens_mask": 1, "offset_mapping": NO_SPAN}


def _pad_rows(rows: dict[str, list[list[Any]]], width: int, pad_id: int) -> None:
    for name, values in rows.items():
        fill = _PAD_VALUES.get(name, pad_id)
        for row in values:
            row.extend([fill] * (width - len(row)))


def _as_output(rows: dict[str, list[list[Any]]], return_tensors: str | None) -> dict[str, Any]:
    if return_tensors is None:
        return rows
    lengths = {len(row) for row in rows["input_ids"]}
    if len(lengths) > 1:
        raise InputError(f"Cannot make one tensor of rows of {min(lengths)} to {max(lengths)} tokens; pass "
                         "padding=True (and truncation=True for texts longer than max_length).")
    arrays = {name: np.asarray(values, dtype=np.int64) for name, values in rows.items()}
    if "offset_mapping" in arrays and arrays["offset_mapping"].ndim == 2:  # a batch of empty rows
        arrays["offset_mapping"] = arrays["offset_mapping"].reshape(len(rows["input_ids"]), -1, 2)
    if return_tensors == "np":
        return arrays
    import torch

    return {name: torch.from_numpy(array) for name, array in arrays.items()}


def single(batch: dict[str, Any], return_tensors: str | None) -> dict[str, Any]:
    """transformers' shape for one text: flat lists without return_tensors, [1, T] tensors with them."""
    if return_tensors is not None:
        return batch
    return {name: rows[0] for name, rows in batch.items()}


def check_texts(text: Any, text_pair: Any) -> tuple[list[str], list[str] | None]:
    """The batch behind `tokenizer(text, text_pair)`: a string is one text, a list of strings a batch."""
    texts = _as_list(text, "text")
    if text_pair is None or (isinstance(text, str) and text_pair == ""):  # transformers: "" is no pair
        return texts, None
    pairs = _as_list(text_pair, "text_pair")
    if isinstance(text, str) != isinstance(text_pair, str) or len(pairs) != len(texts):
        raise InputError(f"text has {len(texts)} texts but text_pair has {len(pairs)}: pass one string each, "
                         "or two lists of the same length.")
    return texts, pairs


def _as_list(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(f"{name} must be a string or a list of strings, got {type(value).__name__}; "
                     "for lists of words use BertTokenizer.encode / batch_encode.")


# The clean-up of the `tokenizers` WordPiece decoder, applied to each token with its leading space.
_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def join_wordpieces(tokens: Sequence[str], clean_up: bool) -> str:
    """Text of WordPiece tokens as transformers' BertTokenizer.decode writes it: "##" pieces join the
    token before, others follow a space; clean_up drops the space before . ? ! , (token by token)."""
    out = []
    for i, token in enumerate(tokens):
        if i:
            token = token[2:] if token.startswith("##") else " " + token
        if clean_up:
            for dirty, clean in _CLEANUP:
                token = token.replace(dirty, clean)
        out.append(token)
    return "".join(out)
