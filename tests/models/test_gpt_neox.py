"""GPT-NeoX against the reference (tests in decoder_parity.py): parallel and sequential residuals, partial
rotary (the default quarter of each head, and half), head-interleaved fused q/k/v, embed_out head."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for GPT-NeoX)

VARIANTS = {
    "parallel": {},
    "sequential-half-rotary-tied": {"use_parallel_residual": False, "tie_word_embeddings": True,
                                    "rope_parameters": {"rope_type": "default", "rope_theta": 5000.0,
                                                        "partial_rotary_factor": 0.5}},
}


@pytest.fixture
def arch():
    return "gpt_neox"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return list(VARIANTS.values())


def test_v4_rotary_keys_become_rope_parameters(tmp_path):
    import json

    import transformers

    import leanformers

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt_neox", "rotary_pct": 0.5,
                                                      "rotary_emb_base": 20000}))
    ours = leanformers.AutoConfig.from_pretrained(tmp_path)
    assert ours.rope_parameters == transformers.AutoConfig.from_pretrained(tmp_path).rope_parameters
