"""Llama against the reference (tests in decoder_parity.py): GQA, every RoPE type, tied and
untied embeddings, attention/MLP biases and an explicit head_dim; plus config errors."""

import pytest
import torch

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Llama)

VARIANTS = {
    "gqa": {},
    "tied": {"tie_word_embeddings": True},
    "rope-linear": {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}},
    # max_position_embeddings below the test lengths, so the NTK base really grows
    "rope-dynamic": {"rope_parameters": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0},
                     "max_position_embeddings": 8},
    "rope-llama3": {"rope_parameters": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 16,
                                        "rope_theta": 500000.0}},
    "bias-head-dim": {"attention_bias": True, "mlp_bias": True, "head_dim": 16},
    # the shared RoPE module's other types; original_max_position_embeddings below the test lengths
    "rope-yarn": {"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8,
                                      "rope_theta": 10000.0}},
    "rope-longrope": {"rope_parameters": {"rope_type": "longrope", "original_max_position_embeddings": 8,
                                          "short_factor": [1.0, 1.2, 1.5, 2.0], "long_factor": [1.0, 2.0, 4.0, 8.0],
                                          "rope_theta": 10000.0}},
}


@pytest.fixture
def arch():
    return "llama"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


def test_tied_lm_head_is_the_embedding(checkpoints):
    from decoder_parity import lean

    folder = checkpoints("llama", "ForCausalLM", **VARIANTS["tied"])
    model = lean("llama", "ForCausalLM", folder)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    untied = lean("llama", "ForCausalLM", checkpoints("llama", "ForCausalLM"))
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight


def test_bad_configs_say_what_to_fix():
    from leanformers import LlamaConfig

    with pytest.raises(ValueError, match="num_key_value_heads"):
        LlamaConfig(num_attention_heads=4, num_key_value_heads=3, hidden_size=32)
    with pytest.raises(ValueError, match="rope_type 'yarnish'"):
        LlamaConfig(rope_parameters={"rope_type": "yarnish"})
    with pytest.raises(ValueError, match="factor"):
        LlamaConfig(rope_scaling={"type": "linear"})


def test_rope_scaling_override_at_load(checkpoints):
    from decoder_parity import lean

    model = lean("llama", "ForCausalLM", checkpoints("llama", "ForCausalLM"),
                 rope_scaling={"rope_type": "linear", "factor": 4.0})
    assert model.config.rope_parameters == {"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}
    expected = 1.0 / (10000.0 ** (torch.arange(0, 8, 2).float() / 8)) / 4.0
    assert torch.allclose(model.model.rotary_emb.inv_freq, expected)


def test_rope_buffers_are_real_and_not_saved(checkpoints):
    from decoder_parity import lean

    model = lean("llama", "ForCausalLM", checkpoints("llama", "ForCausalLM"))
    assert model.model.rotary_emb.inv_freq.device.type == "cpu"
    assert not any("inv_freq" in k for k in model.state_dict())


@pytest.fixture
def generate_variants():
    return [VARIANTS[name] for name in ["gqa", "rope-dynamic", "rope-longrope"]]
