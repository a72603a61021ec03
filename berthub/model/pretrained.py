"""The one door between models and where they come from: from_pretrained / save_pretrained.

A saved directory is config.json + model.safetensors with transformers' tensor names, so it is
also a transformers BERT checkpoint. Loading walks one path:

    BertModel.from_pretrained(name)              this file: resolve, read config, build, read, assign
      -> berthub.sources.resolve.resolve         name / repo id / dir / URL -> a local folder
        -> berthub.sources.hub_cache.from_hub    a hub repo at a commit, through the cache
          -> berthub.sources.urls.stream_to_file the weights' bytes, resumed and verified
    then berthub.model.weights: read the file's tensors and assign them into the meta-device model

`locate` is the same door for everything else that needs a model's files (the tokenizer's, a
pipeline's folder, a trained model's training.json): no other module of the model, tokenizer, tasks,
training or inference rooms asks berthub.sources where files are (the Doors of docs/architecture.md;
only the commands, which manage the cache and publish, reach berthub.sources themselves).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from berthub.errors import InputError, WeightsError
from berthub.files import atomic_path, write_text_atomic
from berthub.model.config import BertConfig
from berthub.model.weights import LoadReport, init_parameter, load_into, read_config, read_weights, resolve_dtype
from berthub.sources.settings import CONFIG_NAME, LEGACY_CONFIG_NAME, MODEL_FILES, SAFETENSORS_NAME, Wanted

if TYPE_CHECKING:
    from berthub.sources.resolve import Resolved


def locate(name_or_path: str | os.PathLike, wanted: Wanted = MODEL_FILES, **options: Any) -> Resolved:
    """A local folder holding the files `wanted` (berthub.sources.settings.MODEL_FILES or TOKENIZER_FILES)
    for a registry name, hub repo id, directory, archive or URL; `options` as berthub.sources.resolve.resolve
    (revision, cache_dir, local_files_only, token, endpoint, verify)."""
    from berthub.sources.resolve import resolve  # brings the network stack only when a load asks for it

    return resolve(name_or_path, wanted, **options)


def locate_extra(name_or_path: str | os.PathLike, directory: str | os.PathLike, filename: str) -> Path | None:
    """An optional file beside the model `name_or_path` located in `directory` (e.g. training.json): from
    that folder or, for a hub repo, the same commit through the cache; None when the source has none."""
    from berthub.sources.resolve import extra_file

    return extra_file(name_or_path, Path(directory), filename)



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
        from berthub.model import vocab_resize

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
        for key, value in self._extra_config().items():  # None: the key must not be saved
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
        tensors = {k: v.detach().contiguous() for k, v in self._state_to_save().items()}
        with atomic_path(directory / SAFETENSORS_NAME) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})
        write_text_atomic(directory / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True) + "\n")
        return directory

    def _architecture_name(self) -> str:
        return type(self).__name__

    def _extra_config(self) -> dict[str, Any]:
        """config.json entries a model class adds to its config's (a key mapped to None is left out)."""
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

        `overrides` that are BertConfig fields change the config (e.g. `hidden_dropout_prob=0.0`, or
        transformers' `id2label=` / `label2id=`); the others go to the model's constructor (e.g.
        `num_labels=3`). `dtype` casts the weights (e.g. torch.bfloat16 or "bfloat16"; "auto" or None keeps
        the file's); `torch_dtype` is transformers' older name for it. The model is returned in eval mode with
        `model.load_report` set.
        """
        dtype = resolve_dtype(dtype, torch_dtype)
        resolved = locate(pretrained_model_name_or_path, revision=revision, cache_dir=cache_dir,
                          local_files_only=local_files_only, token=token)
        with tempfile.TemporaryDirectory(prefix="berthub-from-tf-") as scratch:
            directory = _convert_tf(Path(resolved.directory), Path(scratch)) if from_tf else Path(resolved.directory)
            config = read_config(directory)
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


def _config_fields() -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(BertConfig)} - {"extra"} | {"id2label", "label2id"}


def _convert_tf(directory: Path, scratch: Path) -> Path:
    """Convert a Google TF checkpoint directory with the `tf` converter plugin into `scratch`."""
    from berthub.plugins import loader

    return Path(loader.load("converters", "tf").convert_directory(directory, scratch / "converted"))


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


