"""berthub: get, train, convert and share Google BERT models in PyTorch.

The pytorch-pretrained-BERT 0.6 names are all here; everything else lives in its module.
"""

from berthub.config import BertConfig
from berthub.errors import BerthubError
from berthub.modeling import BertModel
from berthub.pipelines import Pipeline, pipeline
from berthub.pretrained import BertPreTrainedModel
from berthub.publish import push
from berthub.registry import list_models
from berthub.task_models import (
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTask,
    BertForTokenClassification,
)
from berthub.tokenization import BasicTokenizer, BertTokenizer, WordpieceTokenizer

PreTrainedBertModel = BertPreTrainedModel  # the 0.6 name

__version__ = "0.1.0"

__all__ = [
    "BertConfig",
    "BertTokenizer",
    "BasicTokenizer",
    "WordpieceTokenizer",
    "BerthubError",
    "BertModel",
    "BertPreTrainedModel",
    "PreTrainedBertModel",
    "BertForPreTraining",
    "BertForMaskedLM",
    "BertForNextSentencePrediction",
    "BertForSequenceClassification",
    "BertForMultipleChoice",
    "BertForTokenClassification",
    "BertForQuestionAnswering",
    "BertForTask",
    "list_models",
    "pipeline",
    "Pipeline",
    "push",
]
