"""Google's BERT tokenization: text -> WordPiece ids -> model inputs.

    rules.py    BasicTokenizer and WordpieceTokenizer: Google's rules, word by word (public, 0.6 names)
    bert.py     BertTokenizer: vocabulary, the rules behind a word cache, from_pretrained / save_pretrained
    fast.py     the same ids through the `tokenizers` library (use_fast=True)
    offsets.py  character offsets of the pure-Python path
    inputs.py   model inputs: [CLS]/[SEP], Google's pair truncation, padding, batching
    call.py     transformers' `tokenizer(text, ...)` call on top of inputs.py
    files.py    vocab.txt and tokenizer_config.json

The names below are the room's public face (plugins import them from here); the 0.6 module path
`berthub.tokenization` re-exports them for pytorch-pretrained-BERT's users.
"""

from berthub.tokenizer.bert import BertTokenizer, whitespace_tokenize
from berthub.tokenizer.files import load_vocab
from berthub.tokenizer.inputs import Encoding
from berthub.tokenizer.rules import BasicTokenizer, WordpieceTokenizer

__all__ = ["BasicTokenizer", "BertTokenizer", "Encoding", "WordpieceTokenizer", "load_vocab", "whitespace_tokenize"]
