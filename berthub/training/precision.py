"""Mixed precision: the weights (and optimizer state) stay fp32; only the forward computes in 16 bits.

fp32: nothing changes. bf16: autocast to bfloat16 on CPU or GPU; its fp32-sized exponent needs no
loss scaling. fp16: autocast to float16 on GPU with a GradScaler, which scales the loss so small
gradients do not underflow and skips steps whose gradients overflowed.
int8 is an inference precision only (`berthub evaluate/predict --precision int8`): berthub.inference.int8.
"""

from __future__ import annotations

import contextlib
import warnings

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
INFERENCE_PRECISIONS = (*PRECISIONS, "int8")


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


def __getattr__(name: str) -> object:
    if name == "quantize_int8":  # berthub 0.1's place for it, kept until 0.3
        warnings.warn("berthub.training.precision.quantize_int8 moved to berthub.inference.int8.quantize_int8; the "
                      "old path goes in berthub 0.3.", FutureWarning, stacklevel=2)
        from berthub.inference.int8 import quantize_int8

        return quantize_int8
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
