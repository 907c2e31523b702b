"""Shared parity checks of the Llama-family decoders (llama, mistral, qwen2) against the reference.

Each test file defines an ``arch`` fixture and a ``variant`` fixture (config overrides), then
``from decoder_parity import *`` runs these tests for it. Tiny checkpoints are built and saved by
the reference library once per session and loaded by both libraries from the same folder.
"""

import json
import os

import pytest
import torch

ATOL = 1e-4
VOCAB = 99
PAD = 0
CLASSES = {"llama": "Llama", "mistral": "Mistral", "qwen2": "Qwen2"}
TINY = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, pad_token_id=PAD, bos_token_id=1,
            eos_token_id=2)

_FOLDERS = {}


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """checkpoint(arch, head, **overrides) -> folder saved by the reference (cached per session)."""
    transformers = pytest.importorskip("transformers")

    def checkpoint(arch, head, **overrides):
        key = (arch, head, json.dumps(overrides, sort_keys=True))
        if key not in _FOLDERS:
            prefix = CLASSES[arch]
            config = getattr(transformers, f"{prefix}Config")(**{**TINY, **overrides})
            torch.manual_seed(0)
            model = getattr(transformers, prefix + head)(config)
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

    return getattr(transformers, CLASSES[arch] + head).from_pretrained(folder, dtype=torch.float32).eval()


def lean(arch, head, folder, **kwargs):
    import leanformers

    return getattr(leanformers, CLASSES[arch] + head).from_pretrained(folder, **kwargs).eval()


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


def test_kv_cache_step_by_step_equals_full_forward(checkpoints, arch, variant):
    from leanformers.cache import DynamicCache, StaticCache

    folder = checkpoints(arch, "ForCausalLM", **variant)
    ref, ours = reference(arch, "ForCausalLM", folder), lean(arch, "ForCausalLM", folder)
    ids, mask = batch(seq=10)
    with torch.no_grad():
        expected = ref(ids, attention_mask=mask).logits
        for cache in (DynamicCache(), StaticCache(ours.config, max_cache_len=16)):
            # the prompt's first 4 tokens at once, then one token per call
            steps = [ours(ids[:, :4], attention_mask=mask[:, :4], past_key_values=cache, use_cache=True).logits]
            for t in range(4, ids.shape[1]):
                out = ours(ids[:, t:t + 1], attention_mask=mask[:, :t + 1], past_key_values=cache,
                           use_cache=True)
                assert out.past_key_values is cache
                steps.append(out.logits)
            assert_close(torch.cat(steps, dim=1), expected, mask.bool())


def test_base_model_and_sequence_classification(checkpoints, arch, variant):
    ids, mask = batch()
    for head in ("Model", "ForSequenceClassification"):
        folder = checkpoints(arch, head, **variant)
        ref, ours = reference(arch, head, folder), lean(arch, head, folder)
        with torch.no_grad():
            expected, got = ref(ids, attention_mask=mask), ours(ids, attention_mask=mask)
        if head == "Model":
            assert_close(got.last_hidden_state, expected.last_hidden_state, mask.bool())
        else:
            assert_close(got.logits, expected.logits)
            labels = torch.tensor([0, 1])
            with torch.no_grad():
                assert abs(ours(ids, attention_mask=mask, labels=labels).loss.item()
                           - ref(ids, attention_mask=mask, labels=labels).loss.item()) < ATOL


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
    again = getattr(transformers, CLASSES[arch] + "ForCausalLM").from_pretrained(tmp_path, dtype=torch.float32)
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

    ref = getattr(transformers, CLASSES[arch] + "Config")().to_dict()
    ours = getattr(leanformers, CLASSES[arch] + "Config")().to_dict()
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
    ref = transformers.AutoConfig.from_pretrained(tmp_path)
    ours = leanformers.AutoConfig.from_pretrained(tmp_path)
    assert ours.rope_parameters == ref.rope_parameters
    assert ours.rope_parameters["rope_theta"] == 5000.0 and ours.rope_parameters["rope_type"] == "linear"
