"""The same run in leanformers and in the reference Trainer gives the same loss curve.

Same initial weights (a reference model saved once, loaded by both), same data, seed and arguments.
With leanformers' BERT, dropout is off: its classification head computes the last layer for [CLS]
alone, so its dropout draws fewer random numbers than the reference's. With the reference's model
in both Trainers, dropout stays on: the data order (randperm seeded with seed + epoch) and the
dropout random numbers must both line up for the curves to match.
"""

import pytest
import torch

import leanformers as L

T = pytest.importorskip("transformers")


def _texts(n):
    words = ["good", "bad", "fine", "awful", "great", "poor", "movie", "plot", "actor", "scene"]
    return [" ".join(words[(i * k + 3) % len(words)] for k in range(3 + i % 6)) for i in range(n)]


def _init_dir(tmp_path_factory, ref_tokenizer, dropout):
    torch.manual_seed(0)
    config = T.BertConfig(vocab_size=ref_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                          hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, num_labels=2)
    folder = tmp_path_factory.mktemp("bert_init")
    T.BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def init_dir(tmp_path_factory, ref_tokenizer):
    return _init_dir(tmp_path_factory, ref_tokenizer, dropout=0.0)


@pytest.fixture(scope="module")
def init_dir_dropout(tmp_path_factory, ref_tokenizer):
    return _init_dir(tmp_path_factory, ref_tokenizer, dropout=0.1)


def _accuracy(pred):
    logits, labels = pred
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def _run(lib, tokenizer, folder, out, model_lib=None, **overrides):
    texts = _texts(40)
    data = [dict(tokenizer(t), label=int("good" in t or "great" in t), text=t) for t in texts]
    model = (model_lib or lib).BertForSequenceClassification.from_pretrained(folder)
    kwargs = dict(output_dir=str(out), num_train_epochs=2, per_device_train_batch_size=8, learning_rate=2e-3,
                  weight_decay=0.01, warmup_steps=2, logging_steps=1, eval_strategy="epoch",
                  save_strategy="no", disable_tqdm=True, report_to="none", seed=7)
    kwargs.update(overrides)
    trainer = lib.Trainer(model=model, args=lib.TrainingArguments(**kwargs), train_dataset=data,
                          eval_dataset=data[:12], processing_class=tokenizer, compute_metrics=_accuracy)
    result = trainer.train()
    return trainer, result, trainer.predict(data[:6])


@pytest.mark.parametrize("stack", ["leanformers", "reference model, dropout on"])
def test_loss_curve_matches_reference(tmp_path, init_dir, init_dir_dropout, ref_tokenizer, stack):
    if stack == "leanformers":
        tokenizer, folder, model_lib = L.AutoTokenizer.from_pretrained(ref_tokenizer.name_or_path), init_dir, L
    else:
        tokenizer, folder, model_lib = ref_tokenizer, init_dir_dropout, T
    # a small max_grad_norm so that clipping is active
    overrides = {"lr_scheduler_type": "cosine", "max_grad_norm": 0.3}
    ours, our_result, our_pred = _run(L, tokenizer, folder, tmp_path / "lean", model_lib, **overrides)
    ref, ref_result, ref_pred = _run(T, ref_tokenizer, folder, tmp_path / "ref", **overrides)

    assert our_result.global_step == ref_result.global_step == 10
    assert our_result.training_loss == pytest.approx(ref_result.training_loss, rel=1e-5)
    ours_logs, ref_logs = ours.state.log_history, ref.state.log_history
    assert len(ours_logs) == len(ref_logs)
    timing = ("runtime", "per_second", "total_flos")
    for a, b in zip(ours_logs, ref_logs):
        assert list(a) == list(b)
        for key, value in b.items():
            if key.endswith(timing):
                continue
            assert a[key] == pytest.approx(value, rel=1e-5, abs=1e-7), (key, a, b)
    torch.testing.assert_close(torch.from_numpy(our_pred.predictions), torch.from_numpy(ref_pred.predictions),
                               rtol=1e-4, atol=1e-5)
    assert (our_pred.label_ids == ref_pred.label_ids).all()
    assert our_pred.metrics["test_loss"] == pytest.approx(ref_pred.metrics["test_loss"], rel=1e-5)


def test_weight_decay_groups_match_reference(init_dir):
    from leanformers.training.optimization import get_decay_parameter_names

    ours = L.BertForSequenceClassification.from_pretrained(init_dir)
    ref = T.BertForSequenceClassification.from_pretrained(init_dir)
    ref_names = T.Trainer.get_decay_parameter_names(None, ref)
    assert sorted(get_decay_parameter_names(ours)) == sorted(ref_names)
    assert not any("bias" in n or "LayerNorm" in n for n in ref_names)
