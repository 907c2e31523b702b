"""DistilBERT against the reference: every head, loading, saving, losses (tests in encoder_parity.py)."""

import pytest
import torch

from encoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for DistilBERT)

HEADS = ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice"]


@pytest.fixture
def arch():
    return "distilbert"


@pytest.fixture(params=HEADS)
def head(request):
    return request.param


def test_config_aliases():
    from leanformers import DistilBertConfig

    config = DistilBertConfig(hidden_size=64, num_attention_heads=8, num_hidden_layers=3)
    assert (config.dim, config.n_heads, config.n_layers) == (64, 8, 3)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (64, 8, 3)
    assert "hidden_size" not in config.to_dict() and config.to_dict()["dim"] == 64


def test_sinusoidal_positions_match_reference(parity):
    folder = parity.checkpoint("distilbert", "Model", sinusoidal_pos_embds=True)
    ref = parity.reference("distilbert", "Model", folder)
    from leanformers import DistilBertConfig, DistilBertModel

    fresh = DistilBertModel(DistilBertConfig(**dict(parity.config_kwargs("distilbert", "Model"),
                                                    sinusoidal_pos_embds=True)))
    fresh_ref = type(ref)(ref.config)
    torch.testing.assert_close(fresh.embeddings.position_embeddings.weight,
                               fresh_ref.embeddings.position_embeddings.weight, atol=1e-6, rtol=0)
    ours = parity.lean("distilbert", "Model", folder)
    inputs = parity.inputs("distilbert", "Model")
    with torch.no_grad():
        parity.assert_outputs_close(ref(**inputs), ours(**inputs))


def test_question_answering_needs_two_labels():
    from leanformers import DistilBertConfig, DistilBertForQuestionAnswering

    with pytest.raises(ValueError, match="num_labels=2"):
        DistilBertForQuestionAnswering(DistilBertConfig(num_labels=3, dim=32, n_heads=4, n_layers=1,
                                                        hidden_dim=37, vocab_size=99))
