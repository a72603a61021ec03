"""Google's create_pretraining_data.py algorithm, on token ids: documents -> sentence pairs -> masked instances.

For the same documents, flags and `random.Random(seed)`, `create_instances` draws from the generator
in exactly the order Google's script does (documents shuffled, then for each dupe round and each
document: the short-target draw, the A/B split, random-next choice, random document and start,
front/back truncation, candidate shuffle and 80/10/10 masking; finally the instances shuffled), so
it returns the same instances. The work is done on token ids rather than strings: ids carry the same
information (the tokenizer only produces vocabulary tokens) and are cheaper to copy and store.
The equality is tested against Google's own code (tests/test_google_exactness.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Sentence = list[int]
Document = list[Sentence]


@dataclass(frozen=True)
class InstanceConfig:
    """Google's flags of create_pretraining_data.py, with its defaults; `problems()` lists every bad one."""

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    dupe_factor: int = 10
    short_seq_prob: float = 0.1
    random_seed: int = 12345
    do_whole_word_mask: bool = False

    def problems(self) -> list[str]:
        problems = []
        if not isinstance(self.max_seq_length, int) or self.max_seq_length < 5:
            problems.append("max_seq_length must be an integer >= 5 ([CLS] A [SEP] B [SEP]), "
                            f"got {self.max_seq_length!r}")
        for name in ("max_predictions_per_seq", "dupe_factor"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        for name in ("masked_lm_prob", "short_seq_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                problems.append(f"{name} must be a number in [0, 1], got {value!r}")
        if not isinstance(self.random_seed, int):
            problems.append(f"random_seed must be an integer, got {self.random_seed!r}")
        return problems


@dataclass(frozen=True)
class Vocabulary:
    """What the algorithm needs from a vocabulary, as ids.

    words: the ids of `list(vocab.keys())` in Google's script (its random replacement words), i.e. each
    distinct token in first-appearance order mapped to its (last) id, as a dict built from vocab.txt does.
    continuation: ids of "##" word pieces (whole-word masking joins them to the word before).
    """

    tokens: list[str]
    words: list[int] = field(repr=False)
    continuation: frozenset[int] = field(repr=False)
    cls_id: int = 0
    sep_id: int = 0
    mask_id: int = 0

    @classmethod
    def from_tokens(cls, tokens: Sequence[str]) -> Vocabulary:
        ids = {token: index for index, token in enumerate(tokens)}
        missing = [t for t in ("[CLS]", "[SEP]", "[MASK]") if t not in ids]
        if missing:
            raise ValueError(f"The vocabulary lacks {', '.join(missing)}, which pre-training instances need.")
        return cls(list(tokens), list(ids.values()), frozenset(i for t, i in ids.items() if t.startswith("##")),
                   ids["[CLS]"], ids["[SEP]"], ids["[MASK]"])


@dataclass
class Instance:
    """One sentence pair, Google's TrainingInstance on ids: [CLS] A [SEP] B [SEP] with some tokens masked."""

    token_ids: list[int]
    segment_ids: list[int]
    is_random_next: bool
    masked_lm_positions: list[int]
    masked_lm_label_ids: list[int]


def create_instances(documents: list[Document], vocab: Vocabulary, config: InstanceConfig, rng: random.Random,
                     progress: Callable[[int], None] | None = None) -> list[Instance]:
    """Google's create_training_instances after reading: shuffle documents, build dupe_factor passes, shuffle.

    documents: non-empty documents of non-empty sentences (shuffled in place, as Google's are).
    progress: called with 1 after each document of each pass.
    """
    rng.shuffle(documents)
    instances: list[Instance] = []
    for _ in range(config.dupe_factor):
        for index in range(len(documents)):
            instances.extend(_from_document(documents, index, vocab, config, rng))
            if progress is not None:
                progress(1)
    rng.shuffle(instances)
    return instances


def _from_document(documents: list[Document], index: int, vocab: Vocabulary, config: InstanceConfig,
                   rng: random.Random) -> list[Instance]:
    """The pairs of one document: chunks of sentences up to a target length, split into A and B."""
    document = documents[index]
    max_tokens = config.max_seq_length - 3
    # Mostly fill the window; sometimes (short_seq_prob) aim shorter, to look like fine-tuning inputs.
    target = max_tokens
    if rng.random() < config.short_seq_prob:
        target = rng.randint(2, max_tokens)
    instances = []
    chunk: list[Sentence] = []
    length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target:
            a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
            if len(chunk) == 1 or rng.random() < 0.5:
                tokens_b = _random_next(documents, index, target - len(tokens_a), rng)
                i -= len(chunk) - a_end  # the unused sentences of the chunk start the next one
                is_random_next = True
            else:
                tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
                is_random_next = False
            _truncate_pair(tokens_a, tokens_b, max_tokens, rng)
            tokens = [vocab.cls_id, *tokens_a, vocab.sep_id, *tokens_b, vocab.sep_id]
            segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
            masked, positions, labels = mask_tokens(tokens, vocab, config, rng)
            instances.append(Instance(masked, segment_ids, is_random_next, positions, labels))
            chunk, length = [], 0
        i += 1
    return instances


def _random_next(documents: list[Document], index: int, target_length: int, rng: random.Random) -> list[int]:
    """Sentences from a random other document (ten tries to avoid this one), from a random start."""
    for _ in range(10):
        other = rng.randint(0, len(documents) - 1)
        if other != index:
            break
    document = documents[other]
    tokens: list[int] = []
    for sentence in document[rng.randint(0, len(document) - 1):]:
        tokens.extend(sentence)
        if len(tokens) >= target_length:
            break
    return tokens


def _truncate_pair(tokens_a: list[int], tokens_b: list[int], max_tokens: int, rng: random.Random) -> None:
    """Drop tokens from the longer side (B on ties), at a random end each time, until the pair fits."""
    while len(tokens_a) + len(tokens_b) > max_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def mask_tokens(tokens: list[int], vocab: Vocabulary, config: InstanceConfig,
                rng: random.Random) -> tuple[list[int], list[int], list[int]]:
    """Google's create_masked_lm_predictions -> (masked tokens, sorted positions, original ids there).

    Candidates are every token but [CLS]/[SEP], or with whole-word masking every word (a token and the
    "##" pieces after it); they are shuffled, then taken while fewer than num_to_predict are masked,
    skipping a word that would overshoot. Each chosen token: 80% [MASK], 10% kept, 10% a random word.
    """
    candidates: list[list[int]] = []
    for position, token in enumerate(tokens):
        if token == vocab.cls_id or token == vocab.sep_id:
            continue
        if config.do_whole_word_mask and candidates and token in vocab.continuation:
            candidates[-1].append(position)
        else:
            candidates.append([position])
    rng.shuffle(candidates)
    output = list(tokens)
    to_predict = min(config.max_predictions_per_seq, max(1, int(round(len(tokens) * config.masked_lm_prob))))
    chosen: list[int] = []
    covered: set[int] = set()
    for word in candidates:
        if len(chosen) >= to_predict:
            break
        if len(chosen) + len(word) > to_predict or any(p in covered for p in word):
            continue
        for position in word:
            covered.add(position)
            if rng.random() < 0.8:
                output[position] = vocab.mask_id
            elif rng.random() >= 0.5:
                output[position] = vocab.words[rng.randint(0, len(vocab.words) - 1)]
            chosen.append(position)
    chosen.sort()
    return output, chosen, [tokens[p] for p in chosen]
