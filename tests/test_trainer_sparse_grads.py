"""Vocabulary tables train with sparse gradients, densified once per step: the same updates, less memory traffic."""

from __future__ import annotations

import torch
from trainer_support import SentenceTask, examples, tiny_model, tokenizer

from berthub import BertConfig, BertForTask
from berthub.training import sparse_grads
from berthub.training.sparse_grads import SparseEmbeddingGrads, sparse_candidates
from berthub.training.trainer import Hook, Trainer, TrainingConfig


class _WatchSparse(Hook):
    def __init__(self) -> None:
        self.seen: list[bool] = []

    def on_step(self, trainer, state, loss) -> None:
        self.seen.append(trainer.model.bert.embeddings.word_embeddings.sparse)


def _train(tmp_path, name: str) -> tuple[torch.nn.Module, list[bool]]:
    task, watch = SentenceTask(), _WatchSparse()
    config = TrainingConfig(output_dir=tmp_path / name, batch_size=8, gradient_accumulation_steps=4, max_steps=4,
                            learning_rate=1e-3, warmup=0.0, weight_decay=0.01, max_grad_norm=1.0, progress=False)
    model = tiny_model(task)
    Trainer(model, task, tokenizer(), config, hooks=[watch]).train(examples("sentences", "train", 128))
    return model, watch.seen


def test_sparse_vocabulary_gradients_give_the_dense_updates_and_are_switched_off_after_training(tmp_path, monkeypatch):
    sparse, seen_sparse = _train(tmp_path, "sparse")
    monkeypatch.setattr(sparse_grads, "MIN_ROWS", 10**9)  # no table qualifies: the plain dense path
    dense, seen_dense = _train(tmp_path, "dense")
    assert seen_sparse == [True] * 4 and seen_dense == [False] * 4
    assert sparse.bert.embeddings.word_embeddings.sparse is False  # the model is handed back as it came
    moved = (sparse.bert.embeddings.word_embeddings.weight - tiny_model(SentenceTask()).bert.embeddings
             .word_embeddings.weight).abs().max().item()
    assert moved > 1e-4  # the vocabulary table did train
    difference = max((a - b).abs().max().item() for a, b in zip(sparse.parameters(), dense.parameters(), strict=True))
    assert difference < 1e-6


def _model(head: str, **options) -> BertForTask:
    """A 1-layer, 32-wide BERT with the real vocabulary size (30,522 rows: a sparse candidate)."""
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    return BertForTask(config, head=head, **options)


def test_densify_sums_the_micro_batches_into_one_reused_dense_gradient():
    model = _model("sequence-classification", num_labels=2)
    table = model.bert.embeddings.word_embeddings
    grads = SparseEmbeddingGrads(model)
    assert grads.tables == [table]
    micro_batches = [torch.tensor([[101, 7592, 2088, 102]]), torch.tensor([[101, 7592, 7592, 999, 102, 0]])]

    def accumulate() -> torch.Tensor:
        table.weight.grad = None
        for ids in micro_batches:
            (table(ids) * torch.arange(1.0, 33.0)).sum().backward()
        return table.weight.grad

    expected = accumulate().clone()  # dense nn.Embedding
    with grads.active():
        assert accumulate().is_sparse
        grads.densify()
        first = table.weight.grad
        assert not first.is_sparse and torch.allclose(first, expected, rtol=0, atol=1e-6)
        accumulate()
        grads.densify()
        assert table.weight.grad.data_ptr() == first.data_ptr()  # one buffer for every step
        assert torch.allclose(table.weight.grad, expected, rtol=0, atol=1e-6)
    assert table.sparse is False


def test_tied_vocabulary_tables_stay_dense():
    masked_lm = _model("masked-lm")  # its decoder shares the word embeddings
    assert sparse_candidates(masked_lm) == []
    classifier = _model("sequence-classification", num_labels=2)
    classifier.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # a frozen table has no gradient
    assert sparse_candidates(classifier) == []
