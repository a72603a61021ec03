"""Input text -> documents of tokenized sentences, read as Google's create_pretraining_data.py reads them.

Format: one sentence per line, blank lines between documents. Several files are one stream: a
document continues across a file boundary that has no blank line. Lines are split on "\\n" only and
every "\\r" is dropped, as TensorFlow's GFile.readline does for Google's script; then whitespace is
stripped. Tokenization is Google's FullTokenizer (berthub's BertTokenizer without `never_split`, so a
literal "[MASK]" in the text is split like any other punctuation, as Google's tokenizer splits it).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from berthub.errors import InputError, NotFoundError
from berthub.tokenizer import BertTokenizer
from berthub_pretraining.instances import Document


def expand_inputs(spec: str) -> list[Path]:
    """Comma-separated files or globs -> files; each glob expanded in sorted order (Google's tf.gfile.Glob)."""
    files: list[Path] = []
    for pattern in (p.strip() for p in spec.split(",")):
        if not pattern:
            continue
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise NotFoundError(f"--input pattern '{pattern}' matches no file; check the path and quote the glob.")
        files.extend(Path(m) for m in matches)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise NotFoundError(f"Input file(s) {', '.join(missing)} do not exist; pass text files "
                            "(one sentence per line, blank lines between documents).")
    if not files:
        raise NotFoundError(f"--input {spec!r} names no file.")
    return files


def google_tokenizer(vocab_file: str | os.PathLike, do_lower_case: bool = True) -> BertTokenizer:
    """The tokenizer Google's script uses: basic + WordPiece with no protected special tokens."""
    return BertTokenizer(vocab_file, do_lower_case=do_lower_case, max_len=None, never_split=())


def lines(path: Path) -> Iterator[tuple[str, int]]:
    """(stripped line, its size in bytes) of `path`, as Google's reader sees them (split on \\n, \\r dropped)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(f"{path} line {number} is not UTF-8 ({error.reason} at byte {error.start}); "
                                 "convert the file to UTF-8.") from None
            yield text.replace("\r", "").strip(), len(raw)


def read_documents(files: Sequence[Path], tokenizer: BertTokenizer,
                   progress: Callable[[int], None] | None = None) -> list[Document]:
    """Non-empty documents of non-empty sentences (token ids), in input order.

    progress: called with the size in bytes of each line read.
    """
    vocab = tokenizer.vocab
    documents: list[Document] = [[]]
    for path in files:
        for line, size in lines(path):
            if progress is not None:
                progress(size)
            if not line:
                documents.append([])
                continue
            tokens = tokenizer.tokenize(line)
            if tokens:
                documents[-1].append([vocab[t] for t in tokens])
    return [d for d in documents if d]
