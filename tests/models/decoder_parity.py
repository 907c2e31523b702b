"""Shared parity checks of the decoders (llama, mistral, qwen2, qwen3, ...) against the reference.

Each test file defines an ``arch`` fixture and a ``variant`` fixture (config overrides), then
``from decoder_parity import *`` runs these tests for it. Tiny checkpoints are built and saved by
the reference library once per session and loaded by both libraries from the same folder.
"""

import json
import os

import pytest
import torch

ATOL = 1e-5
VOCAB = 99
PAD = 0
CLASSES = {"llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2", "qwen3": "Qwen3", "gemma": "Gemma",
           "gemma2": "Gemma2", "gemma3_text": "Gemma3", "phi3": "Phi3", "mixtral": "Mixtral", "qwen3_moe": "Qwen3Moe",
           "olmo2": "Olmo2", "smollm3": "SmolLM3", "gpt_neox": "GPTNeoX"}
# class names that are not <prefix><head> (Gemma 3's text-only classes beside its multimodal ones)
NAMES = {("gemma3_text", "Config"): "Gemma3TextConfig", ("gemma3_text", "Model"): "Gemma3TextModel",
         ("gemma3_text", "ForSequenceClassification"): "Gemma3TextForSequenceClassification"}


def class_name(arch, part):
    """The class name of `part` ("Config", "Model", "ForCausalLM", ...) for `arch`, in both libraries."""
    return NAMES.get((arch, part), CLASSES[arch] + part)

TINY = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, pad_token_id=PAD, bos_token_id=1,
            eos_token_id=2)
# per architecture, over TINY: fields whose defaults are too big for a tiny model
ARCH_TINY = {"qwen3": {"head_dim": 8}, "gemma": {"head_dim": 8}, "gemma2": {"head_dim": 8, "query_pre_attn_scalar": 8},
             "gemma3_text": {"head_dim": 8, "query_pre_attn_scalar": 8}, "mixtral": {"num_local_experts": 4},
             "qwen3_moe": {"head_dim": 8, "num_experts": 4, "moe_intermediate_size": 16}}
HEADS = ("Model", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")

_FOLDERS = {}


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """checkpoint(arch, head, **overrides) -> folder saved by the reference (cached per session)."""
    transformers = pytest.importorskip("transformers")

    def checkpoint(arch, head, **overrides):
        key = (arch, head, json.dumps(overrides, sort_keys=True))
        if key not in _FOLDERS:
            config_class = getattr(transformers, class_name(arch, "Config"))
            config = config_class(**{**TINY, **ARCH_TINY.get(arch, {}), **overrides})
            torch.manual_seed(0)
            model = getattr(transformers, class_name(arch, head))(config)
            with torch.no_grad():  # norms and biases away from their init, so that they matter
                for name, p in model.named_parameters():
                    if name.endswith("bias") or "norm" in name:
                        p.add_(torch.randn_like(p) * 0.1)
            folder = tmp_path_factory.mktemp(f"{arch}-{head}")
            model.save_pretrained(folder)
            _FOLDERS[key] = str(folder)
        return _FOLDERS[key]

    return checkpoint


def reference(arch, head, folder):
    import transformers

    return getattr(transformers, class_name(arch, head)).from_pretrained(folder, dtype=torch.float32).eval()


def lean(arch, head, folder, **kwargs):
    import leanformers

    return getattr(leanformers, class_name(arch, head)).from_pretrained(folder, **kwargs).eval()


def batch(seq=12, pad_rows=True):
    torch.manual_seed(1)
    ids = torch.randint(3, VOCAB, (2, seq))
    mask = torch.ones_like(ids)
    if pad_rows:
        mask[1, :5] = 0  # left padding, as generate() uses
        ids[1, :5] = PAD
    return ids, mask


def assert_close(ours, ref, where=None):
    if where is not None:
        ours, ref = ours[where], ref[where]
    diff = (ours - ref).abs().max().item()
    assert diff <= ATOL, f"max |difference| {diff:.2e} > {ATOL}"


@pytest.mark.parametrize("padded", [False, True])
def test_causal_lm_logits(checkpoints, arch, variant, padded):
    folder = checkpoints(arch, "ForCausalLM", **variant)
    ref, ours = reference(arch, "ForCausalLM", folder), lean(arch, "ForCausalLM", folder)
    ids, mask = batch(pad_rows=padded)
    with torch.no_grad():
        expected = ref(ids, attention_mask=mask).logits
        got = ours(ids, attention_mask=mask).logits
    assert got.shape == expected.shape
    assert_close(got, expected, mask.bool())  # pad positions are not compared: nothing reads them


def test_loss_and_hidden_states(checkpoints, arch, variant):
    folder = checkpoints(arch, "ForCausalLM", **variant)
    ref, ours = reference(arch, "ForCausalLM", folder), lean(arch, "ForCausalLM", folder)
    ids, mask = batch(pad_rows=False)
    labels = ids.clone()
    labels[0, :3] = -100
    with torch.no_grad():
        expected = ref(ids, labels=labels, output_hidden_states=True)
        got = ours(ids, labels=labels, output_hidden_states=True)
    assert abs(got.loss.item() - expected.loss.item()) < ATOL
    assert len(got.hidden_states) == len(expected.hidden_states)
    for a, b in zip(got.hidden_states, expected.hidden_states):
        assert_close(a, b)


def _step_by_step(model, ids, mask, cache):
    """The prompt's first 4 tokens at once, then one token per call, through `cache`."""
    steps = [model(ids[:, :4], attention_mask=mask[:, :4], past_key_values=cache, use_cache=True).logits]
    for t in range(4, ids.shape[1]):
        out = model(ids[:, t:t + 1], attention_mask=mask[:, :t + 1], past_key_values=cache, use_cache=True)
        assert out.past_key_values is cache
        steps.append(out.logits)
    return torch.cat(steps, dim=1)


def test_kv_cache_step_by_step_equals_reference(checkpoints, arch, variant):
    """Through our caches, as the reference steps through its own (equal to the full forward pass
    except where the model itself changes with the length, as dynamic RoPE does)."""
    import transformers

    from leanformers.cache import DynamicCache, StaticCache

    folder = checkpoints(arch, "ForCausalLM", **variant)
    ref, ours = reference(arch, "ForCausalLM", folder), lean(arch, "ForCausalLM", folder)
    ids, mask = batch(seq=10)
    with torch.no_grad():
        expected = _step_by_step(ref, ids, mask, transformers.DynamicCache(config=ref.config))
        for cache in (DynamicCache(), StaticCache(ours.config, max_cache_len=16)):
            assert_close(_step_by_step(ours, ids, mask, cache), expected, mask.bool())


@pytest.mark.parametrize("head", HEADS)
def test_every_head_of_the_reference(checkpoints, arch, variant, head):
    """Each head the reference has for this architecture exists here and gives its outputs and losses."""
    import leanformers
    import transformers

    if not hasattr(transformers, class_name(arch, head)):
        pytest.skip(f"the reference has no {class_name(arch, head)}")
    assert hasattr(leanformers, class_name(arch, head)), f"{class_name(arch, head)} is missing"
    ids, mask = batch()
    folder = checkpoints(arch, head, **variant)
    ref, ours = reference(arch, head, folder), lean(arch, head, folder)
    labels = {"ForSequenceClassification": {"labels": torch.tensor([0, 1])},
              "ForTokenClassification": {"labels": torch.where(mask.bool(), ids % 2, -100)},
              "ForQuestionAnswering": {"start_positions": torch.tensor([2, 7]),
                                       "end_positions": torch.tensor([4, 40])}}.get(head, {})
    with torch.no_grad():
        expected, got = ref(ids, attention_mask=mask, **labels), ours(ids, attention_mask=mask, **labels)
    if head == "Model":
        assert_close(got.last_hidden_state, expected.last_hidden_state, mask.bool())
    elif head == "ForQuestionAnswering":
        assert_close(got.start_logits, expected.start_logits, mask.bool())
        assert_close(got.end_logits, expected.end_logits, mask.bool())
    elif head == "ForTokenClassification":
        assert_close(got.logits, expected.logits, mask.bool())
    else:
        assert_close(got.logits, expected.logits)
    if head == "ForQuestionAnswering":
        # the span softmax runs over every position, pads included (whose values nothing defines): unpadded
        ids, mask = batch(pad_rows=False)
        with torch.no_grad():
            expected, got = ref(ids, attention_mask=mask, **labels), ours(ids, attention_mask=mask, **labels)
    if labels:
        assert abs(got.loss.item() - expected.loss.item()) < ATOL


def test_save_reload_in_both_libraries(checkpoints, arch, variant, tmp_path):
    import transformers

    folder = checkpoints(arch, "ForCausalLM", **variant)
    ours = lean(arch, "ForCausalLM", folder)
    ours.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    original = json.loads(open(os.path.join(folder, "config.json")).read())
    assert saved["rope_parameters"] == original["rope_parameters"]
    for key in ("tie_word_embeddings", "num_key_value_heads", "head_dim", "sliding_window", "layer_types"):
        assert saved.get(key) == original.get(key), key
    again = getattr(transformers, class_name(arch, "ForCausalLM")).from_pretrained(tmp_path, dtype=torch.float32)
    ids, _ = batch(pad_rows=False)
    with torch.no_grad():
        assert_close(again(ids).logits, reference(arch, "ForCausalLM", folder)(ids).logits)


def _skip_unless_generation_variant(variant, generate_variants):
    # generation runs the whole decoding loop: check it on the variants that change decoding
    # (a cache through a window, grouped heads, a dynamic RoPE), not on every one
    if variant not in generate_variants:
        pytest.skip("generation is checked on this architecture's other variants")


def test_greedy_generate_matches_reference(checkpoints, arch, variant, generate_variants):
    _skip_unless_generation_variant(variant, generate_variants)
    folder = checkpoints(arch, "ForCausalLM", **variant)
    ref, ours = reference(arch, "ForCausalLM", folder), lean(arch, "ForCausalLM", folder)
    ids, mask = batch(seq=6, pad_rows=False)
    ids = ids[:1]
    kwargs = dict(max_new_tokens=64, do_sample=False, eos_token_id=None, pad_token_id=PAD)
    with torch.no_grad():
        expected = ref.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
        got = ours.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    assert got.shape[1] == ids.shape[1] + 64
    assert got.tolist() == expected.tolist()
    # (that the steps take the fast projections is checked for every decoder in tests/test_registry.py)


def test_beam_search_matches_reference(checkpoints, arch, variant, generate_variants):
    _skip_unless_generation_variant(variant, generate_variants)
    folder = checkpoints(arch, "ForCausalLM", **variant)
    ref, ours = reference(arch, "ForCausalLM", folder), lean(arch, "ForCausalLM", folder)
    ids, mask = batch(seq=6)
    kwargs = dict(max_new_tokens=12, do_sample=False, num_beams=3, num_return_sequences=2, eos_token_id=2,
                  pad_token_id=PAD)
    with torch.no_grad():
        expected = ref.generate(ids, attention_mask=mask, **kwargs)
        got = ours.generate(ids, attention_mask=mask, **kwargs)
    assert got.tolist() == expected.tolist()


def test_left_padded_batch_generates_like_each_prompt_alone(checkpoints, arch, variant, generate_variants):
    _skip_unless_generation_variant(variant, generate_variants)
    folder = checkpoints(arch, "ForCausalLM", **variant)
    ours = lean(arch, "ForCausalLM", folder)
    torch.manual_seed(2)
    prompts = [torch.randint(3, VOCAB, (n,)) for n in (7, 3)]
    width = max(len(p) for p in prompts)
    ids = torch.full((2, width), PAD)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(prompts):
        ids[row, width - len(p):] = p
        mask[row, width - len(p):] = 1
    kwargs = dict(max_new_tokens=16, do_sample=False, eos_token_id=None, pad_token_id=PAD)
    with torch.no_grad():
        together = ours.generate(ids, attention_mask=mask, **kwargs)
        for row, p in enumerate(prompts):
            alone = ours.generate(p[None], attention_mask=torch.ones(1, len(p), dtype=torch.long), **kwargs)
            assert together[row, width:].tolist() == alone[0, len(p):].tolist()


def test_config_defaults_match_reference(arch):
    import leanformers
    import transformers

    ref = getattr(transformers, class_name(arch, "Config"))().to_dict()
    ours = getattr(leanformers, class_name(arch, "Config"))().to_dict()
    for key, value in ref.items():
        if key in ("transformers_version", "id2label", "label2id", "output_attentions", "_name_or_path"):
            continue
        assert ours.get(key) == value, f"{key}: ours {ours.get(key)!r}, reference {value!r}"


def test_legacy_rope_scaling_config_json_loads_like_reference(arch, tmp_path):
    """v4 config.json files: rope_theta and rope_scaling (with the old 'type' key) at top level."""
    import leanformers
    import transformers

    data = {"model_type": arch, **TINY, "rope_theta": 5000.0, "rope_scaling": {"type": "linear", "factor": 2.0}}
    (tmp_path / "config.json").write_text(json.dumps(data))
    try:
        ref = transformers.AutoConfig.from_pretrained(tmp_path)
    except Exception as refused:  # an architecture that has no linear RoPE (Phi-3): both refuse the file
        with pytest.raises(ValueError):
            leanformers.AutoConfig.from_pretrained(tmp_path)
        assert "rope" in str(refused)
        return
    ours = leanformers.AutoConfig.from_pretrained(tmp_path)
    assert ours.rope_parameters == ref.rope_parameters  # (GPT-NeoX reads its theta from rotary_emb_base only)
