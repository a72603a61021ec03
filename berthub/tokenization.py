"""pytorch-pretrained-BERT 0.6's module path `pytorch_pretrained_bert.tokenization`, kept for its users.

The tokenizer itself lives in the berthub.tokenizer package: rules.py (BasicTokenizer, WordpieceTokenizer),
bert.py (BertTokenizer), inputs.py / call.py (model inputs), files.py (vocab.txt, tokenizer_config.json).
"""

from berthub.sources.settings import VOCAB_NAME
from berthub.tokenizer.bert import BertTokenizer, whitespace_tokenize
from berthub.tokenizer.files import load_vocab
from berthub.tokenizer.inputs import Encoding
from berthub.tokenizer.rules import BasicTokenizer, WordpieceTokenizer

__all__ = [
    "VOCAB_NAME", "BasicTokenizer", "BertTokenizer", "Encoding", "WordpieceTokenizer",
    "load_vocab", "whitespace_tokenize",
]


def __getattr__(name: str) -> object:
    # 0.6's name tables (read from the registry when used) and its cached_path, from berthub.file_utils.
    if name in ("PRETRAINED_VOCAB_ARCHIVE_MAP", "PRETRAINED_VOCAB_POSITIONAL_EMBEDDINGS_SIZE_MAP", "cached_path"):
        from berthub import file_utils

        return getattr(file_utils, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
