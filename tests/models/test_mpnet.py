"""MPNet against the reference: every head, loading, saving, losses (tests in encoder_parity.py), and
its relative position bias on inputs longer than the exact buckets (up to the logarithmic ones)."""

import pytest
import torch

import encoder_parity
from encoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for MPNet)

HEADS = ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice"]
encoder_parity.TINY["mpnet"] = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=37, max_position_embeddings=64)
encoder_parity.PREFIX["mpnet"] = "MPNet"
encoder_parity.PAD["mpnet"] = 1
encoder_parity.NO_TOKEN_TYPES.add("mpnet")


@pytest.fixture
def arch():
    return "mpnet"


@pytest.fixture(params=HEADS)
def head(request):
    return request.param


def test_relative_bias_on_long_inputs(parity):
    """60 tokens reach the logarithmic buckets (distances 8..59) in both directions; padding is masked."""
    folder = parity.checkpoint("mpnet", "Model")
    ref, ours = parity.reference("mpnet", "Model", folder), parity.lean("mpnet", "Model", folder)
    ids = torch.randint(3, 99, (2, 60), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    mask[1, 41:] = 0
    ids[mask == 0] = 1
    with torch.no_grad():
        parity.assert_outputs_close(ref(input_ids=ids, attention_mask=mask, output_attentions=True),
                                    ours(input_ids=ids, attention_mask=mask, output_attentions=True))


def test_token_type_ids_are_refused(parity):
    ours = parity.lean("mpnet", "Model", parity.checkpoint("mpnet", "Model"))
    with pytest.raises(ValueError, match="no token type embeddings"):
        ours(torch.full((1, 4), 5), token_type_ids=torch.zeros(1, 4, dtype=torch.long))


def test_too_few_buckets_is_a_clear_error():
    import leanformers

    with pytest.raises(ValueError, match="relative_attention_num_buckets=32"):
        leanformers.MPNetModel(leanformers.MPNetConfig(relative_attention_num_buckets=16, hidden_size=32,
                                                       num_attention_heads=4, num_hidden_layers=1))
