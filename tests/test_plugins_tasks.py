"""berthub.tasks: get_task, the collate / encode_pair helpers, and every shipped task through BertForTask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from berthub.errors import NotFoundError, PluginError
from berthub.model.task_models import BertForTask
from berthub.tasks import IGNORE_INDEX, Feature, collate, encode_pair, get_task, model_inputs, require_files, unbatch


class _WordTokenizer:
    """Splits on spaces; ids are positions in a fixed vocabulary (enough to test pair handling)."""

    vocab = ["[PAD]", "[CLS]", "[SEP]", "one", "two", "three", "four", "five", "six", "seven"]

    def tokenize(self, text):
        return text.split()

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab.index(t) for t in tokens]


def test_encode_pair_trims_the_longer_side_one_token_at_a_time_as_google_does():
    ids, types = encode_pair(_WordTokenizer(), "one two three four five", "six seven", max_seq_length=8)
    tokens = [_WordTokenizer.vocab[i] for i in ids]
    assert tokens == ["[CLS]", "one", "two", "three", "[SEP]", "six", "seven", "[SEP]"]
    assert types == [0, 0, 0, 0, 0, 1, 1, 1]


def test_encode_pair_cuts_a_single_text_at_the_end():
    ids, types = encode_pair(_WordTokenizer(), "one two three four", None, max_seq_length=4)
    assert [_WordTokenizer.vocab[i] for i in ids] == ["[CLS]", "one", "two", "[SEP]"] and types == [0] * 4


def test_collate_pads_inputs_masks_and_token_targets():
    batch = collate([Feature([1, 5, 2], [0, 0, 0], {"labels": [-100, 3, -100]}),
                     Feature([1, 2], [0, 1], {"labels": [-100, 4]})])
    assert batch["input_ids"].tolist() == [[1, 5, 2], [1, 2, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0], [0, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 3, -100], [-100, 4, IGNORE_INDEX]]


def test_collate_types_scalar_targets():
    batch = collate([Feature([1, 2], [0, 0], {"labels": 2.5, "start_positions": 1}, 0)])
    assert batch["labels"].dtype == torch.float32 and batch["start_positions"].dtype == torch.long
    assert set(model_inputs(batch)) == {"input_ids", "token_type_ids", "attention_mask"}


def test_collate_refuses_features_with_different_targets():
    with pytest.raises(ValueError, match="disagree on targets"):
        collate([Feature([1], [0], {"labels": 1}), Feature([1], [0], {})])


def test_unbatch_gives_one_item_per_row_and_tuples_for_tuple_outputs():
    start, end = torch.zeros(2, 5), torch.ones(2, 5)
    rows = unbatch((start, end))
    assert len(rows) == 2 and isinstance(rows[0], tuple) and rows[0][1].tolist() == [1.0] * 5
    assert [r.shape for r in unbatch(torch.zeros(3, 2))] == [(2,)] * 3


def test_require_files_names_every_missing_file_and_the_folder(tmp_path):
    (tmp_path / "train.tsv").write_text("", encoding="utf-8")
    with pytest.raises(NotFoundError) as error:
        require_files(tmp_path, "mnli", "dev", ["train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"])
    message = str(error.value)
    assert f"needs dev_matched.tsv, dev_mismatched.tsv, which {tmp_path} lacks." in message
    assert "train.tsv," not in message
    with pytest.raises(NotFoundError, match="in .*nowhere, a folder that does not exist"):
        require_files(tmp_path / "nowhere", "mnli", "dev", ["dev_matched.tsv"])


def test_get_task_of_an_unknown_name_suggests_the_closest():
    with pytest.raises(PluginError, match="Did you mean 'sst-2'"):
        get_task("sst2")


def test_get_task_with_an_unknown_option_says_which_task_and_options():
    with pytest.raises(PluginError, match=r"Task 'sst-2' could not be built with options \{'doc_stride': 64\}"):
        get_task("sst-2", doc_stride=64)


# Every shipped task on a few real examples: read -> features -> collate -> BertForTask with the task's
# head -> loss and logits -> unbatch -> metrics. Proves the protocol's pieces fit for each head kind.
CASES = [("sst-2", "glue/SST-2", "dev", "accuracy"), ("qnli", "glue/QNLI", "dev", "accuracy"),
         ("wnut17", "wnut17", "dev", "f1"), ("squad-v1.1", "squad", "dev", "f1")]


@pytest.mark.slow
@pytest.mark.parametrize("name, folder, split, metric", CASES)
def test_a_shipped_task_runs_end_to_end_through_its_head(name, folder, split, metric, data_dir, minilm_dir):
    from berthub.tokenization import BertTokenizer

    task = get_task(name)
    assert task.main_metric == metric
    tokenizer = BertTokenizer(str(minilm_dir / "vocab.txt"), do_lower_case=True)
    examples = task.read(data_dir / folder, split)[:6]
    features = task.features(examples, tokenizer, 128)
    torch.manual_seed(0)
    model = BertForTask.from_pretrained(minilm_dir, head=task.head, **task.head_options())
    batch = collate(features)
    with torch.no_grad():
        loss = model(**batch)
        outputs = unbatch(model(**model_inputs(batch)))
    assert torch.isfinite(loss)
    assert len(outputs) == len(features)
    assert len(task.predict(examples, features, outputs)) == len(examples)
    scores = task.metrics(examples, features, outputs)
    assert 0.0 <= scores[metric] <= (100.0 if name.startswith("squad") else 1.0)
    assert all(np.isfinite(v) for v in scores.values())
