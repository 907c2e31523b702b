"""The optimizer and learning-rate schedules the Trainer builds from its arguments.

AdamW with weight decay on every weight except biases and normalisation weights (the reference's
rule), fused where torch has the fused kernel for the device, and the reference's LambdaLR schedules
(so a scheduler.pt state dict means the same thing in both libraries).
"""

from __future__ import annotations

import functools
import math
import re

import torch
from torch import nn

__all__ = ["get_decay_parameter_names", "create_optimizer", "get_scheduler"]

# parameter names that never get weight decay (matched on the lower-cased full name)
_NO_DECAY_PATTERNS = [re.compile(p) for p in
                      (r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)")]


def _parameter_names(module: nn.Module) -> list[str]:
    """Names of parameters outside LayerNorm modules whose names match no no-decay pattern."""
    names = []
    for child_name, child in module.named_children():
        if isinstance(child, nn.LayerNorm):
            continue
        for n in _parameter_names(child):
            full = f"{child_name}.{n}"
            if not any(p.search(full.lower()) for p in _NO_DECAY_PATTERNS):
                names.append(full)
    names += [k for k in module._parameters if not any(p.search(k.lower()) for p in _NO_DECAY_PATTERNS)]
    return names


def get_decay_parameter_names(model: nn.Module) -> list[str]:
    """The parameters weight decay applies to: not biases, not LayerNorm/RMSNorm weights."""
    return _parameter_names(model)


def _fused_supported(params: list[torch.Tensor]) -> bool:
    devices = {p.device.type for p in params}
    if not devices <= {"cpu", "cuda"}:
        return False
    return all(p.dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64) for p in params)


def create_optimizer(model: nn.Module, args) -> torch.optim.Optimizer:
    decay = set(get_decay_parameter_names(model))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if n in decay], "weight_decay": args.weight_decay},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]
    if not named:
        raise ValueError("The model has no trainable parameters (all have requires_grad=False).")
    if args.optim == "sgd":
        return torch.optim.SGD(groups, lr=args.learning_rate)
    kwargs = dict(lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon)
    if args.optim == "adamw_torch_fused" and _fused_supported([p for _, p in named]):
        kwargs["fused"] = True  # one kernel for all parameters: the per-step optimizer cost drops a lot
    else:
        kwargs["foreach"] = True
    return torch.optim.AdamW(groups, **kwargs)


def _constant(step: int) -> float:
    return 1.0


def _constant_with_warmup(step: int, *, num_warmup_steps: int) -> float:
    if step < num_warmup_steps:
        return float(step) / float(max(1.0, num_warmup_steps))
    return 1.0


def _linear(step: int, *, num_warmup_steps: int, num_training_steps: int) -> float:
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    return max(0.0, float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps)))


def _cosine(step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: float = 0.5) -> float:
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))


def get_scheduler(name: str, optimizer: torch.optim.Optimizer, num_warmup_steps: int = 0,
                  num_training_steps: int | None = None, scheduler_specific_kwargs: dict | None = None):
    """A LambdaLR for ``name`` in linear | cosine | constant | constant_with_warmup."""
    name = getattr(name, "value", name)
    extra = dict(scheduler_specific_kwargs or {})
    if name == "constant":
        fn = _constant
    elif name == "constant_with_warmup":
        fn = functools.partial(_constant_with_warmup, num_warmup_steps=num_warmup_steps)
    elif name in ("linear", "cosine"):
        if num_training_steps is None:
            raise ValueError(f"The {name!r} schedule needs num_training_steps.")
        fn = functools.partial(_linear, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
        if name == "cosine":  # num_cycles may come from lr_scheduler_kwargs
            fn = functools.partial(_cosine, num_warmup_steps=num_warmup_steps,
                                   num_training_steps=num_training_steps, **extra)
    else:
        raise ValueError(f"Unknown lr_scheduler_type {name!r}: use linear, cosine, constant or "
                         f"constant_with_warmup.")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
