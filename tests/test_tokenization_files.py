"""BertTokenizer's files: save_pretrained / from_pretrained, where settings come from, and the hub."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from berthub.errors import ConfigError
from berthub.model import pretrained
from berthub.sources.resolve import Resolved
from berthub.tokenization import BertTokenizer

DATA = Path(__file__).resolve().parents[1] / "data"
UNCASED = DATA / "vocabs/bert-base-uncased/vocab.txt"
CASED = DATA / "vocabs/bert-base-cased/vocab.txt"
CHINESE = DATA / "vocabs/bert-base-chinese/vocab.txt"


def test_save_then_from_pretrained_round_trips(tmp_path):
    original = BertTokenizer(CASED, do_lower_case=False, max_len=128, tokenize_chinese_chars=False)
    written = original.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer_config.json", "vocab.txt"] == \
        sorted(p.name for p in written)
    assert (tmp_path / "vocab.txt").read_bytes() == CASED.read_bytes()
    loaded = BertTokenizer.from_pretrained(tmp_path)
    assert (loaded.do_lower_case, loaded.max_len, loaded.tokenize_chinese_chars) == (False, 128, False)
    text = "Jim Henson was a puppeteer in 北京"
    assert loaded.tokenize(text) == original.tokenize(text)


def test_saved_directory_loads_in_transformers(tmp_path):
    transformers_bert = pytest.importorskip("transformers.models.bert.tokenization_bert_legacy")
    BertTokenizer(CASED, do_lower_case=False).save_pretrained(tmp_path)
    theirs = transformers_bert.BertTokenizerLegacy.from_pretrained(tmp_path)
    assert theirs.do_lower_case is False and theirs.model_max_length == 512
    assert theirs.tokenize("Jim Henson") == ["Jim", "He", "##nson"]


def test_u2028_vocab_survives_a_save_and_load(tmp_path):
    BertTokenizer(CHINESE).save_pretrained(tmp_path)
    assert BertTokenizer.from_pretrained(tmp_path).convert_tokens_to_ids(["\u2028"]) == [343]


def test_from_pretrained_reads_the_real_minilm_directory(minilm_dir):
    loaded = BertTokenizer.from_pretrained(minilm_dir)
    assert loaded.tokenize("Hello, World!") == ["hello", ",", "world", "!"]
    assert loaded.vocab_size == 30522


def test_from_pretrained_accepts_a_vocab_file_path():
    assert BertTokenizer.from_pretrained(CASED, do_lower_case=False).tokenize("Hello") == ["Hello"]


def test_settings_come_from_registry_then_tokenizer_config_then_overrides(tmp_path, monkeypatch):
    (tmp_path / "vocab.txt").write_bytes(CASED.read_bytes())
    entry = SimpleNamespace(do_lower_case=True, max_len=256)
    monkeypatch.setattr(pretrained, "locate", lambda name, wanted, **kw: Resolved(tmp_path, entry=entry))
    with pytest.warns(UserWarning, match="cased vocabulary"):
        from_entry = BertTokenizer.from_pretrained("x")
    assert (from_entry.do_lower_case, from_entry.max_len) == (True, 256)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "model_max_length": 64}))
    from_file = BertTokenizer.from_pretrained("x")
    assert (from_file.do_lower_case, from_file.max_len) == (False, 64)
    assert BertTokenizer.from_pretrained("x", max_len=32).max_len == 32


def test_unlimited_model_max_length_in_tokenizer_config_keeps_the_default(tmp_path):
    (tmp_path / "vocab.txt").write_bytes(UNCASED.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": int(1e30)}))
    assert BertTokenizer.from_pretrained(tmp_path).max_len == 512


def test_bad_tokenizer_config_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "vocab.txt").write_bytes(UNCASED.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": "yes", "model_max_length": "long"}')
    with pytest.raises(ConfigError, match=r"tokenizer_config\.json.*do_lower_case must be bool.*model_max_length"):
        BertTokenizer.from_pretrained(tmp_path)


def test_unknown_setting_lists_the_allowed_ones():
    with pytest.raises(ConfigError, match="Unknown BertTokenizer setting.*lowercase.*allowed: do_lower_case"):
        BertTokenizer.from_pretrained(UNCASED, lowercase=True)


def test_save_leaves_no_temporary_files(tmp_path):
    BertTokenizer(UNCASED).save_pretrained(tmp_path)
    BertTokenizer(UNCASED).save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer_config.json", "vocab.txt"]




def test_a_hub_repo_id_resolves_through_the_cache(hub_server, hub_minilm, minilm_dir, tmp_path, monkeypatch):
    repo_id, commit = hub_minilm
    for name in ("BERTHUB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BERTHUB_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("BERTHUB_TOKEN", hub_server.token)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
    loaded = BertTokenizer.from_pretrained(repo_id, revision=commit)
    assert loaded.vocab_file.read_bytes() == (minilm_dir / "vocab.txt").read_bytes()
    assert tmp_path / "cache" in loaded.vocab_file.parents
    assert loaded.tokenize("Hello, World!") == ["hello", ",", "world", "!"]
