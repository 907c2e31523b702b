"""OLMo 2 against the reference (tests in decoder_parity.py): norms after each sub-block, q/k RMSNorm
over all heads together, grouped-query attention with and without biases."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for OLMo 2)

VARIANTS = {"gqa": {}, "bias-mha": {"attention_bias": True, "num_key_value_heads": 4}}


@pytest.fixture
def arch():
    return "olmo2"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return [VARIANTS["gqa"]]
