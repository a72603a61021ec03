"""A dense layer and what follows it as one oneDNN call, for bfloat16 inference on CPU.

Computed with torch's ops, a bf16 dense layer is a matmul into a fresh [N, F] buffer (the bias copied in
first), then gelu or the residual add as passes of their own, each reading and writing the whole tensor
and rounding to bf16 in between. oneDNN's linear with a post-op adds the bias and applies gelu (the exact
erf form) or the residual on the fp32 accumulator, then rounds once: fewer passes over memory, fewer fresh
pages, and closer to fp32 (bench/RESULTS.md has the speed and the cosine to fp32).

It is taken only where it computes the same function: eagerly, with no autograd graph, bf16 input and
weights, a CPU whose oneDNN has native bf16, and a plain `nn.Linear` with no forward hooks (so a hook that
records a layer's output still sees it). Everything else keeps torch's ops:
fp32 (op for op Google's BERT), training, autocast, tracing, export and compile, quantized layers.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from berthub.model.packing import eager_inference

# berthub's activation names -> oneDNN's post-op (attribute, algorithm).
POST_OPS = {"none": ("none", ""), "gelu": ("gelu", "none"), "gelu_tanh": ("gelu", "tanh"), "relu": ("relu", "")}


@functools.cache
def onednn_bf16() -> bool:
    """Whether this torch build has oneDNN's fused linear and this CPU runs bf16 natively (else it emulates)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
                    and hasattr(torch.ops.mkldnn, "_linear_pointwise"))
    except (AttributeError, RuntimeError):
        return False


def can_fuse(x: Tensor, layer: nn.Module, residual: Tensor | None = None) -> bool:
    """Whether `layer(x)` and its post-op (adding `residual`, when given) may run as one oneDNN call."""
    if x.dtype is not torch.bfloat16 or not eager_inference() or not _plain(layer):
        return False
    if residual is not None and (residual.dtype is not torch.bfloat16 or not residual.is_contiguous()
                                 or residual.shape != (*x.shape[:-1], layer.out_features)):
        return False
    weight = layer.weight
    return (weight.dtype is torch.bfloat16 and x.device.type == "cpu"
            and weight.device.type == "cpu" and x.is_contiguous() and weight.is_contiguous()
            and not torch.is_autocast_enabled("cpu") and onednn_bf16())


def _plain(layer: nn.Module) -> bool:
    """A bias-carrying nn.Linear that nothing watches: calling oneDNN instead of the module skips its hooks."""
    if type(layer) is not nn.Linear or layer.bias is None or layer._forward_hooks or layer._forward_pre_hooks:
        return False
    hooks = nn.modules.module
    return not (hooks._global_forward_hooks or hooks._global_forward_pre_hooks)


def linear(x: Tensor, layer: nn.Linear, activation: str = "none") -> Tensor:
    """activation(x @ W^T + b) in one call; `activation` is a key of POST_OPS. Check `can_fuse` first."""
    attribute, algorithm = POST_OPS[activation]
    return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, attribute, [], algorithm)


def linear_add(x: Tensor, layer: nn.Linear, residual: Tensor) -> Tensor:
    """x @ W^T + b + residual in one call (a new tensor; residual is left alone). Check `can_fuse` first."""
    return torch.ops.mkldnn._linear_pointwise.binary(x, residual, layer.weight, layer.bias, "add")
