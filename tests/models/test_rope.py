"""leanformers/rope.py against the reference's RoPE for every rope_type: the parameters a config ends
up with, the inverse frequencies and cos/sin scale, and the tables over sequence lengths that make
"dynamic" and "longrope" switch frequencies."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from leanformers.models.llama import LlamaConfig  # noqa: E402
from leanformers.rope import RotaryEmbedding, apply_rotary, inverse_frequencies  # noqa: E402

HEAD_DIM = 16
SIZES = dict(hidden_size=64, num_attention_heads=4, max_position_embeddings=32)
ROPES = {
    "default": {"rope_type": "default", "rope_theta": 10000.0},
    "linear": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8, "rope_theta": 500000.0},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8, "rope_theta": 10000.0},
    "yarn-mscale": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8, "mscale": 0.707,
                    "mscale_all_dim": 1.0, "beta_fast": 16, "beta_slow": 2, "rope_theta": 10000.0},
    "yarn-no-original": {"rope_type": "yarn", "factor": 2.0, "truncate": False, "rope_theta": 1000000.0},
    "longrope": {"rope_type": "longrope", "rope_theta": 10000.0, "original_max_position_embeddings": 8,
                 "short_factor": [1.0, 1.1, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0],
                 "long_factor": [1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0]},
}


def configs(name):
    params = ROPES[name]
    return LlamaConfig(**SIZES, rope_parameters=dict(params)), transformers.LlamaConfig(**SIZES,
                                                                                      rope_parameters=dict(params))


@pytest.mark.parametrize("name", sorted(ROPES))
def test_parameters_and_frequencies_equal_reference(name):
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    ours, ref = configs(name)
    assert ours.rope_parameters == ref.rope_parameters
    rope_type = ref.rope_parameters["rope_type"]
    for seq_len in (None, 8, 40):
        if rope_type == "default":
            expected = LlamaRotaryEmbedding.compute_default_rope_parameters(ref)
        else:
            expected = ROPE_INIT_FUNCTIONS[rope_type](ref, None, seq_len=seq_len)
        got = inverse_frequencies(ours, seq_len=seq_len)
        assert got[0].dtype == torch.float32 and torch.equal(got[0], expected[0]), seq_len
        assert got[1] == pytest.approx(expected[1], rel=1e-12)


@pytest.mark.parametrize("name", sorted(ROPES))
def test_tables_equal_reference_as_positions_grow(name):
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    ours_config, ref_config = configs(name)
    ours, ref = RotaryEmbedding(ours_config), LlamaRotaryEmbedding(ref_config)
    x = torch.zeros(2, 1, HEAD_DIM)
    # within the original context, past it (dynamic / longrope switch), and back
    for length in (6, 12, 48, 5):
        position_ids = torch.arange(length)[None].expand(2, -1)
        for a, b in zip(ours(x, position_ids), ref(x, position_ids)):
            assert torch.equal(a, b), length


def test_partial_rotary_turns_only_the_first_channels():
    x = torch.randn(1, 3, 2, 8)
    cos, sin = torch.randn(1, 3, 1, 4), torch.randn(1, 3, 1, 4)
    out = apply_rotary(x, cos, sin)
    assert torch.equal(out[..., 4:], x[..., 4:])
    assert torch.equal(out[..., :4], apply_rotary(x[..., :4].contiguous(), cos, sin))


def test_unknown_or_incomplete_rope_parameters_say_what_to_fix():
    with pytest.raises(ValueError, match="rope_type 'ntk' is not supported"):
        LlamaConfig(rope_parameters={"rope_type": "ntk"})
    with pytest.raises(ValueError, match="long_factor"):
        LlamaConfig(rope_parameters={"rope_type": "longrope", "short_factor": [1.0]})
