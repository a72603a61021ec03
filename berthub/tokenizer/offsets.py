"""WordPiece ids with character offsets into the original text, on the pure-Python path.

The `tokenizers` library (Rust) tracks, through every normalisation step, which original character
each normalised character came from; transformers' BertTokenizerFast returns those spans as
`offset_mapping`. This module gives the same spans for the texts BertTokenizer tokenizes in Python
(the pure path, and the texts the fast path hands back to Python), by running Google's rules
(berthub/tokenizer/rules.py) on characters that remember their source index:

* clean-up and CJK splitting are per character, so each output character keeps its source index;
* lower-casing and accent stripping run on the whole word, as the reference does (a final capital
  sigma lower-cases by context), and, when that keeps the word's length (it always does for the
  text this was measured on), each character keeps the source of the character at its position;
  otherwise every character of the word points at the whole word;
* a token spans from its first character's source to its last character's source + 1; [UNK]
  spans its whole word.
"""

from __future__ import annotations

import unicodedata

from berthub.tokenizer.rules import BasicTokenizer, WordpieceTokenizer, _is_punctuation, strip_accents

Span = tuple[int, int]


def ids_and_offsets(
    text: str, basic: BasicTokenizer, wordpiece: WordpieceTokenizer, vocab: dict[str, int], do_basic_tokenize: bool
) -> tuple[list[int], list[Span]]:
    """WordPiece ids of `text` (as BertTokenizer.tokenize gives them) and each token's (start, end)."""
    ids: list[int] = []
    spans: list[Span] = []
    for word, sources in _words(text, basic, do_basic_tokenize):
        for piece, piece_sources in _pieces(word, sources, basic, do_basic_tokenize):
            for token, span in _wordpieces(piece, piece_sources, wordpiece):
                ids.append(vocab[token])
                spans.append(span)
    return ids, spans


def _words(text: str, basic: BasicTokenizer, clean: bool) -> list[tuple[str, list[int]]]:
    """Whitespace words after clean-up and CJK splitting, each with its characters' source indices."""
    chars: list[str] = []
    sources: list[int] = []
    for index, char in enumerate(text):
        value = basic._table[ord(char)] if clean else ord(char)
        if value is None:
            continue
        out = chr(value) if isinstance(value, int) else value
        chars += out
        sources += [index] * len(out)
    words: list[tuple[str, list[int]]] = []
    start = None
    for position, char in enumerate([*chars, " "]):
        if char.isspace():
            if start is not None:
                words += _split_specials("".join(chars[start:position]), sources[start:position], basic)
                start = None
        elif start is None:
            start = position
    return words


def _split_specials(word: str, sources: list[int], basic: BasicTokenizer) -> list[tuple[str, list[int]]]:
    """A never_split token is a word of its own even when attached to other characters."""
    if basic._specials is None:
        return [(word, sources)]
    out, position = [], 0
    for piece in basic._specials.split(word):
        if piece:
            out.append((piece, sources[position : position + len(piece)]))
        position += len(piece)
    return out


def _pieces(word: str, sources: list[int], basic: BasicTokenizer, do_basic: bool) -> list[tuple[str, list[int]]]:
    """The basic tokens of one word (lower-cased, accents stripped, split on punctuation) with sources."""
    if not do_basic or word in basic.never_split:
        return [(word, sources)]
    if basic.do_lower_case:
        folded = word.lower()
        if not folded.isascii():
            folded = strip_accents(folded)
        sources = _fold_sources(word, sources, len(folded))
        word = folded
        if word in basic.never_split:
            return [(word, sources)]
    pieces, start = [], 0
    for position, char in enumerate(word):
        if _is_punctuation(char):
            if start < position:
                pieces.append((word[start:position], sources[start:position]))
            pieces.append((char, sources[position : position + 1]))
            start = position + 1
    if start < len(word):
        pieces.append((word[start:], sources[start:]))
    return pieces


def _fold_sources(word: str, sources: list[int], length: int) -> list[int]:
    """Source index of each character of the lower-cased, accent-stripped `word` (`length` characters)."""
    folded: list[int] = []
    for char, source in zip(word, sources, strict=True):
        lowered = char.lower()
        if not lowered.isascii():
            lowered = "".join(c for c in unicodedata.normalize("NFD", lowered) if unicodedata.category(c) != "Mn")
        folded += [source] * len(lowered)
    if len(folded) == length:
        return folded
    # Context-dependent folding changed the length: point every character at the whole word.
    return [sources[0]] * (length - 1) + [sources[-1]] if length else []


def _wordpieces(piece: str, sources: list[int], wordpiece: WordpieceTokenizer) -> list[tuple[str, Span]]:
    tokens = wordpiece._word(piece)
    if tokens == [wordpiece.unk_token] and piece != wordpiece.unk_token:
        return [(tokens[0], (sources[0], sources[-1] + 1))]
    out, position = [], 0
    for token in tokens:
        length = len(token) - 2 if position else len(token)
        out.append((token, (sources[position], sources[position + length - 1] + 1)))
        position += length
    return out
