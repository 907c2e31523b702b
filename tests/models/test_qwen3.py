"""Qwen3 against the reference (tests in decoder_parity.py): q/k RMSNorm per head, an explicit head_dim,
biases on the attention projections, sliding-window layers and YaRN scaling."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Qwen3)

VARIANTS = {
    "full": {},
    "bias-head-dim-16": {"attention_bias": True, "head_dim": 16},
    "sliding-layer-1": {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1},
    # original_max_position_embeddings below the test lengths: the interpolated band is used
    "yarn": {"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8,
                                 "rope_theta": 1000000.0}},
}


@pytest.fixture
def arch():
    return "qwen3"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return [VARIANTS[name] for name in ["sliding-layer-1", "yarn"]]
