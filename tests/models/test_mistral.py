"""Mistral against the reference (tests in decoder_parity.py), with a sliding window shorter than the
test sequences (so it cuts attention, padded or not, through the KV cache) and without one."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Mistral)

VARIANTS = {"window-4": {"sliding_window": 4}, "no-window": {"sliding_window": None}}


@pytest.fixture
def arch():
    return "mistral"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return [VARIANTS[name] for name in ["window-4"]]
