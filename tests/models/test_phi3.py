"""Phi-3 against the reference (tests in decoder_parity.py): fused qkv / gate_up matrices as stored,
LongRoPE with partial rotary (the long factors past original_max_position_embeddings, so the test
sequences cross the switch), and a sliding window on every layer."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Phi-3)

LONGROPE = {"rope_type": "longrope", "short_factor": [1.0, 1.5], "long_factor": [2.0, 6.0],
            "partial_rotary_factor": 0.5}
VARIANTS = {
    "default": {},
    "longrope-partial": {"rope_parameters": dict(LONGROPE), "original_max_position_embeddings": 8},
    "longrope-window-4": {"rope_parameters": dict(LONGROPE), "original_max_position_embeddings": 128,
                          "max_position_embeddings": 512, "sliding_window": 4},
}


@pytest.fixture
def arch():
    return "phi3"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    # longrope-partial: generation crosses original_max_position_embeddings, where the reference re-reads
    # the whole sequence once (with the long factors), and so does generate() here
    return [VARIANTS["longrope-window-4"], VARIANTS["longrope-partial"]]


def test_su_and_yarn_mean_longrope_and_others_are_refused():
    import transformers

    from leanformers import Phi3Config

    factors = {"short_factor": [1.0] * 48, "long_factor": [2.0] * 48}
    ours = Phi3Config(rope_scaling={"type": "yarn", **factors})
    assert ours.rope_parameters == transformers.Phi3Config(rope_scaling={"type": "yarn", **factors}).rope_parameters
    # (the reference's own "su" path fails for want of original_max_position_embeddings; here it loads)
    su = Phi3Config(rope_scaling={"type": "su", **factors}).rope_parameters
    assert {**su, "type": "yarn"} == ours.rope_parameters
    with pytest.raises(ValueError, match="longrope"):
        Phi3Config(rope_parameters={"rope_type": "linear", "factor": 2.0})
