"""Seq2Seq training (the course's chapter 7 recipe) against the reference.

DataCollatorForSeq2Seq batches equal the reference's; a tiny T5 (built by the reference) fine-tuned
with Seq2SeqTrainer follows the reference Seq2SeqTrainer's loss curve, and predict_with_generate
returns what model.generate returns, padded as the reference pads it.
"""

import numpy as np
import pytest
import torch

import leanformers as L

T = pytest.importorskip("transformers")

WORDS = ["the", "cat", "dog", "sat", "on", "mat", "a", "big", "red", "ran", "to", "home", "is", "blue", "sky"]
TINY_T5 = dict(d_model=32, d_kv=8, num_heads=2, num_layers=2, num_decoder_layers=2, d_ff=37,
               relative_attention_num_buckets=8, decoder_start_token_id=0, dropout_rate=0.0)


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    """A small T5 (Unigram) tokenizer built and saved by the reference."""
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [("\u2581" + w, -3.0 - i * 0.1) for i, w in enumerate(WORDS)]
    vocab += [(c, -8.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    folder = str(tmp_path_factory.mktemp("t5tok"))
    T.T5TokenizerFast(vocab=vocab, extra_ids=3).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def toks(tok_dir):
    return T.AutoTokenizer.from_pretrained(tok_dir), L.AutoTokenizer.from_pretrained(tok_dir)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, toks):
    torch.manual_seed(0)
    config = T.T5Config(vocab_size=len(toks[0]), **TINY_T5)
    folder = str(tmp_path_factory.mktemp("t5model"))
    T.T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def _pairs(n, seed=0):
    """source -> target: the words reversed (learnable, and targets vary in length)."""
    g = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        words = list(g.choice(WORDS, size=int(g.integers(2, 6))))
        pairs.append((" ".join(words), " ".join(reversed(words[: max(1, len(words) - 1)]))))
    return pairs


def _features(tokenizer, pairs, **kwargs):
    return [dict(tokenizer(src, text_target=tgt, **kwargs)) for src, tgt in pairs]


def _as_lists(batch):
    return {k: (v.tolist() if torch.is_tensor(v) else v) for k, v in batch.items()}


@pytest.mark.parametrize("kwargs", [dict(), dict(padding="max_length", max_length=14), dict(pad_to_multiple_of=8),
                                    dict(label_pad_token_id=0), dict(padding="longest", max_length=4)],
                         ids=["longest", "max_length", "multiple_of_8", "label_pad_0", "longest_ignores_max"])
@pytest.mark.parametrize("with_model", [False, True], ids=["no_model", "model"])
def test_collator_matches_reference(toks, model_dir, kwargs, with_model):
    ref_tok, lean_tok = toks
    features = _features(ref_tok, _pairs(5))
    ref_model = T.T5ForConditionalGeneration.from_pretrained(model_dir) if with_model else None
    lean_model = L.T5ForConditionalGeneration.from_pretrained(model_dir) if with_model else None
    expected = T.DataCollatorForSeq2Seq(ref_tok, model=ref_model, **kwargs)(features)
    got = L.DataCollatorForSeq2Seq(lean_tok, model=lean_model, **kwargs)(features)
    assert _as_lists(got) == _as_lists(expected)
    assert got["labels"].dtype == torch.int64
    assert ("decoder_input_ids" in got) is with_model


def test_collator_left_padding_label_key_and_no_labels(toks):
    ref_tok, lean_tok = toks
    features = _features(ref_tok, _pairs(4, seed=1))
    renamed = [{**{k: v for k, v in f.items() if k != "labels"}, "label": f["labels"]} for f in features]
    for rows in (features, renamed):
        ref_tok.padding_side = lean_tok.padding_side = "left"
        try:
            expected = T.DataCollatorForSeq2Seq(ref_tok)(rows)
            got = L.DataCollatorForSeq2Seq(lean_tok)(rows)
        finally:
            ref_tok.padding_side = lean_tok.padding_side = "right"
        assert _as_lists(got) == _as_lists(expected)
    bare = [{k: v for k, v in f.items() if k != "labels"} for f in features]
    expected, got = T.DataCollatorForSeq2Seq(ref_tok)(bare), L.DataCollatorForSeq2Seq(lean_tok)(bare)
    assert got["labels"] is None and expected["labels"] is None
    assert _as_lists(got) == _as_lists(expected)


def test_collator_unpadded_ragged_labels_is_a_clear_error(toks):
    features = [{"input_ids": [5, 6, 1], "labels": [7, 1]}, {"input_ids": [8, 9, 1], "labels": [7, 8, 9, 1]}]
    with pytest.raises(ValueError, match="labels of different lengths"):
        L.DataCollatorForSeq2Seq(toks[1], padding=False)(features)


def test_arguments():
    args = L.Seq2SeqTrainingArguments("out", predict_with_generate=True, generation_max_length=12,
                                      generation_num_beams=2, generation_config=L.GenerationConfig(max_length=9))
    assert args.predict_with_generate and args.generation_max_length == 12 and args.generation_num_beams == 2
    assert args.to_dict()["generation_config"]["max_length"] == 9
    assert isinstance(args, L.TrainingArguments)
    with pytest.raises(ValueError, match="sortish_sampler"):
        L.Seq2SeqTrainingArguments("out", sortish_sampler=True)


def _trainer(lib, tokenizer, model, out, train, evaluation, **overrides):
    kwargs = dict(output_dir=str(out), num_train_epochs=3, per_device_train_batch_size=4, per_device_eval_batch_size=4,
                  learning_rate=3e-3, weight_decay=0.01, logging_steps=1, save_strategy="no", disable_tqdm=True,
                  report_to="none", seed=3, optim="adamw_torch", predict_with_generate=True,
                  generation_max_length=12)
    kwargs.update(overrides)
    args = lib.Seq2SeqTrainingArguments(**kwargs)
    collator = lib.DataCollatorForSeq2Seq(tokenizer, model=model)
    return lib.Seq2SeqTrainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                              data_collator=collator, processing_class=tokenizer,
                              compute_metrics=_token_match)


def _token_match(prediction):
    """A metric on generated ids: how many label tokens the generation (after its start token) repeats."""
    preds, labels = prediction.predictions, prediction.label_ids
    labels = np.where(labels != -100, labels, 0)
    width = min(preds.shape[1] - 1, labels.shape[1])
    return {"token_match": float((preds[:, 1:width + 1] == labels[:, :width]).mean())}


def test_fine_tune_matches_reference_and_predicts_with_generate(toks, model_dir, tmp_path):
    ref_tok, lean_tok = toks
    pairs = _pairs(24, seed=2)
    train, evaluation = _features(ref_tok, pairs[:16]), _features(ref_tok, pairs[16:])
    runs = {}
    for name, lib, tokenizer in (("lean", L, lean_tok), ("ref", T, ref_tok)):
        model = lib.T5ForConditionalGeneration.from_pretrained(model_dir)
        trainer = _trainer(lib, tokenizer, model, tmp_path / name, train, evaluation)
        before = trainer.predict(evaluation)
        evaluated = trainer.evaluate(max_length=8)  # the course evaluates this way before training
        result = trainer.train()
        runs[name] = (trainer, before, result, trainer.predict(evaluation, num_beams=2), evaluated)
    (ours, our_before, our_result, our_after, our_eval) = runs["lean"]
    (ref, ref_before, ref_result, ref_after, ref_eval) = runs["ref"]
    assert our_eval["eval_loss"] == pytest.approx(ref_eval["eval_loss"], rel=1e-5)
    assert our_eval["eval_token_match"] == ref_eval["eval_token_match"]

    # before training: the same generated ids (padded to max_length 20 with pad) and labels as the reference
    assert our_before.predictions.tolist() == ref_before.predictions.tolist()
    assert our_before.label_ids.tolist() == ref_before.label_ids.tolist()
    assert our_before.metrics["test_loss"] == pytest.approx(ref_before.metrics["test_loss"], rel=1e-5)
    assert our_before.metrics["test_token_match"] == ref_before.metrics["test_token_match"]

    # the loss curve follows the reference's, and goes down
    losses = [log["loss"] for log in ours.state.log_history if "loss" in log]
    ref_losses = [log["loss"] for log in ref.state.log_history if "loss" in log]
    assert len(losses) == len(ref_losses) == our_result.global_step == 12
    assert losses == pytest.approx(ref_losses, rel=1e-4)
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])
    assert our_after.metrics["test_loss"] < our_before.metrics["test_loss"]

    # predict_with_generate: the predictions are model.generate's ids (here with the call's num_beams=2)
    model = ours.model.eval()
    batch = L.DataCollatorForSeq2Seq(lean_tok)(evaluation[:4])
    with torch.no_grad():
        generated = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                   max_length=12, num_beams=2)
    width = our_after.predictions.shape[1]
    assert width == 20  # the generation config's max_length (default 20): the reference's padding rule
    expected = np.full((4, width), lean_tok.pad_token_id)
    expected[:, :generated.shape[1]] = generated.numpy()
    assert our_after.predictions[:4].tolist() == expected.tolist()


def test_trainer_does_not_shift_seq2seq_labels():
    """num_items_in_batch counts labels[..., 1:] only for causal-LM losses, not for encoder-decoders."""
    from leanformers.training.trainer import loss_shifts_labels

    t5 = L.T5ForConditionalGeneration(L.T5Config(vocab_size=20, **TINY_T5))
    assert t5.can_generate() and not loss_shifts_labels(t5)
    llama = L.LlamaForCausalLM(L.LlamaConfig(vocab_size=20, hidden_size=16, intermediate_size=32,
                                            num_hidden_layers=1, num_attention_heads=2))
    assert loss_shifts_labels(llama)
    # as the reference: the loss type is read from the class name, so GPT2LMHeadModel counts every label
    gpt2 = L.GPT2LMHeadModel(L.GPT2Config(vocab_size=20, n_embd=16, n_layer=1, n_head=2))
    assert not loss_shifts_labels(gpt2)
    # the reference decides the same for the same three models
    for ref_model, expected in ((T.GPT2LMHeadModel(T.GPT2Config(vocab_size=20, n_embd=16, n_layer=1, n_head=2)), False),
                                (T.T5ForConditionalGeneration(T.T5Config(vocab_size=20, **TINY_T5)), False),
                                (T.LlamaForCausalLM(T.LlamaConfig(vocab_size=20, hidden_size=16, intermediate_size=32,
                                                                  num_hidden_layers=1, num_attention_heads=2)), True)):
        trainer = T.Trainer(model=ref_model, args=T.TrainingArguments("unused", report_to="none"))
        assert trainer._loss_shifts_labels is expected, type(ref_model).__name__
