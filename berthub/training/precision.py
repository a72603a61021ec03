"""Mixed precision: the weights (and optimizer state) stay fp32; only the forward computes in 16 bits.

fp32: nothing changes. bf16: autocast to bfloat16 on CPU or GPU; its fp32-sized exponent needs no
loss scaling. fp16: autocast to float16 on GPU with a GradScaler, which scales the loss so small
gradients do not underflow and skips steps whose gradients overflowed.
int8 (inference only, CPU): dynamic quantization of every nn.Linear, see `quantize_int8`.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16", "fp16")
INFERENCE_PRECISIONS = (*PRECISIONS, "int8")


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


def precision_problems(precision: str, device: torch.device) -> list[str]:
    """Why `precision` cannot run on `device` (empty when it can)."""
    if precision == "fp16" and device.type != "cuda":
        return ["precision='fp16' needs a CUDA GPU (fp16 on CPU has no fast kernels and no loss scaling); "
                "use precision='bf16' on CPU"]
    return []


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward-pass context for `precision` on `device`."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler that is active for fp16 only; disabled, its scale/unscale/step pass straight through."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
