"""Entity-level precision / recall / F1 over tag sequences, with conlleval's chunk rules.

Tags are `O` or `PREFIX-TYPE` with PREFIX in B, I (IOB1, BIO/IOB2) or also E, S (IOBES). As in
conlleval (and seqeval's default mode): an entity starts at a B or S, at an I or E that follows O or
a different type, and at an I/E after an E/S; it ends before O, B, S, a change of type, or after E/S.
So an I- after O is the start of an entity, which is how IOB1 files (CoNLL-2003) mark them, and a
stray I- in a BIO file counts as an entity rather than being dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

Entity = tuple[str, int, int]  # (type, first token, last token)


def _split(tag: str) -> tuple[str, str]:
    if tag == "O" or "-" not in tag:
        return "O", ""
    prefix, kind = tag.split("-", 1)
    return prefix, kind


def _boundary(prev: str, prev_type: str, tag: str, kind: str) -> tuple[bool, bool]:
    """(does the entity `prev` belongs to end before `tag`, does an entity start at `tag`), by the module's rules."""
    type_changes = prev_type != kind
    ends = prev in ("E", "S") or (prev in ("B", "I") and tag in ("B", "S", "O")) or (prev != "O" and type_changes)
    starts = tag in ("B", "S") or (tag in ("I", "E") and prev in ("E", "S", "O")) or (tag != "O" and type_changes)
    return ends, starts


def entities(tags: Sequence[str]) -> set[Entity]:
    """The entities of one tag sequence, e.g. [B-PER, I-PER, O, B-LOC] -> {(PER, 0, 1), (LOC, 3, 3)}."""
    found: set[Entity] = set()
    prev, prev_type, start = "O", "", 0
    for index, tag in enumerate([*tags, "O"]):
        prefix, kind = _split(tag)
        ends, starts = _boundary(prev, prev_type, prefix, kind)
        if ends:
            found.add((prev_type, start, index - 1))
        if starts:
            start = index
        prev, prev_type = prefix, kind
    return found


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro precision, recall and F1 over entities (exact type and boundaries), plus token accuracy.

    gold / predicted: one tag list per sentence, the same lengths. Scores are fractions in [0, 1];
    0.0 where undefined (no predicted or no gold entity).
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones.")
    correct = n_gold = n_pred = right_tokens = n_tokens = 0
    for number, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"Sentence {number}: {len(g)} gold tags but {len(p)} predicted tags.")
        gold_entities, pred_entities = entities(g), entities(p)
        correct += len(gold_entities & pred_entities)
        n_gold, n_pred = n_gold + len(gold_entities), n_pred + len(pred_entities)
        right_tokens += sum(a == b for a, b in zip(g, p, strict=True))
        n_tokens += len(g)
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = right_tokens / n_tokens if n_tokens else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy}
