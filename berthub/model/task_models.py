"""BertForTask (BertModel + any registered head) and the eight pytorch-pretrained-BERT 0.6 classes.

Composition, not inheritance: a BertFor* model is `bert` (a BertModel) plus one head stored
under the head's `facts.attribute`. The 0.6 classes only fix the head and keep 0.6's forward signatures
and return rules (the loss when targets are given, else the logits). Everything said about a head
(its targets, its transformers class) is read from the head's facts (berthub.plugins.HeadFacts).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from berthub.errors import ConfigError
from berthub.model.bert import BertModel, Encoded
from berthub.model.config import BertConfig
from berthub.model.labels import label_entries, label_names, placeholder_labels
from berthub.model.pretrained import BertPreTrainedModel
from berthub.plugins.loader import head_class, head_for_architecture

__all__ = [
    "BertForMaskedLM", "BertForMultipleChoice", "BertForNextSentencePrediction", "BertForPreTraining",
    "BertForQuestionAnswering", "BertForSequenceClassification", "BertForTask", "BertForTokenClassification",
]  # fmt: skip

# config.json key naming the pip distribution a head comes from, so a missing plugin can be named.
HEAD_DISTRIBUTION_KEY = "berthub_head_distribution"


def _with_label_count(cls: type[nn.Module], config: BertConfig, options: dict[str, Any]) -> dict[str, Any]:
    """Default a head's `num_labels` to the number of label names in config.json, as transformers does."""
    if "num_labels" in options or "num_labels" not in inspect.signature(cls).parameters:
        return options
    labels = label_names(config)
    return {**options, "num_labels": len(labels)} if labels else options


class BertForTask(BertPreTrainedModel):
    """BertModel + the head registered as `head`, built with `head_options`.

    model(input_ids, token_type_ids=None, attention_mask=None, **targets)
      -> the head's loss when every target it needs is given, else its logits.
    The head name and options are saved in config.json, so `BertForTask.from_pretrained(dir)`
    rebuilds the same model without naming the head again.
    """

    def __init__(self, config: BertConfig, head: str | None = None, **head_options: Any) -> None:
        name = head or config.head
        if name is None:
            raise ConfigError(
                "BertForTask needs a head: pass head='sequence-classification' (or any name listed by "
                "`berthub plugins`), or load a directory saved with one."
            )
        options = {**(config.head_options if name == config.head else {}), **head_options}
        cls = head_class(name, config.extra.get(HEAD_DISTRIBUTION_KEY) if name == config.head else None)
        head_module = cls(config, **_with_label_count(cls, config, options))
        config = config.replace(head=name, head_options=head_module.options())
        super().__init__(config)
        self.bert = BertModel(config)
        self._head_attribute = head_module.facts.attribute
        self.add_module(head_module.facts.attribute, head_module)
        self.tie_weights()

    @property
    def head_name(self) -> str:
        """The registered name of the head this model carries ("sequence-classification", a plugin's name);
        saved in config.json as `berthub_head`, with its options as `berthub_head_options`."""
        return self.config.head

    @property
    def head(self) -> nn.Module:
        """The head module itself (stored under its facts' `attribute`, e.g. `classifier`)."""
        return getattr(self, self._head_attribute)

    def tie_weights(self) -> None:
        head = getattr(self, "_head_attribute", None) and self.head
        if head is not None and hasattr(head, "tie_weights"):
            head.tie_weights(self.bert)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None,
                attention_mask: Tensor | None = None, **targets: Tensor | None):
        encoded = self.bert.encode(input_ids, token_type_ids, attention_mask)
        logits = self.head(encoded)
        given = {k: v for k, v in targets.items() if v is not None}
        if given and all(name in given for name in self.head.facts.targets):
            return self.head.loss(logits, given, encoded)
        return logits

    def gradient_checkpointing_enable(self) -> None:
        """Recompute the encoder's activations during backward instead of keeping them (see BertModel)."""
        self.bert.gradient_checkpointing_enable()

    def gradient_checkpointing_disable(self) -> None:
        self.bert.gradient_checkpointing_disable()

    def encode_and_score(self, batch: dict[str, Tensor]) -> tuple[Any, Encoded]:
        """Logits and encoder outputs for a batch dict (as trainers build them)."""
        encoded = self.bert.encode(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"))
        return self.head(encoded), encoded

    @property
    def labels(self) -> list[str]:
        """Names of the head's outputs in id order (config.json's id2label); [] when none are known."""
        return label_names(self.config)

    def _architecture_name(self) -> str:
        return self.head.facts.architecture or "BertModel"

    def _extra_config(self) -> dict[str, Any]:
        """id2label / label2id (placeholders LABEL_i when the names do not fit num_labels), the head's plugin, and
        the head's `problem_type` when it declares one. A regression head's one output has no label: it is saved
        as `problem_type: regression` with `num_labels: 1` (what transformers reads), never as a LABEL_0 label."""
        from berthub.plugins import loader

        extra: dict[str, Any] = {}
        distribution = loader.distribution("heads", self.head_name)
        if distribution:
            extra[HEAD_DISTRIBUTION_KEY] = distribution
        labels, count = self.labels, self.config.head_options.get("num_labels")
        problem_type = getattr(self.head, "problem_type", None)
        if problem_type:
            extra["problem_type"] = problem_type
        if problem_type == "regression" and labels in ([], placeholder_labels(count or 0)):
            return {**extra, "num_labels": count, "id2label": None, "label2id": None}
        if count and len(labels) != count:
            labels = placeholder_labels(count)  # how transformers learns num_labels
        return {**extra, **(label_entries(labels) if labels else {})}

    @classmethod
    def _folder_overrides(cls, directory: Path, config: BertConfig, overrides: dict[str, Any]) -> dict[str, Any]:
        """A folder saved by transformers names its head only in `architectures` (BertForSequenceClassification...)."""
        if overrides.get("head") is not None or config.head is not None:
            return overrides
        head = head_for_architecture(_architecture(directory))
        return {**overrides, "head": head} if head else overrides


class _Fixed(BertForTask):
    """A BertForTask whose head is fixed by the class (the pytorch-pretrained-BERT 0.6 classes)."""

    HEAD = ""

    def __init__(self, config: BertConfig, **head_options: Any) -> None:
        if config.head not in (None, self.HEAD):
            config = config.replace(head=None, head_options={})
        super().__init__(config, self.HEAD, **head_options)

    @classmethod
    def _folder_overrides(cls, directory: Path, config: BertConfig, overrides: dict[str, Any]) -> dict[str, Any]:
        return overrides  # the class fixes the head


class BertForPreTraining(_Fixed):
    """-> (prediction_scores [B, T, V], seq_relationship_score [B, 2]), or the loss given both label sets."""

    HEAD = "pretraining"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, masked_lm_labels=None,
                next_sentence_label=None):
        return super().forward(input_ids, token_type_ids, attention_mask, masked_lm_labels=masked_lm_labels,
                               next_sentence_label=next_sentence_label)


class BertForMaskedLM(_Fixed):
    """-> prediction_scores [B, T, V], or the masked-LM loss given masked_lm_labels (-1/-100 = not masked)."""

    HEAD = "masked-lm"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, masked_lm_labels=None):
        return super().forward(input_ids, token_type_ids, attention_mask, masked_lm_labels=masked_lm_labels)


class BertForNextSentencePrediction(_Fixed):
    """-> seq_relationship_score [B, 2], or the loss given next_sentence_label."""

    HEAD = "next-sentence"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, next_sentence_label=None):
        return super().forward(input_ids, token_type_ids, attention_mask, next_sentence_label=next_sentence_label)


class BertForSequenceClassification(_Fixed):
    """-> logits [B, num_labels], or the loss given labels [B]."""

    HEAD = "sequence-classification"

    def __init__(self, config: BertConfig, num_labels: int | None = None) -> None:
        super().__init__(config, **_given(num_labels=num_labels))

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None):
        return super().forward(input_ids, token_type_ids, attention_mask, labels=labels)


class BertForMultipleChoice(_Fixed):
    """input_ids [B, C, T] -> logits [B, C], or the loss given labels [B]."""

    HEAD = "multiple-choice"

    def __init__(self, config: BertConfig, num_choices: int | None = None) -> None:
        super().__init__(config, **_given(num_choices=num_choices))

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None):
        return super().forward(input_ids, token_type_ids, attention_mask, labels=labels)


class BertForTokenClassification(_Fixed):
    """-> logits [B, T, num_labels], or the loss given labels [B, T] (negative = ignored)."""

    HEAD = "token-classification"

    def __init__(self, config: BertConfig, num_labels: int | None = None) -> None:
        super().__init__(config, **_given(num_labels=num_labels))

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None):
        return super().forward(input_ids, token_type_ids, attention_mask, labels=labels)


class BertForQuestionAnswering(_Fixed):
    """-> (start_logits [B, T], end_logits [B, T]), or the loss given start_positions and end_positions [B]."""

    HEAD = "question-answering"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, start_positions=None,
                end_positions=None):
        return super().forward(input_ids, token_type_ids, attention_mask, start_positions=start_positions,
                               end_positions=end_positions)


def _given(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def _architecture(directory: Path) -> str | None:
    """The first class named in config.json's `architectures` (None if there is none)."""
    try:
        values = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    names = values.get("architectures") if isinstance(values, dict) else None
    return names[0] if isinstance(names, list) and names and isinstance(names[0], str) else None
