"""Label names that travel with a model: transformers' `id2label` / `label2id` keys of config.json.

A fine-tuned model names its outputs without the plugin that trained it: the trainer writes the
task's label names here, transformers writes them when a classifier is saved, and anything that
turns logits into answers (a pipeline, `berthub predict`, a model card) reads them back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from berthub.errors import ConfigError

if TYPE_CHECKING:
    from berthub.model.config import BertConfig


def label_names(config: BertConfig) -> list[str]:
    """Label names in id order from the config's `id2label` ([] when it has none); `config.id2label` as a list.

    >>> from berthub.model.config import BertConfig
    >>> label_names(with_labels(BertConfig(), ["negative", "positive"]))
    ['negative', 'positive']
    """
    return names_in(config.extra)


def names_in(values: Mapping[str, Any]) -> list[str]:
    """Label names in id order from config.json's `id2label` in `values` ([] when it has none)."""
    id2label = values.get("id2label") or {}
    if not isinstance(id2label, dict):
        raise ConfigError(f"config.json's id2label must be an object {{\"0\": \"name\", ...}}, got {id2label!r}.")
    try:
        by_id = {int(key): str(value) for key, value in id2label.items()}
    except ValueError:
        raise ConfigError(f"config.json's id2label keys must be label ids 0..N-1, got {sorted(id2label)}.") from None
    if sorted(by_id) != list(range(len(by_id))):
        raise ConfigError(f"config.json's id2label keys must be label ids 0..N-1, got {sorted(by_id)}.")
    return [by_id[i] for i in range(len(by_id))]


def placeholder_labels(count: int) -> list[str]:
    """The names transformers gives outputs nobody named: LABEL_0 ... LABEL_{count-1}."""
    return [f"LABEL_{i}" for i in range(count)]


def label_entries(labels: Sequence[str]) -> dict[str, Any]:
    """The config.json entries for `labels`: {"id2label": {"0": name, ...}, "label2id": {name: 0, ...}}."""
    names = [str(label) for label in labels]
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise ConfigError(f"Label names must be distinct; repeated: {', '.join(repeated)}.")
    return {"id2label": {str(i): name for i, name in enumerate(names)},
            "label2id": {name: i for i, name in enumerate(names)}}


def with_labels(config: BertConfig, labels: Sequence[str]) -> BertConfig:
    """A copy of `config` that names its outputs `labels` (id order)."""
    return config.replace(extra={**config.extra, **label_entries(labels)})
