"""CoNLL-format files: one `token ... tag` line per token, sentences separated by blank lines.

The token is the first field and the tag the last; fields are separated by tabs when the line has
one, else by spaces (CoNLL-2003's `EU NNP B-NP B-ORG`). Lines of whitespace only end a sentence, and
`-DOCSTART-` lines (CoNLL-2003's document breaks) are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from berthub.errors import InputError


@dataclass(frozen=True)
class Sentence:
    """One sentence: its tokens and their tags (same length); `line` is where it starts in the file."""

    tokens: list[str]
    tags: list[str]
    line: int = 0


def read_conll(path: Path, labels: Sequence[str]) -> list[Sentence]:
    """Every sentence of a CoNLL file; a tag outside `labels` is an error naming file and line."""
    allowed = set(labels)
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 1
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith("-DOCSTART-"):
                if tokens:
                    sentences.append(Sentence(tokens, tags, start))
                tokens, tags, start = [], [], number + 1
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            if len(fields) < 2:
                raise InputError(f"{path} line {number}: expected 'token<TAB>tag', got {line!r}.")
            tag = fields[-1].strip()
            if tag not in allowed:
                raise InputError(f"{path} line {number}: tag {tag!r} is not one of the task's labels "
                                 f"({', '.join(labels)}). Pass labels=[...] to get_task for another tag set.")
            tokens.append(fields[0])
            tags.append(tag)
    if tokens:
        sentences.append(Sentence(tokens, tags, start))
    return sentences
