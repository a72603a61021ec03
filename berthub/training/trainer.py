"""Fine-tune a BertForTask on any registered task: a loop, a config and a few hooks.

    task = get_task("sst-2")
    set_seed(42)
    model = BertForTask.from_pretrained("bert-base-uncased", head=task.head, **task.head_options())
    trainer = Trainer(model, task, tokenizer, TrainingConfig(output_dir="runs/sst2", epochs=3))
    result = trainer.train(task.read(data_dir, "train"), eval_examples=task.read(data_dir, "dev"))
    trainer.evaluate(task.read(data_dir, "dev"))  # {"accuracy": 0.92, ...}

The pieces are this module's neighbours in berthub/training/ (optimizers and schedules, batching, exact
accumulation, distributed helpers, precision, checkpoints, reporting), each small and tested on its own.
Outputs under `output_dir`: best/ and last/ (berthub model directories with the tokenizer and a
training.json), checkpoints/step-N/ (resumable), metrics.jsonl, training.png and summary.json.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from berthub.errors import ConfigError
from berthub.files import replace_dir, write_text_atomic
from berthub.model.labels import with_labels
from berthub.plugins.head_contract import declared_target_kinds
from berthub.sources.settings import SUMMARY_NAME, TRAINING_INFO_NAME
from berthub.tasks.batch import Outputs, collate, model_inputs, unbatch
from berthub.tasks.protocol import Feature, Task, output_names, target_kinds, task_options
from berthub.training import accumulation, checkpoint, distributed, reporting
from berthub.training.batching import Layout, epoch_plan, eval_batches
from berthub.training.config import TrainingConfig
from berthub.training.optim import build_optimizer, build_scheduler
from berthub.training.precision import autocast, grad_scaler, precision_problems
from berthub.training.sparse_grads import SparseEmbeddingGrads
from berthub.training.state import Hook, TrainResult, TrainState


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU), e.g. before building a model with a new head."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class _Run:
    """The objects of one train() call, so the loop's helpers take one argument instead of ten."""

    features: Sequence[Feature]
    eval_data: tuple[Sequence[Any], list[Feature]] | None
    layout: Layout
    steps_per_epoch: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    fingerprint: dict[str, Any]
    state: TrainState
    embedding_grads: SparseEmbeddingGrads
    progress: reporting.Progress | None = None
    log: reporting.MetricsLog | None = None
    window: list[float] = field(default_factory=lambda: [0.0, 0, 0, 0.0])  # loss sum, count, samples, seconds
    last_loss: float = float("nan")


class Trainer:
    """Fine-tunes `model` (a BertForTask carrying the task's head) on `task`.

    Under torchrun every process builds the same Trainer with the same arguments; rank 0 alone logs
    and writes files. `hooks` are called after each step, evaluation and checkpoint.
    """

    def __init__(self, model: nn.Module, task: Task, tokenizer: Any, config: TrainingConfig,
                 hooks: Sequence[Hook] = ()) -> None:
        _check_model(model, task)
        self.config, self.task, self.tokenizer, self.hooks = config, task, tokenizer, list(hooks)
        self.dist = distributed.setup(config.device)
        problems = precision_problems(config.precision, self.dist.device)
        if problems:
            raise ConfigError("Invalid TrainingConfig:\n  - " + "\n  - ".join(problems))
        names = output_names(task)  # saved as id2label: no plugin needed to read outputs
        model.config = with_labels(model.config, names) if names else model.config
        self.model = model.to(self.dist.device)
        self.base_model = _source(model)
        # How each target is batched: as the head declares it, unless the task says otherwise.
        self._target_kinds = {**declared_target_kinds(model.head), **target_kinds(task)}

    # -- public ----------------------------------------------------------------------------------
    def features(self, examples: Sequence[Any]) -> list[Feature]:
        """The task's model inputs for `examples` (windows of at most config.max_seq_length tokens)."""
        return self.task.features(examples, self.tokenizer, self.config.max_seq_length)

    def train(self, train_examples: Sequence[Any], eval_examples: Sequence[Any] | None = None) -> TrainResult:
        """Fine-tune on `train_examples`, evaluating on `eval_examples` (if given) to pick the best model."""
        cfg, ctx = self.config, self.dist
        run = self._prepare(train_examples, eval_examples)
        if cfg.resume:
            self._resume(run)  # replaces run.state with the checkpoint's
        else:
            set_seed(cfg.seed + ctx.rank)
        if cfg.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.model.train()
        run.progress = reporting.Progress(run.state.total_steps, run.state.step, cfg.progress and ctx.is_main)
        with run.embedding_grads.active():
            self._loop(run, distributed.wrap(accumulation.SummedLoss(self.model), ctx))
        run.progress.close()
        return self._finish(run)

    def evaluate(self, examples: Sequence[Any], features: list[Feature] | None = None) -> dict[str, float]:
        """The task's metrics on `examples` (computed on rank 0, returned on every rank)."""
        features = self.features(examples) if features is None else features
        outputs = self.outputs(features)
        metrics = _plain(self.task.metrics(examples, features, outputs)) if self.dist.is_main else None
        return distributed.broadcast_object(metrics, self.dist)

    def outputs(self, features: Sequence[Feature]) -> list[Outputs]:
        """Head outputs (numpy, per feature, in feature order) on every rank; each rank scores a share."""
        was_training = self.model.training
        self.model.eval()
        lengths = _lengths(features)
        mine: list[tuple[int, Outputs]] = []
        with torch.no_grad(), autocast(self.config.precision, self.dist.device):
            for indices in eval_batches(lengths, self.config.eval_batch_size, self.dist.rank, self.dist.world_size):
                mine.extend(zip(indices, unbatch(self._eval_outputs(features, indices)), strict=True))
        self.model.train(was_training)
        ordered: list[Any] = [None] * len(features)
        for part in distributed.gather_objects(mine, self.dist):
            for index, output in part:
                ordered[index] = output
        return ordered

    # -- one optimizer step ----------------------------------------------------------------------
    def _loop(self, run: _Run, net: nn.Module) -> None:
        cfg, state = self.config, run.state
        lengths = _lengths(run.features)
        while state.step < state.total_steps:
            plan = epoch_plan(lengths, run.layout, self.dist.rank, cfg.seed, state.epoch, cfg.group_by_length)
            while state.step < state.total_steps:
                started = time.perf_counter()
                loss_sum, count = self._step(run, net, plan[state.step_in_epoch])
                samples = run.layout.step_examples(len(run.features), state.step_in_epoch)
                self._advance(run, loss_sum, count, samples, time.perf_counter() - started, len(plan))
                if state.step_in_epoch == 0:
                    break

    def _step(self, run: _Run, net: nn.Module, micro_batches: list[list[int]]) -> tuple[Tensor, int]:
        """Forward/backward every micro-batch with exact normalisation, then update. -> (local loss sum, count)."""
        batches = [self._batch(run.features, indices, epoch=run.state.epoch) for indices in micro_batches]
        total = accumulation.step_count(self.model.head, batches, self.dist)
        weight = accumulation.backward_weight(total, self.dist)
        loss_sum = torch.zeros(total.shape, device=self.dist.device)
        for i, batch in enumerate(batches):
            with distributed.maybe_no_sync(net, sync=i == len(batches) - 1):
                with autocast(self.config.precision, self.dist.device):
                    summed, _ = net(batch)
                run.scaler.scale(accumulation.weighted(summed, weight)).backward()
            loss_sum += summed.detach().float()
        run.embedding_grads.densify()
        self._apply_gradients(run)
        if total.dim():  # several loss terms: report this rank's share of the step's loss, counted as one
            return accumulation.weighted(loss_sum, weight) / self.dist.world_size, 1
        return loss_sum, int(total)

    def _apply_gradients(self, run: _Run) -> None:
        scaler = run.scaler
        scaler.unscale_(run.optimizer)
        if self.config.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        scale = scaler.get_scale() if scaler.is_enabled() else None
        scaler.step(run.optimizer)
        scaler.update()
        run.optimizer.zero_grad(set_to_none=True)
        # An fp16 step skipped for overflowing gradients (the scale dropped) does not advance the schedule.
        if scale is None or scaler.get_scale() >= scale:
            run.scheduler.step()

    def _eval_outputs(self, features: Sequence[Feature], indices: list[int]) -> Any:
        """Head outputs of one evaluation batch; a head with `eval_outputs(logits, targets, encoded)` (one
        whose scores are too large to keep, like a masked LM's) reduces them with the gold targets."""
        head = self.model.head
        reduce = getattr(head, "eval_outputs", None)
        with_targets = reduce is not None and all(t in features[indices[0]].targets for t in head.facts.targets)
        batch = self._batch(features, indices, with_targets=with_targets)
        logits, encoded = self.model.encode_and_score(batch)
        return reduce(logits, {t: batch[t] for t in head.facts.targets}, encoded) if with_targets else logits

    def _batch(self, features: Sequence[Feature], indices: list[int], with_targets: bool = True,
               epoch: int | None = None) -> dict[str, Tensor]:
        """A batch on the device; a task with `collate(features, pad_id, epoch)` builds its own (epoch is None
        outside training), e.g. to draw new masks each epoch."""
        chosen, pad_id = [features[i] for i in indices], self.model.config.pad_token_id
        make = getattr(self.task, "collate", None)
        batch = make(chosen, pad_id, epoch) if make is not None else collate(chosen, pad_id=pad_id,
                                                                              kinds=self._target_kinds)
        if not with_targets:
            batch = model_inputs(batch)
        return {k: v.to(self.dist.device, non_blocking=True) for k, v in batch.items()}

    # -- after each step: log, evaluate, checkpoint, hooks ---------------------------------------
    def _advance(self, run: _Run, loss_sum: Tensor, count: int, samples: int, seconds: float, plan_steps: int) -> None:
        cfg, state = self.config, run.state
        state.step, state.step_in_epoch = state.step + 1, state.step_in_epoch + 1
        state.samples, state.train_seconds = state.samples + samples, state.train_seconds + seconds
        epoch_end = state.step_in_epoch == plan_steps
        if epoch_end:
            state.epoch, state.step_in_epoch = state.epoch + 1, 0
        window = run.window
        window[0], window[1], window[2], window[3] = window[0] + loss_sum, window[1] + count, window[2] + samples, \
            window[3] + seconds
        last = state.step == state.total_steps
        loss = self._log_training(run) if state.step % cfg.logging_steps == 0 or last else None
        # The bar shows this step's loss as this rank sees it (no extra all-reduce); the log has the exact mean.
        shown = float(loss_sum) * self.dist.world_size / max(count, 1) if loss is None else loss
        run.progress.update(shown, run.scheduler.get_last_lr()[0], samples / max(seconds, 1e-9))
        due = state.step % cfg.eval_steps == 0 if cfg.eval_steps else epoch_end
        if run.eval_data is not None and (due or last):
            self._evaluate_during_training(run)
        if (cfg.save_steps and state.step % cfg.save_steps == 0) or last:
            self._checkpoint(run)
        for hook in self.hooks:
            hook.on_step(self, state, loss)

    def _log_training(self, run: _Run) -> float:
        loss_sum, count, samples, seconds = run.window
        total = distributed.all_reduce_sum(torch.as_tensor(loss_sum, dtype=torch.float64, device=self.dist.device),
                                           self.dist)
        run.last_loss, speed = float(total) / max(count, 1), samples / max(seconds, 1e-9)
        run.window = [0.0, 0, 0, 0.0]
        if run.log is not None:
            run.log.append({"step": run.state.step, "epoch": round(self._epoch(run), 4), "loss": run.last_loss,
                            "learning_rate": run.scheduler.get_last_lr()[0], "samples_per_s": speed})
        return run.last_loss

    def _epoch(self, run: _Run) -> float:
        return run.state.step / run.steps_per_epoch

    def _evaluate_during_training(self, run: _Run) -> None:
        state = run.state
        examples, features = run.eval_data
        metrics = self.evaluate(examples, features)
        state.last_metrics = metrics
        if self._better(metrics, state.best_metrics):
            state.best_step, state.best_metrics = state.step, metrics
            if self.dist.is_main:
                self._save_model(self.config.output_dir / "best", metrics, state.step)
        if run.log is not None:
            run.log.append({"step": state.step, "epoch": round(self._epoch(run), 4), "eval": metrics})
            shown = reporting.format_metrics(metrics)
            run.progress.write(f"step {state.step} (epoch {self._epoch(run):.2f}) dev: {shown}")
        for hook in self.hooks:
            hook.on_evaluate(self, state, metrics)

    def _better(self, metrics: dict[str, float], best: dict[str, float]) -> bool:
        main = self.task.main_metric
        if main not in metrics:
            raise ConfigError(f"Task '{self.task.name}' declares main_metric '{main}' but its metrics() returned "
                              f"only {', '.join(metrics) or 'nothing'}; fix the task plugin.")
        if not best:
            return True
        # Higher is better, except for metrics that are losses or errors.
        lower = main.endswith(("loss", "error"))
        return metrics[main] < best[main] if lower else metrics[main] > best[main]

    # -- checkpoints and saved models ------------------------------------------------------------
    def _checkpoint(self, run: _Run) -> None:
        rng_states = distributed.gather_objects(checkpoint.rng_state(), self.dist)
        path = checkpoint.checkpoint_dir(self.config.output_dir, run.state.step)
        if self.dist.is_main:
            trainer_state = {"optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
                             "scaler": run.scaler.state_dict(), "state": dataclasses.asdict(run.state),
                             "fingerprint": run.fingerprint}
            checkpoint.save(self.config.output_dir, run.state.step, self.model, trainer_state, rng_states,
                            self.config.keep_checkpoints)
        distributed.barrier(self.dist)
        for hook in self.hooks:
            hook.on_checkpoint(self, run.state, path)

    def _resume(self, run: _Run) -> None:
        path = checkpoint.latest(self.config.output_dir)
        saved, rng_states = checkpoint.load(path)
        checkpoint.check_compatible(path, saved["fingerprint"], run.fingerprint)
        self._load_weights(path / "model")
        run.optimizer.load_state_dict(saved["optimizer"])
        run.scheduler.load_state_dict(saved["scheduler"])
        run.scaler.load_state_dict(saved["scaler"])
        run.state = TrainState(**saved["state"])
        checkpoint.set_rng_state(rng_states[self.dist.rank])
        if run.log is not None:
            run.log.truncate_after(run.state.step)
            print(f"Resuming from {path}: step {run.state.step} of {run.state.total_steps} "
                  f"(epoch {run.state.epoch}, step {run.state.step_in_epoch} in it).", flush=True)

    def _load_weights(self, directory: Path) -> None:
        from berthub.model.weights import read_weights

        result = self.model.load_state_dict(read_weights(directory), strict=False)
        tied = set(self.model.state_dict()) - set(self.model._state_to_save())
        missing = [k for k in result.missing_keys if k not in tied]
        if missing or result.unexpected_keys:
            raise ConfigError(f"Cannot resume: the weights in {directory} do not fit this model "
                              f"(missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}).")

    def _save_model(self, target: Path, metrics: dict[str, float], step: int) -> None:
        """best/ or last/: the model, its tokenizer and training.json (what the model card is made from)."""
        from berthub.plugins import loader

        info = {"task": self.task.name, "task_options": task_options(self.task),
                "task_distribution": loader.distribution("datasets", self.task.name),
                "base_model": self.base_model, "step": step,
                "metrics": metrics, "hyperparameters": self.config.hyperparameters(),
                "processes": self.dist.world_size}

        def write(folder: Path) -> None:
            self.model.save_pretrained(folder)
            if hasattr(self.tokenizer, "save_pretrained"):
                self.tokenizer.save_pretrained(folder)
            write_text_atomic(folder / TRAINING_INFO_NAME, json.dumps(info, indent=2, default=str) + "\n")

        replace_dir(target, write)

    # -- setting up and finishing a run ----------------------------------------------------------
    def _prepare(self, train_examples: Sequence[Any], eval_examples: Sequence[Any] | None) -> _Run:
        cfg = self.config
        features = self.features(train_examples)
        missing = [t for t in self.model.head.facts.targets if not features or t not in features[0].targets]
        if missing:
            raise ConfigError(f"Task '{self.task.name}' gave {len(features)} training features without the targets "
                              f"{', '.join(missing)} that the '{self.task.head}' head trains on; pass a split "
                              "with gold labels.")
        layout = Layout(cfg.batch_size, cfg.gradient_accumulation_steps, self.dist.world_size)
        steps_per_epoch = layout.steps_per_epoch(len(features))
        if steps_per_epoch == 0:
            raise ConfigError(f"{len(features)} training features cannot fill one step of {layout.chunks} "
                              "micro-batches (gradient_accumulation_steps x processes); use more data or fewer.")
        total = cfg.max_steps or cfg.epochs * steps_per_epoch
        optimizer = build_optimizer(self.model, cfg.optimizer, cfg.learning_rate, cfg.weight_decay,
                                    cfg.adam_betas, cfg.adam_epsilon)
        eval_data = None if eval_examples is None else (eval_examples, self.features(eval_examples))
        log = reporting.MetricsLog(cfg.output_dir / reporting.METRICS_FILE) if self.dist.is_main else None
        if log is not None and not cfg.resume:
            log.path.unlink(missing_ok=True)
        run = _Run(features, eval_data, layout, steps_per_epoch, optimizer,
                   build_scheduler(optimizer, cfg.schedule, cfg.warmup, total), grad_scaler(cfg.precision,
                   self.dist.device), self._fingerprint(len(features), total), TrainState(total_steps=total),
                   SparseEmbeddingGrads(self.model), log=log)
        return run

    def _fingerprint(self, num_features: int, total_steps: int) -> dict[str, Any]:
        """What a checkpoint must share with this run for --resume to continue it exactly."""
        cfg, arch = self.config, self.model.config.to_dict()
        keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "type_vocab_size", "berthub_head", "berthub_head_options")
        return {"base_model": self.base_model, "model": {k: arch.get(k) for k in keys}, "task": self.task.name,
                "training_features": num_features, "total_steps": total_steps, "processes": self.dist.world_size,
                "batch_size": cfg.batch_size, "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
                "seed": cfg.seed, "group_by_length": cfg.group_by_length, "max_seq_length": cfg.max_seq_length}

    def _finish(self, run: _Run) -> TrainResult:
        state, plot = run.state, ""
        if self.dist.is_main:
            self._save_model(self.config.output_dir / "last", state.last_metrics, state.step)
            records = run.log.records()
            plot = reporting.plot(records, self.config.output_dir / reporting.PLOT_FILE, self.task.main_metric)
            if math.isnan(run.last_loss):  # a resumed run that had nothing left to do
                run.last_loss = next((r["loss"] for r in reversed(records) if "loss" in r), run.last_loss)
        result = TrainResult(
            steps=state.step, epochs=self._epoch(run), samples=state.samples, train_seconds=state.train_seconds,
            samples_per_s=state.samples / max(state.train_seconds, 1e-9), final_loss=run.last_loss,
            best_step=state.best_step, best_metrics=state.best_metrics, last_metrics=state.last_metrics,
            output_dir=self.config.output_dir, plot=plot)
        if self.dist.is_main:
            summary = {**dataclasses.asdict(result), "task": self.task.name, "base_model": self.base_model,
                       "processes": self.dist.world_size, "hyperparameters": self.config.hyperparameters()}
            write_text_atomic(self.config.output_dir / SUMMARY_NAME,
                              json.dumps(summary, indent=2, default=str) + "\n")
        distributed.barrier(self.dist)
        return result


def _check_model(model: nn.Module, task: Task) -> None:
    """The model must be a BertForTask carrying the head (and head options) the task trains."""
    if not hasattr(model, "encode_and_score") or not hasattr(model, "head_name"):
        raise ConfigError(f"Trainer needs a BertForTask (or a BertFor* class), got {type(model).__name__}.")
    if model.head_name != task.head:
        raise ConfigError(f"Task '{task.name}' trains a '{task.head}' head but the model carries "
                          f"'{model.head_name}'. Load it with BertForTask.from_pretrained(..., head='{task.head}', "
                          f"**task.head_options()), or pick a task for the '{model.head_name}' head.")
    options, have = task.head_options(), model.config.head_options
    wrong = {k: v for k, v in options.items() if have.get(k) != v}
    if wrong:
        raise ConfigError(f"Task '{task.name}' needs head options {wrong} but the model's head has "
                          f"{ {k: have.get(k) for k in wrong} }. Load the model with the task's head_options().")


def _lengths(features: Sequence[Feature]) -> Sequence[int]:
    """Every feature's length. A task may return a lazy sequence of features read from disk (corpora bigger
    than memory) with a `lengths()` method, so planning an epoch never reads the features themselves."""
    lengths = getattr(features, "lengths", None)
    return lengths() if lengths is not None else [len(f.input_ids) for f in features]


def _source(model: nn.Module) -> str:
    """Where the model's weights came from (a name, repo id or resolved folder), as from_pretrained recorded it."""
    report = getattr(model, "load_report", None)
    if report is None:
        return "scratch"
    path = Path(report.source)
    return str(path.resolve()) if path.exists() else report.source


def _plain(metrics: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars -> Python numbers, so metrics go to JSON and across ranks as they are."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
