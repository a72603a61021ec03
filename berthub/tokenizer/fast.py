"""Google's BERT tokenization run by the `tokenizers` library (Rust), only where it is exact.

`tokenizers`' BertNormalizer + BertPreTokenizer + WordPiece implement Google's rules, with known
departures from the Python reference:

* characters its Unicode tables do not know (it uses older tables than Python's `unicodedata`) are
  classified differently: new punctuation is not split, new marks are not stripped, characters
  unassigned in Python's tables are kept instead of dropped;
* it treats U+2B820..U+2B91F as non-CJK (its range starts at U+2B920);
* it lower-cases character by character, so a final capital sigma becomes "σ" instead of "ς";
* its canonical reordering may differ for combining characters that are not "Mn" (and so survive
  accent stripping) where the two Unicode versions disagree;
* it knows nothing of `never_split`.

So every text is routed: texts whose characters are all known to behave identically go to Rust in one
batch call, the rest to the Python reference. A character is known only after it has been checked:
the Python and Rust basic tokenizations of a few probe strings around it must agree. Checking is
lazy and cached, so its cost is paid once per distinct non-ASCII character.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from berthub.tokenizer.rules import BasicTokenizer, strip_accents

# Probe strings around a character: alone (clean-up, lower-casing, accents), inside a word
# (dropped vs kept vs split) and after a capital (marks combining with a base character).
_PROBES = ("{}", "a{}b", "A{}")
_CAPITAL_SIGMA = "\u03a3"


class FastWordPiece:
    """WordPiece ids of texts, from Rust where that is identical to the Python reference."""

    def __init__(
        self,
        vocab: dict[str, int],
        *,
        unk_token: str,
        do_lower_case: bool,
        tokenize_chinese_chars: bool,
        never_split: Iterable[str],
        max_input_chars_per_word: int,
    ):
        from tokenizers import Tokenizer, normalizers, pre_tokenizers
        from tokenizers.models import WordPiece

        model = WordPiece(
            vocab, unk_token=unk_token, max_input_chars_per_word=max_input_chars_per_word,
            continuing_subword_prefix="##",
        )
        self._rust = Tokenizer(model)
        self._rust.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=tokenize_chinese_chars,
            strip_accents=do_lower_case, lowercase=do_lower_case,
        )
        self._rust.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self._lower = do_lower_case
        self._reference = BasicTokenizer(do_lower_case, (), tokenize_chinese_chars)
        tokens = sorted({t for t in never_split if t}, key=len, reverse=True)
        # Python keeps a word whole when it, or its lower-cased form, is a never_split token.
        self._never_split = re.compile("|".join(map(re.escape, tokens)), re.IGNORECASE) if tokens else None
        self._checked: set[str] = set()
        self._unsafe: set[str] = set()

    def batch_ids(self, texts: Sequence[str], fallback: Callable[[str], list[int]]) -> list[list[int]]:
        """WordPiece ids (no special tokens) of each text; `fallback` tokenizes the texts Rust cannot."""
        exact = [self._is_exact(text) for text in texts]
        if all(exact):
            return [e.ids for e in self._rust.encode_batch_fast(list(texts), add_special_tokens=False)]
        chosen = [text for text, ok in zip(texts, exact, strict=True) if ok]
        rust = iter(self._rust.encode_batch_fast(chosen, add_special_tokens=False))
        return [next(rust).ids if ok else fallback(text) for text, ok in zip(texts, exact, strict=True)]

    def batch_ids_and_offsets(
        self, texts: Sequence[str], fallback: Callable[[str], tuple[list[int], list[tuple[int, int]]]]
    ) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Ids and (start, end) character spans of each text's tokens; `fallback` takes the texts Rust cannot."""
        exact = [self._is_exact(text) for text in texts]
        chosen = [text for text, ok in zip(texts, exact, strict=True) if ok]
        rust = iter(self._rust.encode_batch(chosen, add_special_tokens=False))
        out = []
        for text, ok in zip(texts, exact, strict=True):
            encoding = next(rust) if ok else None
            out.append((encoding.ids, encoding.offsets) if encoding is not None else fallback(text))
        return out

    def _is_exact(self, text: str) -> bool:
        if self._never_split is not None:
            folded = text if text.isascii() or not self._lower else strip_accents(text.lower())
            if self._never_split.search(folded):
                return False
        if text.isascii():
            return True
        chars = set(text)
        unchecked = chars - self._checked
        if unchecked:
            self._check(unchecked)
        return chars.isdisjoint(self._unsafe)

    def _check(self, chars: set[str]) -> None:
        for char in chars:
            if not self._char_is_exact(char):
                self._unsafe.add(char)
            self._checked.add(char)

    def _char_is_exact(self, char: str) -> bool:
        category = unicodedata.category(char)
        if category == "Cs":
            return False  # a lone surrogate cannot even be passed to Rust
        if self._lower and (char == _CAPITAL_SIGMA or (unicodedata.combining(char) and category != "Mn")):
            return False  # context-dependent in Python: final sigma, canonical reordering
        normalize, pre_tokenize = self._rust.normalizer.normalize_str, self._rust.pre_tokenizer.pre_tokenize_str
        for probe in (p.format(char) for p in _PROBES):
            rust_words = [word for word, _ in pre_tokenize(normalize(probe))]
            if rust_words != self._reference.tokenize(probe):
                return False
        return True
