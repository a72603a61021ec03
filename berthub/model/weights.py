"""Tensors between files and models: read a weights file, fit its names to the model, assign them.

A file's tensors are assigned into a model built on the meta device, so weights are never held twice
and never randomly initialised first; only tensors the file lacks (a new task head) are materialised,
with Google's initialisation. Every key is accounted for in a LoadReport. Standard library, torch and
safetensors only: no network (berthub.model.pretrained finds the files, this module reads them).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from berthub.errors import InputError, WeightsError
from berthub.files import safetensors_problem
from berthub.model.config import BertConfig
from berthub.sources.settings import CONFIG_NAMES, PYTORCH_NAME, SAFETENSORS_NAME

logger = logging.getLogger("berthub")

_ENCODER_PREFIXES = ("embeddings.", "encoder.", "pooler.")
# Keys that are derived state in other libraries' files, never weights.
_DERIVED_KEYS = re.compile(r"(^|\.)position_ids$|^cls\.predictions\.decoder\.(weight|bias)$")


@dataclass
class LoadReport:
    """What `from_pretrained` did with the file's tensors: every key is named."""

    source: str
    directory: str = ""  # the local folder the files were read from (a cache snapshot for hub names)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file: freshly initialised
    unexpected: list[str] = field(default_factory=list)  # in the file, not used by the model
    renamed: int = 0  # legacy names (gamma/beta, missing or extra `bert.` prefix) mapped


def resolve_dtype(dtype: torch.dtype | str | None, torch_dtype: torch.dtype | str | None = None) -> torch.dtype | None:
    """`dtype` or its transformers alias `torch_dtype` as a torch.dtype; None ("auto") keeps the file's."""
    if dtype is not None and torch_dtype is not None and dtype != torch_dtype:
        raise InputError(f"dtype={dtype!r} and torch_dtype={torch_dtype!r} disagree; pass one of them "
                         "(torch_dtype is transformers' older name for dtype).")
    chosen = dtype if dtype is not None else torch_dtype
    if chosen is None or chosen == "auto" or isinstance(chosen, torch.dtype):
        return None if chosen == "auto" else chosen
    found = getattr(torch, str(chosen).removeprefix("torch."), None)
    if not isinstance(found, torch.dtype) or not found.is_floating_point:
        raise InputError(f"dtype {chosen!r} is not a floating-point torch dtype; use e.g. torch.bfloat16, "
                         "\"float16\", \"float32\" or \"auto\".")
    return found


def read_config(directory: Path) -> BertConfig:
    for name in CONFIG_NAMES:
        if (directory / name).is_file():
            return BertConfig.from_json_file(directory / name)
    raise WeightsError(f"{directory} has no config.json (or Google's bert_config.json); it is not a model directory.")


def read_weights(directory: Path) -> dict[str, Tensor]:
    """Tensors of model.safetensors (preferred) or pytorch_model.bin (weights_only, mapped to CPU)."""
    safetensors_path, pytorch_path = directory / SAFETENSORS_NAME, directory / PYTORCH_NAME
    if safetensors_path.is_file():
        return _read_safetensors(safetensors_path)
    if pytorch_path.is_file():
        return _read_pickled(pytorch_path)
    raise WeightsError(
        f"{directory} has no {SAFETENSORS_NAME} or {PYTORCH_NAME}. If it holds a TensorFlow checkpoint, "
        "pass from_tf=True (needs the berthub-tf converter plugin)."
    )


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    """Tensors of a safetensors file; a truncated, empty or malformed one is one clear WeightsError."""
    from safetensors import SafetensorError, safe_open

    problem = safetensors_problem(path)
    try:
        if problem is None:
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                return {key: handle.get_tensor(key) for key in handle.keys()}
    except SafetensorError as error:
        problem = str(error)
    raise WeightsError(f"{path} is not a readable safetensors file: {problem}. Download or save it again "
                       "(`berthub cache verify` checks cached files).")


def _read_pickled(path: Path) -> dict[str, Tensor]:
    """Tensors of a pytorch_model.bin with weights_only loading (never runs pickled code)."""
    import pickle

    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # files in the pre-1.6 format cannot be memory-mapped
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"{path} holds pickled objects other than tensors, which berthub refuses to load "
                           f"(they could run code): {reason}. Convert it to model.safetensors with a tool you "
                           "trust, or load a repo that ships safetensors.") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: "
                           f"{str(error).strip().splitlines()[0] if str(error).strip() else 'empty'}). "
                           "Download or save it again.") from None


def load_into(model: nn.Module, state_dict: dict[str, Tensor], *, dtype: torch.dtype | None, source: str) -> LoadReport:
    """Assign `state_dict` into a (meta-device) model; initialise what is missing; report every key."""
    expected = dict(model.state_dict(keep_vars=True))
    renamed, report = _rename(state_dict, set(expected)), LoadReport(source)
    report.renamed = sum(1 for old, new in renamed.items() if old != new)
    assign: dict[str, Tensor] = {}
    mismatched = []
    for old, new in renamed.items():
        if new not in expected:
            if not _DERIVED_KEYS.search(old):
                report.unexpected.append(old)
            continue
        tensor = state_dict[old]
        if tuple(tensor.shape) != tuple(expected[new].shape):
            wanted = tuple(expected[new].shape)
            mismatched.append(f"'{old}' has shape {tuple(tensor.shape)}, the model expects {wanted}")
            continue
        target_dtype = dtype if (dtype is not None and tensor.is_floating_point()) else None
        assign[new] = tensor.to(target_dtype) if target_dtype else tensor
    if mismatched:
        raise WeightsError(
            f"Weights in {source} do not fit the model: " + "; ".join(mismatched)
            + ". Check that the config and options (e.g. num_labels) match the checkpoint."
        )
    model.load_state_dict(assign, strict=False, assign=True)
    if hasattr(model, "tie_weights"):  # before materialising, so a tied decoder is not counted as missing
        model.tie_weights()
    report.missing = _materialise_missing(model, dtype or torch.float32)
    if report.missing and hasattr(model, "tie_weights"):  # embeddings themselves may have been new
        model.tie_weights()
    _log(report)
    return report


def _rename(state_dict: dict[str, Tensor], expected: set[str]) -> dict[str, str]:
    """Map each file key to the model's name: gamma/beta -> weight/bias, add or drop the `bert.` prefix."""
    model_has_prefix = any(k.startswith("bert.") for k in expected)
    mapping = {}
    for key in state_dict:
        new = re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", key))
        if model_has_prefix and new.startswith(_ENCODER_PREFIXES):
            new = "bert." + new
        elif not model_has_prefix and new.startswith("bert."):
            new = new[len("bert."):]
        mapping[key] = new
    return mapping


def _materialise_missing(model: nn.Module, dtype: torch.dtype) -> list[str]:
    missing = []
    init_range = getattr(getattr(model, "config", None), "initializer_range", 0.02)
    for module_name, module in model.named_modules():
        for name, param in list(module.named_parameters(recurse=False)):
            if not param.is_meta:
                continue
            fresh = nn.Parameter(torch.empty(param.shape, dtype=dtype), requires_grad=param.requires_grad)
            init_parameter(module, name, fresh, init_range)
            setattr(module, name, fresh)
            missing.append(f"{module_name}.{name}" if module_name else name)
    return missing


def init_parameter(module: nn.Module, name: str, param: Tensor, init_range: float) -> None:
    """Google's init for one parameter: LayerNorm 1/0, biases 0, everything else truncated normal."""
    if param.is_meta:
        return
    with torch.no_grad():
        if isinstance(module, nn.LayerNorm):
            param.fill_(1.0 if name == "weight" else 0.0)
        elif name.endswith("bias"):
            param.zero_()
        else:
            nn.init.trunc_normal_(param, std=init_range, a=-2 * init_range, b=2 * init_range)


def _log(report: LoadReport) -> None:
    if report.missing:
        logger.warning(
            "Weights not in %s were newly initialised (train them before use): %s",
            report.source, ", ".join(report.missing),
        )
    if report.unexpected:
        logger.warning("Weights in %s not used by this model: %s", report.source, ", ".join(report.unexpected))
