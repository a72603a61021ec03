"""The classic names end to end: published to a real `berthub serve`, loaded by name through the cache.

Each of the seven names gets a small random-weight BERT with its real vocabulary, published as
google-bert/<name> on a hub of this module. A counting proxy stands between berthub and the hub:
it shows what reached the server, and stopping it is "the network is down".

bert-base-multilingual-uncased: its vocabulary is not available offline, so its repo carries the
multilingual-cased vocabulary as a stand-in. What its tests check is what berthub controls: the
files arrive, and the registry makes the tokenizer lower-case and strip accents (the reference is
transformers' BertTokenizer on the same file with do_lower_case=True), not that ids match Google's.
"""

from __future__ import annotations

import logging
import shutil
import socket
from pathlib import Path

import pytest
import torch
from faultserver import CountingProxy, proxying
from hubserver import running_hub

from berthub import BertConfig, BertModel, BertTokenizer, push

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
VOCABS = ROOT / "data" / "vocabs"
ENGLISH = "The quick brown fox jumped over Johanson's lazy dog in Zürich; it cost $3.50!"
MULTILINGUAL = "Der schnelle braune Fuchs springt über den faulen Hund. 東京は日本の首都です。Ça coûte 3,50 €."
CHINESE = "我爱北京天安门。今天天气很好，我们去公园散步吧！"
NAMES = {  # name -> (vocabulary folder, lower-cased by the registry, a text in its language)
    "bert-base-uncased": ("bert-base-uncased", True, ENGLISH),
    "bert-large-uncased": ("bert-base-uncased", True, ENGLISH),
    "bert-base-cased": ("bert-base-cased", False, ENGLISH),
    "bert-large-cased": ("bert-base-cased", False, ENGLISH),
    "bert-base-multilingual-uncased": ("bert-base-multilingual-cased", True, MULTILINGUAL),  # stand-in vocab
    "bert-base-multilingual-cased": ("bert-base-multilingual-cased", False, MULTILINGUAL),
    "bert-base-chinese": ("bert-base-chinese", True, CHINESE),
}


# The stand-in is a cased vocabulary lower-cased on purpose; the tokenizer rightly warns about that.
STAND_IN = pytest.mark.filterwarnings("ignore:do_lower_case=True with the cased vocabulary")
NAME_PARAMS = [pytest.param(name, marks=STAND_IN) if "multilingual-uncased" in name else name for name in sorted(NAMES)]


def _vocab_size(folder: str) -> int:
    return len((VOCABS / folder / "vocab.txt").read_text(encoding="utf-8").split("\n")) - 1


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A hub holding google-bert/<name> for the seven names: name -> the directory that was pushed."""
    root = tmp_path_factory.mktemp("names")
    with running_hub(root / "hub") as hub:
        sources = {}
        for index, (name, (vocab, _, _)) in enumerate(sorted(NAMES.items())):
            torch.manual_seed(index)
            config = BertConfig(
                vocab_size=_vocab_size(vocab), hidden_size=16, num_hidden_layers=1,
                num_attention_heads=2, intermediate_size=32,
            )  # fmt: skip
            directory = root / name
            BertModel(config).save_pretrained(directory)
            shutil.copyfile(VOCABS / vocab / "vocab.txt", directory / "vocab.txt")
            push(directory, f"google-bert/{name}", endpoint=hub.endpoint, token=hub.token)
            sources[name] = directory
        yield hub, sources


@pytest.fixture
def proxy(published, tmp_path, monkeypatch):
    """A counting proxy to the hub, with berthub pointed at it and at an empty cache."""
    hub, _ = published
    with proxying(CountingProxy(hub.endpoint)) as started:
        monkeypatch.setenv("BERTHUB_ENDPOINT", started.url)
        monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
        monkeypatch.delenv("BERTHUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield started


def _same_weights(model: BertModel, directory: Path) -> bool:
    expected = BertModel.from_pretrained(directory).state_dict()
    loaded = model.state_dict()
    return loaded.keys() == expected.keys() and all(torch.equal(loaded[k], expected[k]) for k in expected)


@pytest.mark.parametrize("name", NAME_PARAMS)
def test_name_loads_the_published_weights_and_tokenizes_real_text_like_the_reference(name, published, proxy):
    from transformers import BertTokenizer as ReferenceTokenizer

    vocab, lower, text = NAMES[name]
    model = BertModel.from_pretrained(name)
    tokenizer = BertTokenizer.from_pretrained(name)
    assert _same_weights(model, published[1][name])
    assert (tokenizer.do_lower_case, tokenizer.max_len) == (lower, 512)
    reference = ReferenceTokenizer(str(VOCABS / vocab / "vocab.txt"), do_lower_case=lower)
    assert tokenizer.encode(text).input_ids == reference(text)["input_ids"]


def test_chinese_text_is_split_into_characters_with_their_real_ids(published, proxy):
    tokenizer = BertTokenizer.from_pretrained("bert-base-chinese")
    assert tokenizer.tokenize("我爱北京天安门！") == ["我", "爱", "北", "京", "天", "安", "门", "！"]
    vocab = (VOCABS / "bert-base-chinese" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert tokenizer.encode("北京").input_ids == [vocab.index("[CLS]"), vocab.index("北"), vocab.index("京"), 102]


@pytest.mark.parametrize("name", NAME_PARAMS)
def test_second_load_of_a_name_downloads_nothing(name, proxy):
    BertModel.from_pretrained(name), BertTokenizer.from_pretrained(name)
    assert proxy.downloads(), "the first load must download"
    proxy.log.clear()
    BertModel.from_pretrained(name), BertTokenizer.from_pretrained(name)
    assert proxy.downloads() == []
    assert [entry.method for entry in proxy.log] == ["HEAD", "HEAD"]  # one revision check per load


@pytest.mark.parametrize("name", NAME_PARAMS)
def test_name_loads_from_the_cache_with_one_warning_when_the_hub_is_down(name, published, proxy, monkeypatch, caplog):
    BertModel.from_pretrained(name), BertTokenizer.from_pretrained(name)
    proxy.stop()
    with caplog.at_level(logging.WARNING, logger="berthub"):
        model = BertModel.from_pretrained(name)
    assert _same_weights(model, published[1][name])
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert "unreachable" in caplog.records[0].getMessage() and "BERTHUB_OFFLINE=1" in caplog.records[0].getMessage()
    assert BertTokenizer.from_pretrained(name).do_lower_case == NAMES[name][1]


@pytest.mark.parametrize("name", NAME_PARAMS)
def test_offline_mode_loads_a_cached_name_without_any_network_call(name, published, proxy, monkeypatch, caplog):
    BertModel.from_pretrained(name), BertTokenizer.from_pretrained(name)
    proxy.log.clear()
    monkeypatch.setenv("BERTHUB_OFFLINE", "1")
    with monkeypatch.context() as guarded, caplog.at_level(logging.WARNING, logger="berthub"):
        guarded.setattr(socket.socket, "connect", _refuse_connection)
        model = BertModel.from_pretrained(name)
        tokenizer = BertTokenizer.from_pretrained(name)
    assert _same_weights(model, published[1][name]) and tokenizer.do_lower_case == NAMES[name][1]
    assert proxy.log == [] and caplog.records == []


def _refuse_connection(sock: socket.socket, address: object) -> None:
    raise AssertionError(f"network call to {address} in offline mode")
