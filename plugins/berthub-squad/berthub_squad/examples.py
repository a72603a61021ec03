"""SQuAD JSON -> examples: the context split into whitespace words, answers as word positions.

As Google's read_squad_examples: a word is a maximal run of characters that are not whitespace
(space, tab, CR, LF, U+202F); an answer's character offset maps to the word that holds it.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from berthub.errors import InputError


@dataclass
class SquadExample:
    """One question on one paragraph.

    doc_tokens: the paragraph's whitespace words (shared by every question of the paragraph).
    answers: every gold answer text (several annotators on dev; [] when unanswerable).
    start_position / end_position: word indices of the first answer (None when there is none).
    """

    qas_id: str
    question_text: str
    doc_tokens: list[str]
    answers: list[str] = field(default_factory=list)
    orig_answer_text: str | None = None
    start_position: int | None = None
    end_position: int | None = None
    is_impossible: bool = False


def _is_whitespace(c: str) -> bool:
    return c in " \t\r\n" or ord(c) == 0x202F


def split_words(text: str) -> tuple[list[str], list[int]]:
    """(words, char_to_word): the whitespace words of `text` and, per character, the word it is in
    (whitespace belongs to the word before it, -1 before the first word)."""
    words: list[str] = []
    char_to_word: list[int] = []
    previous_is_whitespace = True
    for c in text:
        if _is_whitespace(c):
            previous_is_whitespace = True
        else:
            if previous_is_whitespace:
                words.append(c)
            else:
                words[-1] += c
            previous_is_whitespace = False
        char_to_word.append(len(words) - 1)
    return words, char_to_word


def read_examples(path: Path, skip_unfindable: bool) -> list[SquadExample]:
    """Every question of a SQuAD JSON file, in file order.

    With skip_unfindable (training), a question whose answer text is not at its offset is dropped
    with a warning, as Google's reader does; otherwise it is kept without a gold position.
    """
    with open(path, encoding="utf-8") as handle:
        try:
            articles = json.load(handle)["data"]
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as error:
            raise InputError(f"{path} is not a SQuAD file (a UTF-8 JSON object with 'data'): {error}") from None
    examples: list[SquadExample] = []
    skipped = 0
    for article in articles:
        for paragraph in article["paragraphs"]:
            words, char_to_word = split_words(paragraph["context"])
            for qa in paragraph["qas"]:
                example = _checked_example(path, qa, words, char_to_word)
                if example.start_position is None and example.answers and skip_unfindable:
                    skipped += 1
                    continue
                examples.append(example)
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} question(s) whose answer text is not at its offset "
                      "(as Google's run_squad does).", stacklevel=2)
    return examples


def _checked_example(path: Path, qa: dict, words: list[str], char_to_word: list[int]) -> SquadExample:
    """_example, with a malformed question reported as one InputError naming it and the missing field."""
    try:
        return _example(qa, words, char_to_word)
    except (KeyError, TypeError, IndexError) as error:
        which = qa.get("id", "?") if isinstance(qa, dict) else "?"
        field_name = error.args[0] if isinstance(error, KeyError) else type(error).__name__
        raise InputError(f"{path}: question {which!r} is malformed (missing or invalid {field_name!r}): every "
                         "question needs 'id', 'question' and 'answers' (a list of {'text', 'answer_start'}; "
                         "SQuAD 2.0 unanswerable ones may set 'is_impossible': true instead).") from None


def _example(qa: dict, words: list[str], char_to_word: list[int]) -> SquadExample:
    is_impossible = bool(qa.get("is_impossible", False))
    answers = [] if is_impossible else [a["text"] for a in qa["answers"]]
    example = SquadExample(qa["id"], qa["question"], words, answers, is_impossible=is_impossible)
    if answers:
        first = qa["answers"][0]
        text, offset = first["text"], first["answer_start"]
        if not text or offset < 0 or offset + len(text) > len(char_to_word):
            return example
        start, end = char_to_word[offset], char_to_word[offset + len(text) - 1]
        # The words must contain the answer text (up to whitespace), else the offset is wrong.
        if " ".join(text.split()) in " ".join(words[start : end + 1]):
            example.orig_answer_text, example.start_position, example.end_position = text, start, end
    return example
