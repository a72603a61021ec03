"""berthub: get, train, convert and share Google BERT models in PyTorch.

    from berthub import BertModel, BertTokenizer
    model = BertModel.from_pretrained("bert-base-uncased")

Every public name, the pytorch-pretrained-BERT 0.6 ones included, is importable from here; each lives in
its room (docs/architecture.md) and is imported on first use, so `import berthub`, the command line and
the hub server do not load torch until a model is needed.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from berthub import _moved

__version__ = "0.2.0"

_HOMES = {
    "BertConfig": "berthub.model.config",
    "BertModel": "berthub.model.bert",
    "BertPreTrainedModel": "berthub.model.pretrained",
    "BertForTask": "berthub.model.task_models",
    "BertForPreTraining": "berthub.model.task_models",
    "BertForMaskedLM": "berthub.model.task_models",
    "BertForNextSentencePrediction": "berthub.model.task_models",
    "BertForSequenceClassification": "berthub.model.task_models",
    "BertForMultipleChoice": "berthub.model.task_models",
    "BertForTokenClassification": "berthub.model.task_models",
    "BertForQuestionAnswering": "berthub.model.task_models",
    "BertTokenizer": "berthub.tokenizer.bert",
    "BasicTokenizer": "berthub.tokenizer.rules",
    "WordpieceTokenizer": "berthub.tokenizer.rules",
    "BerthubError": "berthub.errors",
    "ModelEntry": "berthub.plugins.model_entry",
    "list_models": "berthub.sources.registry",
    "push": "berthub.sources.publish",
    "pipeline": "berthub.inference.pipelines",
    "Pipeline": "berthub.inference.pipelines",
}
__all__ = [
    "BasicTokenizer", "BertConfig", "BertForMaskedLM", "BertForMultipleChoice", "BertForNextSentencePrediction",
    "BertForPreTraining", "BertForQuestionAnswering", "BertForSequenceClassification", "BertForTask",
    "BertForTokenClassification", "BertModel", "BertPreTrainedModel", "BertTokenizer", "BerthubError", "ModelEntry",
    "Pipeline", "PreTrainedBertModel", "WordpieceTokenizer", "list_models", "pipeline", "push",
]  # fmt: skip

# The other names pytorch-pretrained-BERT 0.6 exported at the top level (not in __all__, as there).
_HOMES_06 = {
    "BertAdam": "berthub.optimization",
    "cached_path": "berthub.file_utils",
    "PYTORCH_PRETRAINED_BERT_CACHE": "berthub.file_utils",
    "WEIGHTS_NAME": "berthub.file_utils",
    "CONFIG_NAME": "berthub.file_utils",
    "load_tf_weights_in_bert": "berthub.model.pretrained",
    "PreTrainedBertModel": "berthub.modeling",
}

_moved.install()


def __getattr__(name: str) -> object:
    home = _HOMES.get(name) or _HOMES_06.get(name)
    if home is None:
        if importlib.util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return importlib.import_module(f"{__name__}.{name}")  # `berthub.modeling` & co. after `import berthub`
    value = getattr(importlib.import_module(home), name)
    if name != "PYTORCH_PRETRAINED_BERT_CACHE":  # read from the environment each time, as 0.6's users expect
        globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES, *_HOMES_06})


if TYPE_CHECKING:
    from berthub.errors import BerthubError
    from berthub.inference.pipelines import Pipeline, pipeline
    from berthub.model.bert import BertModel
    from berthub.model.config import BertConfig
    from berthub.model.pretrained import BertPreTrainedModel
    from berthub.model.task_models import *  # the BertFor* classes
    from berthub.modeling import PreTrainedBertModel
    from berthub.plugins.model_entry import ModelEntry
    from berthub.sources.publish import push
    from berthub.sources.registry import list_models
    from berthub.tokenizer.bert import BertTokenizer
    from berthub.tokenizer.rules import BasicTokenizer, WordpieceTokenizer
