"""TrainingArguments: the reference's argument names and defaults, plus device and process setup.

Only the arguments leanformers implements are fields; passing one of the reference's other arguments
raises ``TypeError`` (better than silently ignoring it). Under ``torchrun`` the ``device`` property
joins the process group from the environment variables torchrun sets (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import math
import os
import sys
from dataclasses import dataclass
from functools import cached_property

import torch

__all__ = ["TrainingArguments", "Seq2SeqTrainingArguments", "STRATEGIES", "SCHEDULERS", "OPTIMIZERS"]

logger = logging.getLogger("leanformers")

STRATEGIES = ("no", "steps", "epoch")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
OPTIMIZERS = ("adamw_torch_fused", "adamw_torch", "sgd")


_failed = []  # set when this process dies of an uncaught exception


def _record_failure(hook):
    def excepthook(*exc):
        _failed.append(exc[0])
        hook(*exc)
    return excepthook


def leave_process_group():
    """Leave the process group at exit, after every rank has reached its own exit.

    A gloo group torn down while another rank still holds its connections (rank 0 still saving, say)
    can abort this process ("terminate called without an active exception"), so the ranks first meet
    at a barrier. A rank that dies of an exception skips the barrier: the others are elsewhere, and
    torchrun stops them.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if not _failed:
        dist.barrier()
    dist.destroy_process_group()


def _check_choice(name: str, value, choices) -> str:
    value = getattr(value, "value", value)  # accept the reference's enums (IntervalStrategy.EPOCH, ...)
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported: use one of {', '.join(map(repr, choices))}.")
    return value


@dataclass
class TrainingArguments:
    output_dir: str | None = None
    overwrite_output_dir: bool = False  # accepted for older scripts; checkpoints are never deleted by it

    # schedule
    num_train_epochs: float = 3.0
    max_steps: int = -1
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1

    # optimizer and learning-rate schedule
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    optim: str = "adamw_torch_fused"
    lr_scheduler_type: str = "linear"
    lr_scheduler_kwargs: dict | None = None
    warmup_steps: float = 0  # an int, or a float < 1 read as a fraction of the training steps
    warmup_ratio: float = 0.0  # older spelling of a fractional warmup_steps

    # logging, evaluation, checkpoints
    eval_strategy: str = "no"
    eval_steps: float | None = None
    eval_delay: float = 0
    logging_strategy: str = "steps"
    logging_steps: float = 500
    logging_first_step: bool = False
    logging_nan_inf_filter: bool = True
    save_strategy: str = "steps"
    save_steps: float = 500
    save_total_limit: int | None = None
    save_only_model: bool = False
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    prediction_loss_only: bool = False
    report_to: str | list[str] | None = "none"
    disable_tqdm: bool | None = None
    ignore_data_skip: bool = False

    # reproducibility
    seed: int = 42
    data_seed: int | None = None

    # precision and device
    bf16: bool = False
    fp16: bool = False
    use_cpu: bool = False

    # data
    dataloader_num_workers: int = 0
    dataloader_drop_last: bool = False
    dataloader_pin_memory: bool = True
    remove_unused_columns: bool = True
    label_names: list[str] | None = None

    # distributed (torchrun sets LOCAL_RANK; the argument is for launchers that pass it)
    local_rank: int = -1
    ddp_backend: str | None = None
    ddp_find_unused_parameters: bool | None = None

    # accepted for compatibility with scripts written for the reference
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    run_name: str | None = None
    push_to_hub: bool = False

    def __post_init__(self):
        if self.output_dir is None:
            self.output_dir = "trainer_output"
        self.output_dir = os.path.expanduser(os.fspath(self.output_dir))
        self.eval_strategy = _check_choice("eval_strategy", self.eval_strategy, STRATEGIES)
        self.logging_strategy = _check_choice("logging_strategy", self.logging_strategy, STRATEGIES)
        self.save_strategy = _check_choice("save_strategy", self.save_strategy, STRATEGIES)
        self.lr_scheduler_type = _check_choice("lr_scheduler_type", self.lr_scheduler_type, SCHEDULERS)
        self.optim = _check_choice("optim", self.optim, OPTIMIZERS)
        if self.push_to_hub:
            raise ValueError("push_to_hub=True is not supported by leanformers: save with "
                             "trainer.save_model() and upload the folder with huggingface_hub.")
        if self.disable_tqdm is None:
            self.disable_tqdm = logger.getEffectiveLevel() > logging.WARNING
        if self.eval_strategy != "no":
            self.do_eval = True

        if self.eval_strategy == "steps" and not self.eval_steps:
            if not self.logging_steps:
                raise ValueError('eval_strategy="steps" needs a non-zero eval_steps or logging_steps.')
            self.eval_steps = self.logging_steps
        for kind, strategy in (("logging", self.logging_strategy), ("eval", self.eval_strategy),
                               ("save", self.save_strategy)):
            steps = getattr(self, f"{kind}_steps")
            if strategy != "steps":
                continue
            if not steps or steps < 0:
                raise ValueError(f'{kind}_strategy="steps" needs a positive {kind}_steps, not {steps!r}.')
            if steps > 1:
                if steps != int(steps):
                    raise ValueError(f"{kind}_steps must be an integer when above 1 (a float below 1 is a "
                                     f"fraction of the training steps), not {steps!r}.")
                setattr(self, f"{kind}_steps", int(steps))

        if self.load_best_model_at_end and self.metric_for_best_model is None:
            self.metric_for_best_model = "loss"
        if self.greater_is_better is None and self.metric_for_best_model is not None:
            self.greater_is_better = not self.metric_for_best_model.endswith("loss")
        if self.load_best_model_at_end:
            if self.eval_strategy != self.save_strategy:
                raise ValueError(
                    "load_best_model_at_end=True needs the same eval_strategy and save_strategy (so every "
                    f"evaluated model is saved), but got eval_strategy={self.eval_strategy!r} and "
                    f"save_strategy={self.save_strategy!r}."
                )
            if self.eval_strategy == "steps" and self.save_steps % self.eval_steps != 0:
                raise ValueError(
                    f"load_best_model_at_end=True needs save_steps ({self.save_steps}) to be a round multiple "
                    f"of eval_steps ({self.eval_steps})."
                )

        if isinstance(self.report_to, str):
            self.report_to = [self.report_to]
        self.report_to = [r for r in (self.report_to or []) if r != "none"]
        if "all" in self.report_to:
            self.report_to = ["jsonl"]
        unknown = [r for r in self.report_to if r != "jsonl"]
        if unknown:
            raise ValueError(f"report_to={unknown} is not supported: use 'none' or 'jsonl' "
                             f"(log lines in output_dir/log.jsonl).")

        if self.warmup_steps < 0 or self.warmup_ratio < 0 or self.warmup_ratio > 1:
            raise ValueError("warmup_steps must be >= 0 and warmup_ratio between 0 and 1.")
        if self.gradient_accumulation_steps < 1:
            raise ValueError(f"gradient_accumulation_steps must be >= 1, not {self.gradient_accumulation_steps}.")
        if self.fp16 and self.bf16:
            raise ValueError("At most one of fp16 and bf16 can be True, not both.")
        cuda = torch.cuda.is_available() and not self.use_cpu
        if self.fp16 and not cuda:
            raise ValueError("fp16=True needs a CUDA GPU, and none is in use here. Train in float32 "
                             "(fp16=False), or in bfloat16 on the CPU with bf16=True, use_cpu=True.")
        if self.bf16 and not self.use_cpu and not (cuda and torch.cuda.is_bf16_supported()):
            raise ValueError("bf16=True needs a GPU with bfloat16 support (Ampere or newer), and none is in use "
                             "here. To train with bfloat16 autocast on the CPU, also pass use_cpu=True.")
        if self.use_cpu:
            self.dataloader_pin_memory = False

    # ---- batch sizes and steps ---------------------------------------------------------------
    @property
    def train_batch_size(self) -> int:
        """Batch size of one process (one device) per forward pass."""
        return self.per_device_train_batch_size

    @property
    def eval_batch_size(self) -> int:
        return self.per_device_eval_batch_size

    def get_warmup_steps(self, num_training_steps: int) -> int:
        if self.warmup_steps >= 1:
            return int(self.warmup_steps)
        ratio = self.warmup_steps if self.warmup_steps > 0 else self.warmup_ratio
        return math.ceil(num_training_steps * ratio)

    # ---- devices and processes ---------------------------------------------------------------
    @cached_property
    def _setup_devices(self) -> torch.device:
        local_rank = int(os.environ.get("LOCAL_RANK", self.local_rank))
        world_size = int(os.environ.get("WORLD_SIZE", 1))
        use_cuda = torch.cuda.is_available() and not self.use_cpu
        if world_size > 1 or (local_rank >= 0 and "RANK" in os.environ):
            import torch.distributed as dist

            if local_rank < 0:
                local_rank = 0
            if use_cuda:
                torch.cuda.set_device(local_rank)
            if not dist.is_initialized():
                backend = self.ddp_backend or ("nccl" if use_cuda else "gloo")
                dist.init_process_group(backend=backend)
                # a process group left alive at exit can abort the interpreter (gloo's threads)
                atexit.register(leave_process_group)
                sys.excepthook = _record_failure(sys.excepthook)
            self.local_rank = local_rank
            return torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
        return torch.device("cuda", 0) if use_cuda else torch.device("cpu")

    @property
    def device(self) -> torch.device:
        """The device this process trains on (joins the torchrun process group on first use)."""
        return self._setup_devices

    @property
    def n_gpu(self) -> int:
        return 1 if self.device.type == "cuda" else 0

    @property
    def parallel_mode(self) -> str:
        return "distributed" if self.world_size > 1 else ("not_distributed" if self.n_gpu else "not_parallel")

    @property
    def world_size(self) -> int:
        self.device  # noqa: B018 - joins the process group first
        import torch.distributed as dist

        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1

    @property
    def process_index(self) -> int:
        self.device  # noqa: B018
        import torch.distributed as dist

        return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0

    @property
    def local_process_index(self) -> int:
        return int(os.environ.get("LOCAL_RANK", 0)) if self.world_size > 1 else 0

    @property
    def should_log(self) -> bool:
        return self.process_index == 0

    @property
    def should_save(self) -> bool:
        return self.process_index == 0

    # ---- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n"

    def __repr__(self):
        body = ",\n".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}(\n{body},\n)"

    __str__ = __repr__


@dataclass
class Seq2SeqTrainingArguments(TrainingArguments):
    """TrainingArguments plus what Seq2SeqTrainer's evaluation uses: ``predict_with_generate`` (evaluate
    and predict on ``model.generate`` output, for metrics such as ROUGE or BLEU),
    ``generation_max_length`` / ``generation_num_beams`` (passed to generate unless the call gives
    them) and ``generation_config`` (a GenerationConfig, or a folder / file / Hub id holding one)."""

    sortish_sampler: bool = False
    predict_with_generate: bool = False
    generation_max_length: int | None = None
    generation_num_beams: int | None = None
    generation_config: object | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.sortish_sampler:
            raise ValueError("sortish_sampler=True is not supported by leanformers (transformers 5 does not use "
                             "it either): leave it False.")

    def to_dict(self) -> dict:
        out = super().to_dict()
        if hasattr(out.get("generation_config"), "to_dict"):
            out["generation_config"] = out["generation_config"].to_dict()
        return out
