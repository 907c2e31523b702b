"""BART against the reference: every head's outputs (padded and not), losses, the cache, generate()
(greedy, beams, sampling, the seq2seq processors), streamers and save/load in both directions."""

import warnings

import pytest
import torch

transformers = pytest.importorskip("transformers")

import leanformers  # noqa: E402

ATOL = 1e-5
VOCAB, PAD, BOS, EOS = 99, 1, 0, 2
TINY = dict(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
            pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=EOS,
            forced_eos_token_id=EOS)
HEADS = ["BartModel", "BartForConditionalGeneration", "BartForSequenceClassification", "BartForQuestionAnswering",
         "BartForCausalLM"]
_FOLDERS = {}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """checkpoint(head, **overrides) -> a folder saved by the reference (biases and norms perturbed,
    a non-zero final_logits_bias, so that each of them matters)."""

    def make(head, **overrides):
        key = (head, tuple(sorted(overrides.items())))
        if key not in _FOLDERS:
            config = transformers.BartConfig(**{**TINY, **overrides})
            torch.manual_seed(0)
            model = getattr(transformers, head)(config)
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name.endswith("bias") or "norm" in name:
                        p.add_(torch.randn_like(p) * 0.1)
                if hasattr(model, "final_logits_bias"):
                    model.final_logits_bias.normal_()
            folder = tmp_path_factory.mktemp(head)
            model.save_pretrained(folder)
            _FOLDERS[key] = str(folder)
        return _FOLDERS[key]

    return make


def load(head, folder, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = getattr(transformers, head).from_pretrained(folder, **kwargs).eval()
    return ref, getattr(leanformers, head).from_pretrained(folder, **kwargs).eval()


def batch(padded=True):
    """Encoder ids <s> ... </s> (rows of 9, 6 and 4 tokens, right-padded) and decoder ids."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, VOCAB, (3, 9), generator=g)
    ids[:, 0] = BOS
    mask = torch.ones_like(ids)
    for row, length in enumerate([9, 6, 4] if padded else [9, 9, 9]):
        ids[row, length - 1] = EOS
        ids[row, length:] = PAD
        mask[row, length:] = 0
    decoder = torch.randint(3, VOCAB, (3, 5), generator=g)
    decoder[:, 0] = EOS
    return ids, mask, decoder


def assert_close(ours, ref, where=""):
    assert ours.shape == ref.shape, (where, ours.shape, ref.shape)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0, msg=lambda m: f"{where}: {m}")


def both(ref, lean, **inputs):
    with torch.no_grad():
        return ref(**inputs), lean(**inputs)


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("head", HEADS)
def test_outputs_match_reference(checkpoint, head, padded):
    ref, lean = load(head, checkpoint(head))
    ids, mask, decoder = batch(padded)
    if head == "BartForCausalLM":
        a, b = both(ref, lean, input_ids=decoder, attention_mask=(decoder != PAD).long())
    elif head in ("BartForSequenceClassification", "BartForQuestionAnswering"):  # decoder reads input_ids shifted
        a, b = both(ref, lean, input_ids=ids, attention_mask=mask)
    else:
        a, b = both(ref, lean, input_ids=ids, attention_mask=mask, decoder_input_ids=decoder)
    names = [k for k in a.keys() if isinstance(a[k], torch.Tensor)]
    assert names and set(names) <= set(b.keys())
    for name in names:
        assert_close(b[name], a[name], f"{head}.{name}")


@pytest.mark.parametrize("overrides", [{"scale_embedding": True}, {"activation_function": "relu"}],
                         ids=["scale_embedding", "relu"])
def test_config_variants(checkpoint, overrides):
    ref, lean = load("BartForConditionalGeneration", checkpoint("BartForConditionalGeneration", **overrides))
    ids, mask, decoder = batch()
    a, b = both(ref, lean, input_ids=ids, attention_mask=mask, decoder_input_ids=decoder)
    assert_close(b.logits, a.logits, str(overrides))


def test_hidden_states_and_attentions(checkpoint):
    _, lean = load("BartModel", checkpoint("BartModel"))
    ref = transformers.BartModel.from_pretrained(checkpoint("BartModel"), attn_implementation="eager").eval()
    ids, mask, decoder = batch()
    a, b = both(ref, lean, input_ids=ids, attention_mask=mask, decoder_input_ids=decoder, output_hidden_states=True,
                output_attentions=True)
    for name in ("encoder_hidden_states", "decoder_hidden_states", "encoder_attentions", "decoder_attentions",
                 "cross_attentions"):
        assert len(b[name]) == len(a[name]), name
        for i, (x, y) in enumerate(zip(b[name], a[name])):
            assert_close(x, y, f"{name}[{i}]")


def test_no_decoder_ids_shifts_the_input_ids(checkpoint):
    ref, lean = load("BartModel", checkpoint("BartModel"))
    ids, mask, _ = batch()
    a, b = both(ref, lean, input_ids=ids, attention_mask=mask)
    assert_close(b.last_hidden_state, a.last_hidden_state)


def test_losses_match_reference(checkpoint):
    ids, mask, decoder = batch()
    labels = decoder.clone()
    labels[1, 3:] = -100
    ref, lean = load("BartForConditionalGeneration", checkpoint("BartForConditionalGeneration"))
    a, b = both(ref, lean, input_ids=ids, attention_mask=mask, labels=labels)
    assert_close(b.loss, a.loss, "seq2seq loss")
    assert_close(b.logits, a.logits, "logits from labels shifted right")
    assert torch.equal(lean.prepare_decoder_input_ids_from_labels(labels),
                       ref.prepare_decoder_input_ids_from_labels(labels))

    ref, lean = load("BartForSequenceClassification", checkpoint("BartForSequenceClassification"))
    a, b = both(ref, lean, input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 2, 1]))
    assert_close(b.loss, a.loss, "classification loss")

    ref, lean = load("BartForQuestionAnswering", checkpoint("BartForQuestionAnswering"))
    a, b = both(ref, lean, input_ids=ids, attention_mask=mask, start_positions=torch.tensor([1, 2, 40]),
                end_positions=torch.tensor([3, 4, 5]))
    assert_close(b.loss, a.loss, "QA loss")

    ref, lean = load("BartForCausalLM", checkpoint("BartForCausalLM"))
    a, b = both(ref, lean, input_ids=decoder, labels=labels)
    assert_close(b.loss, a.loss, "causal-LM loss (labels not shifted)")


def test_classification_reads_the_last_eos(checkpoint):
    _, lean = load("BartForSequenceClassification", checkpoint("BartForSequenceClassification"))
    ids, mask, _ = batch()
    ids[0, 3] = EOS  # row 0 now has two eos tokens, the others one
    with pytest.raises(ValueError, match="same number of <eos> tokens"):
        lean(input_ids=ids, attention_mask=mask)
    ids, mask, _ = batch()
    ids[:, :] = 5
    with pytest.raises(ValueError, match="must contain the eos token"):
        lean(input_ids=ids)
    with pytest.raises(ValueError, match="one decoder position per input token"):
        lean(input_ids=batch()[0], decoder_input_ids=batch()[2])


def test_cache_steps_equal_the_full_forward(checkpoint):
    """Decoding one token at a time through the EncoderDecoderCache gives the full pass's logits;
    the cross-attention keys/values are projected once."""
    _, lean = load("BartForConditionalGeneration", checkpoint("BartForConditionalGeneration"))
    ids, mask, decoder = batch()
    with torch.no_grad():
        full = lean(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder).logits
        encoder_outputs = lean.get_encoder()(input_ids=ids, attention_mask=mask, return_dict=True)
        cache, steps = None, []
        for t in range(decoder.shape[1]):
            out = lean(encoder_outputs=encoder_outputs, attention_mask=mask, decoder_input_ids=decoder[:, t:t + 1],
                       past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            steps.append(out.logits)
    assert type(cache).__name__ == "EncoderDecoderCache" and all(cache.is_updated.values())
    assert cache.get_seq_length() == decoder.shape[1]
    assert cache.cross_attention_cache.get_seq_length() == ids.shape[1]
    assert_close(torch.cat(steps, dim=1), full, "stepwise")


GENERATE = {
    "greedy": dict(max_new_tokens=12),
    "greedy-default-length": dict(),
    "beams": dict(num_beams=3, num_return_sequences=2, max_new_tokens=12),
    "beams-length-penalty": dict(num_beams=3, length_penalty=0.4, early_stopping=True, max_new_tokens=12),
    "beams-never": dict(num_beams=3, length_penalty=1.5, early_stopping="never", max_new_tokens=10),
    "no-repeat-ngram": dict(num_beams=3, no_repeat_ngram_size=2, max_new_tokens=14),
    "forced-bos-eos-min-length": dict(num_beams=2, forced_bos_token_id=BOS, forced_eos_token_id=EOS, min_length=8,
                                      max_length=12),
    "min-length-greedy": dict(min_length=10, max_new_tokens=14),
    "encoder-processors": dict(encoder_no_repeat_ngram_size=2, encoder_repetition_penalty=1.7,
                               repetition_penalty=1.2, max_new_tokens=12),
    "sampling": dict(do_sample=True, top_k=20, top_p=0.9, temperature=0.8, max_new_tokens=12),
    "sampling-several": dict(do_sample=True, num_return_sequences=3, max_new_tokens=8),
    "beam-sampling": dict(do_sample=True, num_beams=2, max_new_tokens=8),
    "no-cache": dict(use_cache=False, num_beams=2, max_new_tokens=8),
    "decoder-prompt": dict(decoder_input_ids=torch.tensor([[BOS, 7], [BOS, 8], [BOS, 9]]), max_new_tokens=6),
}


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("case", sorted(GENERATE))
def test_generate_matches_reference(checkpoint, case, padded):
    # beam sampling (torch.multinomial, K draws per step) moves with the last bit of the
    # probabilities: token-identical because decoding multiplies with F.linear, as the reference
    ref, lean = load("BartForConditionalGeneration", checkpoint("BartForConditionalGeneration"))
    ids, mask, _ = batch(padded)
    outputs = []
    for model in (ref, lean):
        torch.manual_seed(3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outputs.append(model.generate(ids, attention_mask=mask, **GENERATE[case]))
    expected, got = outputs
    assert got.shape == expected.shape and torch.equal(got, expected), (got.tolist(), expected.tolist())


def test_generate_dict_output_matches_reference(checkpoint):
    ref, lean = load("BartForConditionalGeneration", checkpoint("BartForConditionalGeneration"))
    ids, mask, _ = batch()
    kwargs = dict(attention_mask=mask, max_new_tokens=8, return_dict_in_generate=True, output_scores=True)
    for extra in ({}, {"num_beams": 3, "num_return_sequences": 2}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = ref.generate(ids, **kwargs, **extra)
        b = lean.generate(ids, **kwargs, **extra)
        assert type(b).__name__ == type(a).__name__
        assert torch.equal(b.sequences, a.sequences)
        for x, y in zip(b.scores, a.scores):
            finite = torch.isfinite(y)
            assert torch.equal(finite, torch.isfinite(x))
            assert_close(x[finite], y[finite], "scores")
        if extra:
            assert_close(b.sequences_scores, a.sequences_scores, "sequences_scores")
            assert torch.equal(b.beam_indices, a.beam_indices)


def test_causal_lm_generates_like_reference(checkpoint):
    ref, lean = load("BartForCausalLM", checkpoint("BartForCausalLM"))
    _, _, decoder = batch()
    for kwargs in (dict(max_new_tokens=10), dict(num_beams=2, max_new_tokens=8)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = ref.generate(decoder, **kwargs)
        assert torch.equal(lean.generate(decoder, **kwargs), expected)


def test_streamer_sees_the_reference_tokens(checkpoint):
    ref, lean = load("BartForConditionalGeneration", checkpoint("BartForConditionalGeneration"))
    ids, _, _ = batch(padded=False)

    def collector(base):
        class Collect(base):
            def __init__(self):
                self.puts, self.ended = [], False

            def put(self, value):
                self.puts.append(value.reshape(-1).tolist())

            def end(self):
                self.ended = True

        return Collect()

    streams = []
    for model, base in ((ref, transformers.generation.BaseStreamer), (lean, leanformers.generation.BaseStreamer)):
        streamer = collector(base)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.generate(ids[:1], max_new_tokens=8, streamer=streamer)
        assert streamer.ended
        streams.append(streamer.puts)
    assert streams[1] == streams[0] and streams[1][0] == [EOS]  # the start token, then one token per put


@pytest.mark.parametrize("head", HEADS)
def test_save_load_round_trips_both_ways(checkpoint, head, tmp_path):
    ref, lean = load(head, checkpoint(head))
    lean.save_pretrained(tmp_path)
    reloaded_ref, reloaded_lean = load(head, tmp_path)
    ids, mask, decoder = batch()
    inputs = dict(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder)
    if head == "BartForCausalLM":
        inputs = dict(input_ids=decoder)
    elif head in ("BartForSequenceClassification", "BartForQuestionAnswering"):
        inputs.pop("decoder_input_ids")
    with torch.no_grad():
        expected = ref(**inputs)[0]
        for model in (reloaded_ref, reloaded_lean):
            assert_close(model(**inputs)[0], expected, f"{head} via {type(model).__module__}")


def test_tied_embeddings_and_auto_classes(checkpoint):
    folder = checkpoint("BartForConditionalGeneration")
    model = leanformers.AutoModelForSeq2SeqLM.from_pretrained(folder)
    assert type(model).__name__ == "BartForConditionalGeneration"
    shared = model.model.shared.weight
    assert model.lm_head.weight is shared and model.model.encoder.embed_tokens.weight is shared
    assert model.model.decoder.embed_tokens.weight is shared
    for auto, name in (("AutoModel", "BartModel"), ("AutoModelForSequenceClassification",
                                                    "BartForSequenceClassification"),
                       ("AutoModelForQuestionAnswering", "BartForQuestionAnswering"),
                       ("AutoModelForCausalLM", "BartForCausalLM")):
        assert type(getattr(leanformers, auto).from_pretrained(folder)).__name__ == name
    assert model.generation_config.forced_eos_token_id == EOS
    assert model.generation_config.decoder_start_token_id == EOS


def test_config_matches_reference():
    ours, theirs = leanformers.BartConfig().to_dict(), transformers.BartConfig().to_dict()
    for key, value in theirs.items():
        if key in ours and not key.startswith("_") and key not in ("transformers_version", "dtype"):
            assert ours[key] == value, key
    assert leanformers.BartConfig().num_labels == 3 and leanformers.BartConfig().hidden_size == 1024


def test_resize_token_embeddings_keeps_final_logits_bias_in_step(checkpoint):
    _, lean = load("BartForConditionalGeneration", checkpoint("BartForConditionalGeneration"))
    lean.resize_token_embeddings(VOCAB + 5)
    assert lean.final_logits_bias.shape == (1, VOCAB + 5) and lean.lm_head.weight.shape[0] == VOCAB + 5
    ids, mask, decoder = batch()
    with torch.no_grad():
        assert lean(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder).logits.shape[-1] == VOCAB + 5


def test_clear_errors(checkpoint):
    _, lean = load("BartForConditionalGeneration", checkpoint("BartForConditionalGeneration"))
    with pytest.raises(ValueError, match="reads at most 64"):
        lean(input_ids=torch.full((1, 70), 5))
    with pytest.raises(ValueError, match="static cache is not supported for encoder-decoder"):
        lean.generate(batch()[0], max_new_tokens=2, cache_implementation="static")
    with pytest.raises(ValueError, match="decoder_start_token_id holds 2 ids, but there are 3 prompts"):
        lean.generate(batch()[0], max_new_tokens=2, decoder_start_token_id=[2, 2])


@pytest.mark.parametrize("how", ["tokenizer_class", "model_type", "tokenizer.json"])
def test_tokenizer_gives_the_reference_ids(tmp_path, how):
    """A BART folder (RoBERTa's byte-level BPE: vocab.json + merges.txt) found by its tokenizer_class,
    by config.json's model_type alone, or through the tokenizer.json the reference writes."""
    import json
    import os
    import shutil

    source = os.path.join(os.path.dirname(__file__), "..", ".data", "gpt2")
    if not os.path.isdir(source):
        pytest.skip("tests/.data/gpt2 (fetched by scripts/setup.sh --test) is missing")
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(source, name), tmp_path / name)
    if how == "model_type":
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "bart"}))
    else:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BartTokenizer"}))
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path)
    if how == "tokenizer.json":
        ref.save_pretrained(tmp_path)
        assert (tmp_path / "tokenizer.json").exists()
        config = json.loads((tmp_path / "tokenizer_config.json").read_text())
        (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": "BartTokenizer"}))
    ours = leanformers.AutoTokenizer.from_pretrained(tmp_path)
    direct = leanformers.BartTokenizerFast.from_pretrained(tmp_path)
    texts = ["Hello world!", " leading space and  double", "ünïcödé wörds <mask> too", "</s> inside"]
    for tok in (ours, direct):
        for text in texts:
            assert tok(text)["input_ids"] == ref(text)["input_ids"], text
        pair_ours, pair_ref = tok("first part", "second part"), ref("first part", "second part")
        assert pair_ours["input_ids"] == pair_ref["input_ids"]
        assert tok.decode(tok(texts[2])["input_ids"]) == ref.decode(ref(texts[2])["input_ids"])
    assert (ours.bos_token_id, ours.eos_token_id, ours.pad_token_id, ours.mask_token_id) == \
        (ref.bos_token_id, ref.eos_token_id, ref.pad_token_id, ref.mask_token_id)


def test_generate_attentions_with_beams_match_reference(checkpoint):
    """Beams share their prompt's encoder row in leanformers (no repeated cross-attention keys):
    the cross-attention weights per beam still equal the reference's."""
    folder = checkpoint("BartForConditionalGeneration")
    ref = transformers.BartForConditionalGeneration.from_pretrained(folder, attn_implementation="eager").eval()
    lean = leanformers.BartForConditionalGeneration.from_pretrained(folder).eval()
    ids, mask, _ = batch()
    kwargs = dict(attention_mask=mask, max_new_tokens=4, num_beams=2, return_dict_in_generate=True,
                  output_attentions=True, output_hidden_states=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ref.generate(ids, **kwargs)
    b = lean.generate(ids, **kwargs)
    assert torch.equal(a.sequences, b.sequences)
    for name in ("cross_attentions", "decoder_attentions", "decoder_hidden_states"):
        assert len(b[name]) == len(a[name])
        for step_a, step_b in zip(a[name], b[name]):
            for x, y in zip(step_b, step_a):
                assert_close(x, y, name)
    for x, y in zip(b.encoder_attentions, a.encoder_attentions):
        assert_close(x, y, "encoder_attentions")
