"""T5 / mT5 against the reference: tiny random checkpoints built by transformers, loaded by both.

Variants: v1.0 (relu, tied head rescaled by d_model**-0.5), v1.1 (gated-gelu, tie_word_embeddings
False: no rescale), gated-silu, a checkpoint with its own lm_head (v1.1 / mT5 Hub files), and mT5.
Every head is compared with and without padding (encoder and decoder side), losses included.
"""

import pytest
import torch

T = pytest.importorskip("transformers")
import leanformers as L  # noqa: E402

ATOL = 1e-5
TINY = dict(d_model=32, d_kv=8, num_heads=2, num_layers=2, num_decoder_layers=3, vocab_size=99, d_ff=37,
            relative_attention_num_buckets=8, relative_attention_max_distance=16, decoder_start_token_id=0)
VARIANTS = {
    "v1.0": dict(),
    "v1.1": dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False),
    "silu": dict(feed_forward_proj="gated-silu", tie_word_embeddings=False),
}
HEADS = ("Model", "ForConditionalGeneration", "EncoderModel", "ForSequenceClassification",
         "ForTokenClassification", "ForQuestionAnswering")


def _perturb(model, seed):
    torch.manual_seed(seed)
    with torch.no_grad():  # LayerNorms start at ones: make every weight non-trivial
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """(variant, head, prefix, own_head) -> folder saved by the reference."""
    built = {}

    def make(variant="v1.0", head="ForConditionalGeneration", prefix="T5", own_head=False, layers=(2, 3)):
        key = (variant, head, prefix, own_head, layers)
        if key not in built:
            torch.manual_seed(len(built))
            kwargs = dict(TINY, **VARIANTS[variant], num_layers=layers[0], num_decoder_layers=layers[1])
            if head in ("ForSequenceClassification", "ForTokenClassification"):
                kwargs["num_labels"] = 3
            config = getattr(T, prefix + "Config")(**kwargs)
            model = getattr(T, prefix + head)(config)
            _perturb(model, len(built))
            if own_head:  # a Hub v1.1 / mT5 checkpoint: lm_head is not the embedding matrix
                model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))
            folder = str(tmp_path_factory.mktemp(f"{prefix}-{variant}-{head}"))
            model.save_pretrained(folder)
            built[key] = folder
        return built[key]

    return make


def _reference(prefix, head, folder, **kw):
    # the reference's default (SDPA) attention, as leanformers computes it; eager only for attentions
    return getattr(T, prefix + head).from_pretrained(folder, **kw).eval()


def _lean(prefix, head, folder, **kw):
    return getattr(L, prefix + head).from_pretrained(folder, **kw).eval()


def _inputs(padded: bool, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, 99, (3, 9), generator=g)
    dec = torch.randint(2, 99, (3, 6), generator=g)
    dec[:, 0] = 0
    ids[:, -1] = 1  # every row ends with </s> (the sequence-classification head pools there)
    enc_mask, dec_mask = torch.ones_like(ids), torch.ones_like(dec)
    if padded:  # right padding in the encoder, a padded decoder row too
        ids[1, 5], ids[1, 6:] = 1, 0
        ids[2, 3], ids[2, 4:] = 1, 0
        enc_mask = (ids != 0).long()
        dec_mask[1, 4:] = 0
    return ids, enc_mask, dec, dec_mask


def _call(model, head, ids, mask, dec, dec_mask, **kw):
    if head in ("EncoderModel", "ForTokenClassification", "ForSequenceClassification"):
        # the classifier decodes the shifted input itself and pools at its last </s>
        return model(input_ids=ids, attention_mask=mask, **kw)
    return model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask, **kw)


def _main_outputs(out, head):
    if head == "ForQuestionAnswering":
        return [out.start_logits, out.end_logits]
    if head in ("Model", "EncoderModel"):
        return [out.last_hidden_state]
    return [out.logits]


def _labels(head, ids, dec):
    g = torch.Generator().manual_seed(1)
    if head == "ForConditionalGeneration":
        labels = torch.randint(2, 99, dec.shape, generator=g)
        labels[1, 4:] = -100
        return dict(labels=labels)
    if head == "ForSequenceClassification":
        return dict(labels=torch.tensor([0, 2, 1]))
    if head == "ForTokenClassification":
        return dict(labels=torch.randint(0, 3, ids.shape, generator=g))
    if head == "ForQuestionAnswering":
        return dict(start_positions=torch.tensor([1, 2, 30]), end_positions=torch.tensor([3, 4, 5]))
    return {}


def _close(a, b, what):
    assert a.shape == b.shape, f"{what}: shapes {tuple(a.shape)} vs {tuple(b.shape)}"
    diff = (a - b).abs().max().item()
    assert diff <= ATOL, f"{what}: max |diff| {diff}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_outputs_and_loss_match_reference(build, variant, head, padded):
    folder = build(variant, head)
    ref, lean = _reference("T5", head, folder), _lean("T5", head, folder)
    ids, mask, dec, dec_mask = _inputs(padded)
    labels = _labels(head, ids, dec)
    with torch.no_grad():
        r = _call(ref, head, ids, mask, dec, dec_mask, **labels)
        o = _call(lean, head, ids, mask, dec, dec_mask, **labels)
    for a, b in zip(_main_outputs(r, head), _main_outputs(o, head)):
        _close(a, b, f"{head} {variant}")
    if labels:
        _close(r.loss, o.loss, f"{head} {variant} loss")


@pytest.mark.parametrize("head", HEADS)
def test_mt5_heads_match_reference(build, head):
    folder = build("v1.1", head, prefix="MT5")
    ref, lean = _reference("MT5", head, folder), _lean("MT5", head, folder)
    assert type(lean).__name__ == "MT5" + head and lean.config.model_type == "mt5"
    ids, mask, dec, dec_mask = _inputs(True)
    with torch.no_grad():
        r, o = _call(ref, head, ids, mask, dec, dec_mask), _call(lean, head, ids, mask, dec, dec_mask)
    for a, b in zip(_main_outputs(r, head), _main_outputs(o, head)):
        _close(a, b, f"MT5{head}")


@pytest.mark.parametrize("prefix", ["T5", "MT5"])
def test_checkpoint_with_its_own_lm_head(build, prefix, tmp_path):
    """Hub v1.1 / mT5 files hold lm_head.weight apart from shared.weight: both libraries keep it."""
    folder = build("v1.1", "ForConditionalGeneration", prefix=prefix, own_head=True)
    ref, lean = _reference(prefix, "ForConditionalGeneration", folder), _lean(prefix, "ForConditionalGeneration", folder)
    assert lean.lm_head.weight is not lean.shared.weight
    assert torch.equal(lean.lm_head.weight, ref.lm_head.weight)
    ids, mask, dec, dec_mask = _inputs(True)
    with torch.no_grad():
        _close(ref(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits,
               lean(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits, "own lm_head")
    # saved by leanformers, the head survives for the reference
    lean.save_pretrained(tmp_path)
    back = _reference(prefix, "ForConditionalGeneration", str(tmp_path))
    assert torch.equal(back.lm_head.weight, ref.lm_head.weight)
    # resizing the vocabulary resizes the own head too, keeping its rows
    lean.resize_token_embeddings(104)
    assert lean.lm_head.weight.shape == (104, 32) and lean.shared.weight.shape == (104, 32)
    assert torch.equal(lean.lm_head.weight[:99], ref.lm_head.weight)


def test_v10_rescales_and_v11_does_not(build):
    for variant, scale in (("v1.0", True), ("v1.1", False)):
        lean = _lean("T5", "ForConditionalGeneration", build(variant))
        assert lean.config.scale_decoder_outputs is scale and lean.config.tie_word_embeddings is True
        assert lean.lm_head.weight is lean.shared.weight  # tied, as the reference ties it


def test_labels_are_shifted_into_decoder_inputs(build):
    """labels alone: decoder_input_ids = [start] + labels[:-1], -100 -> pad; loss ignores -100."""
    folder = build("v1.1")
    ref, lean = _reference("T5", "ForConditionalGeneration", folder), _lean("T5", "ForConditionalGeneration", folder)
    ids, mask, _, _ = _inputs(True)
    labels = torch.tensor([[5, 6, 7, 1], [8, 1, -100, -100], [9, 10, 11, 1]])
    expected = torch.tensor([[0, 5, 6, 7], [0, 8, 1, 0], [0, 9, 10, 11]])
    assert torch.equal(lean.prepare_decoder_input_ids_from_labels(labels), expected)
    assert torch.equal(ref.prepare_decoder_input_ids_from_labels(labels), expected)
    with torch.no_grad():
        r = ref(input_ids=ids, attention_mask=mask, labels=labels)
        o = lean(input_ids=ids, attention_mask=mask, labels=labels)
        explicit = lean(input_ids=ids, attention_mask=mask, decoder_input_ids=expected)
    _close(r.logits, o.logits, "logits from labels")
    _close(r.loss, o.loss, "loss from labels")
    assert torch.equal(o.logits, explicit.logits)


def test_hidden_states_and_attentions_match_reference(build):
    folder = build("v1.0")
    ref = _reference("T5", "ForConditionalGeneration", folder, attn_implementation="eager")
    lean = _lean("T5", "ForConditionalGeneration", folder)
    ids, mask, dec, dec_mask = _inputs(True)
    kw = dict(output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        r = _call(ref, "ForConditionalGeneration", ids, mask, dec, dec_mask, **kw)
        o = _call(lean, "ForConditionalGeneration", ids, mask, dec, dec_mask, **kw)
    for name in ("encoder_hidden_states", "decoder_hidden_states", "encoder_attentions", "decoder_attentions",
                 "cross_attentions"):
        assert len(getattr(r, name)) == len(getattr(o, name)), name
        for i, (a, b) in enumerate(zip(getattr(r, name), getattr(o, name))):
            _close(a, b, f"{name}[{i}]")


def test_encoder_outputs_given_are_not_recomputed(build):
    lean = _lean("T5", "ForConditionalGeneration", build("v1.1"))
    ids, mask, dec, _ = _inputs(True)
    with torch.no_grad():
        full = lean(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
        enc = lean.get_encoder()(input_ids=ids, attention_mask=mask, return_dict=True)
        as_output = lean(encoder_outputs=enc, attention_mask=mask, decoder_input_ids=dec)
        as_tuple = lean(encoder_outputs=(enc.last_hidden_state,), attention_mask=mask, decoder_input_ids=dec)
    assert type(enc).__name__ == "BaseModelOutput"
    assert torch.equal(full.logits, as_output.logits) and torch.equal(full.logits, as_tuple.logits)


@pytest.mark.parametrize("variant", ["v1.0", "v1.1"])
def test_cached_decoding_matches_full_forward_and_reference(build, variant):
    """One token at a time through an EncoderDecoderCache gives the full forward's logits (and the
    reference's step logits): the decoder's relative bias must use the cached length as offset."""
    folder = build(variant)
    ref, lean = _reference("T5", "ForConditionalGeneration", folder), _lean("T5", "ForConditionalGeneration", folder)
    ids, mask, dec, _ = _inputs(True)
    with torch.no_grad():
        full = lean(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, use_cache=False).logits
        enc = lean.get_encoder()(input_ids=ids, attention_mask=mask, return_dict=True)
        ref_enc = ref.get_encoder()(input_ids=ids, attention_mask=mask)
        cache, ref_cache = None, None
        for t in range(dec.shape[1]):
            step = lean(encoder_outputs=enc, attention_mask=mask, decoder_input_ids=dec[:, t:t + 1],
                        past_key_values=cache, use_cache=True)
            ref_step = ref(encoder_outputs=ref_enc, attention_mask=mask, decoder_input_ids=dec[:, t:t + 1],
                           cache=ref_cache, use_cache=True)
            cache, ref_cache = step.past_key_values, ref_step.cache
            _close(step.logits[:, 0], full[:, t], f"step {t} vs full")
            _close(step.logits, ref_step.logits, f"step {t} vs reference")
    assert type(cache).__name__ == "EncoderDecoderCache" and cache.get_seq_length() == dec.shape[1]
    assert all(cache.is_updated.values()) and len(cache.is_updated) == TINY["num_decoder_layers"]


@pytest.mark.parametrize("head", ["ForConditionalGeneration", "ForSequenceClassification", "ForTokenClassification"])
def test_leanformers_save_loads_in_reference(build, head, tmp_path):
    folder = build("v1.1", head)
    lean = _lean("T5", head, folder)
    lean.save_pretrained(tmp_path)
    ref = _reference("T5", head, str(tmp_path))
    ids, mask, dec, dec_mask = _inputs(True)
    with torch.no_grad():
        a = _main_outputs(_call(ref, head, ids, mask, dec, dec_mask), head)[0]
        b = _main_outputs(_call(lean, head, ids, mask, dec, dec_mask), head)[0]
    _close(a, b, f"{head} after leanformers save")
    # the reference reads the same config from both folders
    saved, original = T.T5Config.from_pretrained(str(tmp_path)), T.T5Config.from_pretrained(folder)
    for key in ("d_model", "d_kv", "num_layers", "num_decoder_layers", "feed_forward_proj", "dense_act_fn",
                "is_gated_act", "scale_decoder_outputs", "tie_word_embeddings", "model_type", "is_encoder_decoder",
                "relative_attention_num_buckets", "use_cache", "num_labels", "decoder_start_token_id"):
        assert getattr(saved, key) == getattr(original, key), key


def test_random_init_loads_in_reference(tmp_path):
    """A leanformers-built model (from_config) saves a checkpoint the reference reads with the same numbers."""
    config = L.T5Config(**dict(TINY, **VARIANTS["v1.1"]))
    lean = L.T5ForConditionalGeneration(config).eval()
    for name, p in lean.named_parameters():
        assert p.std() > 0 or "layer_norm" in name, name
    lean.save_pretrained(tmp_path)
    ref = _reference("T5", "ForConditionalGeneration", str(tmp_path))
    ids, mask, dec, dec_mask = _inputs(True)
    with torch.no_grad():
        _close(ref(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits,
               lean(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits, "from_config")


def test_auto_classes_dispatch(build):
    folder = build("v1.0", "ForConditionalGeneration")
    assert type(L.AutoConfig.from_pretrained(folder)).__name__ == "T5Config"
    assert type(L.AutoModel.from_pretrained(folder)).__name__ == "T5Model"
    assert type(L.AutoModelForSequenceClassification.from_pretrained(folder)).__name__ == "T5ForSequenceClassification"
    assert type(L.AutoModelForTokenClassification.from_pretrained(folder)).__name__ == "T5ForTokenClassification"
    assert type(L.AutoModelForQuestionAnswering.from_pretrained(folder)).__name__ == "T5ForQuestionAnswering"
    mt5 = build("v1.1", "ForConditionalGeneration", prefix="MT5")
    config = L.AutoConfig.from_pretrained(mt5)
    assert type(config).__name__ == "MT5Config" and config.model_type == "mt5"
    assert type(L.AutoModel.from_pretrained(mt5)).__name__ == "MT5Model"
    assert type(L.AutoModelForSeq2SeqLM.from_pretrained(folder)).__name__ == "T5ForConditionalGeneration"
    assert type(L.AutoModelForSeq2SeqLM.from_pretrained(mt5)).__name__ == "MT5ForConditionalGeneration"
    assert type(L.AutoModelForTokenClassification.from_pretrained(mt5)).__name__ == "MT5ForTokenClassification"


def test_config_matches_reference():
    for kwargs in ({}, dict(feed_forward_proj="gated-gelu", tie_word_embeddings=False),
                   dict(feed_forward_proj="gated-silu", num_decoder_layers=1)):
        ref, lean = T.T5Config(**kwargs), L.T5Config(**kwargs)
        for key in ("vocab_size", "d_ff", "num_layers", "num_decoder_layers", "num_heads", "dense_act_fn",
                    "is_gated_act", "scale_decoder_outputs", "tie_word_embeddings", "hidden_size",
                    "num_attention_heads", "num_hidden_layers", "pad_token_id", "eos_token_id"):
            assert getattr(lean, key) == getattr(ref, key), (kwargs, key)
    ref, lean = T.MT5Config(), L.MT5Config()
    for key in ("vocab_size", "d_ff", "num_layers", "num_heads", "dense_act_fn", "decoder_start_token_id",
                "bos_token_id", "tie_word_embeddings"):
        assert getattr(lean, key) == getattr(ref, key), key


def test_clear_errors(build):
    with pytest.raises(ValueError, match="feed_forward_proj 'gated-gelu-x'"):
        L.T5Config(feed_forward_proj="gated-gelu-x")
    lean = _lean("T5", "ForConditionalGeneration", build("v1.0"))
    ids, mask, _, _ = _inputs(False)
    with pytest.raises(ValueError, match="needs decoder_input_ids"):
        lean(input_ids=ids, attention_mask=mask)
    cls = _lean("T5", "ForSequenceClassification", build("v1.0", "ForSequenceClassification"))
    no_eos = torch.full((2, 4), 5)
    with pytest.raises(ValueError, match="at least one <eos>"):
        cls(input_ids=no_eos)
    uneven = torch.tensor([[5, 1, 6, 1], [5, 6, 7, 1]])
    with pytest.raises(ValueError, match="same number of <eos>"):
        cls(input_ids=uneven)


# ---- generate() -------------------------------------------------------------------------------------
# The reference's generate() sizes its cache by num_layers, so it fails when the decoder has more
# layers than the encoder (transformers 5.24): its generation parity runs on 3 encoder / 2 decoder layers.
GENERATE = {
    "greedy": dict(max_new_tokens=12, do_sample=False),
    "beam": dict(max_new_tokens=10, num_beams=3, num_return_sequences=2, do_sample=False, length_penalty=0.7),
    "sampled": dict(max_new_tokens=10, do_sample=True, top_k=20, temperature=0.9),
}


@pytest.mark.parametrize("mode", sorted(GENERATE))
@pytest.mark.parametrize("case", [("T5", "v1.0", False), ("T5", "v1.1", False), ("MT5", "v1.1", True)],
                         ids=["t5-v1.0", "t5-v1.1", "mt5-own-head"])
def test_generate_matches_reference(build, case, mode):
    prefix, variant, own_head = case
    folder = build(variant, "ForConditionalGeneration", prefix=prefix, own_head=own_head, layers=(3, 2))
    ref = _reference(prefix, "ForConditionalGeneration", folder)
    lean = _lean(prefix, "ForConditionalGeneration", folder)
    ids, mask, _, _ = _inputs(True)
    torch.manual_seed(7)
    expected = ref.generate(input_ids=ids, attention_mask=mask, **GENERATE[mode])
    torch.manual_seed(7)
    got = lean.generate(input_ids=ids, attention_mask=mask, **GENERATE[mode])
    assert got.tolist() == expected.tolist()
    assert bool((got[:, 0] == 0).all())  # decoding starts from the pad token


def test_generate_with_a_deeper_decoder_equals_greedy_by_hand(build):
    """2 encoder / 3 decoder layers (where the reference's generate fails): greedy decoding through the
    cache equals argmax over full forwards without one."""
    folder = build("v1.1", "ForConditionalGeneration")
    lean = _lean("T5", "ForConditionalGeneration", folder)
    ids, mask, _, _ = _inputs(True)
    got = lean.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False, eos_token_id=None)
    tokens = torch.zeros((ids.shape[0], 1), dtype=torch.long)
    with torch.no_grad():
        for _ in range(8):
            logits = lean(input_ids=ids, attention_mask=mask, decoder_input_ids=tokens, use_cache=False).logits
            tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert got.tolist() == tokens.tolist()


@pytest.mark.parametrize("variant", ["v1.0", "v1.1"])
def test_float16_keeps_wo_in_float32_as_reference(build, variant):
    folder = build(variant)
    ref = _reference("T5", "ForConditionalGeneration", folder, dtype=torch.float16)
    lean = _lean("T5", "ForConditionalGeneration", folder, dtype=torch.float16)
    for name, p in lean.named_parameters():
        assert p.dtype == (torch.float32 if name.endswith(".wo.weight") else torch.float16), name
        assert p.dtype == ref.get_parameter(name).dtype, name
    ids, mask, dec, _ = _inputs(True)
    with torch.no_grad():
        a = ref(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        b = lean(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
    assert a.dtype == b.dtype
    assert (a.float() - b.float()).abs().max().item() <= 1e-2


@pytest.mark.parametrize("head", ["Model", "ForConditionalGeneration", "ForQuestionAnswering"])
def test_left_padding_matches_reference(build, head):
    """Left padding on both sides: decoder rows whose first queries see no token at all included."""
    folder = build("v1.1", head)
    ref, lean = _reference("T5", head, folder), _lean("T5", head, folder)
    ids, _, dec, _ = _inputs(False)
    mask, dec_mask = torch.ones_like(ids), torch.ones_like(dec)
    mask[1, :3], mask[2, :5], dec_mask[1, :2] = 0, 0, 0
    with torch.no_grad():
        r, o = _call(ref, head, ids, mask, dec, dec_mask), _call(lean, head, ids, mask, dec, dec_mask)
    for a, b in zip(_main_outputs(r, head), _main_outputs(o, head)):
        _close(a, b, f"{head} left-padded")


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_training_mode_draws_the_reference_dropout_masks(tmp_path, padded):
    """Dropout on (embeddings, attention probabilities, residual branches, feed-forward, final norm):
    same seed, same masks in the same order, so the same loss and gradients as the reference."""
    torch.manual_seed(0)
    config = T.T5Config(**dict(TINY, **VARIANTS["v1.1"], dropout_rate=0.1))
    T.T5ForConditionalGeneration(config).save_pretrained(tmp_path)
    ref = T.T5ForConditionalGeneration.from_pretrained(str(tmp_path)).train()
    lean = L.T5ForConditionalGeneration.from_pretrained(str(tmp_path)).train()
    ids, mask, _, _ = _inputs(padded)
    labels = torch.randint(2, 99, (3, 5), generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    r = ref(input_ids=ids, attention_mask=mask, labels=labels)
    torch.manual_seed(3)
    o = lean(input_ids=ids, attention_mask=mask, labels=labels)
    _close(r.logits, o.logits, "training logits")
    _close(r.loss, o.loss, "training loss")
    r.loss.backward()
    o.loss.backward()
    for name in ("shared.weight", "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                 "decoder.block.2.layer.1.EncDecAttention.q.weight", "decoder.block.1.layer.2.DenseReluDense.wo.weight"):
        _close(ref.get_parameter(name).grad, lean.get_parameter(name).grad, f"grad {name}")


def test_gradient_checkpointing_gives_the_same_gradients(build):
    folder = build("v1.1")
    ids, mask, dec, _ = _inputs(True)
    grads = []
    for checkpointing in (False, True):
        lean = _lean("T5", "ForConditionalGeneration", folder).train()
        if checkpointing:
            lean.gradient_checkpointing_enable()
        torch.manual_seed(0)  # dropout is on: recomputed blocks must replay the same masks
        lean(input_ids=ids, attention_mask=mask, labels=dec).loss.backward()
        grads.append(lean.get_parameter("encoder.block.0.layer.1.DenseReluDense.wi_0.weight").grad)
    assert torch.equal(grads[0], grads[1])
