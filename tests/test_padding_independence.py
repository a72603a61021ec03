"""No loss and no output at a real position depends on how much padding a batch carries, for every head.

Two real QNLI question/sentence pairs go through each built-in head padded to their own length, to 128
and to 384 (MiniLM's first two layers, real weights): the losses and the logits at real positions agree
within 1e-6.
"""

from __future__ import annotations

import csv

import pytest
import torch

from berthub import BertForTask, BertTokenizer

LENGTHS = (None, 128, 384)  # None: the longest pair's own length


@pytest.fixture(scope="module")
def pairs(minilm_dir, data_dir):
    """Token ids and segment ids of two real QNLI pairs, unpadded."""
    tokenizer = BertTokenizer.from_pretrained(minilm_dir)
    with open(data_dir / "glue/QNLI/dev.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:3]
    out = []
    for _, question, sentence, _ in rows:
        first, second = tokenizer.tokenize(question), tokenizer.tokenize(sentence)
        tokens = ["[CLS]", *first, "[SEP]", *second, "[SEP]"]
        out.append((tokenizer.convert_tokens_to_ids(tokens), [0] * (len(first) + 2) + [1] * (len(second) + 1)))
    return out


def _padded(pairs, length):
    length = length or max(len(ids) for ids, _ in pairs)
    ids, types, mask = (torch.zeros(len(pairs), length, dtype=torch.long) for _ in range(3))
    for row, (tokens, segments) in enumerate(pairs):
        ids[row, :len(tokens)], types[row, :len(tokens)] = torch.tensor(tokens), torch.tensor(segments)
        mask[row, :len(tokens)] = 1
    return ids, types, mask


def _targets(head, pairs, length):
    """Real targets for `head` at sequence length `length` (per-token labels padded with -100)."""
    own = [len(ids) for ids, _ in pairs]
    per_token = torch.full((len(pairs), length), -100)
    for row, size in enumerate(own):
        per_token[row, 1:size - 1] = torch.arange(size - 2) % 3
    masked = torch.full((len(pairs), length), -100)
    masked[:, 3], masked[:, 6] = torch.tensor(pairs[0][0][3]), torch.tensor(pairs[0][0][6])
    return {"sequence-classification": {"labels": torch.tensor([1, 0])},
            "multiple-choice": {"labels": torch.tensor([1])},
            "token-classification": {"labels": per_token},
            "question-answering": {"start_positions": torch.tensor([14, 16]), "end_positions": torch.tensor([17, 20])},
            "masked-lm": {"masked_lm_labels": masked},
            "next-sentence": {"next_sentence_label": torch.tensor([0, 1])},
            "pretraining": {"masked_lm_labels": masked, "next_sentence_label": torch.tensor([0, 1])}}[head]


HEADS = ["sequence-classification", "multiple-choice", "token-classification", "question-answering", "masked-lm",
         "next-sentence", "pretraining"]


@pytest.fixture(scope="module")
def models(minilm_dir):
    built = {}
    for head in HEADS:
        torch.manual_seed(0)
        options = {"num_labels": 3} if head == "token-classification" else {}
        built[head] = BertForTask.from_pretrained(minilm_dir, head=head, num_hidden_layers=2, dtype=torch.float64,
                                                   **options)
    return built


def _run(model, head, pairs, length):
    ids, types, mask = _padded(pairs, length)
    if head == "multiple-choice":  # the two pairs are the two choices of one question
        ids, types, mask = ids[None], types[None], mask[None]
    targets = _targets(head, pairs, ids.shape[-1])
    with torch.no_grad():
        logits = model(ids, types, mask)
        loss = model(ids, types, mask, **targets)
    return (logits if isinstance(logits, tuple) else (logits,)), loss


@pytest.mark.parametrize("head", HEADS)
def test_losses_and_real_position_logits_do_not_depend_on_padding(models, pairs, head):
    own = [len(ids) for ids, _ in pairs]
    reference_logits, reference_loss = _run(models[head], head, pairs, None)
    for length in LENGTHS[1:]:
        logits, loss = _run(models[head], head, pairs, length)
        assert abs(float(loss) - float(reference_loss)) <= 1e-6, (head, length)
        for padded, reference in zip(logits, reference_logits, strict=True):
            if padded.dim() == 1 or head == "multiple-choice" or padded.shape[1] != length:  # [B, classes]
                torch.testing.assert_close(padded, reference, rtol=0, atol=1e-6)
                continue
            for row, size in enumerate(own):  # [B, T, ...]: the real positions of each row
                torch.testing.assert_close(padded[row, :size], reference[row, :size], rtol=0, atol=1e-6)


def test_positions_outside_the_input_get_the_most_negative_logit_and_no_probability(models, pairs):
    start, end = _run(models["question-answering"], "question-answering", pairs, 128)[0]
    for row, (ids, _) in enumerate(pairs):
        for side in (start, end):
            assert (side[row, len(ids):] == torch.finfo(side.dtype).min).all()
            assert side.softmax(-1)[row, len(ids):].sum() == 0
            assert (side[row, :len(ids)] > -1e4).all()


def test_a_target_on_padding_is_ignored_like_one_beyond_the_sequence(models, pairs):
    model, own = models["question-answering"], len(pairs[0][0])
    ids, types, mask = _padded(pairs, 128)
    ends = torch.tensor([own - 2, 20])
    with torch.no_grad():
        on_padding = model(ids, types, mask, start_positions=torch.tensor([own + 5, 16]), end_positions=ends)
        beyond = model(ids, types, mask, start_positions=torch.tensor([500, 16]), end_positions=ends)
    assert torch.isfinite(on_padding)
    torch.testing.assert_close(on_padding, beyond, rtol=0, atol=0)
