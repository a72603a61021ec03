"""A run_squad.py written the pytorch-pretrained-BERT 0.6.2 way, with `pytorch_pretrained_bert` renamed.

SQuAD v1.1 JSON: whitespace words with character offsets, WordPiece windows over long documents
(doc_stride), fine-tune BertForQuestionAnswering on start/end positions, then predict the best span
of each question over its windows and write predictions.json ({question id: answer text}).
"""

import argparse
import json
import os

import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from berthub.modeling import BertForQuestionAnswering
from berthub.optimization import BertAdam
from berthub.tokenization import BertTokenizer


def read_squad_examples(input_file):
    with open(input_file, encoding="utf-8") as reader:
        input_data = json.load(reader)["data"]
    examples = []
    for entry in input_data:
        for paragraph in entry["paragraphs"]:
            doc_tokens, char_to_word_offset, prev_is_whitespace = [], [], True
            for c in paragraph["context"]:
                if c.isspace():
                    prev_is_whitespace = True
                else:
                    if prev_is_whitespace:
                        doc_tokens.append(c)
                    else:
                        doc_tokens[-1] += c
                    prev_is_whitespace = False
                char_to_word_offset.append(len(doc_tokens) - 1)
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                start = char_to_word_offset[answer["answer_start"]]
                end = char_to_word_offset[answer["answer_start"] + len(answer["text"]) - 1]
                examples.append({"qas_id": qa["id"], "question_text": qa["question"], "doc_tokens": doc_tokens,
                                 "start_position": start, "end_position": end})
    return examples


def convert_examples_to_features(examples, tokenizer, max_seq_length, doc_stride, max_query_length):
    features = []
    for example_index, example in enumerate(examples):
        query_tokens = tokenizer.tokenize(example["question_text"])[:max_query_length]
        tok_to_orig_index, orig_to_tok_index, all_doc_tokens = [], [], []
        for i, token in enumerate(example["doc_tokens"]):
            orig_to_tok_index.append(len(all_doc_tokens))
            for sub_token in tokenizer.tokenize(token):
                tok_to_orig_index.append(i)
                all_doc_tokens.append(sub_token)
        tok_start = orig_to_tok_index[example["start_position"]]
        last = example["end_position"] + 1
        tok_end = (orig_to_tok_index[last] if last < len(orig_to_tok_index) else len(all_doc_tokens)) - 1
        max_tokens_for_doc = max_seq_length - len(query_tokens) - 3
        start_offset = 0
        while start_offset < len(all_doc_tokens):
            length = min(len(all_doc_tokens) - start_offset, max_tokens_for_doc)
            tokens = ["[CLS]"] + query_tokens + ["[SEP]"]
            segment_ids = [0] * len(tokens)
            token_to_orig_map = {}
            for i in range(length):
                token_to_orig_map[len(tokens)] = tok_to_orig_index[start_offset + i]
                tokens.append(all_doc_tokens[start_offset + i])
                segment_ids.append(1)
            tokens.append("[SEP]")
            segment_ids.append(1)
            input_ids = tokenizer.convert_tokens_to_ids(tokens)
            input_mask = [1] * len(input_ids)
            padding = [0] * (max_seq_length - len(input_ids))
            doc_offset = len(query_tokens) + 2
            inside = start_offset <= tok_start and tok_end < start_offset + length
            start_position = tok_start - start_offset + doc_offset if inside else 0
            end_position = tok_end - start_offset + doc_offset if inside else 0
            features.append({"example_index": example_index, "token_to_orig_map": token_to_orig_map,
                             "input_ids": input_ids + padding, "input_mask": input_mask + padding,
                             "segment_ids": segment_ids + padding, "start_position": start_position,
                             "end_position": end_position})
            if start_offset + length == len(all_doc_tokens):
                break
            start_offset += min(length, doc_stride)
    return features


def best_span(start_logits, end_logits, token_to_orig_map, max_answer_length):
    best = None
    for start in token_to_orig_map:
        for end in token_to_orig_map:
            if end < start or end - start + 1 > max_answer_length:
                continue
            score = start_logits[start] + end_logits[end]
            if best is None or score > best[0]:
                best = (score, token_to_orig_map[start], token_to_orig_map[end])
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bert_model", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--predict_file", required=True)
    parser.add_argument("--max_seq_length", default=384, type=int)
    parser.add_argument("--doc_stride", default=128, type=int)
    parser.add_argument("--max_query_length", default=64, type=int)
    parser.add_argument("--train_batch_size", default=32, type=int)
    parser.add_argument("--learning_rate", default=5e-5, type=float)
    parser.add_argument("--num_train_epochs", default=3.0, type=float)
    parser.add_argument("--warmup_proportion", default=0.1, type=float)
    parser.add_argument("--max_answer_length", default=30, type=int)
    parser.add_argument("--do_lower_case", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(42)
    os.makedirs(args.output_dir, exist_ok=True)
    tokenizer = BertTokenizer.from_pretrained(args.bert_model, do_lower_case=args.do_lower_case)
    train_examples = read_squad_examples(args.train_file)
    train_features = convert_examples_to_features(train_examples, tokenizer, args.max_seq_length,
                                                  args.doc_stride, args.max_query_length)
    num_train_optimization_steps = int(len(train_features) / args.train_batch_size) * args.num_train_epochs
    model = BertForQuestionAnswering.from_pretrained(args.bert_model)
    optimizer = BertAdam(model.parameters(), lr=args.learning_rate, warmup=args.warmup_proportion,
                         t_total=num_train_optimization_steps)

    train_data = TensorDataset(*(torch.tensor([f[key] for f in train_features], dtype=torch.long) for key in
                                 ("input_ids", "input_mask", "segment_ids", "start_position", "end_position")))
    model.train()
    global_step = 0
    for _ in range(int(args.num_train_epochs)):
        for batch in DataLoader(train_data, sampler=RandomSampler(train_data), batch_size=args.train_batch_size):
            input_ids, input_mask, segment_ids, start_positions, end_positions = batch
            loss = model(input_ids, segment_ids, input_mask, start_positions, end_positions)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            global_step += 1

    model.eval()
    eval_examples = read_squad_examples(args.predict_file)
    eval_features = convert_examples_to_features(eval_examples, tokenizer, args.max_seq_length,
                                                 args.doc_stride, args.max_query_length)
    best = {}
    for feature in eval_features:
        with torch.no_grad():
            start_logits, end_logits = model(torch.tensor([feature["input_ids"]]),
                                             torch.tensor([feature["segment_ids"]]),
                                             torch.tensor([feature["input_mask"]]))
        span = best_span(start_logits[0].tolist(), end_logits[0].tolist(), feature["token_to_orig_map"],
                         args.max_answer_length)
        if span and (feature["example_index"] not in best or span[0] > best[feature["example_index"]][0]):
            best[feature["example_index"]] = span
    predictions = {}
    for index, (_, start, end) in best.items():
        example = eval_examples[index]
        predictions[example["qas_id"]] = " ".join(example["doc_tokens"][start:end + 1])
    with open(os.path.join(args.output_dir, "predictions.json"), "w", encoding="utf-8") as writer:
        json.dump({"global_step": global_step, "predictions": predictions}, writer, indent=2)


if __name__ == "__main__":
    main()
