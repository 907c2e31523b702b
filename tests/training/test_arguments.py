"""TrainingArguments defaults and errors, learning-rate schedules, the optimizer, mixed precision."""

import math

import pytest
import torch

from leanformers import Trainer, TrainingArguments
from leanformers.training import get_scheduler

T = pytest.importorskip("transformers")

SHARED_FIELDS = [
    "num_train_epochs", "max_steps", "per_device_train_batch_size", "per_device_eval_batch_size",
    "learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "warmup_steps",
    "gradient_accumulation_steps", "max_grad_norm", "logging_steps", "logging_first_step", "save_steps",
    "save_total_limit", "load_best_model_at_end", "metric_for_best_model", "greater_is_better", "seed",
    "data_seed", "bf16", "fp16", "dataloader_num_workers", "dataloader_drop_last", "remove_unused_columns",
    "label_names", "report_to", "use_cpu", "eval_steps", "logging_nan_inf_filter", "prediction_loss_only",
    "lr_scheduler_kwargs", "save_only_model", "ignore_data_skip", "eval_delay",
]


def _value(v):
    return getattr(v, "value", v)


def test_defaults_match_reference(tmp_path):
    ours = TrainingArguments(output_dir=str(tmp_path))
    ref = T.TrainingArguments(output_dir=str(tmp_path))
    for name in SHARED_FIELDS:
        assert getattr(ours, name) == _value(getattr(ref, name)), name
    for name in ("eval_strategy", "save_strategy", "logging_strategy", "lr_scheduler_type", "optim"):
        assert getattr(ours, name) == _value(getattr(ref, name)), name
    assert ours.device == ref.device == torch.device("cpu")
    assert ours.world_size == 1 and ours.process_index == 0 and ours.should_save
    assert ours.train_batch_size == ref.train_batch_size
    # derived values, as the reference derives them
    for kwargs in ({"load_best_model_at_end": True, "eval_strategy": "epoch", "save_strategy": "epoch"},
                   {"metric_for_best_model": "accuracy"}, {"eval_strategy": "steps", "logging_steps": 7}):
        ours, ref = TrainingArguments(str(tmp_path), **kwargs), T.TrainingArguments(str(tmp_path), **kwargs)
        for name in ("metric_for_best_model", "greater_is_better", "eval_steps", "do_eval"):
            assert getattr(ours, name) == getattr(ref, name), (kwargs, name)


def test_compatibility_arguments(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), overwrite_output_dir=True, warmup_ratio=0.1)
    assert args.get_warmup_steps(95) == 10
    assert TrainingArguments(output_dir=str(tmp_path), warmup_steps=0.25).get_warmup_steps(10) == 3
    assert TrainingArguments(output_dir=str(tmp_path), warmup_steps=4).get_warmup_steps(10) == 4
    assert TrainingArguments(output_dir=str(tmp_path), report_to=["none"]).report_to == []


@pytest.mark.parametrize("kwargs, match", [
    ({"fp16": True}, "fp16=True needs a CUDA GPU"),
    ({"bf16": True}, "use_cpu=True"),
    ({"fp16": True, "bf16": True}, "At most one"),
    ({"eval_strategy": "sometimes"}, "eval_strategy='sometimes' is not supported"),
    ({"lr_scheduler_type": "polynomial"}, "lr_scheduler_type"),
    ({"report_to": "wandb"}, "report_to"),
    ({"load_best_model_at_end": True, "eval_strategy": "epoch"}, "same eval_strategy and save_strategy"),
    ({"logging_steps": 2.5}, "logging_steps must be an integer"),
])
def test_bad_arguments_are_clear_errors(tmp_path, kwargs, match):
    if torch.cuda.is_available() and "fp16" in kwargs and len(kwargs) == 1:
        pytest.skip("fp16 is valid on this machine")
    with pytest.raises(ValueError, match=match):
        TrainingArguments(output_dir=str(tmp_path), **kwargs)
    with pytest.raises(TypeError):
        TrainingArguments(output_dir=str(tmp_path), no_such_argument=1)


@pytest.mark.parametrize("name", ["linear", "cosine", "constant", "constant_with_warmup"])
def test_schedules_match_reference(name):
    def rates(make):
        param = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([param], lr=0.1)
        sched = make(name, opt, num_warmup_steps=3, num_training_steps=10)
        out = []
        for _ in range(12):
            out.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        return out

    ours = rates(get_scheduler)
    assert ours == pytest.approx(rates(T.get_scheduler), abs=1e-12)
    assert ours[0] == (0.1 if name == "constant" else 0.0)
    if name == "cosine":
        assert ours[3] == pytest.approx(0.1) and ours[10] == pytest.approx(0.0, abs=1e-12)


def test_optimizer_groups_and_fused_adamw(tmp_path, tiny_model):
    args = TrainingArguments(output_dir=str(tmp_path), weight_decay=0.1, save_strategy="no")
    trainer = Trainer(model=tiny_model, args=args)
    optimizer = trainer.create_optimizer()
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    named = dict(tiny_model.named_parameters())
    ids = lambda group: {id(p) for p in group["params"]}  # noqa: E731
    assert ids(decay) == {id(named["embed.weight"]), id(named["head.weight"])}
    assert ids(no_decay) == {id(named[n]) for n in ("norm.weight", "norm.bias", "head.bias")}
    assert decay["fused"] is True and decay["lr"] == 5e-5 and decay["betas"] == (0.9, 0.999)
    plain = Trainer(model=tiny_model, args=TrainingArguments(str(tmp_path), optim="adamw_torch")).create_optimizer()
    assert plain.param_groups[0]["foreach"] is True


def test_bf16_autocast_on_cpu(tmp_path, tiny_model, rows):
    args = TrainingArguments(output_dir=str(tmp_path), bf16=True, use_cpu=True, max_steps=3,
                             per_device_train_batch_size=8, save_strategy="no", disable_tqdm=True)
    trainer = Trainer(model=tiny_model, args=args, train_dataset=rows(24), eval_dataset=rows(8))
    out = trainer.train()
    assert math.isfinite(out.training_loss)
    assert tiny_model.head.weight.dtype == torch.float32  # autocast: the weights stay float32
    pred = trainer.predict(rows(8))
    assert pred.predictions.dtype.name == "float32" and pred.predictions.shape == (8, 2)
