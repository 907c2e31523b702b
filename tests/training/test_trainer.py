"""Trainer end to end on a tiny model: train / evaluate / predict / save_model, logs, callbacks."""

import json
import os

import numpy as np
import pytest
import torch

from leanformers import Trainer, TrainerCallback, TrainingArguments
from leanformers.training import EvalPrediction, TrainOutput, PredictionOutput


def accuracy(pred: EvalPrediction):
    logits, labels = pred
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def test_train_evaluate_predict_save(tmp_path, tiny_model, rows, classifier_cls):
    data = rows(32)
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=3, per_device_train_batch_size=8,
                             learning_rate=5e-2, logging_steps=2, save_strategy="no", disable_tqdm=True,
                             report_to="jsonl")
    trainer = Trainer(model=tiny_model, args=args, train_dataset=data, eval_dataset=data[:12],
                      compute_metrics=accuracy)
    before = trainer.evaluate()
    out = trainer.train()
    assert isinstance(out, TrainOutput) and out.global_step == 12
    assert set(out.metrics) >= {"train_runtime", "train_samples_per_second", "train_steps_per_second",
                                "train_loss", "epoch"}
    losses = [h for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 6
    assert list(losses[0]) == ["loss", "grad_norm", "learning_rate", "epoch", "step"]
    assert losses[-1]["loss"] < losses[0]["loss"]
    # training_loss is the mean of every step's loss
    assert out.training_loss == pytest.approx(np.mean([h["loss"] for h in losses]), rel=1e-6)
    # linear decay from 5e-2 to 0 over 12 steps, logged with the rate each step used
    assert [h["learning_rate"] for h in losses] == pytest.approx([5e-2 * (12 - s + 1) / 12 for s in (2, 4, 6, 8, 10, 12)])

    after = trainer.evaluate()
    assert list(after)[:2] == ["eval_loss", "eval_accuracy"]
    assert {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch"} <= set(after)
    assert after["eval_loss"] < before["eval_loss"]
    assert after["eval_accuracy"] >= 0.75

    pred = trainer.predict(data[:5])
    assert isinstance(pred, PredictionOutput)
    assert pred.predictions.shape == (5, 2) and pred.label_ids.tolist() == [r["label"] for r in data[:5]]
    assert "test_loss" in pred.metrics and "test_accuracy" in pred.metrics

    # report_to="jsonl": one line per log, with the step (train() starts a new log_history)
    lines = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    history = trainer.state.log_history
    assert len(lines) == len(history) + 1 and lines[1:] == history
    assert lines[0]["step"] == 0 and lines[-1]["eval_loss"] == after["eval_loss"]

    trainer.save_model(str(tmp_path / "final"))
    assert os.path.isfile(tmp_path / "final" / "model.safetensors")
    args_json = json.load(open(tmp_path / "final" / "training_args.json"))
    assert args_json["learning_rate"] == 5e-2 and args_json["output_dir"] == str(tmp_path)
    reloaded = classifier_cls()
    from leanformers.training.checkpoints import load_model_weights

    load_model_weights(reloaded, str(tmp_path / "final"))
    for (name, a), b in zip(tiny_model.state_dict().items(), reloaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_remove_unused_columns_and_label_rename(tmp_path, tiny_model, rows):
    data = [dict(r, idx=i) for i, r in enumerate(rows(16, text=True))]  # columns forward() does not take
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=8,
                             save_strategy="no", disable_tqdm=True)
    Trainer(model=tiny_model, args=args, train_dataset=data).train()
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, remove_unused_columns=False,
                             save_strategy="no", disable_tqdm=True)
    with pytest.raises(TypeError, match="idx"):
        Trainer(model=tiny_model, args=args, train_dataset=data).train()


def test_missing_loss_is_a_clear_error(tmp_path, tiny_model, rows):
    data = [{k: v for k, v in r.items() if k != "label"} for r in rows(8)]
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, save_strategy="no", disable_tqdm=True)
    with pytest.raises(ValueError, match="did not return a loss"):
        Trainer(model=tiny_model, args=args, train_dataset=data).train()
    with pytest.raises(ValueError, match="train_dataset"):
        Trainer(model=tiny_model, args=args).train()


class Recorder(TrainerCallback):
    def __init__(self):
        self.events = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            events = object.__getattribute__(self, "events")
            return lambda args, state, control, **kw: events.append(name)
        return object.__getattribute__(self, name)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


def test_callback_events_and_control(tmp_path, tiny_model, rows):
    recorder = Recorder()
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=8,
                             gradient_accumulation_steps=2, logging_steps=1, eval_strategy="epoch",
                             save_strategy="no", disable_tqdm=True)
    trainer = Trainer(model=tiny_model, args=args, train_dataset=rows(32), eval_dataset=rows(8),
                      callbacks=[recorder])
    trainer.train()
    ev = recorder.events
    assert ev[0] == "on_init_end" and ev[1] == "on_train_begin" and ev[-1] == "on_train_end"
    assert ev.count("on_epoch_begin") == 2 and ev.count("on_epoch_end") == 2
    assert ev.count("on_step_begin") == 4 and ev.count("on_step_end") == 4
    assert ev.count("on_substep_end") == 4 and ev.count("on_optimizer_step") == 4
    assert ev.count("on_evaluate") == 2 and ev.count("on_log") == 4 + 2 + 1

    with pytest.raises(ValueError, match="eval_dataset"):
        Trainer(model=tiny_model, args=args, train_dataset=rows(32))
    trainer = Trainer(model=tiny_model, args=args, train_dataset=rows(32), eval_dataset=rows(8),
                      callbacks=[StopAt(3)])
    trainer.add_callback(Recorder)
    assert trainer.train().global_step == 3
    assert trainer.pop_callback(Recorder) is not None


def test_gradient_accumulation_matches_larger_batch(tmp_path, classifier_cls, rows):
    data = rows(32)
    weights = []
    for batch, accumulation in ((8, 1), (4, 2)):
        torch.manual_seed(0)
        model = classifier_cls()
        args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, learning_rate=1e-2,
                                 per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
                                 logging_steps=1, save_strategy="no", disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=data)
        out = trainer.train()
        assert out.global_step == 8
        weights.append((out.training_loss, [p.detach().clone() for p in model.parameters()]))
    assert weights[0][0] == pytest.approx(weights[1][0], rel=1e-5)
    for a, b in zip(weights[0][1], weights[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


class FakeArrowDataset:
    """Duck-types a datasets.Dataset: columns are removed through remove_columns, not per row."""

    def __init__(self, rows):
        self.rows = rows
        self.removed = None

    @property
    def column_names(self):
        return list(self.rows[0])

    def remove_columns(self, names):
        self.removed = sorted(names)
        return FakeArrowDataset([{k: v for k, v in r.items() if k not in names} for r in self.rows])

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def test_dataset_objects_dict_eval_and_progress_bar(tmp_path, tiny_model, rows, capsys):
    data = FakeArrowDataset([dict(r, idx=i, text="t") for i, r in enumerate(rows(16))])
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=4,
                             logging_steps=2, save_strategy="no", disable_tqdm=False)
    trainer = Trainer(model=tiny_model, args=args, train_dataset=data)
    trainer.train()
    err = capsys.readouterr().err
    assert "loss=" in err and "lr=" in err  # the tqdm bar shows the last loss and learning rate
    metrics = trainer.evaluate({"a": rows(4), "b": rows(6, seed=1)})
    assert {"eval_a_loss", "eval_b_loss", "eval_a_runtime", "eval_b_runtime"} <= set(metrics)
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        Trainer(model=tiny_model, args=args, train_dataset=FakeArrowDataset([{"text": "x"}])).train()
    with pytest.raises(TypeError, match="map-style"):
        Trainer(model=tiny_model, args=args, train_dataset=iter(rows(4))).train()


def test_save_model_writes_tokenizer(tmp_path, tiny_model, rows, ref_tokenizer):
    import leanformers

    tokenizer = leanformers.AutoTokenizer.from_pretrained(ref_tokenizer.name_or_path)
    args = TrainingArguments(output_dir=str(tmp_path), save_strategy="no")
    trainer = Trainer(model=tiny_model, args=args, tokenizer=tokenizer)
    assert trainer.processing_class is tokenizer and trainer.tokenizer is tokenizer
    assert trainer.data_collator.tokenizer is tokenizer  # DataCollatorWithPadding by default
    trainer.save_model()
    assert {"tokenizer.json", "tokenizer_config.json", "model.safetensors"} <= set(os.listdir(tmp_path))
    reloaded = leanformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert reloaded("a test")["input_ids"] == tokenizer("a test")["input_ids"]


def test_early_stopping(tmp_path, tiny_model, rows):
    from leanformers.training import EarlyStoppingCallback

    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=10, per_device_train_batch_size=8,
                             eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True,
                             metric_for_best_model="accuracy", disable_tqdm=True)
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.9, 0.9])
    trainer = Trainer(model=tiny_model, args=args, train_dataset=rows(16), eval_dataset=rows(4),
                      compute_metrics=lambda p: {"accuracy": next(scores)},
                      callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])
    out = trainer.train()
    assert out.global_step == 8  # stopped after epoch 4: two evaluations without improvement
    assert trainer.state.best_metric == 0.6 and trainer.state.best_model_checkpoint.endswith("checkpoint-4")
