"""Parity checks shared by the Marian and mBART tests (test_marian.py, test_mbart.py).

The reference library builds tiny random models (``XConfig(**TINY[arch])`` + ``XForY(config)``), with
every weight moved away from its init so that nothing is trivially equal, and saves them once per
session; both libraries load the same folder and the outputs are compared field by field.
"""

import json
import warnings

import pytest
import torch

ATOL = 1e-5
PAD = 1
PREFIX = {"marian": "Marian", "mbart": "MBart"}
_COMMON = dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
               decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
               pad_token_id=PAD, eos_token_id=2, forced_eos_token_id=2)
TINY = {
    "marian": dict(_COMMON, decoder_start_token_id=PAD),
    "mbart": dict(_COMMON, bos_token_id=0),
}
# mBART's language codes sit at the end of the vocabulary; these stand in for two of them
LANG_A, LANG_B = 97, 98

_FOLDERS = {}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """checkpoint(arch, class_name, **config_overrides) -> a folder the reference saved (cached)."""
    transformers = pytest.importorskip("transformers")

    def build(arch, class_name, **overrides):
        key = (arch, class_name, json.dumps(overrides, sort_keys=True))
        if key not in _FOLDERS:
            config = getattr(transformers, PREFIX[arch] + "Config")(**{**TINY[arch], **overrides})
            torch.manual_seed(len(_FOLDERS))
            model = getattr(transformers, PREFIX[arch] + class_name)(config)
            with torch.no_grad():  # LayerNorms, biases and final_logits_bias away from their init
                for p in model.parameters():
                    if p.requires_grad:
                        p.add_(torch.randn_like(p) * 0.2)
                if hasattr(model, "final_logits_bias"):
                    model.final_logits_bias.add_(torch.randn_like(model.final_logits_bias) * 0.1)
            folder = tmp_path_factory.mktemp(f"{arch}-{class_name}")
            model.save_pretrained(folder)
            _FOLDERS[key] = str(folder)
        return _FOLDERS[key]

    return build


def reference(arch, class_name, folder, attn_implementation="eager", **kwargs):
    """The reference model (eager attention by default, so that it can return attentions)."""
    import transformers

    cls = getattr(transformers, PREFIX[arch] + class_name)
    return cls.from_pretrained(folder, attn_implementation=attn_implementation, dtype=torch.float32, **kwargs).eval()


def lean(arch, class_name, folder, **kwargs):
    import leanformers

    loaded = getattr(leanformers, PREFIX[arch] + class_name).from_pretrained(folder, **kwargs)
    return loaded[0].eval() if isinstance(loaded, tuple) else loaded.eval()


def seq2seq_inputs(padded: bool) -> dict:
    """Two source rows and two target prefixes; ``padded`` right-pads the second row of each side."""
    src = torch.tensor([[5, 6, 7, 8, 9, 2], [10, 11, 12, 2, PAD, PAD]])
    tgt = torch.tensor([[LANG_B, 13, 14, 15, 16], [LANG_B, 17, 18, PAD, PAD]])
    if not padded:
        src[1, 4:] = torch.tensor([20, 2])
        tgt[1, 3:] = torch.tensor([21, 22])
        return {"input_ids": src, "decoder_input_ids": tgt}
    return {"input_ids": src, "attention_mask": (src != PAD).long(), "decoder_input_ids": tgt,
            "decoder_attention_mask": (tgt != PAD).long()}


def decoder_inputs(padded: bool) -> dict:
    ids = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, PAD, PAD]])
    if not padded:
        ids[1, 3:] = torch.tensor([13, 14])
        return {"input_ids": ids}
    return {"input_ids": ids, "attention_mask": (ids != PAD).long()}


def assert_outputs_equal(expected, actual, skip=("cache", "past_key_values")):
    """Every tensor field of the reference's output (nested tuples too) equals ours within ATOL."""
    compared = 0
    for key, value in expected.items():
        if key in skip or value is None:
            continue
        got = actual[key]
        assert got is not None, f"{key} is missing from leanformers' output"
        values, gots = (value, got) if isinstance(value, tuple) else ((value,), (got,))
        assert len(values) == len(gots), f"{key}: {len(values)} tensors in the reference, {len(gots)} here"
        for i, (v, g) in enumerate(zip(values, gots)):
            assert v.shape == g.shape, f"{key}[{i}]: shape {tuple(g.shape)}, reference {tuple(v.shape)}"
            torch.testing.assert_close(g, v, atol=ATOL, rtol=0, msg=lambda m: f"{key}[{i}]: {m}")
            compared += 1
    assert compared, "nothing was compared"


def greedy_with_cache(model, inputs: dict, start: int, steps: int, forced=None):
    """Decode ``steps`` tokens one at a time through the model's EncoderDecoderCache (encoder run once),
    the way generate() calls the model; returns the tokens and each step's logits. ``forced`` (batch,
    steps) feeds those tokens instead of the argmax (teacher forcing)."""
    encoder_outputs = model.get_encoder()(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                                          return_dict=True)
    tokens = torch.full((inputs["input_ids"].shape[0], 1), start)
    cache, step_logits = None, []
    for position in range(steps):
        out = model(encoder_outputs=encoder_outputs, attention_mask=inputs.get("attention_mask"),
                    decoder_input_ids=tokens[:, -1:], past_key_values=cache, use_cache=True, return_dict=True,
                    cache_position=torch.tensor([position]))
        cache = out.past_key_values
        step_logits.append(out.logits[:, -1])
        chosen = out.logits[:, -1].argmax(-1, keepdim=True) if forced is None else forced[:, position:position + 1]
        tokens = torch.cat([tokens, chosen], dim=1)
    return tokens, torch.stack(step_logits, 1)


def saved_keys(folder) -> set:
    from safetensors import safe_open

    with safe_open(f"{folder}/model.safetensors", "pt") as f:
        return set(f.keys())


# generate() settings compared token for token with the reference's generate()
GENERATE = {
    "greedy": dict(max_new_tokens=10),
    "beams": dict(num_beams=3, num_return_sequences=2, max_new_tokens=10),
    "beams-length-penalty": dict(num_beams=3, length_penalty=0.6, early_stopping=True, max_new_tokens=10),
    "no-repeat-ngram": dict(num_beams=2, no_repeat_ngram_size=2, max_new_tokens=12),
    "min-length": dict(min_length=6, max_length=10),
    "sampling": dict(do_sample=True, top_k=20, top_p=0.9, temperature=0.8, max_new_tokens=10),
    "sampling-several": dict(do_sample=True, num_return_sequences=2, max_new_tokens=8),
    "beam-sampling": dict(do_sample=True, num_beams=2, max_new_tokens=8),
    "no-cache": dict(use_cache=False, num_beams=2, max_new_tokens=8),
}


def assert_generate_matches(ref, ours, inputs: dict, monkeypatch=None, **kwargs):
    """Both libraries' generate() under the same seed give the same tokens."""
    outputs = []
    for model in (ref, ours):
        torch.manual_seed(3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outputs.append(model.generate(**inputs, **kwargs))
    expected, actual = outputs
    assert actual.shape == expected.shape and torch.equal(actual, expected), (actual.tolist(), expected.tolist())


def assert_beams_can_share_encoder_rows(model, inputs: dict, groups: int = 3):
    """generate() may give each prompt's encoder output once for its beams (``_shares_encoder_rows``):
    decoder rows prompt * groups + j then read encoder row `prompt`. Same logits as repeating it, with
    and without the cache, and the cross-attention weights per row too."""
    assert type(model)._shares_encoder_rows
    src = {"input_ids": inputs["input_ids"], "attention_mask": inputs.get("attention_mask")}
    decoder = inputs["decoder_input_ids"].repeat_interleave(groups, dim=0)
    decoder = (decoder + torch.arange(decoder.shape[0])[:, None] % 3) % 90  # rows of one prompt differ
    with torch.no_grad():
        encoded = model.get_encoder()(**src, return_dict=True)
        repeated = type(encoded)(last_hidden_state=encoded.last_hidden_state.repeat_interleave(groups, dim=0))
        mask = src["attention_mask"]
        full = model(encoder_outputs=repeated, decoder_input_ids=decoder, output_attentions=True,
                     attention_mask=None if mask is None else mask.repeat_interleave(groups, dim=0))
        shared = model(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=decoder,
                       output_attentions=True)
        torch.testing.assert_close(shared.logits, full.logits, atol=ATOL, rtol=0)
        for a, b in zip(shared.cross_attentions, full.cross_attentions):
            torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
        cache, steps = None, []
        for i in range(decoder.shape[1]):
            out = model(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=decoder[:, i:i + 1],
                        past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            steps.append(out.logits)
        torch.testing.assert_close(torch.cat(steps, dim=1), full.logits, atol=ATOL, rtol=0)
        with pytest.raises(ValueError, match="one encoder row per decoder row"):
            model(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=decoder[:5])


def assert_resize_matches(ref, ours, inputs: dict, old_vocab: int):
    """resize_token_embeddings as the reference: grown (new rows are random in both: only the old
    vocabulary's logits are compared) and shrunk (everything compared)."""
    import warnings

    for size in (old_vocab + 5, old_vocab - 9):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.resize_token_embeddings(size)
        ours.resize_token_embeddings(size)
        for key in ("vocab_size", "decoder_vocab_size"):
            assert getattr(ours.config, key, None) == getattr(ref.config, key, None), key
        kept = {k: v % min(size, old_vocab) for k, v in inputs.items() if k.endswith("input_ids")}
        with torch.no_grad():
            expected, actual = ref(**{**inputs, **kept}), ours(**{**inputs, **kept})
        assert actual.logits.shape == expected.logits.shape
        n = min(size, old_vocab)
        torch.testing.assert_close(actual.logits[..., :n], expected.logits[..., :n], atol=ATOL, rtol=0)
        if hasattr(ref, "final_logits_bias"):
            torch.testing.assert_close(ours.final_logits_bias, ref.final_logits_bias)
