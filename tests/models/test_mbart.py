"""mBART against the reference: every head's outputs, losses, the language-code shift, cached decoding,
loading and saving, dispatch."""

import pytest
import torch

pytest.register_assert_rewrite("marian_mbart_parity")

from marian_mbart_parity import (  # noqa: E402,F401  (checkpoint: a fixture)
    ATOL, GENERATE, LANG_A, LANG_B, PAD, assert_beams_can_share_encoder_rows, assert_generate_matches,
    assert_outputs_equal, assert_resize_matches, checkpoint, decoder_inputs, greedy_with_cache, lean, reference,
    saved_keys, seq2seq_inputs)

ARCH = "mbart"
VARIANTS = {"plain": {}, "scaled": {"scale_embedding": True}, "untied": {"tie_word_embeddings": False}}
FLAGS = dict(output_hidden_states=True, output_attentions=True)


def classification_inputs(padded: bool) -> dict:
    # every row ends in </s> (2): the classifier reads the decoder state there
    ids = torch.tensor([[5, 6, 7, 8, 2], [9, 10, 11, 2, PAD]])
    if not padded:
        ids[1] = torch.tensor([9, 10, 11, 12, 2])
        return {"input_ids": ids}
    return {"input_ids": ids, "attention_mask": (ids != PAD).long()}


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("head", ["Model", "ForConditionalGeneration", "ForQuestionAnswering"])
def test_seq2seq_outputs_match(checkpoint, head, variant, padded):
    folder = checkpoint(ARCH, head, **VARIANTS[variant])
    inputs = seq2seq_inputs(padded)
    ref, ours = reference(ARCH, head, folder), lean(ARCH, head, folder)
    with torch.no_grad():
        assert_outputs_equal(ref(**inputs, **FLAGS), ours(**inputs, **FLAGS))


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("head", ["Model", "ForSequenceClassification"])
def test_decoder_inputs_shifted_from_input_ids(checkpoint, head, padded):
    """Without decoder_input_ids, mBART shifts input_ids (language code first), for the body and the
    classifier alike."""
    folder = checkpoint(ARCH, head, num_labels=3) if head != "Model" else checkpoint(ARCH, head)
    inputs = classification_inputs(padded)
    ref, ours = reference(ARCH, head, folder), lean(ARCH, head, folder)
    with torch.no_grad():
        assert_outputs_equal(ref(**inputs, **FLAGS), ours(**inputs, **FLAGS))


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("variant", ["plain", "scaled"])
def test_causal_lm_outputs_and_loss_match(checkpoint, variant, padded):
    folder = checkpoint(ARCH, "ForCausalLM", **VARIANTS[variant])
    inputs = decoder_inputs(padded)
    labels = inputs["input_ids"].masked_fill(inputs["input_ids"] == PAD, -100)
    ref, ours = reference(ARCH, "ForCausalLM", folder), lean(ARCH, "ForCausalLM", folder)
    with torch.no_grad():
        assert_outputs_equal(ref(**inputs, labels=labels, **FLAGS), ours(**inputs, labels=labels, **FLAGS))


def test_losses_match(checkpoint):
    labels = torch.tensor([[13, 14, 2, LANG_B], [17, 2, LANG_B, -100]])
    inputs = seq2seq_inputs(padded=True)
    src = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    folder = checkpoint(ARCH, "ForConditionalGeneration")
    ref, ours = reference(ARCH, "ForConditionalGeneration", folder), lean(ARCH, "ForConditionalGeneration", folder)
    with torch.no_grad():
        expected, actual = ref(**src, labels=labels), ours(**src, labels=labels)
    torch.testing.assert_close(actual.loss, expected.loss, atol=ATOL, rtol=0)
    torch.testing.assert_close(actual.logits, expected.logits, atol=ATOL, rtol=0)

    folder = checkpoint(ARCH, "ForSequenceClassification", num_labels=3)
    cls_inputs = classification_inputs(padded=True)
    ref, ours = reference(ARCH, "ForSequenceClassification", folder), lean(ARCH, "ForSequenceClassification", folder)
    for target in (torch.tensor([0, 2]), torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])):
        ref.config.problem_type = ours.config.problem_type = None
        with torch.no_grad():
            torch.testing.assert_close(ours(**cls_inputs, labels=target).loss, ref(**cls_inputs, labels=target).loss,
                                       atol=ATOL, rtol=0)

    folder = checkpoint(ARCH, "ForQuestionAnswering")
    ref, ours = reference(ARCH, "ForQuestionAnswering", folder), lean(ARCH, "ForQuestionAnswering", folder)
    spans = dict(start_positions=torch.tensor([1, 40]), end_positions=torch.tensor([3, 2]))  # 40: out of range
    with torch.no_grad():
        torch.testing.assert_close(ours(**inputs, **spans).loss, ref(**inputs, **spans).loss, atol=ATOL, rtol=0)


def test_shift_wraps_the_language_code():
    from transformers.models.mbart.modeling_mbart import shift_tokens_right as reference_shift

    from leanformers.models.mbart import shift_tokens_right

    labels = torch.tensor([[13, 14, 2, LANG_B], [17, 2, LANG_A, -100], [18, 2, LANG_A, PAD]])
    shifted = shift_tokens_right(labels, PAD)
    assert shifted.tolist() == [[LANG_B, 13, 14, 2], [LANG_A, 17, 2, LANG_A], [LANG_A, 18, 2, LANG_A]]
    assert torch.equal(shifted, reference_shift(labels.clone(), PAD))
    assert labels[1, 3] == -100  # the labels themselves are left alone


def test_classifier_needs_matching_eos_counts(checkpoint):
    model = lean(ARCH, "ForSequenceClassification", checkpoint(ARCH, "ForSequenceClassification", num_labels=3))
    with pytest.raises(ValueError, match="same number of <eos> tokens"):
        model(input_ids=torch.tensor([[5, 2, 6, 2], [7, 8, 9, 2]]))
    with pytest.raises(ValueError, match="at least one <eos> token"):
        model(input_ids=torch.tensor([[5, 6, 7, 8]]))
    with pytest.raises(ValueError, match="needs input_ids"):
        model(inputs_embeds=torch.zeros(1, 3, 32))


@pytest.mark.parametrize("head", ["ForConditionalGeneration", "ForSequenceClassification"])
def test_save_round_trips_both_ways(checkpoint, tmp_path, head):
    import transformers

    overrides = {"num_labels": 3} if head == "ForSequenceClassification" else {}
    folder = checkpoint(ARCH, head, **overrides)
    ours = lean(ARCH, head, folder)
    ours.save_pretrained(tmp_path)
    assert saved_keys(tmp_path) == saved_keys(folder)
    inputs = classification_inputs(padded=True)
    back = getattr(transformers, "MBart" + head).from_pretrained(tmp_path).eval()
    again = lean(ARCH, head, tmp_path)
    with torch.no_grad():
        expected = reference(ARCH, head, folder)(**inputs).logits
        torch.testing.assert_close(back(**inputs).logits, expected, atol=ATOL, rtol=0)
        torch.testing.assert_close(again(**inputs).logits, expected, atol=ATOL, rtol=0)


def test_loading_reports_nothing_missing_and_ties(checkpoint):
    import leanformers

    folder = checkpoint(ARCH, "ForConditionalGeneration")
    model, info = leanformers.MBartForConditionalGeneration.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    table = model.model.shared.weight
    assert model.lm_head.weight is table and model.model.encoder.embed_tokens.weight is table
    assert model.model.decoder.embed_tokens.weight is table
    # a body from the head's checkpoint, and a head (new classifier) from the body's
    body = lean(ARCH, "Model", folder)
    inputs = seq2seq_inputs(padded=True)
    with torch.no_grad():
        assert_outputs_equal(reference(ARCH, "Model", folder)(**inputs), body(**inputs))
    _, info = leanformers.MBartForSequenceClassification.from_pretrained(checkpoint(ARCH, "Model"),
                                                                        output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classification_head.dense.bias", "classification_head.dense.weight",
                                            "classification_head.out_proj.bias", "classification_head.out_proj.weight"]


@pytest.mark.parametrize("variant", ["plain", "untied"])
def test_cached_decoding_matches_full_forward_and_reference_greedy(checkpoint, variant):
    import transformers

    folder = checkpoint(ARCH, "ForConditionalGeneration", **VARIANTS[variant])
    inputs = seq2seq_inputs(padded=True)
    src = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
    ref, ours = reference(ARCH, "ForConditionalGeneration", folder), lean(ARCH, "ForConditionalGeneration", folder)
    forced = torch.tensor([[13, 14, 15, 16, 17, 18, 19], [20, 21, 22, 23, 24, 25, 26]])
    with torch.no_grad():
        tokens, step_logits = greedy_with_cache(ours, src, start=LANG_B, steps=7, forced=forced)
        torch.testing.assert_close(step_logits, ref(**src, decoder_input_ids=tokens[:, :-1]).logits,
                                   atol=ATOL, rtol=0)
        tokens, _ = greedy_with_cache(ours, src, start=LANG_B, steps=8)
        ref.generation_config = transformers.GenerationConfig(decoder_start_token_id=LANG_B, pad_token_id=PAD)
        expected = ref.generate(**src, max_new_tokens=8, do_sample=False, num_beams=1)
    assert tokens.tolist() == expected.tolist()


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("case", sorted(GENERATE))
def test_generate_matches_reference(checkpoint, case, padded, monkeypatch):
    """mBART starts decoding from the target language code (mbart-large-en-ro style)."""
    folder = checkpoint(ARCH, "ForConditionalGeneration", scale_embedding=True)
    inputs = {k: v for k, v in seq2seq_inputs(padded).items() if not k.startswith("decoder_")}
    ref = reference(ARCH, "ForConditionalGeneration", folder, attn_implementation="sdpa")
    assert_generate_matches(ref, lean(ARCH, "ForConditionalGeneration", folder), inputs, monkeypatch,
                            decoder_start_token_id=LANG_B, **GENERATE[case])


@pytest.mark.parametrize("case", ["greedy", "beams"])
def test_generate_with_forced_language_code(checkpoint, case):
    """mBART-50 style: decoding starts from </s> and the first token is forced to the language code."""
    folder = checkpoint(ARCH, "ForConditionalGeneration", scale_embedding=True)
    inputs = {k: v for k, v in seq2seq_inputs(True).items() if not k.startswith("decoder_")}
    ref = reference(ARCH, "ForConditionalGeneration", folder, attn_implementation="sdpa")
    ours = lean(ARCH, "ForConditionalGeneration", folder)
    assert_generate_matches(ref, ours, inputs, decoder_start_token_id=2, forced_bos_token_id=LANG_A,
                            **GENERATE[case])
    generated = ours.generate(**inputs, decoder_start_token_id=2, forced_bos_token_id=LANG_A, **GENERATE[case])
    assert (generated[:, :2] == torch.tensor([2, LANG_A])).all()


def test_causal_lm_generates_like_reference(checkpoint):
    folder = checkpoint(ARCH, "ForCausalLM")
    ref = reference(ARCH, "ForCausalLM", folder, attn_implementation="sdpa")
    left_padded = torch.tensor([[PAD, PAD, 5, 6, 7], [8, 9, 10, 11, 12]])
    for inputs in ({"input_ids": decoder_inputs(False)["input_ids"]},
                   {"input_ids": left_padded, "attention_mask": (left_padded != PAD).long()}):
        for case in ("greedy", "beams", "sampling"):
            assert_generate_matches(ref, lean(ARCH, "ForCausalLM", folder), inputs, **GENERATE[case])


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_beams_can_share_encoder_rows(checkpoint, padded):
    folder = checkpoint(ARCH, "ForConditionalGeneration")
    assert_beams_can_share_encoder_rows(lean(ARCH, "ForConditionalGeneration", folder), seq2seq_inputs(padded))


@pytest.mark.parametrize("variant", ["plain", "scaled", "untied"])
def test_resize_token_embeddings_matches_reference(checkpoint, variant):
    folder = checkpoint(ARCH, "ForConditionalGeneration", **VARIANTS[variant])
    inputs = seq2seq_inputs(padded=True)
    if variant == "separate":
        inputs["decoder_input_ids"] = inputs["decoder_input_ids"] % 77
    ref = reference(ARCH, "ForConditionalGeneration", folder)
    assert_resize_matches(ref, lean(ARCH, "ForConditionalGeneration", folder), inputs, ref.config.vocab_size)


def test_class_dispatch(checkpoint):
    import leanformers
    from leanformers.auto import model_module

    folder = checkpoint(ARCH, "ForConditionalGeneration")
    assert type(leanformers.AutoModel.from_pretrained(folder)) is leanformers.MBartModel
    assert type(leanformers.AutoModelForCausalLM.from_pretrained(folder)) is leanformers.MBartForCausalLM
    assert (type(leanformers.AutoModelForSequenceClassification.from_pretrained(folder))
            is leanformers.MBartForSequenceClassification)
    assert type(leanformers.AutoModelForQuestionAnswering.from_pretrained(folder)) is leanformers.MBartForQuestionAnswering
    assert model_module("mbart").TASKS["seq2seq-lm"] is leanformers.MBartForConditionalGeneration
    if not hasattr(leanformers, "AutoModelForSeq2SeqLM"):
        pytest.skip("AutoModelForSeq2SeqLM is not in this checkout yet")
    assert type(leanformers.AutoModelForSeq2SeqLM.from_pretrained(folder)) is leanformers.MBartForConditionalGeneration
