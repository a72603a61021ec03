"""BertTokenizer: Google's BERT tokenization and model inputs, with the pytorch-pretrained-BERT 0.6 API.

The rules themselves (clean-up, CJK, lower-casing and accents, punctuation, WordPiece) are in
berthub/tokenizer/rules.py as BasicTokenizer and WordpieceTokenizer, exported here under their 0.6 names.
`BertTokenizer` runs them word by word behind a cache; with use_fast=True it hands batches to the
`tokenizers` library (Rust) wherever that handles the text identically (berthub/tokenizer/fast.py).
Model inputs ([CLS]/[SEP], Google's pair truncation, padding) are built in berthub/tokenizer/inputs.py;
`tokenizer(...)` (transformers' call: its truncation strategies, tensors, offsets, special tokens
mask) in berthub/tokenizer/call.py, with the pure path's character offsets from berthub/tokenizer/offsets.py.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from berthub.errors import ConfigError, InputError, NotFoundError
from berthub.files import write_text_atomic
from berthub.sources.settings import TOKENIZER_CONFIG_NAME, TOKENIZER_FILES, VOCAB_NAME
from berthub.tokenizer import call as _call_encoding
from berthub.tokenizer import inputs as _encoding
from berthub.tokenizer.files import (
    check_use_fast,
    load_vocab,
    pretrained_settings,
    tokenizer_config,
    warn_on_case_mismatch,
)
from berthub.tokenizer.inputs import Encoding, Text
from berthub.tokenizer.offsets import ids_and_offsets
from berthub.tokenizer.rules import CLS, MASK, NEVER_SPLIT, PAD, SEP, UNK, BasicTokenizer, WordpieceTokenizer

__all__ = ["BertTokenizer", "whitespace_tokenize"]

# Above this many distinct words the word cache is emptied, so memory stays bounded on endless streams.
_CACHE_LIMIT = 1 << 18
# max_len=None is stored as this (0.6's int(1e12)): no limit.
_NO_LIMIT = int(1e12)


class BertTokenizer:
    """End-to-end BERT tokenization (basic + WordPiece) and model inputs, pytorch-pretrained-BERT 0.6 API.

    >>> tok = BertTokenizer.from_pretrained("bert-base-uncased")
    >>> tok.tokenize("Hello, world!")                     # ['hello', ',', 'world', '!']
    >>> tok(["Hello!", "Hi there"], padding=True, return_tensors="pt")  # as transformers' tokenizer(...)
    >>> enc = tok.encode("How old?", "Ten.", max_length=16, padding="max_length")
    >>> enc.input_ids, enc.token_type_ids, enc.attention_mask   # three lists of 16 ints
    >>> batch = tok.batch_encode(["a", "b c"], max_length=128)  # {name: LongTensor [2, T]}

    use_fast=True runs batches through the `tokenizers` library (Rust; same ids, see
    berthub/tokenizer/fast.py; only with do_basic_tokenize=True). The default is the pure-Python
    path: it is the reference, and with its word cache it was the faster one where
    bench/tokenizer.py was measured (bench/RESULTS.md).
    """

    def __init__(
        self,
        vocab_file: str | os.PathLike,
        do_lower_case: bool = True,
        max_len: int | None = 512,
        do_basic_tokenize: bool = True,
        never_split: Iterable[str] | None = None,
        tokenize_chinese_chars: bool = True,
        *,
        use_fast: bool = False,
    ):
        self.vocab_file = Path(vocab_file)
        self._tokens = load_vocab(self.vocab_file)
        self.vocab = {token: index for index, token in enumerate(self._tokens)}
        if UNK not in self.vocab:
            raise ConfigError(
                f"Vocabulary file '{self.vocab_file}' has no {UNK} token ({len(self._tokens)} lines read), so "
                f"unknown words cannot be encoded; pass a BERT vocab.txt (Google's has {UNK} at id 100)."
            )
        self.ids_to_tokens = dict(enumerate(self._tokens))
        self.max_len = _NO_LIMIT if max_len is None else max_len
        self.do_lower_case = do_lower_case
        self.do_basic_tokenize = do_basic_tokenize
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.never_split = tuple(NEVER_SPLIT if never_split is None else never_split)
        self.basic_tokenizer = BasicTokenizer(do_lower_case, self.never_split, tokenize_chinese_chars)
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, UNK)
        self._cache: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
        self._use_fast = check_use_fast(use_fast) and do_basic_tokenize
        self._fast = None
        warn_on_case_mismatch(self._tokens, do_lower_case, self.vocab_file)

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:
        return (
            f"BertTokenizer(vocab_file='{self.vocab_file}', vocab_size={len(self)}, do_lower_case="
            f"{self.do_lower_case}, max_len={self.max_len}, is_fast={self.is_fast})"
        )

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    @property
    def is_fast(self) -> bool:
        """Whether batches go through the `tokenizers` library (use_fast=True)."""
        return self._use_fast

    # -- tokens and ids (pytorch-pretrained-BERT 0.6) ---------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of `text`, without [CLS]/[SEP]: "Unaffable!" -> ['una', '##ffa', '##ble', '!']."""
        return self._word_pieces(text, 0)

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Ids of WordPiece tokens; an unknown token, or more than max_len of them, is an InputError."""
        try:
            ids = [self.vocab[token] for token in tokens]
        except KeyError as error:
            raise InputError(
                f"Token {error.args[0]!r} is not in the vocabulary '{self.vocab_file}'; get tokens from "
                f"tokenize(), which maps unknown words to {UNK}."
            ) from None
        if len(ids) > self.max_len:
            raise InputError(
                f"{len(ids)} tokens exceed this tokenizer's max_len {self.max_len}, the longest sequence the "
                "model can take (running it would index past the position embeddings); truncate them "
                "first, or use encode(..., max_length=...)."
            )
        return ids

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ids (ints, or a 1-D tensor); an id outside the vocabulary is an InputError."""
        tokens, size = self._tokens, len(self._tokens)
        out = []
        for i in map(int, ids):
            if not 0 <= i < size:
                raise InputError(f"Id {i} is outside the vocabulary '{self.vocab_file}' (ids 0..{size - 1}).")
            out.append(tokens[i])
        return out

    def decode(self, ids: Iterable[int] | int, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: bool = True) -> str:
        """Text of ids as transformers' BertTokenizer.decode writes it (same defaults):
        [101, 7592, 1010, 2088, 102] -> "[CLS] hello, world [SEP]"; skip_special_tokens drops
        [CLS]/[SEP]/[PAD]/[MASK]/[UNK]; clean_up_tokenization_spaces joins " ." " ?" " !" " ,"
        (transformers 5 ignores clean_up_tokenization_spaces=False for BERT; berthub honours it)."""
        tokens = self.convert_ids_to_tokens([ids] if isinstance(ids, int) else _flat_ids(ids))
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in NEVER_SPLIT]
        return _call_encoding.join_wordpieces(tokens, clean_up_tokenization_spaces)

    def batch_decode(self, sequences: Iterable[Iterable[int]], skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool = True) -> list[str]:
        """`decode` of each row of a list of id lists or a [N, T] tensor."""
        return [self.decode(row, skip_special_tokens, clean_up_tokenization_spaces) for row in sequences]

    pad_token_id = property(lambda self: self.vocab.get(PAD), doc="Id of [PAD], None if the vocabulary lacks it.")
    cls_token_id = property(lambda self: self.vocab.get(CLS), doc="Id of [CLS], None if the vocabulary lacks it.")
    sep_token_id = property(lambda self: self.vocab.get(SEP), doc="Id of [SEP], None if the vocabulary lacks it.")
    mask_token_id = property(lambda self: self.vocab.get(MASK), doc="Id of [MASK], None if the vocabulary lacks it.")

    @property
    def unk_token_id(self) -> int:
        return self.vocab[UNK]

    # -- files -------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        cache_dir: str | os.PathLike | None = None,
        *,
        revision: str | None = None,
        local_files_only: bool = False,
        token: str | None = None,
        **overrides: Any,
    ) -> BertTokenizer:
        """Tokenizer from a registry name, hub repo id, directory or vocab.txt path.

        Settings (do_lower_case, max_len, tokenize_chinese_chars, never_split, do_basic_tokenize,
        use_fast) come from the registry entry, then the directory's tokenizer_config.json, then
        keyword overrides, each winning over the one before.
        """
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return cls(path, **pretrained_settings(None, None, overrides))
        from berthub.model.pretrained import locate  # the one door to berthub.sources (imported on use)

        resolved = locate(name_or_path, TOKENIZER_FILES, revision=revision, cache_dir=cache_dir,
                          local_files_only=local_files_only, token=token)
        vocab_file = Path(resolved.directory) / VOCAB_NAME
        if not vocab_file.is_file():
            raise NotFoundError(
                f"'{name_or_path}' resolved to '{resolved.directory}', which has no {VOCAB_NAME}; "
                "point to a BERT model directory or pass the vocab.txt path itself."
            )
        overrides = _case_of_named_model(str(name_or_path), resolved.entry, overrides)
        return cls(vocab_file, **pretrained_settings(resolved.entry, Path(resolved.directory), overrides))

    def save_pretrained(self, directory: str | os.PathLike) -> list[Path]:
        """Write vocab.txt and tokenizer_config.json (transformers-compatible) into directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = tokenizer_config(self.do_lower_case, self.max_len, self.tokenize_chinese_chars, self.never_split)
        text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
        return [self.save_vocabulary(directory), write_text_atomic(directory / TOKENIZER_CONFIG_NAME, text)]

    def save_vocabulary(self, vocab_path: str | os.PathLike) -> Path:
        """Write the vocabulary, one token per line in id order, to vocab_path (a directory or a file)."""
        path = Path(vocab_path)
        return write_text_atomic(path / VOCAB_NAME if path.is_dir() else path, "".join(t + "\n" for t in self._tokens))

    # -- model inputs ------------------------------------------------------------------------------

    def encode(
        self,
        text_a: Text,
        text_b: Text | None = None,
        *,
        max_length: int | None = None,
        padding: str | bool = False,
    ) -> Encoding:
        """`[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]` as an Encoding (lists of T ints).

        A text is a string or a list of words (each word tokenized on its own, as Google's run_squad
        does; the Encoding's word_ids then map tokens to words). max_length truncates the longer
        sequence first (Google's _truncate_seq_pair); padding="max_length" pads to max_length. Without
        max_length, more than max_len tokens is an InputError.
        """
        _encoding.check_options(max_length, padding, text_b is not None)
        framed = self._framed([text_a], None if text_b is None else [text_b], max_length)
        return framed.encoding(0, max_length if padding == "max_length" else None)

    def batch_encode(
        self,
        texts: Sequence[Text],
        pairs: Sequence[Text] | None = None,
        *,
        max_length: int | None = None,
        padding: str | bool = "longest",
        return_tensors: str | None = "pt",
    ) -> dict[str, Any]:
        """N texts (or N pairs) as model inputs: {"input_ids", "token_type_ids", "attention_mask"}.

        With return_tensors="pt" each value is a LongTensor [N, T], T = the longest sequence
        (padding="longest") or max_length (padding="max_length"); with return_tensors=None, lists of
        N lists (padding=False leaves them ragged). When the texts are lists of words, "word_ids"
        [N, T] gives each token's word index in its own text (-1 for [CLS]/[SEP]/[PAD]).
        Truncation and max_len as in `encode`.
        """
        _encoding.check_options(max_length, padding, pairs is not None)
        if return_tensors not in ("pt", None):
            raise InputError(f"return_tensors={return_tensors!r} is not supported; use 'pt' or None.")
        if pairs is not None and len(pairs) != len(texts):
            raise InputError(f"Got {len(texts)} texts but {len(pairs)} pairs; pass one pair per text.")
        framed = self._framed(texts, pairs, max_length)
        return framed.batch(max_length if padding == "max_length" else None, padding is not False, return_tensors)

    # -- model inputs, transformers style -------------------------------------------------------------

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        *,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_offsets_mapping: bool = False,
        return_special_tokens_mask: bool = False,
    ) -> dict[str, Any]:
        """Model inputs exactly as transformers' BertTokenizer(text, text_pair, ...) returns them.

        One string gives flat lists ({"input_ids": [101, ..., 102], "token_type_ids": [...],
        "attention_mask": [...]}), or [1, T] tensors with return_tensors="pt" / "np"; a list of N
        strings gives N rows ([N, T] tensors need padding=True or equal lengths). padding:
        False | True / "longest" | "max_length"; truncation: None (truncate only when max_length is
        given and padding is off) | True / "longest_first" | "only_first" | "only_second" | False.
        Pair truncation is transformers' (the `tokenizers` library: on a tie the second text keeps
        the extra token); `encode` / `batch_encode` keep Google's (the first keeps it).
        return_offsets_mapping adds "offset_mapping": each token's (start, end) character span in
        its own text, (0, 0) for [CLS]/[SEP]/[PAD]; return_special_tokens_mask adds 1 at those.
        """
        texts, pairs = _call_encoding.check_texts(text, text_pair)
        limit = None if self.max_len >= _NO_LIMIT else self.max_len
        options = _call_encoding.call_options(
            padding, truncation, max_length, return_tensors, offsets=return_offsets_mapping,
            special_tokens_mask=return_special_tokens_mask, model_max_length=limit, pair=pairs is not None,
        )
        tokenized = [self._tokenized(batch, return_offsets_mapping) for batch in (texts, pairs) if batch is not None]
        tokenized_b = tokenized[1] if len(tokenized) > 1 else None
        batch = _call_encoding.encode_batch(tokenized[0], tokenized_b, options, self._specials(), limit)
        return _call_encoding.single(batch, return_tensors) if isinstance(text, str) else batch

    def _tokenized(self, texts: list[str], offsets: bool) -> _call_encoding.Tokenized:
        if not offsets:
            return self._batch_ids(texts), None
        if self._use_fast:
            pairs = self._fast_tokenizer().batch_ids_and_offsets(texts, self._text_ids_and_offsets)
        else:
            pairs = [self._text_ids_and_offsets(text) for text in texts]
        return [ids for ids, _ in pairs], [spans for _, spans in pairs]

    def _text_ids_and_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        self._words(text)  # the same input check as the ids path
        return ids_and_offsets(text, self.basic_tokenizer, self.wordpiece_tokenizer, self.vocab,
                               self.do_basic_tokenize)

    def _framed(self, texts: Sequence[Text], pairs: Sequence[Text] | None, max_length: int | None):
        return _encoding.frame_texts(self._batch_ids, texts, pairs, max_length=max_length, limit=self.max_len,
                                     specials=self._specials())

    def _batch_ids(self, texts: list[str]) -> list[list[int]]:
        if self._use_fast:
            return self._fast_tokenizer().batch_ids(texts, self._text_ids)
        return [self._text_ids(text) for text in texts]

    def _fast_tokenizer(self):
        if self._fast is None:
            self._fast = self._build_fast()
        return self._fast

    def _text_ids(self, text: str) -> list[int]:
        return self._word_pieces(text, 1)

    def _word_pieces(self, text: str, part: int) -> list:
        """Each word's cached (tokens, ids), joined: part 0 the tokens, part 1 the ids."""
        pieces: list = []
        for word in self._words(text):
            pieces += (self._cache.get(word) or self._tokenize_word(word))[part]
        return pieces

    def _words(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise InputError(f"Expected a string to tokenize, got {type(text).__name__}.")
        if self.do_basic_tokenize:
            return self.basic_tokenizer._words(text)
        return self.basic_tokenizer._split_specials(text, text.split())

    def _tokenize_word(self, word: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        pieces = self.basic_tokenizer._split_word(word) if self.do_basic_tokenize else [word]
        tokens = tuple(token for piece in pieces for token in self.wordpiece_tokenizer._word(piece))
        entry = tokens, tuple(self.vocab[token] for token in tokens)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = entry
        return entry

    def _specials(self) -> _encoding.Specials:
        missing = [t for t in (CLS, SEP, PAD) if t not in self.vocab]
        if missing:
            raise ConfigError(
                f"Vocabulary '{self.vocab_file}' lacks {', '.join(missing)}, which model inputs need; "
                "use tokenize() / convert_tokens_to_ids() with it, or a BERT vocab.txt."
            )
        return _encoding.Specials(self.vocab[CLS], self.vocab[SEP], self.vocab[PAD])

    def _build_fast(self):
        from berthub.tokenizer.fast import FastWordPiece

        return FastWordPiece(
            self.vocab, unk_token=UNK, do_lower_case=self.do_lower_case,
            tokenize_chinese_chars=self.tokenize_chinese_chars, never_split=self.never_split,
            max_input_chars_per_word=self.wordpiece_tokenizer.max_input_chars_per_word,
        )


def _case_of_named_model(name: str, entry: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """pytorch-pretrained-BERT 0.6.2's rule for named checkpoints: a cased one (`-cased` in the name) is
    never lower-cased, every other one (`-uncased`, bert-base-chinese) always is. An explicit
    do_lower_case that contradicts the registry is corrected, with a warning, as 0.6.2 did; otherwise
    cased words would become [UNK] (or capitals unreachable)."""
    if entry is None or "do_lower_case" not in overrides or overrides["do_lower_case"] == entry.do_lower_case:
        return overrides
    kind = "a lower-cased (uncased)" if entry.do_lower_case else "a cased"
    warnings.warn(
        f"'{name}' is {kind} model, so berthub sets do_lower_case={entry.do_lower_case} instead of the "
        f"do_lower_case={overrides['do_lower_case']} passed; to tokenize differently, load its vocab.txt by path.",
        UserWarning, stacklevel=3,
    )
    return {**overrides, "do_lower_case": entry.do_lower_case}


def whitespace_tokenize(text: str) -> list[str]:
    """pytorch-pretrained-BERT 0.6's helper (run_squad.py imports it): `text` split on whitespace."""
    return text.split()


def _flat_ids(ids: Iterable[int]) -> list[int]:
    """A 1-D list / tensor / array of ids; a [1, T] batch of one row is accepted as its row."""
    values = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    if isinstance(values, int):  # a 0-d tensor or numpy scalar
        return [values]
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    if any(isinstance(v, list) for v in values):
        raise InputError("decode takes one sequence of ids; use batch_decode for a batch.")
    return values
