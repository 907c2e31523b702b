"""Trainer: the reference's training loop, evaluation and checkpoints, in plain torch.

The loop is the reference's, step for step (so losses, learning rates and logs line up with it), but
leaner: the loss is accumulated on the device and read only at logging steps, gradients are freed
with ``zero_grad(set_to_none=True)``, AdamW is fused, and nothing is copied per step.

Data order: epoch ``e`` visits the training set in ``torch.randperm(n)`` order drawn from a generator
seeded with ``data_seed`` (or ``seed``) + ``e`` — the reference's seedable sampler. Under torchrun a
DistributedSampler with the same seed hands each rank every N-th index of that permutation, so N
ranks with per-device batch b see the same global batches as one process with batch N*b. Resuming
skips the batches of the interrupted epoch by index, without loading them.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import re
import time
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, SequentialSampler

from . import checkpoints as C
from . import utils as U
from .arguments import TrainingArguments, leave_process_group
from .callbacks import (CallbackHandler, DefaultFlowCallback, JsonlLoggerCallback, PrinterCallback,
                        ProgressCallback, TrainerControl, TrainerState)
from .collators import DataCollatorWithPadding, default_data_collator
from .optimization import create_optimizer, get_scheduler

__all__ = ["Trainer"]

logger = logging.getLogger("leanformers")


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


_SHIFTING_LOSS = re.compile(r"For(CausalLM|ConditionalGeneration)")


def loss_shifts_labels(model: nn.Module) -> bool:
    """Whether the model's loss predicts labels[t + 1] at position t (so position 0 is no target), by the
    reference's rule: its loss type, read from the class name, is the causal-LM one ("...ForCausalLM",
    "...ForConditionalGeneration"), and it is not an encoder-decoder, whose decoder reads the labels
    shifted right and is scored on every one of them. (Whether the model can generate says nothing.)"""
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        return False
    return _SHIFTING_LOSS.search(type(model).__name__) is not None


class Trainer:
    def __init__(self, model=None, args: TrainingArguments | None = None, data_collator=None,
                 train_dataset=None, eval_dataset=None, processing_class=None, model_init=None,
                 compute_loss_func=None, compute_metrics=None, callbacks=None, optimizers=(None, None),
                 preprocess_logits_for_metrics=None, tokenizer=None):
        if tokenizer is not None:
            if processing_class is not None and processing_class is not tokenizer:
                raise ValueError("Pass the tokenizer once: processing_class= (tokenizer= is its older name).")
            processing_class = tokenizer
        self.args = args if args is not None else TrainingArguments(output_dir="tmp_trainer")
        U.set_seed(self.args.seed)  # before model_init builds the model, as the reference
        self.model_init = model_init
        if model is None:
            if model_init is None:
                raise RuntimeError("Trainer needs a model (or a model_init function that builds one).")
            model = self.call_model_init()
        elif model_init is not None:
            raise ValueError("Pass either model or model_init to Trainer, not both.")
        self.model = model.to(self.args.device)
        self.model_wrapped = self.model
        self.processing_class = processing_class
        if data_collator is None:
            data_collator = (DataCollatorWithPadding(processing_class) if hasattr(processing_class, "pad")
                             else default_data_collator)
        self.data_collator = data_collator
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.compute_loss_func = compute_loss_func
        self.compute_metrics = compute_metrics
        self.preprocess_logits_for_metrics = preprocess_logits_for_metrics
        self.optimizer, self.lr_scheduler = optimizers
        if self.args.eval_strategy != "no" and eval_dataset is None:
            raise ValueError(f"eval_strategy={self.args.eval_strategy!r} evaluates during training, but no "
                             f"eval_dataset was given: pass eval_dataset= to Trainer, or set eval_strategy='no'.")
        self._created_lr_scheduler = False
        self.label_names = self.args.label_names or U.find_labels(type(_unwrap(model)))
        forward_params = inspect.signature(_unwrap(model).forward).parameters
        # a model that names num_items_in_batch normalises its loss over the whole accumulated batch
        self._model_takes_num_items = "num_items_in_batch" in forward_params
        self._signature_columns = None
        self._num_params_no_embeddings = None

        default_callbacks = [DefaultFlowCallback]
        if "jsonl" in self.args.report_to:
            default_callbacks.append(JsonlLoggerCallback)
        self.callback_handler = CallbackHandler(default_callbacks + list(callbacks or []), self.model,
                                                processing_class, self.optimizer, self.lr_scheduler)
        self.add_callback(PrinterCallback if self.args.disable_tqdm else ProgressCallback)
        if self.args.should_save:
            os.makedirs(self.args.output_dir, exist_ok=True)
        self.control = TrainerControl()
        self.state = TrainerState(is_local_process_zero=self.is_local_process_zero(),
                                  is_world_process_zero=self.is_world_process_zero())
        self.is_in_train = False
        self.current_flos = 0.0
        self.scaler = None
        self.control = self.callback_handler.on_init_end(self.args, self.state, self.control)

    # ---- small public helpers ----------------------------------------------------------------
    def call_model_init(self, trial=None):
        params = inspect.signature(self.model_init).parameters
        model = self.model_init(trial) if len(params) == 1 else self.model_init()
        if model is None:
            raise RuntimeError("model_init returned None; it must return a model.")
        return model

    @property
    def tokenizer(self):
        return self.processing_class

    def add_callback(self, callback):
        self.callback_handler.add_callback(callback)

    def pop_callback(self, callback):
        return self.callback_handler.pop_callback(callback)

    def remove_callback(self, callback):
        self.callback_handler.remove_callback(callback)

    def end(self):
        """Leave the torchrun process group (call once, at the very end of a script), as at exit: the
        ranks meet at a barrier first."""
        leave_process_group()

    def is_world_process_zero(self) -> bool:
        return self.args.process_index == 0

    def is_local_process_zero(self) -> bool:
        return self.args.local_process_index == 0

    # ---- data --------------------------------------------------------------------------------
    def _signature_keep(self) -> set[str]:
        if self._signature_columns is None:
            params = inspect.signature(_unwrap(self.model).forward).parameters
            self._signature_columns = set(params) | {"label", "label_ids"} | set(self.label_names)
        return self._signature_columns

    @staticmethod
    def _check_map_style(dataset, description: str):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"The {description} dataset must be a map-style dataset (with __len__ and "
                            f"__getitem__, e.g. a list of dicts or a datasets.Dataset), not "
                            f"{type(dataset).__name__}.")
        return dataset

    def _prepare_dataset_and_collator(self, dataset, description: str):
        collator = self.data_collator
        if not self.args.remove_unused_columns:
            return dataset, collator
        keep = self._signature_keep()
        columns = getattr(dataset, "column_names", None)
        if isinstance(columns, list) and hasattr(dataset, "remove_columns"):  # a datasets.Dataset
            ignored = [c for c in columns if c not in keep]
            if ignored and len(ignored) == len(columns):
                raise ValueError(
                    f"No column of the {description} dataset ({', '.join(columns)}) is an argument of "
                    f"{type(_unwrap(self.model)).__name__}.forward. Tokenize the dataset first, or pass "
                    f"remove_unused_columns=False in TrainingArguments."
                )
            return (dataset.remove_columns(ignored) if ignored else dataset), collator
        return dataset, U.RemoveColumnsCollator(collator, keep)

    def _dataloader(self, dataset, batch_size, sampler, description, training=False) -> DataLoader:
        dataset, collator = self._prepare_dataset_and_collator(dataset, description)
        if training:
            sampler = U.SkippingBatchSampler(sampler, batch_size, self.args.dataloader_drop_last)
            kwargs = {"batch_sampler": sampler}
        else:
            kwargs = {"batch_size": batch_size, "sampler": sampler, "drop_last": self.args.dataloader_drop_last}
        pin = self.args.dataloader_pin_memory and self.args.device.type == "cuda"
        return DataLoader(dataset, collate_fn=collator, num_workers=self.args.dataloader_num_workers,
                          pin_memory=pin, **kwargs)

    def _train_sampler(self, dataset) -> DistributedSampler:
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        # with one replica this is the reference's seedable random sampler: randperm(seed + epoch)
        return DistributedSampler(dataset, num_replicas=self.args.world_size, rank=self.args.process_index,
                                  shuffle=True, seed=seed, drop_last=False)

    def get_train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            raise ValueError("Trainer.train() needs a train_dataset: pass train_dataset= to Trainer.")
        sampler = self._train_sampler(self._check_map_style(self.train_dataset, "training"))
        return self._dataloader(self.train_dataset, self.args.train_batch_size, sampler, "training", True)

    def _eval_sampler(self, dataset):
        if self.args.world_size > 1:
            return U.ShardSampler(len(dataset), self.args.process_index, self.args.world_size)
        return SequentialSampler(dataset)

    def get_eval_dataloader(self, eval_dataset=None) -> DataLoader:
        if eval_dataset is None and self.eval_dataset is None:
            raise ValueError("Evaluation needs an eval_dataset: pass eval_dataset= to Trainer or evaluate().")
        dataset = self._check_map_style(eval_dataset if eval_dataset is not None else self.eval_dataset,
                                        "evaluation")
        return self._dataloader(dataset, self.args.eval_batch_size, self._eval_sampler(dataset), "evaluation")

    def get_test_dataloader(self, test_dataset) -> DataLoader:
        self._check_map_style(test_dataset, "test")
        return self._dataloader(test_dataset, self.args.eval_batch_size, self._eval_sampler(test_dataset), "test")

    def _prepare_inputs(self, inputs):
        device = self.args.device
        non_blocking = device.type == "cuda"

        def move(value):
            if isinstance(value, torch.Tensor):
                return value.to(device, non_blocking=non_blocking)
            if isinstance(value, Mapping):
                return type(value)({k: move(v) for k, v in value.items()})
            if isinstance(value, (list, tuple)):
                return type(value)(move(v) for v in value)
            return value

        inputs = move(inputs)
        if len(inputs) == 0:
            raise ValueError("The batch is empty after removing the columns the model does not take: the "
                             "dataset's keys must include the model's inputs (e.g. input_ids).")
        return inputs

    # ---- optimizer, precision, model wrapping -----------------------------------------------
    def create_optimizer(self):
        if self.optimizer is None:
            self.optimizer = create_optimizer(_unwrap(self.model), self.args)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            self.lr_scheduler = get_scheduler(self.args.lr_scheduler_type, optimizer or self.optimizer,
                                              self.args.get_warmup_steps(num_training_steps), num_training_steps,
                                              self.args.lr_scheduler_kwargs)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def create_optimizer_and_scheduler(self, num_training_steps: int):
        self.create_optimizer()
        self.create_scheduler(num_training_steps)

    def autocast_smart_context_manager(self):
        if self.args.bf16:
            return torch.autocast(self.args.device.type, dtype=torch.bfloat16)
        if self.args.fp16:
            return torch.autocast(self.args.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    compute_loss_context_manager = autocast_smart_context_manager

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        if self.args.world_size <= 1 or isinstance(model, nn.parallel.DistributedDataParallel):
            return model
        find_unused = self.args.ddp_find_unused_parameters
        if find_unused is None:  # the reference's default: safe unless activations are recomputed
            find_unused = not getattr(model, "gradient_checkpointing", False)
        device_ids = [self.args.local_process_index] if self.args.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=find_unused)

    # ---- training ------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None,
              **kwargs):
        if kwargs:
            raise TypeError(f"train() got unexpected keyword arguments {sorted(kwargs)}.")
        if resume_from_checkpoint is False:
            resume_from_checkpoint = None
        if self.model_init is not None:
            U.set_seed(self.args.seed)
            self.model = self.model_wrapped = self.call_model_init(trial).to(self.args.device)
            self.optimizer, self.lr_scheduler = None, None
        if resume_from_checkpoint is True:
            resume_from_checkpoint = C.get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"resume_from_checkpoint=True, but {self.args.output_dir} holds no "
                                 f"checkpoint-<step> folder to resume from.")
        if resume_from_checkpoint is not None:
            resume_from_checkpoint = os.fspath(resume_from_checkpoint)
            if not os.path.isfile(os.path.join(resume_from_checkpoint, C.TRAINER_STATE_NAME)):
                raise ValueError(f"{resume_from_checkpoint} is not a Trainer checkpoint (it has no "
                                 f"{C.TRAINER_STATE_NAME}).")
            self._load_from_checkpoint(resume_from_checkpoint)
        self.is_in_train = True
        try:
            return self._inner_training_loop(resume_from_checkpoint, ignore_keys_for_eval)
        finally:
            self.is_in_train = False

    def _inner_training_loop(self, resume_from_checkpoint, ignore_keys_for_eval):
        args = self.args
        train_dataloader = self.get_train_dataloader()
        batch_sampler = train_dataloader.batch_sampler
        ga = args.gradient_accumulation_steps
        steps_in_epoch = len(train_dataloader)
        if steps_in_epoch == 0:
            raise ValueError("The training dataloader is empty: the train_dataset has fewer rows than one "
                             "batch and dataloader_drop_last=True.")
        updates_per_epoch = max(steps_in_epoch // ga + int(steps_in_epoch % ga > 0), 1)
        total_batch = args.train_batch_size * ga * args.world_size
        if args.max_steps > 0:
            max_steps = args.max_steps
            num_epochs = max_steps // updates_per_epoch + int(max_steps % updates_per_epoch > 0)
            num_train_samples = max_steps * total_batch
        else:
            max_steps = math.ceil(args.num_train_epochs * updates_per_epoch)
            num_epochs = math.ceil(args.num_train_epochs)
            num_train_samples = len(self.train_dataset) * args.num_train_epochs

        self.state = TrainerState(is_local_process_zero=self.is_local_process_zero(),
                                  is_world_process_zero=self.is_world_process_zero())
        self.state.train_batch_size = args.train_batch_size
        self.state.compute_steps(args, max_steps)
        epochs_trained, batches_to_skip = 0, 0
        if resume_from_checkpoint is not None:
            self.state = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, C.TRAINER_STATE_NAME))
            self.state.is_local_process_zero = self.is_local_process_zero()
            self.state.is_world_process_zero = self.is_world_process_zero()
            if self.state.best_model_checkpoint and not os.path.isdir(self.state.best_model_checkpoint):
                self.state.best_model_checkpoint = None
            epochs_trained = self.state.global_step // updates_per_epoch
            if not args.ignore_data_skip:
                batches_to_skip = (self.state.global_step % updates_per_epoch) * ga
        self.state.max_steps = max_steps
        self.state.num_train_epochs = num_epochs

        # a scheduler this Trainer made belongs to one schedule; rebuild it for this run
        if self._created_lr_scheduler:
            self.lr_scheduler, self._created_lr_scheduler = None, False
        self.create_optimizer_and_scheduler(max_steps)
        if args.fp16 and self.scaler is None:
            self.scaler = torch.amp.GradScaler(args.device.type)
        if _unwrap(self.model_wrapped) is not self.model:
            self.model_wrapped = self.model
        model = self.model_wrapped = self._wrap_model(self.model_wrapped)
        if resume_from_checkpoint is not None:
            self._load_optimizer_and_scheduler(resume_from_checkpoint)
        for name in ("model", "optimizer", "lr_scheduler"):
            setattr(self.callback_handler, name, getattr(self, name))
        self.callback_handler.train_dataloader = train_dataloader

        logger.info(f"***** Running training ***** examples={len(self.train_dataset)} epochs={num_epochs} "
                    f"batch/device={args.train_batch_size} total batch={total_batch} steps={max_steps}")
        start_time = time.time()
        self._initial_global_step = self.state.global_step
        self._tr_loss = torch.zeros((), device=args.device)
        self._total_loss_scalar = 0.0
        self._globalstep_last_logged = self.state.global_step
        model.train()
        model.zero_grad(set_to_none=True)
        # looked up once: walking the module tree every step costs more than the step on small models
        self._trainable = [p for p in model.parameters() if p.requires_grad]
        self.control = self.callback_handler.on_train_begin(args, self.state, self.control)

        for epoch in range(epochs_trained, num_epochs):
            resuming_here = resume_from_checkpoint is not None and epoch == epochs_trained
            skip = batches_to_skip if resuming_here else 0
            if resuming_here and skip == 0:
                self._load_rng_state(resume_from_checkpoint)
            batch_sampler.sampler.set_epoch(epoch)
            batch_sampler.skip = skip
            self.control = self.callback_handler.on_epoch_begin(args, self.state, self.control)
            epoch_iterator = iter(train_dataloader)
            if skip > 0:
                # restored after the iterator exists, as the uninterrupted run saved it mid-epoch
                self._load_rng_state(resume_from_checkpoint)
            self._run_epoch(model, epoch, epoch_iterator, steps_in_epoch, updates_per_epoch, skip,
                            ignore_keys_for_eval)
            if self.control.should_training_stop:
                break
        return self._finish_training(start_time, num_train_samples)

    def _run_epoch(self, model, epoch, epoch_iterator, steps_in_epoch, updates_per_epoch, skip,
                   ignore_keys_for_eval):
        args, ga = self.args, self.args.gradient_accumulation_steps
        step = skip - 1
        grad_norm = learning_rate = None
        remainder = steps_in_epoch % ga or ga
        for update_step in range(skip // ga, updates_per_epoch):
            n = ga if update_step != updates_per_epoch - 1 else remainder
            batches = [b for _, b in zip(range(n), epoch_iterator)]
            if not batches:
                break
            num_items = self._count_items(batches)
            # divides the per-batch mean losses when the model does not normalise them itself
            self.current_gradient_accumulation_steps = len(batches)
            for i, inputs in enumerate(batches):
                step += 1
                if step % ga == 0:
                    self.control = self.callback_handler.on_step_begin(args, self.state, self.control)
                last = i == len(batches) - 1
                sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
                with sync:
                    loss = self.training_step(model, inputs, num_items)
                self._accumulate_loss(loss)
                self.current_flos += self.floating_point_ops(inputs)
                if last:
                    grad_norm, learning_rate = self._optimizer_step(model)
                    self.state.global_step += 1
                    self.state.epoch = epoch + (step + 1) / steps_in_epoch
                    self.control = self.callback_handler.on_step_end(args, self.state, self.control)
                    self._maybe_log_save_evaluate(grad_norm, model, ignore_keys_for_eval, learning_rate)
                else:
                    self.control = self.callback_handler.on_substep_end(args, self.state, self.control)
                if self.control.should_epoch_stop or self.control.should_training_stop:
                    break
            if self.control.should_epoch_stop or self.control.should_training_stop:
                break
        self.control = self.callback_handler.on_epoch_end(args, self.state, self.control)
        self._maybe_log_save_evaluate(grad_norm, model, ignore_keys_for_eval, learning_rate)

    def _count_items(self, batches):
        """Label tokens in the accumulated batches, for models that normalise their loss by it."""
        if not self._model_takes_num_items or "labels" not in batches[0]:
            return None
        shifted = loss_shifts_labels(_unwrap(self.model))
        labels = [b["shift_labels"] if "shift_labels" in b else b["labels"][..., 1:] if shifted else b["labels"]
                  for b in batches]
        return sum(lab.ne(-100).sum() for lab in labels).to(self.args.device)

    def _accumulate_loss(self, loss: torch.Tensor):
        if self.args.logging_nan_inf_filter:
            # a nan/inf step counts as the running mean, decided on the device (no sync)
            mean = self._tr_loss / (1 + self.state.global_step - self._globalstep_last_logged)
            loss = torch.where(torch.isfinite(loss), loss, mean)
        self._tr_loss += loss

    def _optimizer_step(self, model):
        args = self.args
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        max_norm = args.max_grad_norm if args.max_grad_norm and args.max_grad_norm > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self._trainable, max_norm, foreach=True)
        self.control = self.callback_handler.on_pre_optimizer_step(args, self.state, self.control)
        skipped = False
        if self.scaler is not None:
            scale = self.scaler.get_scale()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            skipped = self.scaler.get_scale() < scale  # inf/nan gradients: the step was skipped
        else:
            self.optimizer.step()
        self.control = self.callback_handler.on_optimizer_step(args, self.state, self.control)
        learning_rate = self._get_learning_rate()  # the rate this step used
        if not skipped:
            self.lr_scheduler.step()
        for param in self._trainable:
            param.grad = None
        return grad_norm, learning_rate

    def _get_learning_rate(self) -> float:
        lr = self.lr_scheduler.get_last_lr()[0]
        return lr.item() if torch.is_tensor(lr) else lr

    def training_step(self, model, inputs, num_items_in_batch=None) -> torch.Tensor:
        inputs = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
        del inputs
        scaled_for_accumulation = (self._model_takes_num_items and num_items_in_batch is not None) \
            or self.compute_loss_func is not None
        if not scaled_for_accumulation:
            loss = loss / self.current_gradient_accumulation_steps
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        return loss.detach()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels") if self.compute_loss_func is not None and "labels" in inputs else None
        if self._model_takes_num_items and num_items_in_batch is not None:
            inputs = {**inputs, "num_items_in_batch": num_items_in_batch}
        outputs = model(**inputs)
        if self.compute_loss_func is not None:
            loss = self.compute_loss_func(outputs, labels, num_items_in_batch=num_items_in_batch)
        elif isinstance(outputs, dict):
            if outputs.get("loss") is None:
                raise ValueError(
                    f"The model did not return a loss: it returned only {', '.join(outputs.keys())} for the "
                    f"inputs {', '.join(inputs.keys())}. Include the targets in the batch (usually 'labels' "
                    f"or 'label'), or pass compute_loss_func= to Trainer."
                )
            loss = outputs["loss"]
        else:
            loss = outputs[0]
        return (loss, outputs) if return_outputs else loss

    def floating_point_ops(self, inputs) -> float:
        """6 * tokens * non-embedding parameters (the reference's estimate; no device sync)."""
        model = _unwrap(self.model)
        name = getattr(model, "main_input_name", "input_ids")
        if not isinstance(inputs, Mapping) or not isinstance(inputs.get(name), torch.Tensor):
            return 0.0
        if self._num_params_no_embeddings is None:
            counter = getattr(model, "num_parameters", None)
            self._num_params_no_embeddings = counter(exclude_embeddings=True) if callable(counter) else 0
        return 6.0 * inputs[name].numel() * self._num_params_no_embeddings

    def _maybe_log_save_evaluate(self, grad_norm, model, ignore_keys_for_eval, learning_rate=None):
        if self.control.should_log and self.state.global_step > self._globalstep_last_logged:
            tr_loss = self._tr_loss.detach().clone()
            if U.dist_ready():
                torch.distributed.all_reduce(tr_loss)
                tr_loss /= torch.distributed.get_world_size()
            tr_loss_scalar = tr_loss.item()
            self._tr_loss.zero_()
            logs = {"loss": tr_loss_scalar / (self.state.global_step - self._globalstep_last_logged)}
            if grad_norm is not None:
                logs["grad_norm"] = grad_norm.item() if torch.is_tensor(grad_norm) else grad_norm
            logs["learning_rate"] = learning_rate if learning_rate is not None else self._get_learning_rate()
            self._total_loss_scalar += tr_loss_scalar
            self._globalstep_last_logged = self.state.global_step
            self.store_flos()
            self.log(logs)
        if self.control.should_evaluate:
            metrics = self.evaluate(ignore_keys=ignore_keys_for_eval)
            self._determine_best_metric(metrics)
            model.train()
        if self.control.should_save:
            self._save_checkpoint()
            self.control = self.callback_handler.on_save(self.args, self.state, self.control)

    def _finish_training(self, start_time, num_train_samples):
        tr_loss = self._tr_loss
        if U.dist_ready():
            tr_loss = tr_loss.clone()
            torch.distributed.all_reduce(tr_loss)
            tr_loss /= torch.distributed.get_world_size()
        self._total_loss_scalar += tr_loss.item()
        self._tr_loss.zero_()
        steps = self.state.global_step - self._initial_global_step
        train_loss = self._total_loss_scalar / max(steps, 0.001)
        metrics = U.speed_metrics("train", start_time,
                                  num_samples=num_train_samples * steps / max(self.state.max_steps, 1),
                                  num_steps=steps)
        self.store_flos()
        metrics["total_flos"] = self.state.total_flos
        metrics["train_loss"] = train_loss
        self.log(metrics)
        if self.args.load_best_model_at_end and self.state.best_model_checkpoint is not None:
            U.barrier()
            self._load_model_weights(self.state.best_model_checkpoint)
        if (self.args.should_save and self.state.best_model_checkpoint is not None
                and self.args.save_total_limit == 1):
            import shutil

            for path in C.sorted_checkpoints(self.args.output_dir):
                if not os.path.samefile(path, self.state.best_model_checkpoint):
                    shutil.rmtree(path, ignore_errors=True)
        self.control = self.callback_handler.on_train_end(self.args, self.state, self.control)
        return U.TrainOutput(self.state.global_step, train_loss, metrics)

    def store_flos(self):
        flos = self.current_flos
        if U.dist_ready():
            flos = sum(U.gather_objects(flos))
        self.state.total_flos += flos
        self.current_flos = 0

    def log(self, logs: dict[str, float], start_time: float | None = None):
        if self.state.epoch is not None:
            logs["epoch"] = self.state.epoch
        self.state.log_history.append({**logs, "step": self.state.global_step})
        self.control = self.callback_handler.on_log(self.args, self.state, self.control, logs)

    def _determine_best_metric(self, metrics) -> bool:
        name = self.args.metric_for_best_model
        if name is None:
            return False
        name = name if name.startswith("eval_") else f"eval_{name}"
        if name not in metrics:
            raise KeyError(f"metric_for_best_model is {name!r}, but the evaluation returned only "
                           f"{list(metrics)}. Make compute_metrics return it, or change metric_for_best_model.")
        value = metrics[name]
        if self.state.best_metric is None:
            self.state.best_metric = float("-inf") if self.args.greater_is_better else float("inf")
        better = value > self.state.best_metric if self.args.greater_is_better else value < self.state.best_metric
        if better:
            self.state.best_metric = value
            if self.args.save_strategy in ("steps", "epoch"):
                self.state.best_global_step = self.state.global_step
        return better

    # ---- evaluation and prediction ------------------------------------------------------------
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        override = eval_dataset is not None
        dataset = eval_dataset if override else self.eval_dataset
        if isinstance(dataset, dict):
            metrics = {}
            for name, data in dataset.items():
                metrics.update(self.evaluate(data, ignore_keys, f"{metric_key_prefix}_{name}"))
            return metrics
        dataloader = self.get_eval_dataloader(dataset)
        start_time = time.time()
        output = self.evaluation_loop(dataloader, "Evaluation",
                                      prediction_loss_only=True if self.compute_metrics is None else None,
                                      ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        total_batch = self.args.eval_batch_size * self.args.world_size
        output.metrics.update(U.speed_metrics(metric_key_prefix, start_time, num_samples=output.num_samples,
                                              num_steps=math.ceil(output.num_samples / total_batch)))
        self.log(output.metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, output.metrics)
        return output.metrics

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test") -> U.PredictionOutput:
        dataloader = self.get_test_dataloader(test_dataset)
        start_time = time.time()
        output = self.evaluation_loop(dataloader, "Prediction", ignore_keys=ignore_keys,
                                      metric_key_prefix=metric_key_prefix)
        total_batch = self.args.eval_batch_size * self.args.world_size
        output.metrics.update(U.speed_metrics(metric_key_prefix, start_time, num_samples=output.num_samples,
                                              num_steps=math.ceil(output.num_samples / total_batch)))
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, output.metrics)
        return U.PredictionOutput(output.predictions, output.label_ids, output.metrics)

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix: str = "eval") -> U.EvalLoopOutput:
        args = self.args
        if prediction_loss_only is None:
            prediction_loss_only = args.prediction_loss_only
        model = self.model  # each rank evaluates its shard with the plain module: no DDP hooks needed
        was_training = model.training
        model.eval()
        self.callback_handler.eval_dataloader = dataloader
        world = args.world_size
        losses, preds, labels = [], [], []
        for inputs in dataloader:
            loss, logits, label = self.prediction_step(model, inputs, prediction_loss_only, ignore_keys)
            if loss is not None:
                # one entry per sample, so eval_loss is the mean over samples (a short last batch
                # weighs less, as in the reference) however the samples are split between ranks
                losses.append(loss.float().repeat(U.batch_size_of(inputs)))
            if logits is not None:
                if self.preprocess_logits_for_metrics is not None:
                    logits = self.preprocess_logits_for_metrics(logits, label)
                preds.append(U.nested_numpify(logits))
            if label is not None:
                labels.append(U.nested_numpify(label))
            self.control = self.callback_handler.on_prediction_step(args, self.state, self.control)
        if was_training:
            model.train()

        dataset = getattr(dataloader, "dataset", None)
        num_samples = len(dataset) if dataset is not None else None
        all_losses = torch.cat(losses).cpu().numpy() if losses else None
        all_preds = U.nested_concat_padded(preds)
        all_labels = U.nested_concat_padded(labels)
        if world > 1:
            gathered = U.gather_objects((all_losses, all_preds, all_labels))
            all_losses, all_preds, all_labels = (U.nested_interleave([g[i] for g in gathered]) for i in range(3))

        metrics = {}
        if self.compute_metrics is not None and all_preds is not None and all_labels is not None:
            metrics = self.compute_metrics(U.EvalPrediction(predictions=all_preds, label_ids=all_labels))
        metrics = U.denumpify(dict(metrics or {}))
        if all_losses is not None and len(all_losses):
            finite = np.isfinite(all_losses)
            if args.logging_nan_inf_filter and finite.any():
                all_losses = all_losses[finite]
            metrics[f"{metric_key_prefix}_loss"] = all_losses.mean().item()
        for key in list(metrics):
            if not key.startswith(f"{metric_key_prefix}_"):
                metrics[f"{metric_key_prefix}_{key}"] = metrics.pop(key)
        return U.EvalLoopOutput(all_preds, all_labels, metrics, num_samples)

    def prediction_step(self, model, inputs, prediction_loss_only: bool, ignore_keys=None):
        has_labels = bool(self.label_names) and all(inputs.get(k) is not None for k in self.label_names)
        inputs = self._prepare_inputs(inputs)
        if ignore_keys is None:
            config = getattr(_unwrap(model), "config", None)
            ignore_keys = list(getattr(config, "keys_to_ignore_at_inference", None) or ["past_key_values"])
        labels = None
        if has_labels:
            labels = tuple(inputs.get(name).detach() for name in self.label_names)
            labels = labels[0] if len(labels) == 1 else labels
        with torch.no_grad(), self.compute_loss_context_manager():
            if has_labels:
                loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
                loss = loss.detach().mean()
                skip = set(ignore_keys) | {"loss"}
            else:
                loss, outputs = None, model(**inputs)
                skip = set(ignore_keys)
        if prediction_loss_only:
            return loss, None, None
        if isinstance(outputs, dict):
            logits = tuple(v for k, v in outputs.items() if k not in skip)
        else:
            logits = tuple(outputs[1:] if has_labels else outputs)
        logits = tuple(v.detach() if torch.is_tensor(v) else v for v in logits)
        if len(logits) == 1:
            logits = logits[0]
        return loss, logits, labels

    # ---- saving and loading -------------------------------------------------------------------
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """model.save_pretrained (or a bare model.safetensors) + the tokenizer + training_args.json."""
        output_dir = os.fspath(output_dir if output_dir is not None else self.args.output_dir)
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        model = _unwrap(self.model)
        if hasattr(model, "save_pretrained"):
            model.save_pretrained(output_dir)
        else:
            C.save_bare_model(model, output_dir)
        tokenizer = self.processing_class or getattr(self.data_collator, "tokenizer", None)
        if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
            tokenizer.save_pretrained(output_dir)
        C.save_text(os.path.join(output_dir, C.TRAINING_ARGS_NAME), self.args.to_json_string())

    def _save_checkpoint(self, model=None, trial=None):
        args = self.args
        output_dir = os.path.join(args.output_dir, f"{C.PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        self.store_flos()
        self.save_model(output_dir, _internal_call=True)
        U.barrier()  # the model folder is complete before any rank writes beside it
        if self.state.best_global_step:
            best = os.path.join(args.output_dir, f"{C.PREFIX_CHECKPOINT_DIR}-{self.state.best_global_step}")
            if os.path.exists(best):
                self.state.best_model_checkpoint = best
        if not args.save_only_model:
            if args.should_save:
                C.save_torch(self.optimizer.state_dict(), os.path.join(output_dir, C.OPTIMIZER_NAME))
                C.save_torch(self.lr_scheduler.state_dict(), os.path.join(output_dir, C.SCHEDULER_NAME))
                if self.scaler is not None:
                    C.save_torch(self.scaler.state_dict(), os.path.join(output_dir, C.SCALER_NAME))
            os.makedirs(output_dir, exist_ok=True)
            name = "rng_state.pth" if args.world_size <= 1 else f"rng_state_{args.process_index}.pth"
            C.save_rng_state(os.path.join(output_dir, name))
        if args.should_save:
            self.state.save_to_json(os.path.join(output_dir, C.TRAINER_STATE_NAME))
            C.rotate_checkpoints(args.output_dir, args.save_total_limit, self.state.best_model_checkpoint)
        U.barrier()

    def _load_model_weights(self, folder: str):
        C.load_model_weights(_unwrap(self.model), folder)

    _load_from_checkpoint = _load_model_weights

    def _load_optimizer_and_scheduler(self, checkpoint: str):
        path = os.path.join(checkpoint, C.OPTIMIZER_NAME)
        if not os.path.isfile(path):
            logger.warning(f"{checkpoint} has no {C.OPTIMIZER_NAME} (saved with save_only_model?): the optimizer "
                           f"starts fresh.")
            return
        device = self.args.device
        self.optimizer.load_state_dict(torch.load(path, map_location=device, weights_only=True))
        self.lr_scheduler.load_state_dict(torch.load(os.path.join(checkpoint, C.SCHEDULER_NAME), weights_only=True))
        scaler_path = os.path.join(checkpoint, C.SCALER_NAME)
        if self.scaler is not None and os.path.isfile(scaler_path):
            self.scaler.load_state_dict(torch.load(scaler_path, weights_only=True))

    def _load_rng_state(self, checkpoint: str):
        world = self.args.world_size
        name = "rng_state.pth" if world <= 1 else f"rng_state_{self.args.process_index}.pth"
        path = os.path.join(checkpoint, name)
        if not os.path.isfile(path):
            logger.info(f"{checkpoint} has no {name}: random numbers will differ from an uninterrupted run.")
            return
        C.load_rng_state(path)
