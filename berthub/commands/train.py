"""`berthub train` and `berthub evaluate`: fine-tune any registered head on any registered task.

Every TrainingConfig field is an option (`--batch-size`, `--gradient-accumulation-steps`, ...), so
the command and the Python API never drift apart. Under torchrun each process runs this same
command; rank 0 alone prints, writes and pushes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import typing
from pathlib import Path
from typing import Any

from berthub.errors import ConfigError
from berthub.sources.settings import TRAINING_INFO_NAME

TRAIN_EPILOG = """\
examples:
  berthub train --model bert-base-uncased --task sst-2 --data-dir glue/SST-2 --output-dir runs/sst2
  berthub train --model bert-base-uncased --task mrpc --data-dir glue/MRPC --output-dir runs/mrpc \\
      --batch-size 8 --gradient-accumulation-steps 4 --precision bf16 --save-steps 200
  berthub train ... --resume                  # continue the run in --output-dir from its newest checkpoint
  berthub train ... --push my-org/bert-sst2   # publish the best model with a model card
  berthub train --task squad-v1.1 --task-option doc_stride=128 ...
  torchrun --nproc-per-node 2 -m berthub train ...                       # data parallel, one machine
  torchrun --nnodes 2 --node-rank 0 --nproc-per-node 4 --rdzv-backend c10d \\
      --rdzv-endpoint HOST:29400 -m berthub train ...                    # several machines (run on each)

One optimizer step sees batch-size x gradient-accumulation-steps x processes examples, and its
update is exactly that of one batch of them all. Tasks come from plugins: `berthub plugins`.
Outputs: DIR/best, DIR/last (model directories), DIR/checkpoints, DIR/metrics.jsonl,
DIR/training.png, DIR/summary.json.
"""

EVALUATE_EPILOG = """\
examples:
  berthub evaluate --model runs/sst2/best --task sst-2 --data-dir glue/SST-2
  berthub evaluate --model my-org/bert-sst2 --task sst-2 --data-dir glue/SST-2 --predictions preds.json
  berthub evaluate --model runs/sst2/best --task sst-2 --data-dir glue/SST-2 --output metrics.json

Without --task-option, the task is built with the options the model was trained with (its
training.json), when it was trained on the same task. The task's head options (e.g. num_labels)
must match the model's head; otherwise evaluate stops and names the --task-option values to pass.
The printed metrics are rounded; --output writes them unrounded as JSON (with the model, task, split,
example count and max_seq_length), so scripts can compare runs exactly.
"""

# Help for each TrainingConfig field that becomes an option (the dataclass docstring has the details).
_HELP = {
    "output_dir": "where best/, last/, checkpoints/, metrics.jsonl and summary.json go",
    "epochs": "passes over the training set",
    "max_steps": "optimizer steps to run (overrides --epochs)",
    "batch_size": "examples per micro-batch per process",
    "gradient_accumulation_steps": "micro-batches per optimizer step (exact: same update as one big batch)",
    "eval_batch_size": "examples per evaluation batch per process",
    "learning_rate": "peak learning rate",
    "weight_decay": "decoupled weight decay (never on biases and LayerNorm)",
    "optimizer": "adamw, or bertadam (Google's Adam without bias correction)",
    "adam_betas": "Adam's beta1 beta2",
    "adam_epsilon": "Adam's epsilon",
    "schedule": "learning-rate decay after warmup",
    "warmup": "fraction of the steps spent warming up linearly",
    "max_grad_norm": "clip the global gradient norm to this (0: no clipping)",
    "max_seq_length": "longest input window in tokens",
    "precision": "fp32, bf16 (autocast, CPU or GPU) or fp16 (GPU, with loss scaling)",
    "seed": "seed for new-head init, shuffling and dropout",
    "group_by_length": "batch examples of similar length together (less padding)",
    "gradient_checkpointing": "recompute activations in backward instead of storing them (less memory, slower)",
    "eval_steps": "evaluate every N steps (default: at each epoch end)",
    "save_steps": "write a resumable checkpoint every N steps (default: at the end only)",
    "keep_checkpoints": "how many newest checkpoints to keep",
    "logging_steps": "log loss, learning rate and speed every N steps",
    "resume": "continue from the newest checkpoint in --output-dir",
    "device": "auto (GPU if present), cpu or cuda",
    "progress": "show a progress bar",
}
# Help for the --no-X flag of each boolean field that is on by default: what passing the flag does.
_HELP_OFF = {
    "group_by_length": "do not group examples of similar length: batches in random order (more padding)",
    "progress": "do not show a progress bar",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help="fine-tune a model on a registered task (exact accumulation, DDP, bf16/fp16, resume)",
        description="Fine-tune MODEL with the head that TASK trains, evaluate on its dev set, save the best model.",
        epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(train)
    for option in dataclasses.fields(_training_config()):
        _add_config_option(train, option)
    train.add_argument("--limit-train", type=int, metavar="N", help="use only the first N training examples")
    train.add_argument("--limit-eval", type=int, metavar="N", help="evaluate on the first N dev examples only")
    train.add_argument("--no-eval", action="store_true", help="do not evaluate (no best/ model is chosen)")
    train.add_argument("--push", metavar="REPO_ID", help="publish the best (else last) model to this hub repo")
    train.add_argument("--endpoint", help="hub for --push (default: BERTHUB_ENDPOINT, HF_ENDPOINT, huggingface.co)")
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser(
        "evaluate", help="a fine-tuned model's metrics on a task's dev (or other) split",
        description="Score MODEL (a directory, repo id or name saved with a head) on a split of TASK.",
        epilog=EVALUATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(evaluate)
    evaluate.add_argument("--split", default="dev", help="split to score (default: dev)")
    evaluate.add_argument("--batch-size", type=int, default=64, help="examples per batch (default: 64)")
    evaluate.add_argument("--max-seq-length", type=int,
                          help="longest window (default: the one the model was trained with, else 128)")
    evaluate.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16", "int8"),
                          help="int8: dynamic int8 quantization of the Linear layers, CPU only (default: fp32)")
    evaluate.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    evaluate.add_argument("--limit", type=int, metavar="N", help="score only the first N examples")
    evaluate.add_argument("--predictions", type=Path, metavar="FILE", help="also write the answers as JSON")
    evaluate.add_argument("--output", type=Path, metavar="FILE",
                          help="also write the metrics, at full precision, as JSON (written atomically)")
    evaluate.set_defaults(func=run_evaluate)


def _training_config() -> type:
    from berthub.training.config import TrainingConfig

    return TrainingConfig


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="registry name, hub repo id or model directory")
    parser.add_argument("--task", required=True, help="registered task name (see `berthub plugins`)")
    parser.add_argument("--data-dir", type=Path, default=Path("."),
                        help="folder holding the task's original files (default: the current folder)")
    parser.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                        help="option for the task's factory, e.g. doc_stride=128 (repeatable; JSON values)")


def _add_config_option(parser: argparse.ArgumentParser, option: dataclasses.Field) -> None:
    flag = "--" + option.name.replace("_", "-")
    kind = typing.get_type_hints(_training_config())[option.name]
    if option.name == "output_dir":
        parser.add_argument(flag, dest="output_dir", type=Path, required=True, help=_HELP[option.name])
    elif kind is bool:
        default = option.default
        negated = "--no-" + option.name.replace("_", "-")
        parser.add_argument(negated if default else flag, dest=option.name, default=default,
                            action="store_false" if default else "store_true",
                            help=_HELP_OFF[option.name] if default else _HELP[option.name])
    elif option.name == "adam_betas":
        parser.add_argument(flag, dest=option.name, type=float, nargs=2, default=option.default,
                            metavar=("BETA1", "BETA2"), help=_HELP[option.name])
    else:
        number = float if float in typing.get_args(kind) or kind is float else int
        scalar = number if option.name not in ("optimizer", "schedule", "precision", "device") else str
        parser.add_argument(flag, dest=option.name, type=scalar, default=option.default,
                            help=f"{_HELP[option.name]} (default: {option.default})")


def _task(args: argparse.Namespace, saved_options: dict[str, Any] | None = None,
          distribution: str | None = None) -> Any:
    """The task --task names, built with --task-option values (else `saved_options`, the ones the model was trained
    with); `distribution`: the plugin training.json says the task came from, named when it is not installed."""
    from berthub.plugins.loader import require
    from berthub.tasks.protocol import get_task

    require("datasets", args.task, distribution, f"Task '{args.task}' (the one this model was trained on)")
    if not args.task_option and saved_options:
        return get_task(args.task, **saved_options)
    options = {}
    for item in args.task_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--task-option {item!r} must look like KEY=VALUE (e.g. doc_stride=128).")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return get_task(args.task, **options)


def _config(args: argparse.Namespace) -> Any:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(_training_config())}
    if values["max_grad_norm"] == 0:
        values["max_grad_norm"] = None
    return _training_config()(**values)


def run_train(args: argparse.Namespace) -> int:
    from berthub.model.task_models import BertForTask
    from berthub.tokenizer.bert import BertTokenizer
    from berthub.training import distributed, reporting
    from berthub.training.trainer import Trainer, set_seed

    config = _config(args)  # bad settings fail before anything is loaded
    _check_output_dir(config.output_dir)
    task = _task(args)
    train_examples = _limited(task.read(args.data_dir, "train"), args.limit_train, "--limit-train")
    dev_examples = None
    if not args.no_eval and "dev" in task.splits:
        dev_examples = _limited(task.read(args.data_dir, "dev"), args.limit_eval, "--limit-eval")
    tokenizer = BertTokenizer.from_pretrained(args.model)
    set_seed(config.seed)  # every process builds the same new head
    model = BertForTask.from_pretrained(args.model, head=task.head, **task.head_options())
    trainer = Trainer(model, task, tokenizer, config)
    try:
        result = trainer.train(train_examples, eval_examples=dev_examples)
        if trainer.dist.is_main:
            print(reporting.summary(result, config.output_dir))
            if result.plot:
                print(result.plot)
            if args.push:
                _push(args, result, trainer)
    finally:
        distributed.teardown()
    return 0


def _limited(examples: list[Any], limit: int | None, flag: str) -> list[Any]:
    if limit is None:
        return examples
    if limit <= 0:
        raise ConfigError(f"{flag} must be a positive number of examples, got {limit}.")
    return examples[:limit]


def _push(args: argparse.Namespace, result: Any, trainer: Any) -> None:
    from berthub.sources.publish import CardFacts, push
    from berthub.sources.resolve import base_repo
    from berthub.sources.settings import hub_endpoint

    folder = result.output_dir / ("best" if result.best_metrics else "last")
    info = json.loads((folder / TRAINING_INFO_NAME).read_text(encoding="utf-8"))
    card = CardFacts.from_training(folder, base_model=base_repo(args.model))
    commit = push(folder, args.push, endpoint=args.endpoint, card=card,
                  commit_message=f"Fine-tuned on {trainer.task.name} with berthub (step {info['step']})")
    print(f"Pushed {folder} to {args.push}: commit {getattr(commit, 'oid', commit)}")
    print(f"  {hub_endpoint(args.endpoint)}/{args.push}")


def run_evaluate(args: argparse.Namespace) -> int:
    from berthub.model.task_models import BertForTask
    from berthub.tokenizer.bert import BertTokenizer
    from berthub.training import distributed, reporting
    from berthub.training.trainer import Trainer, TrainingConfig

    for flag, path in (("--predictions", args.predictions), ("--output", args.output)):
        if path is not None and not path.parent.is_dir():
            raise ConfigError(f"{flag} {path}: folder {path.parent} does not exist; create it first.")
    model = BertForTask.from_pretrained(args.model)
    info = _training_info(args.model, model)
    trained_on_it = info.get("task") == args.task
    task = _task(args, info.get("task_options") if trained_on_it else None,
                 info.get("task_distribution") if trained_on_it else None)
    _check_head(args, task, model, info)
    examples = _limited(task.read(args.data_dir, args.split), args.limit, "--limit")
    tokenizer = BertTokenizer.from_pretrained(args.model)
    length = args.max_seq_length or info.get("hyperparameters", {}).get("max_seq_length") or 128
    precision = args.precision
    if precision == "int8":
        model, precision = _int8(model, args.device), "fp32"
    config = TrainingConfig(output_dir=Path("."), eval_batch_size=args.batch_size, max_seq_length=length,
                            precision=precision, device="cpu" if args.precision == "int8" else args.device,
                            progress=False)
    trainer = Trainer(model, task, tokenizer, config)
    try:
        features = trainer.features(examples)
        outputs = trainer.outputs(features)
        if trainer.dist.is_main:
            metrics = task.metrics(examples, features, outputs)
            print(f"{task.name} {args.split} ({len(examples)} examples, max_seq_length {length}): "
                  f"{reporting.format_metrics({k: float(v) for k, v in metrics.items()})}")
            if args.output:
                _write_metrics(args, task, len(examples), length, metrics)
            if args.predictions:
                from berthub.files import write_text_atomic

                answers = task.predict(examples, features, outputs)
                write_text_atomic(args.predictions, json.dumps(answers, indent=1, default=_plain) + "\n")
                print(f"Predictions: {args.predictions}")
    finally:
        distributed.teardown()
    return 0


def _write_metrics(args: argparse.Namespace, task: Any, examples: int, length: int, metrics: dict[str, Any]) -> None:
    """--output: the metrics unrounded (JSON floats round-trip exactly), with what they were measured on."""
    from berthub.files import write_text_atomic
    from berthub.tasks.protocol import task_options

    record = {"model": str(args.model), "task": task.name, "task_options": task_options(task) or {},
              "split": args.split, "examples": examples, "max_seq_length": length, "precision": args.precision,
              "metrics": {k: float(v) for k, v in metrics.items()}}
    write_text_atomic(args.output, json.dumps(record, indent=2) + "\n")
    print(f"Metrics: {args.output}")


def _int8(model: Any, device: str) -> Any:
    from berthub.inference.int8 import quantize_int8

    if device == "cuda":
        raise ConfigError("--precision int8 runs on the CPU (dynamic int8 kernels); drop --device cuda or use bf16.")
    return quantize_int8(model)


def _check_head(args: argparse.Namespace, task: Any, model: Any, info: dict[str, Any]) -> None:
    """The model must carry the head the task scores, with the same options; say which flags fix it."""
    if model.head_name != task.head:
        raise ConfigError(f"--model {args.model} carries a '{model.head_name}' head, but --task {task.name} scores a "
                          f"'{task.head}' head; pick a task for that head (`berthub plugins` lists them).")
    wanted, have = task.head_options(), model.config.head_options
    wrong = sorted(k for k in wanted if have.get(k) != wanted[k])
    if not wrong:
        return
    differ = ", ".join(f"{k}={wanted[k]!r} (the model's: {have.get(k)!r})" for k in wrong)
    trained, saved = info.get("task"), info.get("task_options")
    if trained and saved is not None:
        flags = "".join(f" --task-option {shlex.quote(f'{k}={json.dumps(v)}')}" for k, v in saved.items())
        fix = f"It was trained with: --task {trained}{flags}"
    else:
        fix = "Pass the --task-option KEY=VALUE settings it was trained with (see training.json beside the model)"
    raise ConfigError(f"--task {task.name} with these --task-option settings builds a head with {differ}, so it "
                      f"cannot score --model {args.model}. {fix}.")


def _training_info(name: str, model: Any) -> dict[str, Any]:
    """The training.json that `berthub train` saved beside the weights ({} if there is none)."""
    from berthub.model.pretrained import locate_extra

    info = locate_extra(name, model.load_report.directory, TRAINING_INFO_NAME)
    if info is None:
        return {}
    values = json.loads(info.read_text(encoding="utf-8"))
    return values if isinstance(values, dict) else {}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value.tolist() if hasattr(value, "tolist") else str(value)


def _check_output_dir(output_dir: Path) -> None:
    """--output-dir must be a folder this process can write, checked before hours of training."""
    import tempfile

    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"--output-dir '{output_dir}' is a file, not a folder: pick another path.")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        raise ConfigError(f"--output-dir '{output_dir}' cannot be written ({error.strerror or error}): pick a "
                          "folder this user can create and write.") from None
