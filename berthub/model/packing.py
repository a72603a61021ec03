"""Where the real tokens of a padded batch are: BertModel packs them so no dense layer computes on padding.

Also the two questions the model room asks before it takes an eager-only shortcut: is torch recording a
graph (`recording_graph`: berthub.model.bert, berthub.model.input_checks), and is this eager inference
(`eager_inference`: berthub.model.bert's in-place ops, berthub.model.fused_linear's fused route).
"""

from __future__ import annotations

import torch
from torch import Tensor


def recording_graph() -> bool:
    """True while torch records a graph instead of running eagerly: torch.jit.trace / script, the ONNX
    exporters, torch.export and torch.compile. A recorded graph must not bake in one example's padding."""
    return bool(torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
                or torch.compiler.is_compiling() or torch.compiler.is_exporting())


def eager_inference() -> bool:
    """True when no autograd graph is built (which may have saved a layer's tensors) and no graph is recorded
    (exporters keep to pure ops): a layer may then write over its own fresh tensors, or call a fused kernel
    that has no gradient and no export."""
    return not torch.is_grad_enabled() and not recording_graph()


class Packing:
    """Where the real tokens of a [B, T] batch are, to pack them for dense layers and unpack for attention.

    Eagerly, a padded batch is packed ([N, F], real tokens only) so no dense layer computes on padding.
    That choice looks at the data (`keep.all()`), which a recorded graph cannot do without freezing the
    example's answer into the graph; there, every position is computed and the mask does the work
    (padded keys are masked in attention, padded outputs are zeroed), which gives the same results.
    """

    def __init__(self, attention_mask: Tensor | None, batch: int, length: int) -> None:
        self.batch, self.length = batch, length
        self.index: Tensor | None = None
        self.mask: Tensor | None = None
        self.padding: Tensor | None = None
        if attention_mask is None:
            return
        real = attention_mask.bool()
        if recording_graph():
            self.mask = real[:, None, None, :]
            self.padding = ~real[:, :, None]
        elif not bool(real.all()):
            self.index = real.reshape(-1).nonzero().squeeze(1)
            self.mask = real[:, None, None, :]

    def pack(self, x: Tensor) -> Tensor:
        """[B, T, F] -> [N, F] with only the real tokens (all B * T of them while recording a graph)."""
        flat = x.reshape(self.batch * self.length, x.shape[-1])
        return flat if self.index is None else flat.index_select(0, self.index)

    def unpack(self, x: Tensor) -> Tensor:
        """[N, F] -> [B, T, F]; what sits at padded positions is never read by a real token."""
        if self.index is not None:
            full = x.new_zeros(self.batch * self.length, x.shape[-1])
            x = full.index_copy(0, self.index, x)
        return x.view(self.batch, self.length, x.shape[-1])

    def output(self, x: Tensor) -> Tensor:
        """[N, F] -> [B, T, F] with zeros at padded positions, as the model returns hidden states."""
        x = self.unpack(x)
        return x if self.padding is None else x.masked_fill(self.padding, 0.0)
