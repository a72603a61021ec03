"""int8 inference on CPU: dynamic quantization of a model's dense layers.

`berthub evaluate --precision int8` runs its model through `quantize_int8`; in Python it gives a quantized
copy of any BertModel or BertFor* model. Training never runs in int8 (berthub.training.precision).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of `model` whose nn.Linear layers hold int8 weights (one scale per output channel) and quantize
    their activations per batch on the fly: dynamic int8, CPU only, for inference.

    Per-channel scales matter here: the fused query/key/value weight holds three projections of different
    ranges, and one scale for all of them cost MiniLM's hidden states a minimum cosine of 0.79 against
    fp32 on real SST-2 sentences, against 0.92 per channel.

    This is torch's `torch.ao.quantization.quantize_dynamic`. torch 2.13 marks torch.ao.quantization as
    deprecated in favour of the separate torchao package, but torchao's int8 route targets GPUs and
    torch.compile, while the fbgemm/onednn CPU kernels behind quantize_dynamic still ship in torch and
    are what makes int8 fast on a CPU; so berthub uses them and silences the deprecation notice. Heads
    that apply their own weights with F.linear (the small classifiers) stay in fp32.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        quantization = torch.ao.quantization
        quantized = quantization.quantize_dynamic(model, {nn.Linear: quantization.per_channel_dynamic_qconfig},
                                                  dtype=torch.qint8)
    return quantized.eval()
