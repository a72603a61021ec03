"""An extract_features.py written the pytorch-pretrained-BERT 0.6.2 way, with `pytorch_pretrained_bert` renamed.

Each input line is `text_a` or `text_a ||| text_b`; the output has one JSON line per input with every
token's hidden states in the requested layers (rounded to 6 decimals, as 0.6 wrote them).
"""

import argparse
import collections
import json
import re

import torch
from torch.utils.data import DataLoader, SequentialSampler, TensorDataset

from berthub.modeling import BertModel
from berthub.tokenization import BertTokenizer


class InputExample:
    def __init__(self, unique_id, text_a, text_b):
        self.unique_id, self.text_a, self.text_b = unique_id, text_a, text_b


def read_examples(input_file):
    examples = []
    with open(input_file, encoding="utf-8") as reader:
        for unique_id, line in enumerate(reader):
            match = re.match(r"^(.*) \|\|\| (.*)$", line.strip())
            text_a, text_b = (match.group(1), match.group(2)) if match else (line.strip(), None)
            examples.append(InputExample(unique_id, text_a, text_b))
    return examples


def convert_examples_to_features(examples, seq_length, tokenizer):
    features = []
    for example in examples:
        tokens_a = tokenizer.tokenize(example.text_a)
        tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else []
        while len(tokens_a) + len(tokens_b) > seq_length - (3 if tokens_b else 2):
            (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()
        tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
        input_type_ids = [0] * len(tokens)
        if tokens_b:
            tokens += tokens_b + ["[SEP]"]
            input_type_ids += [1] * (len(tokens_b) + 1)
        input_ids = tokenizer.convert_tokens_to_ids(tokens)
        input_mask = [1] * len(input_ids)
        padding = [0] * (seq_length - len(input_ids))
        features.append({"unique_id": example.unique_id, "tokens": tokens, "input_ids": input_ids + padding,
                         "input_mask": input_mask + padding, "input_type_ids": input_type_ids + padding})
    return features


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input_file", required=True)
    parser.add_argument("--output_file", required=True)
    parser.add_argument("--bert_model", required=True)
    parser.add_argument("--do_lower_case", action="store_true")
    parser.add_argument("--layers", default="-1,-2,-3,-4")
    parser.add_argument("--max_seq_length", default=128, type=int)
    parser.add_argument("--batch_size", default=32, type=int)
    args = parser.parse_args()

    layer_indexes = [int(x) for x in args.layers.split(",")]
    tokenizer = BertTokenizer.from_pretrained(args.bert_model, do_lower_case=args.do_lower_case)
    features = convert_examples_to_features(read_examples(args.input_file), args.max_seq_length, tokenizer)
    unique_id_to_feature = {f["unique_id"]: f for f in features}
    model = BertModel.from_pretrained(args.bert_model)
    model.eval()

    eval_data = TensorDataset(torch.tensor([f["input_ids"] for f in features], dtype=torch.long),
                              torch.tensor([f["input_mask"] for f in features], dtype=torch.long),
                              torch.tensor([f["input_type_ids"] for f in features], dtype=torch.long),
                              torch.arange(len(features), dtype=torch.long))
    eval_dataloader = DataLoader(eval_data, sampler=SequentialSampler(eval_data), batch_size=args.batch_size)
    with open(args.output_file, "w", encoding="utf-8") as writer:
        for input_ids, input_mask, input_type_ids, example_indices in eval_dataloader:
            with torch.no_grad():
                all_encoder_layers, _ = model(input_ids, token_type_ids=input_type_ids, attention_mask=input_mask)
            for b, example_index in enumerate(example_indices):
                feature = unique_id_to_feature[features[example_index.item()]["unique_id"]]
                all_out_features = []
                for i, token in enumerate(feature["tokens"]):
                    all_layers = []
                    for layer_index in layer_indexes:
                        values = all_encoder_layers[layer_index].detach()[b][i]
                        all_layers.append(collections.OrderedDict(
                            [("index", layer_index), ("values", [round(x.item(), 6) for x in values])]))
                    all_out_features.append(collections.OrderedDict([("token", token), ("layers", all_layers)]))
                output_json = collections.OrderedDict(
                    [("linex_index", feature["unique_id"]), ("features", all_out_features)])
                writer.write(json.dumps(output_json) + "\n")


if __name__ == "__main__":
    main()
