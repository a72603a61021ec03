"""A run_classifier.py written the pytorch-pretrained-BERT 0.6.2 way, with `pytorch_pretrained_bert` renamed.

SST-2 from a GLUE folder (train.tsv, dev.tsv): fine-tune BertForSequenceClassification with BertAdam's
warmup_linear schedule and gradient accumulation, save it as 0.6 did (torch.save of the state dict +
config.json + vocab.txt), load it back with from_pretrained and evaluate.
"""

import argparse
import csv
import os
import random

import numpy as np
import torch
from torch.nn import CrossEntropyLoss
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler, TensorDataset

from berthub.file_utils import CONFIG_NAME, PYTORCH_PRETRAINED_BERT_CACHE, WEIGHTS_NAME
from berthub.modeling import BertForSequenceClassification
from berthub.optimization import BertAdam
from berthub.tokenization import BertTokenizer


class InputExample:
    def __init__(self, guid, text_a, text_b=None, label=None):
        self.guid, self.text_a, self.text_b, self.label = guid, text_a, text_b, label


class InputFeatures:
    def __init__(self, input_ids, input_mask, segment_ids, label_id):
        self.input_ids, self.input_mask, self.segment_ids, self.label_id = input_ids, input_mask, segment_ids, label_id


def read_sst2(path, set_type):
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quotechar=None))
    return [InputExample(f"{set_type}-{i}", row[0], None, row[1]) for i, row in enumerate(rows[1:])]


def convert_examples_to_features(examples, label_list, max_seq_length, tokenizer):
    label_map = {label: i for i, label in enumerate(label_list)}
    features = []
    for example in examples:
        tokens_a = tokenizer.tokenize(example.text_a)[: max_seq_length - 2]
        tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
        segment_ids = [0] * len(tokens)
        input_ids = tokenizer.convert_tokens_to_ids(tokens)
        input_mask = [1] * len(input_ids)
        padding = [0] * (max_seq_length - len(input_ids))
        features.append(InputFeatures(input_ids + padding, input_mask + padding, segment_ids + padding,
                                      label_map[example.label]))
    return features


def tensors(features):
    return TensorDataset(torch.tensor([f.input_ids for f in features], dtype=torch.long),
                         torch.tensor([f.input_mask for f in features], dtype=torch.long),
                         torch.tensor([f.segment_ids for f in features], dtype=torch.long),
                         torch.tensor([f.label_id for f in features], dtype=torch.long))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--bert_model", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--max_seq_length", default=128, type=int)
    parser.add_argument("--do_lower_case", action="store_true")
    parser.add_argument("--train_batch_size", default=32, type=int)
    parser.add_argument("--eval_batch_size", default=8, type=int)
    parser.add_argument("--learning_rate", default=5e-5, type=float)
    parser.add_argument("--num_train_epochs", default=3.0, type=float)
    parser.add_argument("--warmup_proportion", default=0.1, type=float)
    parser.add_argument("--gradient_accumulation_steps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    args.train_batch_size = args.train_batch_size // args.gradient_accumulation_steps
    os.makedirs(args.output_dir, exist_ok=True)

    label_list = ["0", "1"]
    tokenizer = BertTokenizer.from_pretrained(args.bert_model, do_lower_case=args.do_lower_case)
    train_examples = read_sst2(os.path.join(args.data_dir, "train.tsv"), "train")
    num_train_optimization_steps = int(
        len(train_examples) / args.train_batch_size / args.gradient_accumulation_steps) * args.num_train_epochs
    cache_dir = os.path.join(str(PYTORCH_PRETRAINED_BERT_CACHE), "distributed_-1")
    model = BertForSequenceClassification.from_pretrained(args.bert_model, cache_dir=cache_dir,
                                                          num_labels=len(label_list))

    param_optimizer = list(model.named_parameters())
    no_decay = ["bias", "LayerNorm.bias", "LayerNorm.weight"]
    optimizer_grouped_parameters = [
        {"params": [p for n, p in param_optimizer if not any(nd in n for nd in no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in param_optimizer if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = BertAdam(optimizer_grouped_parameters, lr=args.learning_rate, warmup=args.warmup_proportion,
                         t_total=num_train_optimization_steps)

    global_step, tr_loss = 0, 0.0
    train_features = convert_examples_to_features(train_examples, label_list, args.max_seq_length, tokenizer)
    train_data = tensors(train_features)
    train_dataloader = DataLoader(train_data, sampler=RandomSampler(train_data), batch_size=args.train_batch_size)
    model.train()
    for _ in range(int(args.num_train_epochs)):
        for step, batch in enumerate(train_dataloader):
            input_ids, input_mask, segment_ids, label_ids = batch
            loss = model(input_ids, segment_ids, input_mask, label_ids)
            loss = loss / args.gradient_accumulation_steps
            loss.backward()
            tr_loss += loss.item()
            if (step + 1) % args.gradient_accumulation_steps == 0:
                optimizer.step()
                optimizer.zero_grad()
                global_step += 1

    model_to_save = model.module if hasattr(model, "module") else model
    torch.save(model_to_save.state_dict(), os.path.join(args.output_dir, WEIGHTS_NAME))
    model_to_save.config.to_json_file(os.path.join(args.output_dir, CONFIG_NAME))
    tokenizer.save_vocabulary(args.output_dir)

    model = BertForSequenceClassification.from_pretrained(args.output_dir, num_labels=len(label_list))
    tokenizer = BertTokenizer.from_pretrained(args.output_dir, do_lower_case=args.do_lower_case)
    eval_examples = read_sst2(os.path.join(args.data_dir, "dev.tsv"), "dev")
    eval_data = tensors(convert_examples_to_features(eval_examples, label_list, args.max_seq_length, tokenizer))
    eval_dataloader = DataLoader(eval_data, sampler=SequentialSampler(eval_data), batch_size=args.eval_batch_size)
    model.eval()
    correct, eval_loss, steps = 0, 0.0, 0
    for input_ids, input_mask, segment_ids, label_ids in eval_dataloader:
        with torch.no_grad():
            logits = model(input_ids, segment_ids, input_mask, labels=None)
        eval_loss += CrossEntropyLoss()(logits.view(-1, len(label_list)), label_ids.view(-1)).item()
        correct += int((np.argmax(logits.numpy(), axis=1) == label_ids.numpy()).sum())
        steps += 1

    result = {"eval_loss": eval_loss / steps, "eval_accuracy": correct / len(eval_examples),
              "global_step": global_step, "loss": tr_loss / global_step}
    with open(os.path.join(args.output_dir, "eval_results.txt"), "w") as writer:
        for key in sorted(result):
            writer.write(f"{key} = {result[key]}\n")


if __name__ == "__main__":
    main()
