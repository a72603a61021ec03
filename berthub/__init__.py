"""berthub: get, train, convert and share Google BERT models in PyTorch.

The pytorch-pretrained-BERT 0.6 names are all here; everything else lives in its module.
"""

from berthub.config import BertConfig
from berthub.errors import BerthubError
from berthub.modeling import BertModel
from berthub.pipelines import Pipeline, pipeline
from berthub.pretrained import BertPreTrainedModel
from berthub.sources.publish import push
from berthub.sources.registry import ModelEntry, list_models
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
    "ModelEntry",
    "pipeline",
    "Pipeline",
    "push",
]


# The other names pytorch-pretrained-BERT 0.6 exported at the top level, looked up on first use so
# that `import berthub` does not load the optimizer, downloader or converter modules.
_LEGACY_NAMES = {
    "BertAdam": "berthub.optimization",
    "cached_path": "berthub.file_utils",
    "PYTORCH_PRETRAINED_BERT_CACHE": "berthub.file_utils",
    "WEIGHTS_NAME": "berthub.file_utils",
    "CONFIG_NAME": "berthub.file_utils",
    "load_tf_weights_in_bert": "berthub.pretrained",
}


def __getattr__(name: str):
    if name in _LEGACY_NAMES:
        import importlib

        return getattr(importlib.import_module(_LEGACY_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
