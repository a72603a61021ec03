"""berthub's built-in task heads, each declaring its facts under the head contract.

A head is an nn.Module class that turns the encoder's output into a task's logits and loss. What
berthub needs from one is the `Head` protocol of berthub.plugins.head_contract (plugin authors import
it, HeadFacts and IGNORE_INDEX from `berthub.plugins`): a `facts` class
attribute (a `HeadFacts`: where its parameters live, the targets it trains on, what its loss is a
mean over, the transformers class and Hub pipeline tag it corresponds to) and five members. Every
reader asks the head: BertForTask (targets, parameter names, config.json's `architectures`), the
trainer's exact gradient accumulation (the loss normaliser), model cards (the pipeline tag) and the
TF converter (the architecture). No other table keyed by head name exists. Heads are registered by
name in the `berthub.heads` entry-point group; `berthub.plugins` checks a loaded head against the
contract (berthub.plugins.head_contract.head_problems) when it loads one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from berthub.errors import InputError
from berthub.model.bert import ACT2FN, BertModel, Encoded
from berthub.model.config import BertConfig
from berthub.model.weights import init_parameter
from berthub.plugins.head_contract import IGNORE_INDEX, HeadFacts


def _ignore_negative(labels: Tensor) -> Tensor:
    # pytorch-pretrained-BERT used -1 for "no label", transformers -100: accept any negative.
    return labels.masked_fill(labels < 0, IGNORE_INDEX)


def _cross_entropy(logits: Tensor, labels: Tensor, reduction: str) -> Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), _ignore_negative(labels).reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction=reduction)


class _Head(nn.Module):
    """Shared plumbing of the built-in heads (not a required base class for plugin heads)."""

    facts: ClassVar[HeadFacts]

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config

    def _init(self) -> None:
        for module in self.modules():
            for name, param in module.named_parameters(recurse=False):
                init_parameter(module, name, param, self.config.initializer_range)

    def options(self) -> dict[str, Any]:
        return {}

    def loss_count(self, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        """Examples (the size of the first target's batch dimension)."""
        return torch.tensor(targets[next(iter(self.facts.targets))].shape[0])


class _Linear(_Head):
    """A head whose parameters are one Linear layer stored directly as `<attribute>.weight/.bias`."""

    def __init__(self, config: BertConfig, out_features: int) -> None:
        super().__init__(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.weight = nn.Parameter(torch.empty(out_features, config.hidden_size))
        self.bias = nn.Parameter(torch.empty(out_features))
        self._init()

    def project(self, hidden: Tensor) -> Tensor:
        return F.linear(self.dropout(hidden), self.weight, self.bias)


class SequenceClassificationHead(_Linear):
    """Pooled output -> [B, num_labels] logits; cross-entropy, or MSE regression when num_labels == 1."""

    facts = HeadFacts(attribute="classifier", targets={"labels": "scalar"}, loss_normaliser="examples",
                      architecture="BertForSequenceClassification", pipeline_tag="text-classification")

    def __init__(self, config: BertConfig, num_labels: int = 2) -> None:
        if not isinstance(num_labels, int) or num_labels < 1:
            raise InputError(f"num_labels must be a positive integer, got {num_labels!r}.")
        super().__init__(config, num_labels)
        self.num_labels = num_labels

    def forward(self, encoded: Encoded) -> Tensor:
        return self.project(encoded.pooled_output)

    def loss(self, logits: Tensor, targets: dict[str, Tensor], encoded: Encoded, reduction: str = "mean") -> Tensor:
        labels = targets["labels"]
        if self.num_labels == 1:
            return F.mse_loss(logits.squeeze(-1).float(), labels.float(), reduction=reduction)
        return _cross_entropy(logits, labels, reduction)

    def options(self) -> dict[str, Any]:
        return {"num_labels": self.num_labels}

    @property
    def problem_type(self) -> str:
        """transformers' name for what the outputs are (saved as config.json's `problem_type`): one output is a
        regression value (the loss is MSE), several are the scores of classes."""
        return "regression" if self.num_labels == 1 else "single_label_classification"


class MultipleChoiceHead(_Linear):
    """Pooled output of each [choice] -> one score; [B, num_choices] logits; cross-entropy over choices."""

    facts = HeadFacts(attribute="classifier", targets={"labels": "scalar"}, loss_normaliser="examples",
                      architecture="BertForMultipleChoice", pipeline_tag="multiple-choice")

    def __init__(self, config: BertConfig, num_choices: int = 2) -> None:
        super().__init__(config, 1)
        self.num_choices = num_choices

    def forward(self, encoded: Encoded) -> Tensor:
        choices = encoded.num_choices or self.num_choices
        return self.project(encoded.pooled_output).view(-1, choices)

    def loss(self, logits: Tensor, targets: dict[str, Tensor], encoded: Encoded, reduction: str = "mean") -> Tensor:
        return _cross_entropy(logits, targets["labels"], reduction)

    def options(self) -> dict[str, Any]:
        return {"num_choices": self.num_choices}


class TokenClassificationHead(_Linear):
    """Every token -> [B, T, num_labels] logits; loss over labelled (>= 0) real tokens only."""

    facts = HeadFacts(attribute="classifier", targets={"labels": "token"}, loss_normaliser="labelled tokens",
                      architecture="BertForTokenClassification", pipeline_tag="token-classification")

    def __init__(self, config: BertConfig, num_labels: int = 2) -> None:
        super().__init__(config, num_labels)
        self.num_labels = num_labels

    def forward(self, encoded: Encoded) -> Tensor:
        return self.project(encoded.sequence_output)

    def _labels(self, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        labels = _ignore_negative(targets["labels"])
        if encoded.attention_mask is not None:
            labels = labels.masked_fill(encoded.attention_mask == 0, IGNORE_INDEX)
        return labels

    def loss(self, logits: Tensor, targets: dict[str, Tensor], encoded: Encoded, reduction: str = "mean") -> Tensor:
        return _cross_entropy(logits, self._labels(targets, encoded), reduction)

    def loss_count(self, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        return (self._labels(targets, encoded) != IGNORE_INDEX).sum()

    def options(self) -> dict[str, Any]:
        return {"num_labels": self.num_labels}


class QuestionAnsweringHead(_Linear):
    """Every token -> (start_logits [B, T], end_logits [B, T]).

    Positions outside the input (attention_mask 0) get the dtype's most negative finite logit, so they
    take no part in the softmax or in predictions and no result depends on how much padding a batch
    carries. (Google's run_squad pads to max_seq_length and lets padded positions into the softmax;
    docs/training.md gives the measured size of that difference.)
    Loss: mean of start and end cross-entropies; a target outside the input (beyond the sequence or
    on padding) is ignored, as Google's run_squad ignores positions beyond the sequence.
    """

    facts = HeadFacts(attribute="qa_outputs", targets={"start_positions": "scalar", "end_positions": "scalar"},
                      loss_normaliser="examples", architecture="BertForQuestionAnswering",
                      pipeline_tag="question-answering", outputs=("start_logits", "end_logits"))

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, 2)
        self.dropout = nn.Identity()  # Google's SQuAD head applies no extra dropout

    def forward(self, encoded: Encoded) -> tuple[Tensor, Tensor]:
        start, end = self.project(encoded.sequence_output).split(1, dim=-1)
        return _outside_excluded(start.squeeze(-1), encoded), _outside_excluded(end.squeeze(-1), encoded)

    def loss(self, logits: tuple[Tensor, Tensor], targets: dict[str, Tensor], encoded: Encoded,
             reduction: str = "mean") -> Tensor:
        start_logits, end_logits = logits
        length = start_logits.shape[1]
        losses = []
        for side, key in ((start_logits, "start_positions"), (end_logits, "end_positions")):
            positions = targets[key].reshape(-1).clamp(0, length)
            if encoded.attention_mask is not None:
                inside = encoded.attention_mask.gather(1, positions.clamp(max=length - 1)[:, None]).squeeze(1) != 0
                positions = positions.masked_fill(~inside, length)
            losses.append(F.cross_entropy(side.float(), positions, ignore_index=length, reduction=reduction))
        return (losses[0] + losses[1]) / 2


def _outside_excluded(logits: Tensor, encoded: Encoded) -> Tensor:
    """[B, T] position logits with positions outside the input set to the dtype's most negative finite value
    (finite, unlike -inf, so a row with no real position still gives numbers, not NaN)."""
    if encoded.attention_mask is None:
        return logits
    return logits.masked_fill(encoded.attention_mask == 0, torch.finfo(logits.dtype).min)


class _PredictionTransform(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.LayerNorm(self.act(self.dense(hidden)))


class _LMPrediction(nn.Module):
    """transform -> decoder tied to the word embeddings + an output bias: [B, T, vocab_size] scores."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.transform = _PredictionTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.empty(config.vocab_size))

    def forward(self, hidden: Tensor) -> Tensor:
        return self.decoder(self.transform(hidden)) + self.bias


class _PreTrainingParts(_Head):
    """Masked-LM and/or next-sentence parts stored under `cls` as in Google's checkpoint."""

    def __init__(self, config: BertConfig, mlm: bool, nsp: bool) -> None:
        super().__init__(config)
        if mlm:
            self.predictions = _LMPrediction(config)
        if nsp:
            self.seq_relationship = nn.Linear(config.hidden_size, 2)
        self._init()

    def tie_weights(self, bert: BertModel) -> None:
        if hasattr(self, "predictions"):
            self.predictions.decoder.weight = bert.embeddings.word_embeddings.weight

    def resize_vocab(self, vocab_size: int, mean_resizing: bool) -> None:
        """Follow a new vocabulary size: the MLM output bias (the decoder is re-tied to the embeddings)."""
        if hasattr(self, "predictions"):
            from berthub.model.vocab_resize import resized_parameter

            self.predictions.bias = resized_parameter(self.predictions.bias, vocab_size, mean_resizing, None)
            self.predictions.decoder.out_features = vocab_size

    def _mlm_loss(self, scores: Tensor, targets: dict[str, Tensor], reduction: str) -> Tensor:
        return _cross_entropy(scores, targets["masked_lm_labels"], reduction)

    def _nsp_loss(self, scores: Tensor, targets: dict[str, Tensor], reduction: str) -> Tensor:
        return _cross_entropy(scores, targets["next_sentence_label"], reduction)


class PreTrainingHead(_PreTrainingParts):
    """(prediction_scores [B, T, V], seq_relationship_score [B, 2]); loss = mean MLM loss + mean NSP loss.

    With reduction="sum" the loss is [2] (summed MLM loss, summed NSP loss) and `loss_count` [2] (masked
    tokens, examples), so each mean is exact over an accumulated step.
    """

    facts = HeadFacts(attribute="cls", targets={"masked_lm_labels": "token", "next_sentence_label": "scalar"},
                      loss_normaliser=("masked tokens", "examples"), architecture="BertForPreTraining",
                      pipeline_tag="fill-mask", outputs=("prediction_scores", "seq_relationship_score"))

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, mlm=True, nsp=True)

    def forward(self, encoded: Encoded) -> tuple[Tensor, Tensor]:
        return self.predictions(encoded.sequence_output), self.seq_relationship(encoded.pooled_output)

    def loss(self, logits, targets, encoded, reduction: str = "mean") -> Tensor:
        if reduction == "sum":
            return torch.stack([self._mlm_loss(logits[0], targets, "sum"), self._nsp_loss(logits[1], targets, "sum")])
        return self._mlm_loss(logits[0], targets, "mean") + self._nsp_loss(logits[1], targets, "mean")

    def loss_count(self, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        masked = (targets["masked_lm_labels"] >= 0).sum()
        return torch.stack([masked, torch.tensor(targets["next_sentence_label"].shape[0])])


class MaskedLMHead(_PreTrainingParts):
    """prediction_scores [B, T, V]; loss over masked positions (labels >= 0)."""

    facts = HeadFacts(attribute="cls", targets={"masked_lm_labels": "token"}, loss_normaliser="masked tokens",
                      architecture="BertForMaskedLM", pipeline_tag="fill-mask", outputs="prediction_scores")

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, mlm=True, nsp=False)

    def forward(self, encoded: Encoded) -> Tensor:
        return self.predictions(encoded.sequence_output)

    def loss(self, logits, targets, encoded, reduction: str = "mean") -> Tensor:
        return self._mlm_loss(logits, targets, reduction)

    def loss_count(self, targets: dict[str, Tensor], encoded: Encoded) -> Tensor:
        return (targets["masked_lm_labels"] >= 0).sum()


class NextSentenceHead(_PreTrainingParts):
    """seq_relationship_score [B, 2] (0 = B follows A)."""

    facts = HeadFacts(attribute="cls", targets={"next_sentence_label": "scalar"}, loss_normaliser="examples",
                      architecture="BertForNextSentencePrediction", outputs="seq_relationship_score")

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config, mlm=False, nsp=True)

    def forward(self, encoded: Encoded) -> Tensor:
        return self.seq_relationship(encoded.pooled_output)

    def loss(self, logits, targets, encoded, reduction: str = "mean") -> Tensor:
        return self._nsp_loss(logits, targets, reduction)
