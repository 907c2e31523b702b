"""Checkpoints: their contents, rotation, best model, and resuming to the same losses and weights."""

import json
import os

import pytest
import torch

import leanformers as L
from leanformers import Trainer, TrainerCallback, TrainingArguments


class StopAt(TrainerCallback):
    """Interrupts training after ``step`` (the checkpoint of that step is still written)."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _args(out, **kw):
    base = dict(output_dir=str(out), num_train_epochs=2, per_device_train_batch_size=8, learning_rate=2e-2,
                logging_steps=1, save_strategy="epoch", disable_tqdm=True, seed=3)
    base.update(kw)
    return TrainingArguments(**base)


def _losses(trainer):
    return {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}


@pytest.mark.parametrize("stop_step, save", [(4, {"save_strategy": "epoch"}),  # at an epoch boundary
                                             (3, {"save_strategy": "steps", "save_steps": 3})])  # mid-epoch
def test_resume_gives_the_uninterrupted_run(tmp_path, classifier_cls, rows, stop_step, save):
    data = rows(32)  # 4 steps per epoch

    def model():  # dropout on: resuming must also restore the random number generators
        torch.manual_seed(0)
        return classifier_cls(dropout=0.2)

    straight = Trainer(model=model(), args=_args(tmp_path / "a", **save), train_dataset=data)
    straight_out = straight.train()

    first = Trainer(model=model(), args=_args(tmp_path / "b", **save), train_dataset=data,
                    callbacks=[StopAt(stop_step)])
    assert first.train().global_step == stop_step
    checkpoint = tmp_path / "b" / f"checkpoint-{stop_step}"
    assert checkpoint.is_dir()

    torch.manual_seed(123)  # different weights: they must come from the checkpoint
    resumed_model = classifier_cls(dropout=0.2)
    resumed = Trainer(model=resumed_model, args=_args(tmp_path / "b", **save), train_dataset=data)
    resumed_out = resumed.train(resume_from_checkpoint=True)

    assert resumed_out.global_step == straight_out.global_step == 8
    expected = _losses(straight)
    got = _losses(resumed)
    assert sorted(got) == list(range(1, 9))  # the resumed state keeps the earlier logs
    for step in range(1, 9):
        assert got[step] == pytest.approx(expected[step], rel=1e-6), step
    for (name, a), b in zip(straight.model.state_dict().items(), resumed_model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)


def test_checkpoint_contents_rotation_and_best_model(tmp_path, classifier_cls, rows):
    torch.manual_seed(0)
    model = classifier_cls()
    args = _args(tmp_path, num_train_epochs=3, eval_strategy="epoch", save_total_limit=2,
                 load_best_model_at_end=True, metric_for_best_model="accuracy")
    calls = []

    def metric(pred):
        calls.append(1)
        return {"accuracy": [0.5, 0.9, 0.7][len(calls) - 1]}  # epoch 2 (step 8) is the best

    trainer = Trainer(model=model, args=args, train_dataset=rows(32), eval_dataset=rows(8),
                      compute_metrics=metric)
    trainer.train()
    assert trainer.state.best_metric == 0.9
    assert trainer.state.best_model_checkpoint == os.path.join(str(tmp_path), "checkpoint-8")
    # the limit keeps two: the newest (for resuming) and the best
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-12", "checkpoint-8"]

    folder = tmp_path / "checkpoint-12"
    names = set(os.listdir(folder))
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json",
            "training_args.json"} <= names
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        torch.load(folder / name, weights_only=True)  # no pickled code anywhere
    state = json.load(open(folder / "trainer_state.json"))
    assert state["global_step"] == 12 and state["best_global_step"] == 8
    assert json.load(open(folder / "training_args.json"))["save_total_limit"] == 2

    # load_best_model_at_end put the step-8 weights back into the model
    best = classifier_cls()
    from leanformers.training.checkpoints import load_model_weights

    load_model_weights(best, str(tmp_path / "checkpoint-8"))
    for a, b in zip(model.state_dict().values(), best.state_dict().values()):
        assert torch.equal(a, b)


def test_pretrained_model_checkpoint_and_resume_errors(tmp_path, rows):
    T = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = T.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=32, max_position_embeddings=16)
    T.BertForSequenceClassification(config).save_pretrained(tmp_path / "init")
    model = L.BertForSequenceClassification.from_pretrained(tmp_path / "init")
    args = _args(tmp_path / "run", max_steps=2, save_strategy="steps", save_steps=1, save_total_limit=1)
    trainer = Trainer(model=model, args=args, train_dataset=rows(16))
    trainer.train()
    assert os.listdir(tmp_path / "run") == ["checkpoint-2"]
    saved = tmp_path / "run" / "checkpoint-2"
    reloaded = L.BertForSequenceClassification.from_pretrained(saved)  # a save_pretrained folder
    for a, b in zip(model.state_dict().values(), reloaded.state_dict().values()):
        assert torch.equal(a, b)

    with pytest.raises(ValueError, match="no checkpoint"):
        Trainer(model=model, args=_args(tmp_path / "empty"), train_dataset=rows(16)).train(True)
    with pytest.raises(ValueError, match="not a Trainer checkpoint"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "init"))
