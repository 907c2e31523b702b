"""Marian against the reference: logits, losses, cached decoding, loading and saving, dispatch."""

import pytest
import torch

pytest.register_assert_rewrite("marian_mbart_parity")

from marian_mbart_parity import (  # noqa: E402,F401  (checkpoint: a fixture)
    ATOL, GENERATE, PAD, TINY, assert_beams_can_share_encoder_rows, assert_generate_matches,
    assert_outputs_equal, assert_resize_matches, checkpoint, decoder_inputs, greedy_with_cache, lean, reference,
    saved_keys, seq2seq_inputs)

ARCH = "marian"
VARIANTS = {
    "shared": {},
    "scaled": {"scale_embedding": True},
    # separate decoder vocabulary and an untied LM head (opus-mt-tc-big style)
    "separate": {"share_encoder_decoder_embeddings": False, "decoder_vocab_size": 77, "tie_word_embeddings": False},
    "untied": {"tie_word_embeddings": False},
    # what Helsinki-NLP/opus-mt-* config.json files hold (the old keys are carried, not used)
    "opus": {"activation_function": "swish", "scale_embedding": True, "static_position_embeddings": True,
             "normalize_before": False, "normalize_embedding": False, "add_bias_logits": False},
}


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("head", ["Model", "MTModel"])
def test_seq2seq_outputs_match(checkpoint, head, variant, padded):
    folder = checkpoint(ARCH, head, **VARIANTS[variant])
    inputs = seq2seq_inputs(padded)
    if variant == "separate":
        inputs["decoder_input_ids"] = inputs["decoder_input_ids"] % 77
    ref, ours = reference(ARCH, head, folder), lean(ARCH, head, folder)
    flags = dict(output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        assert_outputs_equal(ref(**inputs, **flags), ours(**inputs, **flags))


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("variant", ["shared", "scaled"])
def test_causal_lm_outputs_and_loss_match(checkpoint, variant, padded):
    folder = checkpoint(ARCH, "ForCausalLM", **VARIANTS[variant])
    inputs = decoder_inputs(padded)
    labels = inputs["input_ids"].masked_fill(inputs["input_ids"] == PAD, -100)
    ref, ours = reference(ARCH, "ForCausalLM", folder), lean(ARCH, "ForCausalLM", folder)
    with torch.no_grad():
        expected = ref(**inputs, labels=labels, output_hidden_states=True, output_attentions=True)
        actual = ours(**inputs, labels=labels, output_hidden_states=True, output_attentions=True)
    assert_outputs_equal(expected, actual)
    # the reference does not shift causal-LM labels for Marian: labels[i] is the target of logits[i]
    unshifted = torch.nn.functional.cross_entropy(actual.logits.flatten(0, 1), labels.flatten())
    torch.testing.assert_close(actual.loss, unshifted)


@pytest.mark.parametrize("variant", ["shared", "separate"])
def test_loss_matches_with_labels_shifted_from_pad(checkpoint, variant):
    folder = checkpoint(ARCH, "MTModel", **VARIANTS[variant])
    inputs = seq2seq_inputs(padded=True)
    labels = torch.tensor([[13, 14, 15, 2], [17, 2, -100, -100]])
    ref, ours = reference(ARCH, "MTModel", folder), lean(ARCH, "MTModel", folder)
    src = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    with torch.no_grad():
        expected, actual = ref(**src, labels=labels), ours(**src, labels=labels)
    torch.testing.assert_close(actual.loss, expected.loss, atol=ATOL, rtol=0)
    torch.testing.assert_close(actual.logits, expected.logits, atol=ATOL, rtol=0)
    assert actual.past_key_values is None  # labels turn the cache off, as in the reference
    # decoder start = pad; -100 read as pad
    shifted = ours.prepare_decoder_input_ids_from_labels(labels)
    assert shifted.tolist() == [[PAD, 13, 14, 15], [PAD, 17, 2, PAD]]
    assert torch.equal(shifted, ref.prepare_decoder_input_ids_from_labels(labels))


def test_sinusoids_are_the_references_and_not_reported_missing(checkpoint):
    import leanformers

    folder = checkpoint(ARCH, "MTModel")
    assert not any("embed_positions" in k for k in saved_keys(folder))  # the reference leaves them out
    ours, info = leanformers.MarianMTModel.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    ref = reference(ARCH, "MTModel", folder)
    for side in ("encoder", "decoder"):
        table = getattr(ours.model, side).embed_positions.weight
        assert torch.equal(table, getattr(ref.model, side).embed_positions.weight)
        assert not table.requires_grad
    # sin in the first half, cos in the second, position 0 at row 0
    assert torch.equal(table[0, :16], torch.zeros(16)) and torch.equal(table[0, 16:], torch.ones(16))


@pytest.mark.parametrize("variant", ["shared", "separate"])
def test_save_round_trips_both_ways(checkpoint, tmp_path, variant):
    import transformers

    folder = checkpoint(ARCH, "MTModel", **VARIANTS[variant])
    ours = lean(ARCH, "MTModel", folder)
    ours.save_pretrained(tmp_path)
    assert saved_keys(tmp_path) == saved_keys(folder)  # tied tensors once, no sinusoids
    inputs = seq2seq_inputs(padded=True)
    if variant == "separate":
        inputs["decoder_input_ids"] = inputs["decoder_input_ids"] % 77
    back = transformers.MarianMTModel.from_pretrained(tmp_path).eval()
    again = lean(ARCH, "MTModel", tmp_path)
    with torch.no_grad():
        expected = reference(ARCH, "MTModel", folder)(**inputs).logits
        torch.testing.assert_close(back(**inputs).logits, expected, atol=ATOL, rtol=0)
        torch.testing.assert_close(again(**inputs).logits, expected, atol=ATOL, rtol=0)


def test_tying_follows_the_config(checkpoint):
    shared = lean(ARCH, "MTModel", checkpoint(ARCH, "MTModel"))
    table = shared.model.shared.weight
    assert shared.lm_head.weight is table
    assert shared.model.encoder.embed_tokens.weight is table and shared.model.decoder.embed_tokens.weight is table
    separate = lean(ARCH, "MTModel", checkpoint(ARCH, "MTModel", **VARIANTS["separate"]))
    assert not hasattr(separate.model, "shared")
    assert separate.model.decoder.embed_tokens.weight.shape == (77, 32)
    assert separate.model.encoder.embed_tokens.weight.shape == (99, 32)
    assert separate.lm_head.weight.shape == (77, 32) and separate.final_logits_bias.shape == (1, 77)
    assert separate.lm_head.weight is not separate.model.decoder.embed_tokens.weight


def test_body_loads_from_head_checkpoint(checkpoint):
    folder = checkpoint(ARCH, "MTModel")
    inputs = seq2seq_inputs(padded=True)
    ref, ours = reference(ARCH, "Model", folder), lean(ARCH, "Model", folder)
    with torch.no_grad():
        assert_outputs_equal(ref(**inputs), ours(**inputs))


@pytest.mark.parametrize("variant", ["shared", "separate"])
def test_cached_decoding_matches_full_forward_and_reference_greedy(checkpoint, variant):
    import transformers

    folder = checkpoint(ARCH, "MTModel", **VARIANTS[variant])
    inputs = seq2seq_inputs(padded=True)
    src = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    ref, ours = reference(ARCH, "MTModel", folder), lean(ARCH, "MTModel", folder)
    forced = torch.tensor([[13, 14, 15, 16, 17, 18, 19], [20, 21, 22, 23, 24, 25, 26]])
    with torch.no_grad():
        # teacher-forced steps through the cache = the reference's full forward over the same prefix
        tokens, step_logits = greedy_with_cache(ours, src, start=PAD, steps=7, forced=forced)
        expected_logits = ref(**src, decoder_input_ids=tokens[:, :-1]).logits
        torch.testing.assert_close(step_logits, expected_logits, atol=ATOL, rtol=0)
        # free-running greedy = the reference's generate() (no eos stop or forced eos: the model's choices)
        tokens, _ = greedy_with_cache(ours, src, start=PAD, steps=8)
        ref.generation_config = transformers.GenerationConfig(decoder_start_token_id=PAD, pad_token_id=PAD)
        expected = ref.generate(**src, max_new_tokens=8, do_sample=False, num_beams=1)
    assert tokens.tolist() == expected.tolist()


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("case", sorted(GENERATE))
def test_generate_matches_reference(checkpoint, case, padded, monkeypatch):
    folder = checkpoint(ARCH, "MTModel", **VARIANTS["scaled"])
    inputs = seq2seq_inputs(padded)
    inputs = {k: v for k, v in inputs.items() if not k.startswith("decoder_")}
    ref = reference(ARCH, "MTModel", folder, attn_implementation="sdpa")
    assert_generate_matches(ref, lean(ARCH, "MTModel", folder), inputs, monkeypatch, **GENERATE[case])


@pytest.mark.parametrize("case", ["greedy", "beams"])
def test_generate_with_a_separate_target_vocabulary(checkpoint, case):
    folder = checkpoint(ARCH, "MTModel", **VARIANTS["separate"])
    inputs = {k: v for k, v in seq2seq_inputs(True).items() if not k.startswith("decoder_")}
    ref = reference(ARCH, "MTModel", folder, attn_implementation="sdpa")
    assert_generate_matches(ref, lean(ARCH, "MTModel", folder), inputs, **GENERATE[case])


def test_causal_lm_generates_like_reference(checkpoint):
    folder = checkpoint(ARCH, "ForCausalLM", **VARIANTS["scaled"])
    ref = reference(ARCH, "ForCausalLM", folder, attn_implementation="sdpa")
    left_padded = torch.tensor([[PAD, PAD, 5, 6, 7], [8, 9, 10, 11, 12]])
    for inputs in ({"input_ids": decoder_inputs(False)["input_ids"]},
                   {"input_ids": left_padded, "attention_mask": (left_padded != PAD).long()}):
        for case in ("greedy", "beams", "sampling"):
            assert_generate_matches(ref, lean(ARCH, "ForCausalLM", folder), inputs, **GENERATE[case])


def test_generate_respects_the_checkpoint_generation_settings(tmp_path):
    """Marian config.json files carry bad_words_ids = [[pad]], num_beams and max_length: generate()
    with no arguments uses them as the reference does."""
    import json

    import transformers

    config = transformers.MarianConfig(**{**TINY[ARCH], "scale_embedding": True})
    torch.manual_seed(0)
    model = transformers.MarianMTModel(config)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.2)
        model.final_logits_bias[0, PAD] = 10.0  # pad would win every step were it not a bad word
    model.save_pretrained(tmp_path)
    (tmp_path / "generation_config.json").unlink()
    data = json.loads((tmp_path / "config.json").read_text())
    data.update(bad_words_ids=[[PAD]], max_length=9, num_beams=3)
    (tmp_path / "config.json").write_text(json.dumps(data))
    ref = reference(ARCH, "MTModel", tmp_path, attn_implementation="sdpa")
    ours = lean(ARCH, "MTModel", tmp_path)
    inputs = {k: v for k, v in seq2seq_inputs(True).items() if not k.startswith("decoder_")}
    assert_generate_matches(ref, ours, inputs)
    generated = ours.generate(**inputs)
    assert generated.shape[1] == 9  # max_length
    for row in generated[:, 1:].tolist():  # after the start token: pad only once a row has ended
        text = row[: row.index(2)] if 2 in row else row
        assert PAD not in text, row


def test_generation_config_fields_of_marian_checkpoints(tmp_path):
    """Old Marian config.json files carry bad_words_ids = [[pad]], max_length and num_beams."""
    import json

    import transformers

    config = transformers.MarianConfig(**TINY[ARCH])
    transformers.MarianMTModel(config).save_pretrained(tmp_path)
    (tmp_path / "generation_config.json").unlink()
    data = json.loads((tmp_path / "config.json").read_text())
    data.update(bad_words_ids=[[PAD]], max_length=40, num_beams=3)
    (tmp_path / "config.json").write_text(json.dumps(data))
    expected = transformers.MarianMTModel.from_pretrained(tmp_path).generation_config
    actual = lean(ARCH, "MTModel", tmp_path).generation_config
    for field in ("bad_words_ids", "max_length", "num_beams", "decoder_start_token_id", "forced_eos_token_id",
                  "eos_token_id", "pad_token_id"):
        assert getattr(actual, field) == getattr(expected, field), field


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_beams_can_share_encoder_rows(checkpoint, padded):
    folder = checkpoint(ARCH, "MTModel")
    assert_beams_can_share_encoder_rows(lean(ARCH, "MTModel", folder), seq2seq_inputs(padded))


@pytest.mark.parametrize("variant", ["shared", "scaled", "untied", "separate"])
def test_resize_token_embeddings_matches_reference(checkpoint, variant):
    folder = checkpoint(ARCH, "MTModel", **VARIANTS[variant])
    inputs = seq2seq_inputs(padded=True)
    if variant == "separate":
        inputs["decoder_input_ids"] = inputs["decoder_input_ids"] % 77
    ref = reference(ARCH, "MTModel", folder)
    assert_resize_matches(ref, lean(ARCH, "MTModel", folder), inputs, ref.config.vocab_size)


def test_resize_decoder_token_embeddings_matches_reference(checkpoint):
    folder = checkpoint(ARCH, "MTModel", **VARIANTS["separate"])
    inputs = seq2seq_inputs(padded=True)
    ref, ours = reference(ARCH, "MTModel", folder), lean(ARCH, "MTModel", folder)
    for size in (82, 70):
        ref.resize_decoder_token_embeddings(size)
        ours.resize_decoder_token_embeddings(size)
        assert ours.config.decoder_vocab_size == ref.config.decoder_vocab_size == size
        batch = {**inputs, "decoder_input_ids": inputs["decoder_input_ids"] % 70}
        with torch.no_grad():
            expected, actual = ref(**batch).logits, ours(**batch).logits
        assert actual.shape == expected.shape
        torch.testing.assert_close(actual[..., :70], expected[..., :70], atol=ATOL, rtol=0)
        torch.testing.assert_close(ours.final_logits_bias, ref.final_logits_bias)
    with pytest.raises(ValueError, match="use resize_token_embeddings"):
        lean(ARCH, "MTModel", checkpoint(ARCH, "MTModel")).resize_decoder_token_embeddings(120)


def test_class_dispatch(checkpoint):
    import leanformers
    from leanformers.auto import model_module

    folder = checkpoint(ARCH, "MTModel")
    assert type(leanformers.AutoModel.from_pretrained(folder)).__name__ == "MarianModel"
    assert type(leanformers.AutoModelForCausalLM.from_pretrained(folder)).__name__ == "MarianForCausalLM"
    assert model_module("marian").TASKS["seq2seq-lm"] is leanformers.MarianMTModel
    assert leanformers.MarianMTModel.can_generate()
    if not hasattr(leanformers, "AutoModelForSeq2SeqLM"):
        pytest.skip("AutoModelForSeq2SeqLM is not in this checkout yet")
    assert type(leanformers.AutoModelForSeq2SeqLM.from_pretrained(folder)) is leanformers.MarianMTModel


def test_clear_errors(checkpoint):
    import leanformers

    model = lean(ARCH, "Model", checkpoint(ARCH, "MTModel"))
    with pytest.raises(ValueError, match="decoder_input_ids"):
        model(input_ids=torch.tensor([[5, 6, 2]]))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(input_ids=torch.full((1, 65), 5), decoder_input_ids=torch.tensor([[PAD]]))
    with pytest.raises(ValueError, match="multiple of encoder_attention_heads"):
        leanformers.MarianModel(leanformers.MarianConfig(d_model=30, encoder_attention_heads=4))
