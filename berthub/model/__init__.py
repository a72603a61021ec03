"""The model room: BERT's encoder, its heads and task models, and how they are loaded and saved.

    config.py        BertConfig: the hyper-parameters, read from / written to config.json
    bert.py          BertModel: Google's 2018 encoder, op for op, in one file
    packing.py       where a padded batch's real tokens are (the encoder computes on those only)
    input_checks.py  one clear error for every input BertModel cannot run
    fused_qkv.py     the fused query/key/value parameter under Google's names
    fused_linear.py  bf16 dense layer + gelu / residual in one oneDNN call (CPU inference)
    heads.py         the built-in task heads, each declaring its HeadFacts
    task_models.py   BertForTask (BertModel + any registered head) and 0.6's BertFor* classes
    labels.py        id2label / label2id that travel with a model
    vocab_resize.py  growing or shrinking the vocabulary
    weights.py       tensors between files and models: read, rename, assign, report
    pretrained.py    from_pretrained / save_pretrained: the model room's one door to berthub.sources

The names below are the room's public face; code inside berthub imports from the defining module.
"""

from berthub.model.bert import ACT2FN, BertModel, Encoded
from berthub.model.config import ACTIVATIONS, BertConfig
from berthub.model.pretrained import BertPreTrainedModel
from berthub.model.task_models import *  # BertForTask and the eight 0.6 classes
from berthub.model.weights import init_parameter

__all__ = [
    "ACT2FN", "ACTIVATIONS", "BertConfig", "BertForMaskedLM", "BertForMultipleChoice", "BertForNextSentencePrediction",
    "BertForPreTraining", "BertForQuestionAnswering", "BertForSequenceClassification", "BertForTask",
    "BertForTokenClassification", "BertModel", "BertPreTrainedModel", "Encoded", "init_parameter",
]  # fmt: skip
