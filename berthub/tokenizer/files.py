"""The files behind a BertTokenizer: vocab.txt and tokenizer_config.json, read and written safely."""

from __future__ import annotations

import json
import os
import warnings
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from berthub.errors import ConfigError, NotFoundError
from berthub.sources.settings import TOKENIZER_CONFIG_NAME

# Settings from_pretrained takes from a registry entry, tokenizer_config.json or keyword overrides.
SETTINGS = ("do_lower_case", "max_len", "do_basic_tokenize", "never_split", "tokenize_chinese_chars", "use_fast")
# transformers writes int(1e30) as model_max_length when a checkpoint has no limit.
_NO_LIMIT = 10**12


def load_vocab(vocab_file: str | os.PathLike) -> list[str]:
    """The tokens of a one-token-per-line vocab.txt, in id order.

    Lines are split on "\\n" only: bert-base-chinese has U+2028 tokens (id 343) that `splitlines()`
    would break apart. Raises NotFoundError when the file is missing, ConfigError when it is not UTF-8.
    """
    path = Path(vocab_file)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise NotFoundError(
            f"Vocabulary file '{path}' does not exist; pass the path of a BERT vocab.txt "
            "or use BertTokenizer.from_pretrained(name_or_directory)."
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"Vocabulary file '{path}' is not UTF-8 text ({error}); pass a BERT vocab.txt.") from None
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    return [t[:-1] if t.endswith("\r") else t for t in tokens]


def read_tokenizer_config(directory: Path) -> dict[str, Any]:
    """BertTokenizer settings from a transformers-style tokenizer_config.json ({} when absent)."""
    path = directory / TOKENIZER_CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"'{path}' is not valid JSON ({error}); fix or delete it.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"'{path}' holds a {type(raw).__name__}, not a JSON object; fix or delete it.")
    expected = {"do_lower_case": bool, "tokenize_chinese_chars": bool, "model_max_length": int, "never_split": list}
    problems = [
        f"{key} must be {kind.__name__}, got {raw[key]!r}"
        for key, kind in expected.items()
        if raw.get(key) is not None and not isinstance(raw[key], kind)
    ]
    if problems:
        raise ConfigError(f"'{path}' has invalid settings: {'; '.join(problems)}.")
    settings = {key: raw[key] for key in ("do_lower_case", "tokenize_chinese_chars", "never_split")
                if raw.get(key) is not None}
    if raw.get("model_max_length") is not None and raw["model_max_length"] < _NO_LIMIT:
        settings["max_len"] = raw["model_max_length"]
    return settings


def pretrained_settings(entry: Any, directory: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Settings for from_pretrained: registry entry < tokenizer_config.json < keyword overrides.

    The file wins over the registry because it describes the exact revision that was downloaded.
    """
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"Unknown BertTokenizer setting(s) {', '.join(unknown)}; allowed: {', '.join(SETTINGS)}."
        )
    settings: dict[str, Any] = {}
    if entry is not None:
        settings.update(do_lower_case=entry.do_lower_case, max_len=entry.max_len)
    if directory is not None:
        settings.update(read_tokenizer_config(directory))
    settings.update(overrides)
    return settings


def tokenizer_config(do_lower_case: bool, max_len: int, tokenize_chinese_chars: bool, never_split: tuple) -> dict:
    """tokenizer_config.json content that both berthub and transformers read."""
    config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": do_lower_case,
        "model_max_length": max_len,
        "tokenize_chinese_chars": tokenize_chinese_chars,
        "strip_accents": None,
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    if set(never_split) != {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}:
        config["never_split"] = list(never_split)
    return config




def check_use_fast(use_fast: bool) -> bool:
    """Whether to use the `tokenizers` library; asking for it when it is not installed is an error."""
    if use_fast and find_spec("tokenizers") is None:
        raise ConfigError(
            "use_fast=True needs the `tokenizers` library, which is not installed; "
            "`pip install berthub[fast]` or pass use_fast=False."
        )
    return bool(use_fast)


def warn_on_case_mismatch(tokens: list[str], do_lower_case: bool, vocab_file: Path) -> None:
    """Warn when lower-casing meets a cased vocabulary (its capitalised tokens become unreachable),
    or a cased tokenizer meets an uncased one (capitalised words fall apart or become [UNK])."""
    cased = [t for t in tokens if t.lower() != t.upper() and not t.startswith(("[", "<"))]
    capitalised = sum(1 for t in cased if t != t.lower())
    share = capitalised / max(len(cased), 1)
    if do_lower_case and share > 0.05:
        warnings.warn(
            f"do_lower_case=True with the cased vocabulary '{vocab_file}' ({capitalised} of {len(cased)} "
            "tokens with letters have capitals, which lower-cased text never reaches); pass do_lower_case=False.",
            UserWarning, stacklevel=3,
        )
    elif not do_lower_case and cased and share < 0.001:
        warnings.warn(
            f"do_lower_case=False with the uncased vocabulary '{vocab_file}' ({capitalised} of {len(cased)} "
            "tokens with letters have capitals, so capitalised words split badly or become [UNK]); "
            "pass do_lower_case=True.",
            UserWarning, stacklevel=3,
        )
