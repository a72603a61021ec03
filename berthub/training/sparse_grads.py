"""Large embedding tables get one dense gradient per optimizer step instead of one per micro-batch.

A dense `nn.Embedding` backward builds a fresh zero-filled [vocab, hidden] tensor on every backward
pass (47 MB for MiniLM's 30,522 x 384 table), and accumulation then reads and writes the whole table
again to add it into `.grad`, although a micro-batch touches a few hundred rows. Profiled on a
2-core CPU: ~18 ms per fresh fill and ~5 ms per add, most of what 4 micro-batches of 8 cost over
one batch of 32 beyond the matmuls (zeroing the reused buffer below takes about half a fresh fill).

While training, such tables run with `sparse=True`: each backward yields only the rows it used,
sparse gradients add by concatenation, and `densify()` writes the step's sum into one reused dense
buffer right before clipping and the optimizer, which then see the usual dense gradient. DDP
all-reduces the sparse gradient itself (gloo supports it; it also sends fewer bytes). Only CPU
training uses this: on GPU a dense fill is a cheap memset, and nccl has no sparse all-reduce.
Tables tied to another parameter (the masked-LM decoder) stay dense, since their gradient is
dense anyway.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

import torch
from torch import nn

# Tables with at least this many rows go sparse: vocabularies, not position or segment tables, whose
# rows nearly all occur in every batch.
MIN_ROWS = 8192


def sparse_candidates(model: nn.Module) -> list[nn.Embedding]:
    """The model's large, trainable, untied embedding tables on CPU."""
    uses = Counter(id(p) for _, p in model.named_parameters(remove_duplicate=False))
    return [m for m in model.modules()
            if isinstance(m, nn.Embedding) and m.weight.requires_grad and m.weight.device.type == "cpu"
            and m.num_embeddings >= MIN_ROWS and uses[id(m.weight)] == 1 and m.max_norm is None]


class SparseEmbeddingGrads:
    """Switches `model`'s large embedding tables to sparse gradients for the duration of `active()`."""

    def __init__(self, model: nn.Module) -> None:
        self.tables = sparse_candidates(model)
        self._dense: dict[int, torch.Tensor] = {}

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """sparse=True inside (enter before DDP wraps the model: DDP reads the flag once); restored after."""
        before = [table.sparse for table in self.tables]
        for table in self.tables:
            table.sparse = True
        try:
            yield
        finally:
            for table, sparse in zip(self.tables, before, strict=True):
                table.sparse = sparse
            self._dense.clear()

    def densify(self) -> None:
        """Replace each table's accumulated sparse gradient by the equal dense one (in a reused buffer)."""
        for table in self.tables:
            grad = table.weight.grad
            if grad is None or not grad.is_sparse:
                continue
            dense = self._dense.get(id(table))
            if dense is None:
                dense = self._dense[id(table)] = torch.zeros_like(table.weight)
            else:
                dense.zero_()
            dense.index_add_(0, grad._indices()[0], grad._values().to(dense.dtype))
            table.weight.grad = dense
