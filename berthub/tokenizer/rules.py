"""Google's BERT tokenization rules: BasicTokenizer and WordpieceTokenizer (exported by berthub.tokenizer).

The rules are those of google-research/bert `tokenization.py` (2018) as shipped in
pytorch-pretrained-BERT 0.6, whose public API these classes keep:

* clean-up: NUL, U+FFFD and control characters (every "C*" category except tab, newline and carriage
  return, as in pytorch-pretrained-BERT and transformers) are dropped; "Zs" spaces, tab, newline and
  carriage return become spaces;
* CJK ideographs (Google's exact code point ranges) become words of their own;
* words are split on whitespace (Python's `str.split()`); `never_split` tokens ([CLS], [MASK], ...) are
  words of their own wherever they appear, and are neither lower-cased nor split (as in transformers);
* lower-casing (when asked) also strips accents: NFD, then drop "Mn" marks; no NFC is applied
  (transformers' Python tokenizer adds one; Google's does not);
* punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and Unicode "P*") becomes words of their own;
* WordPiece: greedy longest-match-first with `##` continuations; words longer than 100 characters
  become [UNK] (pytorch-pretrained-BERT's limit; Google's own code used 200).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

NEVER_SPLIT = ("[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]")
UNK, SEP, PAD, CLS, MASK = NEVER_SPLIT

_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
_ASCII_PUNCTUATION = frozenset(chr(c) for c in [*range(33, 48), *range(58, 65), *range(91, 97), *range(123, 127)])
# ASCII control characters; tab, newline and carriage return are left for str.split() to treat as spaces.
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _is_chinese_char(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_punctuation(char: str) -> bool:
    return char in _ASCII_PUNCTUATION or unicodedata.category(char)[0] == "P"


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _split_on_punctuation(word: str) -> list[str]:
    pieces, start = [], 0
    for i, char in enumerate(word):
        if _is_punctuation(char):
            if start < i:
                pieces.append(word[start:i])
            pieces.append(char)
            start = i + 1
    if start < len(word):
        pieces.append(word[start:])
    return pieces


class _CleanTable(dict):
    """`str.translate` table doing Google's `_clean_text` and `_tokenize_chinese_chars` in one pass.

    Filled per code point on first sight: the Unicode lookups run once per distinct character.
    """

    def __init__(self, split_chinese: bool):
        super().__init__()
        self.split_chinese = split_chinese

    def __missing__(self, cp: int) -> str | int | None:
        char = chr(cp)
        category = unicodedata.category(char)
        if cp == 0 or cp == 0xFFFD or (category[0] == "C" and char not in "\t\n\r"):
            value: str | int | None = None
        elif category == "Zs" or char in "\t\n\r":
            value = " "
        elif self.split_chinese and _is_chinese_char(cp):
            value = f" {char} "
        else:
            value = cp
        self[cp] = value
        return value


class BasicTokenizer:
    """Clean-up, CJK splitting, lower-casing with accent stripping and punctuation splitting.

    `tokenize("Héllo, World!")` -> `["hello", ",", "world", "!"]` (with do_lower_case=True).
    """

    def __init__(
        self,
        do_lower_case: bool = True,
        never_split: Iterable[str] | None = None,
        tokenize_chinese_chars: bool = True,
    ):
        self.do_lower_case = do_lower_case
        self.never_split = frozenset(NEVER_SPLIT if never_split is None else never_split)
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self._table = _CleanTable(tokenize_chinese_chars)
        specials = sorted((t for t in self.never_split if t), key=len, reverse=True)
        self._specials = re.compile(f"({'|'.join(map(re.escape, specials))})") if specials else None

    def tokenize(self, text: str) -> list[str]:
        """Basic tokens of `text` (list of str), ready for WordPiece."""
        return [piece for word in self._words(text) for piece in self._split_word(word)]

    def _words(self, text: str) -> list[str]:
        """Whitespace words after clean-up and CJK splitting: the context-free half of the rules.

        A never_split token is a word of its own even when attached to others ("[MASK]." ->
        "[MASK]", "."), as in transformers; pytorch-pretrained-BERT only kept whole words.
        """
        text = _ASCII_CONTROL.sub("", text) if text.isascii() else text.translate(self._table)
        return self._split_specials(text, text.split())

    def _split_specials(self, text: str, words: list[str]) -> list[str]:
        if self._specials is None or not self._specials.search(text):
            return words
        return [piece for word in words for piece in self._specials.split(word) if piece]

    def _split_word(self, word: str) -> list[str]:
        """Basic tokens of one whitespace word (lower-casing applies to the whole word, as Google's
        code does: Python lower-cases a final capital sigma by context)."""
        if word in self.never_split:
            return [word]
        if self.do_lower_case:
            word = word.lower()
            if not word.isascii():
                word = strip_accents(word)
            if word in self.never_split:
                return [word]
        # Google re-splits the joined pieces on whitespace; no character lower-cases or decomposes
        # to whitespace, and punctuation splitting never yields empty pieces, so that is a no-op here.
        return _split_on_punctuation(word)


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece: `tokenize("unaffable")` -> `["un", "##aff", "##able"]`."""

    def __init__(self, vocab: dict[str, int], unk_token: str = UNK, max_input_chars_per_word: int = 100):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        # No piece longer than the longest vocabulary entry can match, so the search starts there.
        self._longest = max((len(t) - 2 if t.startswith("##") else len(t) for t in vocab), default=0)

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of whitespace-separated, already basic-tokenized `text`."""
        return [piece for word in text.split() for piece in self._word(word)]

    def _word(self, word: str) -> list[str]:
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        vocab, pieces, start, n = self.vocab, [], 0, len(word)
        while start < n:
            end = min(n, start + self._longest)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    break
                end -= 1
            else:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces
