"""pytorch-pretrained-BERT 0.6's module path `pytorch_pretrained_bert.modeling`, kept for its users.

The encoder itself is berthub/model/bert.py; the task classes are berthub/model/task_models.py.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from berthub import file_utils
from berthub.file_utils import BERT_CONFIG_NAME, CONFIG_NAME, TF_WEIGHTS_NAME, WEIGHTS_NAME, cached_path
from berthub.model.bert import (
    ACT2FN,
    BertAttention,
    BertEmbeddings,
    BertEncoder,
    BertIntermediate,
    BertLayer,
    BertModel,
    BertOutput,
    BertPooler,
    BertSelfAttention,
    BertSelfOutput,
    Encoded,
    ExtraOutputs,
    gelu,
    gelu_tanh,
)
from berthub.model.config import BertConfig
from berthub.model.pretrained import BertPreTrainedModel, load_tf_weights_in_bert
from berthub.model.task_models import *  # the eight 0.6 classes (and BertForTask)

__all__ = [
    "ACT2FN", "BERT_CONFIG_NAME", "CONFIG_NAME", "TF_WEIGHTS_NAME", "WEIGHTS_NAME", "BertAttention", "BertConfig",
    "BertEmbeddings", "BertEncoder", "BertForMaskedLM", "BertForMultipleChoice", "BertForNextSentencePrediction",
    "BertForPreTraining", "BertForQuestionAnswering", "BertForSequenceClassification", "BertForTokenClassification",
    "BertIntermediate", "BertLayer", "BertLayerNorm", "BertModel", "BertOutput", "BertPooler", "BertPreTrainedModel",
    "BertSelfAttention", "BertSelfOutput", "Encoded", "ExtraOutputs", "PreTrainedBertModel", "cached_path", "gelu",
    "gelu_tanh",
    "load_tf_weights_in_bert", "swish",
]  # fmt: skip

PreTrainedBertModel = BertPreTrainedModel  # 0.6.0's name of the base class


class BertLayerNorm(nn.LayerNorm):
    """0.6's BertLayerNorm: torch's LayerNorm with BERT's eps of 1e-12 as the default, for custom models."""

    def __init__(self, hidden_size: int, eps: float = 1e-12) -> None:
        super().__init__(hidden_size, eps=eps)


def swish(x: Tensor) -> Tensor:
    """0.6's swish activation, x * sigmoid(x), for custom models (BertConfig's hidden_act does not offer it)."""
    return x * torch.sigmoid(x)


def __getattr__(name: str) -> object:
    # 0.6's name table, read from the registry when used (berthub.file_utils), so later plugins count.
    if name == "PRETRAINED_MODEL_ARCHIVE_MAP":
        return file_utils.PRETRAINED_MODEL_ARCHIVE_MAP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
