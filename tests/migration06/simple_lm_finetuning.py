"""A simple_lm_finetuning.py written the pytorch-pretrained-BERT 0.6.2 way, with `pytorch_pretrained_bert` renamed.

The corpus has one sentence per line and a blank line between documents. Each example is a sentence
pair, the second one the true next sentence or a random one (is_next label 0 / 1), with 15% of the
tokens masked (80% [MASK], 10% a random token, 10% unchanged; label -1 elsewhere). BertForPreTraining
is fine-tuned on both losses and saved as 0.6 did.
"""

import argparse
import os
import random

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from berthub.file_utils import CONFIG_NAME, WEIGHTS_NAME
from berthub.modeling import BertForPreTraining
from berthub.optimization import BertAdam
from berthub.tokenization import BertTokenizer


class BERTDataset(Dataset):
    def __init__(self, corpus_path, tokenizer, seq_len):
        self.tokenizer, self.seq_len = tokenizer, seq_len
        self.docs, doc = [], []
        with open(corpus_path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    doc.append(line)
                elif doc:
                    self.docs.append(doc)
                    doc = []
        if doc:
            self.docs.append(doc)
        self.pairs = [(d, i) for d, sentences in enumerate(self.docs) for i in range(len(sentences) - 1)]

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, item):
        doc, index = self.pairs[item]
        t1 = self.docs[doc][index]
        if random.random() > 0.5:
            t2, is_next_label = self.docs[doc][index + 1], 0
        else:
            other = random.choice([d for d in range(len(self.docs)) if d != doc])
            t2, is_next_label = random.choice(self.docs[other]), 1
        tokens_a, tokens_b = self.tokenizer.tokenize(t1), self.tokenizer.tokenize(t2)
        while len(tokens_a) + len(tokens_b) > self.seq_len - 3:
            (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()
        tokens_a, t1_label = random_word(tokens_a, self.tokenizer)
        tokens_b, t2_label = random_word(tokens_b, self.tokenizer)
        tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
        lm_label_ids = [-1] + t1_label + [-1] + t2_label + [-1]
        segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
        input_ids = self.tokenizer.convert_tokens_to_ids(tokens)
        padding = [0] * (self.seq_len - len(input_ids))
        input_mask = [1] * len(input_ids) + padding
        return (torch.tensor(input_ids + padding), torch.tensor(input_mask), torch.tensor(segment_ids + padding),
                torch.tensor(lm_label_ids + [-1] * len(padding)), torch.tensor(is_next_label))


def random_word(tokens, tokenizer):
    output_label = []
    for i, token in enumerate(tokens):
        prob = random.random()
        if prob < 0.15:
            prob /= 0.15
            if prob < 0.8:
                tokens[i] = "[MASK]"
            elif prob < 0.9:
                tokens[i] = random.choice(list(tokenizer.vocab.items()))[0]
            output_label.append(tokenizer.vocab.get(token, tokenizer.vocab["[UNK]"]))
        else:
            output_label.append(-1)
    return tokens, output_label


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train_corpus", required=True)
    parser.add_argument("--bert_model", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--max_seq_length", default=128, type=int)
    parser.add_argument("--train_batch_size", default=32, type=int)
    parser.add_argument("--learning_rate", default=3e-5, type=float)
    parser.add_argument("--num_train_epochs", default=3.0, type=float)
    parser.add_argument("--warmup_proportion", default=0.1, type=float)
    parser.add_argument("--do_lower_case", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.output_dir, exist_ok=True)
    tokenizer = BertTokenizer.from_pretrained(args.bert_model, do_lower_case=args.do_lower_case)
    train_dataset = BERTDataset(args.train_corpus, tokenizer, seq_len=args.max_seq_length)
    num_train_optimization_steps = int(len(train_dataset) / args.train_batch_size) * args.num_train_epochs
    model = BertForPreTraining.from_pretrained(args.bert_model)
    param_optimizer = list(model.named_parameters())
    no_decay = ["bias", "LayerNorm.bias", "LayerNorm.weight"]
    optimizer = BertAdam([
        {"params": [p for n, p in param_optimizer if not any(nd in n for nd in no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in param_optimizer if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
    ], lr=args.learning_rate, warmup=args.warmup_proportion, t_total=num_train_optimization_steps)

    model.train()
    losses = []
    for _ in range(int(args.num_train_epochs)):
        for batch in DataLoader(train_dataset, sampler=RandomSampler(train_dataset),
                                batch_size=args.train_batch_size):
            input_ids, input_mask, segment_ids, lm_label_ids, is_next = batch
            loss = model(input_ids, segment_ids, input_mask, lm_label_ids, is_next)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())

    model_to_save = model.module if hasattr(model, "module") else model
    torch.save(model_to_save.state_dict(), os.path.join(args.output_dir, WEIGHTS_NAME))
    model_to_save.config.to_json_file(os.path.join(args.output_dir, CONFIG_NAME))
    tokenizer.save_vocabulary(args.output_dir)
    with open(os.path.join(args.output_dir, "losses.txt"), "w") as writer:
        writer.write("\n".join(str(loss) for loss in losses) + "\n")


if __name__ == "__main__":
    main()
