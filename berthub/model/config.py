"""BertConfig: the hyper-parameters of a BERT encoder.

Reads Google's `bert_config.json` and Hugging Face's `config.json` (same field names) and writes
`config.json` that transformers also reads. Validation runs on construction and lists every bad
field at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

from berthub.errors import ConfigError
from berthub.model.labels import label_entries, names_in

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh")


@dataclass
class BertConfig:
    """Architecture of a BERT encoder (defaults: BERT-base).

    `head` / `head_options` name the task head a saved model carries so `from_pretrained` can
    rebuild it (`None` for a bare encoder). Unknown keys in a config file are kept in `extra`
    and written back, so nothing a user or another library put there is lost. `id2label` /
    `label2id` are transformers': the names of a head's outputs, saved in config.json.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    head: str | None = None
    head_options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    # pytorch-pretrained-BERT 0.6's first argument: a vocabulary size, or the path of a config file to read.
    vocab_size_or_config_json_file: InitVar[int | str | os.PathLike | None] = None

    def __post_init__(self, vocab_size_or_config_json_file: int | str | os.PathLike | None = None) -> None:
        legacy = vocab_size_or_config_json_file
        if legacy is None and _names_a_file(self.vocab_size):  # 0.6's BertConfig("bert_config.json")
            legacy = self.vocab_size
        if legacy is not None:
            self._take_legacy_argument(legacy)
        problems = _problems(self)
        if problems:
            raise ConfigError("Invalid BertConfig:\n  - " + "\n  - ".join(problems))

    def _take_legacy_argument(self, value: int | str | os.PathLike) -> None:
        """0.6's `BertConfig(vocab_size_or_config_json_file)`: an int sets vocab_size; a path replaces every
        field with the file's (other arguments are ignored, as 0.6 did)."""
        if isinstance(value, (str, os.PathLike)):
            loaded = type(self).from_json_file(value)
            for f in dataclasses.fields(self):
                setattr(self, f.name, getattr(loaded, f.name))
        elif isinstance(value, int) and not isinstance(value, bool):
            self.vocab_size = value
        else:
            raise ConfigError(
                f"vocab_size_or_config_json_file must be a vocabulary size (int) or the path of a config file, "
                f"got {value!r}."
            )

    @property
    def id2label(self) -> dict[int, str]:
        """Output id -> label name, as transformers' `config.id2label` ({} when the outputs have no names).

        Setting it (or `label2id`) names the outputs; `BertForTask.labels` reads the same names in id order.
        """
        return dict(enumerate(names_in(self.extra)))

    @id2label.setter
    def id2label(self, value: Mapping[int | str, str]) -> None:
        self.extra = {**self.extra, **label_entries(_in_id_order(value, "id2label"))}

    @property
    def label2id(self) -> dict[str, int]:
        """Label name -> output id, the inverse of `id2label`, as transformers' `config.label2id`."""
        return {name: index for index, name in self.id2label.items()}

    @label2id.setter
    def label2id(self, value: Mapping[str, int | str]) -> None:
        self.id2label = _inverted(value)

    @property
    def head_size(self) -> int:
        """Size of one attention head: hidden_size / num_attention_heads."""
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BertConfig:
        """Build from a Google `bert_config.json` or HF `config.json` dictionary."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra", "head", "head_options"}
        kwargs = {k: v for k, v in values.items() if k in known}
        kwargs["head"] = values.get("berthub_head")
        kwargs["head_options"] = dict(values.get("berthub_head_options") or {})
        skip = known | {"berthub_head", "berthub_head_options"} | _RUNTIME_KEYS
        kwargs["extra"] = {k: v for k, v in values.items() if k not in skip}
        return cls(**kwargs)

    @classmethod
    def from_json_file(cls, path: str | Path) -> BertConfig:
        """Read a config file; the error names the file when it is missing or not JSON."""
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Config file {path} does not exist.") from None
        except json.JSONDecodeError as error:
            raise ConfigError(f"Config file {path} is not valid JSON: {error}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"Config file {path} must hold a JSON object, not {type(values).__name__}.")
        try:
            return cls.from_dict(values)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """The HF-compatible dictionary written to config.json."""
        values = dict(self.extra)
        values["model_type"] = "bert"
        for f in dataclasses.fields(self):
            if f.name not in ("head", "head_options", "extra"):
                values[f.name] = getattr(self, f.name)
        if self.head is not None:
            values["berthub_head"] = self.head
            values["berthub_head_options"] = dict(self.head_options)
        return values

    def to_json_string(self) -> str:
        """The config.json text (sorted keys, 2-space indent)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | Path) -> None:
        """Write config.json atomically."""
        from berthub.files import write_text_atomic

        write_text_atomic(Path(path), self.to_json_string())

    def replace(self, **changes: Any) -> BertConfig:
        """A copy with some fields changed (validated again); `id2label=` / `label2id=` name the outputs."""
        labels = {key: changes.pop(key) for key in ("id2label", "label2id") if key in changes}
        copy = dataclasses.replace(self, **changes)
        if labels:
            id2label = _in_id_order(labels["id2label"], "id2label") if "id2label" in labels else None
            from_label2id = _in_id_order(_inverted(labels["label2id"]), "label2id") if "label2id" in labels else None
            if id2label is not None and from_label2id is not None and id2label != from_label2id:
                raise ConfigError(f"id2label {labels['id2label']!r} and label2id {labels['label2id']!r} disagree; "
                                  "give one of them, or two that invert each other.")
            copy.id2label = dict(enumerate(id2label if id2label is not None else from_label2id))
        return copy


def _in_id_order(id2label: Mapping[Any, Any], name: str) -> list[str]:
    """The label names of an {id: name} mapping (keys ints or digit strings, 0..N-1) in id order."""
    if not isinstance(id2label, Mapping):
        raise ConfigError(f"{name} must map label ids to names, e.g. {{0: 'negative', 1: 'positive'}}; "
                          f"got {id2label!r}.")
    try:
        by_id = {int(key): value for key, value in id2label.items()}
    except (TypeError, ValueError):
        raise ConfigError(f"{name}'s ids must be integers 0..N-1, got {list(id2label)}.") from None
    if sorted(by_id) != list(range(len(by_id))) or not all(isinstance(v, str) and v for v in by_id.values()):
        raise ConfigError(f"{name} must give a non-empty name to each id 0..N-1, got {dict(id2label)!r}.")
    return [by_id[i] for i in range(len(by_id))]


def _inverted(label2id: Mapping[Any, Any]) -> dict[Any, Any]:
    if not isinstance(label2id, Mapping):
        raise ConfigError(f"label2id must map label names to ids, e.g. {{'negative': 0}}; got {label2id!r}.")
    return {index: name for name, index in label2id.items()}


# Written afresh on every save (or describing one runtime, not the model): not carried in `extra`.
_RUNTIME_KEYS = {"transformers_version", "_name_or_path", "torch_dtype", "dtype", "model_type", "architectures"}


def _names_a_file(value: Any) -> bool:
    """Whether a first argument is 0.6's config path rather than a (bad) vocabulary size like "30522"."""
    if isinstance(value, os.PathLike):
        return True
    return isinstance(value, str) and (value.endswith(".json") or "/" in value or os.sep in value
                                       or Path(value).is_file())


def _problems(config: BertConfig) -> list[str]:
    problems = []
    positive_ints = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size")
    for name in positive_ints:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problems.append(f"{name} must be a positive integer, got {value!r}")
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
            problems.append(f"{name} must be a number in [0, 1), got {value!r}")
    for name in ("initializer_range", "layer_norm_eps"):
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            problems.append(f"{name} must be a positive number, got {value!r}")
    if config.hidden_act not in ACTIVATIONS:
        problems.append(f"hidden_act must be one of {', '.join(ACTIVATIONS)}, got {config.hidden_act!r}")
    heads_ok = isinstance(config.hidden_size, int) and isinstance(config.num_attention_heads, int)
    if heads_ok and config.num_attention_heads > 0 and config.hidden_size % config.num_attention_heads:
        problems.append(f"hidden_size ({config.hidden_size}) must be divisible by "
                        f"num_attention_heads ({config.num_attention_heads})")
    if not isinstance(config.pad_token_id, int) or isinstance(config.pad_token_id, bool):
        problems.append(f"pad_token_id must be an integer, got {config.pad_token_id!r}")
    if config.head is not None and not isinstance(config.head, str):
        problems.append(f"berthub_head must be a head name (string), got {config.head!r}")
    if not isinstance(config.head_options, dict):
        problems.append(f"berthub_head_options must be a JSON object, got {config.head_options!r}")
    return problems
