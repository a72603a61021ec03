"""Bad files and flags give one clear line naming the input and the fix, never a traceback."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from berthub import BertConfig, BertModel
from berthub.cli import main
from berthub.errors import InputError, WeightsError
from berthub.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]
SST2 = ROOT / "data" / "glue" / "SST-2"


@pytest.fixture
def model_dir(tmp_path) -> Path:
    config = BertConfig(vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    folder = tmp_path / "model"
    BertModel(config).save_pretrained(folder)
    return folder


def _one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    return message


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _oversized_header(path: Path) -> None:
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")


def _header_is_a_list(path: Path) -> None:
    header = b"[1, 2]"
    path.write_bytes(struct.pack("<Q", len(header)) + header)


@pytest.mark.parametrize("damage, reason", [(_truncated, "truncated"), (_empty, "empty"),
                                            (_oversized_header, "header claims"),
                                            (_header_is_a_list, "not a mapping of tensor names")])
def test_damaged_safetensors_is_one_weights_error_naming_the_file(model_dir, damage, reason):
    damage(model_dir / "model.safetensors")
    with pytest.raises(WeightsError) as refused:
        BertModel.from_pretrained(model_dir)
    message = _one_line(refused.value)
    assert "model.safetensors is not a readable safetensors file" in message and reason in message


class Payload:
    """An object weights_only unpickling refuses: a pickled checkpoint carrying code."""

    def __reduce__(self):  # noqa: ANN204
        return (print, ("this would run on load",))


def test_pickled_bin_with_code_is_refused_with_one_clear_line(model_dir):
    state = BertModel.from_pretrained(model_dir).state_dict()
    (model_dir / "model.safetensors").unlink()
    torch.save({**state, "evil": Payload()}, model_dir / "pytorch_model.bin")
    with pytest.raises(WeightsError) as refused:
        BertModel.from_pretrained(model_dir)
    message = _one_line(refused.value)
    assert "pytorch_model.bin holds pickled objects other than tensors" in message and "safetensors" in message


def test_truncated_bin_is_one_clear_line(model_dir):
    state = BertModel.from_pretrained(model_dir).state_dict()
    (model_dir / "model.safetensors").unlink()
    torch.save(state, model_dir / "pytorch_model.bin")
    _truncated(model_dir / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="is not a readable PyTorch checkpoint") as refused:
        BertModel.from_pretrained(model_dir)
    _one_line(refused.value)


def test_safetensors_that_is_intact_still_loads(model_dir):
    tensors = {"embeddings.word_embeddings.weight": torch.ones(99, 16)}
    save_file(tensors, model_dir / "model.safetensors")
    loaded = BertModel.from_pretrained(model_dir)
    assert torch.equal(loaded.embeddings.word_embeddings.weight, torch.ones(99, 16))


def test_non_utf8_glue_file_is_one_input_error(tmp_path):
    shutil.copytree(SST2, tmp_path / "SST-2")
    train = tmp_path / "SST-2" / "train.tsv"
    train.write_bytes(train.read_bytes() + "caf\xe9 au lait\t1\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"train.tsv is not UTF-8 text \(line \d+") as refused:
        get_task("sst-2").read(tmp_path / "SST-2", "train")
    _one_line(refused.value)


def test_squad_question_without_answers_is_one_input_error(tmp_path):
    squad = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "q1", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}]},
        {"id": "q2", "question": "What is Paris?"}]}]}]}
    (tmp_path / "train-v1.1.json").write_text(json.dumps(squad))
    with pytest.raises(InputError, match="question 'q2' is malformed .missing or invalid 'answers'") as refused:
        get_task("squad-v1.1").read(tmp_path, "train")
    _one_line(refused.value)


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("inside", [False, True], ids=["a file", "a folder inside a file"])
def test_train_refuses_an_output_dir_it_cannot_write_before_loading_anything(capsys, tmp_path, inside):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    output = blocker / "run" if inside else blocker
    code, err = _cli(capsys, "train", "--model", "no-such-model-is-loaded", "--task", "sst-2", "--output-dir",
                     str(output))
    assert code == 2 and err.count("\n") == 0 and err.startswith("berthub train: error: --output-dir")


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_refuses_a_port_outside_1_65535(capsys, tmp_path, port):
    code, err = _cli(capsys, "serve", "--root", str(tmp_path / "hub"), "--port", port)
    assert code == 2 and err == f"berthub serve: error: --port must be 1-65535, got {port}."
    assert not (tmp_path / "hub").exists()


def test_cache_verify_of_a_missing_cache_fails(capsys, tmp_path):
    code, err = _cli(capsys, "cache", "verify", "--cache-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "does not exist" in err and err.count("\n") == 0
