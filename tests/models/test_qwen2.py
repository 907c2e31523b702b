"""Qwen2 against the reference (tests in decoder_parity.py): q/k/v biases, and the sliding window on
the layers from max_window_layers on when use_sliding_window is set."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Qwen2)

VARIANTS = {
    "full": {},
    "sliding-layer-1": {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1},
}


@pytest.fixture
def arch():
    return "qwen2"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


def test_window_off_unless_use_sliding_window():
    import transformers

    from leanformers import Qwen2Config

    for kwargs in ({}, {"use_sliding_window": True, "sliding_window": 8, "max_window_layers": 2,
                        "num_hidden_layers": 4}):
        ours, ref = Qwen2Config(**kwargs), transformers.Qwen2Config(**kwargs)
        assert (ours.sliding_window, ours.layer_types) == (ref.sliding_window, ref.layer_types)


@pytest.fixture
def generate_variants():
    return [VARIANTS[name] for name in ["sliding-layer-1"]]
