"""A run_swag.py written the pytorch-pretrained-BERT 0.6.2 way, with `pytorch_pretrained_bert` renamed.

Reads SWAG's CSV layout (index, video-id, fold-ind, startphrase, sent1, sent2, gold-source, ending0..3,
label), builds [CLS] context [SEP] start + ending [SEP] for each of the four endings, fine-tunes
BertForMultipleChoice and evaluates its accuracy.
"""

import argparse
import csv
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler, TensorDataset

from berthub.modeling import BertForMultipleChoice
from berthub.optimization import BertAdam
from berthub.tokenization import BertTokenizer


def read_swag_examples(input_file):
    with open(input_file, encoding="utf-8") as f:
        lines = list(csv.reader(f))[1:]
    # SWAG's released CSVs start with an unnamed index column: line[1] is video-id, line[11] the label.
    return [{"swag_id": line[2], "context_sentence": line[4], "start_ending": line[5],
             "endings": line[7:11], "label": int(line[11])} for line in lines]


def _truncate_seq_pair(tokens_a, tokens_b, max_length):
    while len(tokens_a) + len(tokens_b) > max_length:
        (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()


def convert_examples_to_features(examples, tokenizer, max_seq_length):
    features = []
    for example in examples:
        context_tokens = tokenizer.tokenize(example["context_sentence"])
        start_ending_tokens = tokenizer.tokenize(example["start_ending"])
        choices = []
        for ending in example["endings"]:
            context_tokens_choice = context_tokens[:]
            ending_tokens = start_ending_tokens + tokenizer.tokenize(ending)
            _truncate_seq_pair(context_tokens_choice, ending_tokens, max_seq_length - 3)
            tokens = ["[CLS]"] + context_tokens_choice + ["[SEP]"] + ending_tokens + ["[SEP]"]
            segment_ids = [0] * (len(context_tokens_choice) + 2) + [1] * (len(ending_tokens) + 1)
            input_ids = tokenizer.convert_tokens_to_ids(tokens)
            padding = [0] * (max_seq_length - len(input_ids))
            choices.append((input_ids + padding, [1] * len(input_ids) + padding, segment_ids + padding))
        features.append({"choices": choices, "label": example["label"]})
    return features


def select_field(features, index):
    return [[choice[index] for choice in feature["choices"]] for feature in features]


def tensors(features):
    return TensorDataset(torch.tensor(select_field(features, 0), dtype=torch.long),
                         torch.tensor(select_field(features, 1), dtype=torch.long),
                         torch.tensor(select_field(features, 2), dtype=torch.long),
                         torch.tensor([f["label"] for f in features], dtype=torch.long))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--bert_model", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--max_seq_length", default=128, type=int)
    parser.add_argument("--train_batch_size", default=32, type=int)
    parser.add_argument("--learning_rate", default=5e-5, type=float)
    parser.add_argument("--num_train_epochs", default=3.0, type=float)
    parser.add_argument("--warmup_proportion", default=0.1, type=float)
    parser.add_argument("--do_lower_case", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(42)
    os.makedirs(args.output_dir, exist_ok=True)
    tokenizer = BertTokenizer.from_pretrained(args.bert_model, do_lower_case=args.do_lower_case)
    train_examples = read_swag_examples(os.path.join(args.data_dir, "train.csv"))
    num_train_optimization_steps = int(len(train_examples) / args.train_batch_size) * args.num_train_epochs
    model = BertForMultipleChoice.from_pretrained(args.bert_model, num_choices=4)
    param_optimizer = [n for n in model.named_parameters() if "pooler" not in n[0]]
    no_decay = ["bias", "LayerNorm.bias", "LayerNorm.weight"]
    optimizer = BertAdam([
        {"params": [p for n, p in param_optimizer if not any(nd in n for nd in no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in param_optimizer if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
    ], lr=args.learning_rate, warmup=args.warmup_proportion, t_total=num_train_optimization_steps)

    train_data = tensors(convert_examples_to_features(train_examples, tokenizer, args.max_seq_length))
    model.train()
    global_step = 0
    for _ in range(int(args.num_train_epochs)):
        for batch in DataLoader(train_data, sampler=RandomSampler(train_data), batch_size=args.train_batch_size):
            input_ids, input_mask, segment_ids, label_ids = batch
            loss = model(input_ids, segment_ids, input_mask, label_ids)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            global_step += 1

    eval_examples = read_swag_examples(os.path.join(args.data_dir, "val.csv"))
    eval_data = tensors(convert_examples_to_features(eval_examples, tokenizer, args.max_seq_length))
    model.eval()
    correct = 0
    for input_ids, input_mask, segment_ids, label_ids in DataLoader(eval_data, sampler=SequentialSampler(eval_data),
                                                                    batch_size=8):
        with torch.no_grad():
            logits = model(input_ids, segment_ids, input_mask)
        correct += int((np.argmax(logits.numpy(), axis=1) == label_ids.numpy()).sum())
    with open(os.path.join(args.output_dir, "eval_results.txt"), "w") as writer:
        writer.write(f"eval_accuracy = {correct / len(eval_examples)}\nglobal_step = {global_step}\n"
                     f"eval_examples = {len(eval_examples)}\n")


if __name__ == "__main__":
    main()
