"""from_pretrained / save_pretrained: moving weights between files and berthub models.

A saved directory is config.json + model.safetensors with transformers' tensor names, so it is
also a transformers BERT checkpoint. Loading builds the model on the meta device and assigns the
file's tensors into it, so the weights are never held twice and never randomly initialised first;
only weights the file lacks (a new task head) are materialised and get Google's initialisation.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from berthub.config import BertConfig
from berthub.errors import InputError, WeightsError
from berthub.files import atomic_path, safetensors_problem, write_text_atomic
from berthub.sources.settings import CONFIG_NAME, CONFIG_NAMES, LEGACY_CONFIG_NAME, PYTORCH_NAME, SAFETENSORS_NAME

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


class BertPreTrainedModel(nn.Module):
    """Base of every berthub model: holds the config, initialises, loads and saves weights."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"{type(self).__name__} needs a BertConfig, got {type(config).__name__}.")
        self.config = config
        self.load_report: LoadReport | None = None

    # -- initialisation -------------------------------------------------------------------------
    def init_weights(self) -> None:
        """Google's initialisation: truncated normal(0, initializer_range) weights, zero biases, unit LayerNorm."""
        for module in self.modules():
            for name, param in module.named_parameters(recurse=False):
                init_parameter(module, name, param, self.config.initializer_range)
        self.tie_weights()

    def init_bert_weights(self, module: nn.Module) -> None:
        """pytorch-pretrained-BERT 0.6's per-module initialiser, for `self.apply(self.init_bert_weights)` in
        custom models: Google's initialisation of `module`'s own parameters (as init_weights)."""
        for name, param in module.named_parameters(recurse=False):
            init_parameter(module, name, param, self.config.initializer_range)

    def tie_weights(self) -> None:
        """Point output embeddings at the input embeddings (heads that decode to the vocabulary)."""

    # -- the vocabulary -------------------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Embedding:
        """The word embeddings [vocab_size, hidden_size] of the encoder (transformers' name)."""
        return self._encoder().embeddings.word_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        """Use `embeddings` as the word embeddings; config.vocab_size, tied decoders and vocabulary-sized
        head tensors (the MLM output bias: new entries at the mean of the old ones) follow its size."""
        self._adopt_vocabulary(embeddings, mean_resizing=True)

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """Grow or shrink the vocabulary to `new_num_tokens` (rounded up to `pad_to_multiple_of`).

        Old rows are kept; new rows start at the mean of the old ones (`mean_resizing`, as in
        transformers) or at Google's initialisation. The tied MLM decoder, its output bias and
        config.vocab_size follow. Returns the (new) word embeddings.
        """
        from berthub import vocab_resize

        old = self.get_input_embeddings()
        size = vocab_resize.target_size(old.num_embeddings, new_num_tokens, pad_to_multiple_of)
        if size != old.num_embeddings:
            init = self.config.initializer_range
            self._adopt_vocabulary(vocab_resize.resized_embedding(old, size, mean_resizing, init), mean_resizing)
        return self.get_input_embeddings()

    def _encoder(self) -> nn.Module:
        """The BertModel holding the embeddings: the model itself, or its `bert` part for task models."""
        encoder = self if "embeddings" in self._modules else self._modules.get("bert")
        if encoder is None:
            raise TypeError(f"{type(self).__name__} has no BERT encoder (neither `embeddings` nor `bert`).")
        return encoder

    def _adopt_vocabulary(self, embeddings: nn.Embedding, mean_resizing: bool) -> None:
        if not isinstance(embeddings, nn.Embedding) or embeddings.embedding_dim != self.config.hidden_size:
            raise InputError(f"Input embeddings must be an nn.Embedding with embedding_dim {self.config.hidden_size} "
                             f"(hidden_size), got {embeddings!r}.")
        size = embeddings.num_embeddings
        self._encoder().embeddings.word_embeddings = embeddings
        for module in self.modules():  # every part that holds the config (encoder, heads) sees the new size
            config = module.__dict__.get("config")
            if isinstance(config, BertConfig) and config.vocab_size != size:
                module.config = config.replace(vocab_size=size)
            if module is not self and hasattr(module, "resize_vocab"):
                module.resize_vocab(size, mean_resizing)
        self.tie_weights()

    # -- saving ---------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write config.json + model.safetensors into `save_directory` (created; files replaced atomically)."""
        from safetensors.torch import save_file

        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = self.config.to_dict()
        config["architectures"] = [self._architecture_name()]
        config.update(self._extra_config())
        tensors = {k: v.detach().contiguous() for k, v in self._state_to_save().items()}
        with atomic_path(directory / SAFETENSORS_NAME) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})
        write_text_atomic(directory / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True) + "\n")
        return directory

    def _architecture_name(self) -> str:
        return type(self).__name__

    def _extra_config(self) -> dict[str, Any]:
        return {}

    def _state_to_save(self) -> dict[str, Tensor]:
        """State dict without tied duplicates (safetensors stores every tensor once)."""
        state, seen = {}, set()
        for key, tensor in self.state_dict().items():
            if tensor.data_ptr() in seen and tensor.numel():
                continue
            seen.add(tensor.data_ptr())
            state[key] = tensor
        return state

    # -- loading --------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *inputs: Any,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        token: str | None = None,
        dtype: torch.dtype | str | None = None,
        from_tf: bool = False,
        state_dict: dict[str, Tensor] | None = None,
        torch_dtype: torch.dtype | str | None = None,
        **overrides: Any,
    ):
        """Load a model from a registry name, hub repo id, local directory or archive URL.

        `overrides` that are BertConfig fields change the config (e.g. `hidden_dropout_prob=0.0`);
        the others go to the model's constructor (e.g. `num_labels=3`). `dtype` casts the weights
        (e.g. torch.bfloat16 or "bfloat16"; "auto" or None keeps the file's); `torch_dtype` is
        transformers' older name for it. The model is returned in eval mode with `model.load_report` set.
        """
        from berthub.sources import resolve as hub

        dtype = resolve_dtype(dtype, torch_dtype)
        resolved = hub.resolve_model(
            pretrained_model_name_or_path, revision=revision, cache_dir=cache_dir,
            local_files_only=local_files_only, token=token,
        )
        with tempfile.TemporaryDirectory(prefix="berthub-from-tf-") as scratch:
            directory = _convert_tf(Path(resolved.directory), Path(scratch)) if from_tf else Path(resolved.directory)
            config = _read_config(directory)
            overrides = cls._folder_overrides(directory, config, overrides)
            config_changes = {k: overrides.pop(k) for k in list(overrides) if k in _config_fields()}
            if config_changes:
                config = config.replace(**config_changes)
            with torch.device("meta"):
                model = cls(config, *inputs, **overrides)
            if state_dict is None:
                state_dict = read_weights(directory)
        model.load_report = load_into(model, state_dict, dtype=dtype, source=str(pretrained_model_name_or_path))
        model.load_report.directory = str(resolved.directory)
        return model.eval()

    @classmethod
    def _folder_overrides(cls, directory: Path, config: BertConfig, overrides: dict[str, Any]) -> dict[str, Any]:
        """Constructor options a saved folder implies beyond its BertConfig (BertForTask: the head)."""
        return overrides


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


def _config_fields() -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(BertConfig)} - {"extra"}


def _read_config(directory: Path) -> BertConfig:
    for name in CONFIG_NAMES:
        if (directory / name).is_file():
            return BertConfig.from_json_file(directory / name)
    raise WeightsError(f"{directory} has no config.json (or Google's bert_config.json); it is not a model directory.")


def _convert_tf(directory: Path, scratch: Path) -> Path:
    """Convert a Google TF checkpoint directory with the `tf` converter plugin into `scratch`."""
    from berthub import plugins

    return Path(plugins.load("converters", "tf").convert_directory(directory, scratch / "converted"))


def load_tf_weights_in_bert(model: BertPreTrainedModel, tf_checkpoint_path: str | os.PathLike) -> BertPreTrainedModel:
    """pytorch-pretrained-BERT 0.6's loader: the weights of the Google TF checkpoint at prefix
    `tf_checkpoint_path` (e.g. "uncased_L-12_H-768_A-12/bert_model.ckpt") into `model`, whose config
    must match it. Goes through the `tf` converter plugin (berthub-tf); returns `model`."""
    prefix = Path(tf_checkpoint_path).expanduser()
    parts = [p for p in prefix.parent.glob(prefix.name + ".*") if p.name.startswith((prefix.name + ".index",
                                                                                      prefix.name + ".data-"))]
    if not parts:
        raise WeightsError(f"No TF checkpoint at '{tf_checkpoint_path}' (no {prefix.name}.index): pass the "
                           "checkpoint prefix, e.g. uncased_L-12_H-768_A-12/bert_model.ckpt.")
    with tempfile.TemporaryDirectory(prefix="berthub-tf-weights-") as scratch:
        release = Path(scratch) / "release"
        release.mkdir()
        for part in parts:
            (release / part.name).symlink_to(part.resolve())
        model.config.to_json_file(release / LEGACY_CONFIG_NAME)
        state_dict = read_weights(_convert_tf(release, Path(scratch)))
        model.load_report = load_into(model, state_dict, dtype=None, source=str(tf_checkpoint_path))
    return model


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
