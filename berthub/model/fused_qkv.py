"""The fused attention projection under Google's names: `qkv` ([3H, H], [3H]) is BertSelfAttention's stored
parameter, and checkpoints keep `query` / `key` / `value` (transformers', pytorch-pretrained-BERT 0.6's and
Google's names) through the state-dict hooks below, so files move between the libraries unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_QKV = ("query", "key", "value")


class Projection:
    """One of query/key/value: `weight` [H, H] and `bias` [H] are views into the fused `qkv` layer."""

    def __init__(self, fused: nn.Linear, part: int) -> None:
        size = fused.out_features // 3
        self.weight = fused.weight[part * size:(part + 1) * size]
        self.bias = fused.bias[part * size:(part + 1) * size]

    def __call__(self, hidden: Tensor) -> Tensor:
        return F.linear(hidden, self.weight, self.bias)


def split_qkv(module: nn.Module, state: dict[str, Tensor], prefix: str, local_metadata: dict) -> None:
    """state_dict hook: `qkv.weight/bias` -> Google's `query/key/value.weight/bias` (views, no copy).

    With keep_vars=True (the live Parameters, which tools such as torch.onnx's TorchScript exporter map
    back to the module) the fused Parameters stay listed too, beside detached views under Google's names."""
    fused = {kind: state.get(f"{prefix}qkv.{kind}") for kind in ("weight", "bias")}
    for kind, tensor in fused.items():
        if tensor is not None and not isinstance(tensor, nn.Parameter):
            del state[f"{prefix}qkv.{kind}"]
    for index, name in enumerate(_QKV):
        for kind, tensor in fused.items():
            if tensor is not None:
                state[f"{prefix}{name}.{kind}"] = tensor.detach().chunk(3)[index]


def join_qkv(module: nn.Module, state: dict[str, Tensor], prefix: str, local_metadata: dict, strict: bool,
              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
    """load_state_dict hook: Google's `query/key/value.*` -> `qkv.*`. Left alone unless all three are there,
    so a partial set is reported as unexpected keys (and `qkv` as missing) instead of half-loaded; a part of
    the wrong shape is reported under its own name, as torch words a size mismatch, and `qkv` is kept.

    A plain load (no `assign=True`) copies each part straight into its slice of the existing `qkv`, which torch
    would otherwise do from a joined temporary (one more [3H, H] copy per layer); `qkv` then stands for itself
    in `state`, and torch's own `param.copy_(param)` is a no-op. `assign=True` (from_pretrained, onto the meta
    device) makes the parameter the state's tensor, so there the joined tensor is the new parameter itself."""
    replaces = local_metadata.get("assign_to_params_buffers", False)  # load_state_dict(assign=True)
    replaces = replaces or torch.__future__.get_swap_module_params_on_conversion()  # swaps in a new tensor too
    for kind in ("weight", "bias"):
        names = [f"{prefix}{name}.{kind}" for name in _QKV]
        if not all(name in state for name in names):
            continue
        parts, target = [state.pop(name) for name in names], getattr(module.qkv, kind)
        third = (target.shape[0] // 3, *target.shape[1:])
        wrong = [f"size mismatch for {name}: copying a param with shape {part.shape} from checkpoint, the shape "
                 f"in current model is {torch.Size(third)}." for name, part in zip(names, parts, strict=True)
                 if isinstance(part, Tensor) and tuple(part.shape) != third]
        if wrong:
            error_msgs.extend(wrong)
            state[f"{prefix}qkv.{kind}"] = target  # not missing: reported above, and left as it is
        elif replaces or target.is_meta or any(not isinstance(p, Tensor) or p.is_meta for p in parts):
            state[f"{prefix}qkv.{kind}"] = torch.cat(parts)
        else:
            with torch.no_grad():
                for part, piece in zip(parts, target.chunk(3), strict=True):
                    piece.copy_(part)
            state[f"{prefix}qkv.{kind}"] = target
