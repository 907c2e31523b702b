"""ModernBERT against the reference: every head, loading, saving, losses (tests in encoder_parity.py).

The tiny config alternates a global and a local layer (global_attn_every_n_layers=2) with a local window
of 4 (2 tokens each side) on 9-token inputs, so the band mask matters; dropouts are on so the training
tests see them. Padded batches are computed with masks, as the reference's SDPA/eager path does."""

import logging

import pytest
import torch

import encoder_parity
from encoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for ModernBERT)

HEADS = ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice"]
DROPOUTS = ("embedding_dropout", "attention_dropout", "mlp_dropout", "classifier_dropout")
encoder_parity.TINY["modernbert"] = dict(
    vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
    max_position_embeddings=64, global_attn_every_n_layers=2, local_attention=4, pad_token_id=0,
    bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2, **{name: 0.1 for name in DROPOUTS})
encoder_parity.PREFIX["modernbert"] = "ModernBert"
encoder_parity.NO_TOKEN_TYPES.add("modernbert")


@pytest.fixture
def arch():
    return "modernbert"


@pytest.fixture(params=HEADS)
def head(request):
    return request.param


@pytest.fixture(autouse=True)
def modernbert_dropouts_off_when_dropout_free(monkeypatch):
    monkeypatch.setattr(encoder_parity, "_dropout_free", lambda arch: {name: 0.0 for name in DROPOUTS})


def test_head_loads_from_body_checkpoint(arch, head, parity, caplog):
    """A new head is reported once and drawn like the reference's (its own truncated-normal stds)."""
    if head == "Model":
        pytest.skip("needs a head")
    folder = parity.checkpoint(arch, "Model")
    ref, ref_info = parity.reference(arch, head, folder, output_loading_info=True)
    with caplog.at_level(logging.WARNING, logger="leanformers"):
        ours, info = parity.lean(arch, head, folder, output_loading_info=True)
    tied = set(ours._tied_weights_keys or {})
    assert sorted(info["missing_keys"]) == sorted(set(ref_info["missing_keys"]) - tied)
    ref_state, our_state = ref.state_dict(), ours.state_dict()
    for key, value in our_state.items():
        if key not in info["missing_keys"]:
            assert torch.equal(value, ref_state[key]), key
        elif value.numel() > 1 and ref_state[key].std() > 0:
            assert 0.6 < value.std().item() / ref_state[key].std().item() < 1.6, key
        else:
            assert torch.equal(value, ref_state[key]), key
    if ours.get_output_embeddings() is not None:
        assert ours.get_output_embeddings().weight is ours.get_input_embeddings().weight


def test_clear_input_errors(parity):
    ours = parity.lean("modernbert", "Model", parity.checkpoint("modernbert", "Model"))
    with pytest.raises(ValueError, match="batch dimension"):
        ours(torch.tensor([5, 6, 7]))
    with pytest.raises(ValueError, match="attention_mask"):
        ours(torch.full((2, 4), 5), attention_mask=torch.ones(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="no token type"):
        ours(torch.full((1, 4), 5), token_type_ids=torch.zeros(1, 4, dtype=torch.long))
    mc = parity.lean("modernbert", "ForMultipleChoice", parity.checkpoint("modernbert", "ForMultipleChoice"))
    with pytest.raises(ValueError, match="num_choices"):
        mc(torch.full((2, 4), 5))


def test_long_input_past_the_window(parity):
    """RoPE has no length limit: 80 tokens (past max_position_embeddings), padded, local layers banded."""
    folder = parity.checkpoint("modernbert", "ForMaskedLM")
    ref, ours = parity.reference("modernbert", "ForMaskedLM", folder), parity.lean("modernbert", "ForMaskedLM", folder)
    ids = torch.randint(3, 99, (2, 80), generator=torch.Generator().manual_seed(7))
    mask = torch.ones_like(ids)
    mask[1, 50:] = 0
    ids[mask == 0] = 0
    with torch.no_grad():
        parity.assert_outputs_close(ref(input_ids=ids, attention_mask=mask, output_attentions=True),
                                    ours(input_ids=ids, attention_mask=mask, output_attentions=True))


@pytest.mark.parametrize("head", ["ForSequenceClassification", "ForMultipleChoice"])
def test_mean_pooling_and_left_padding(parity, head):
    folder = parity.checkpoint("modernbert", head, classifier_pooling="mean")
    ref, ours = parity.reference("modernbert", head, folder), parity.lean("modernbert", head, folder)
    inputs = parity.inputs("modernbert", head)
    with torch.no_grad():
        parity.assert_outputs_close(ref(**inputs), ours(**inputs))
    # cls pooling takes the first real token: left-padded choices
    folder = parity.checkpoint("modernbert", head)
    ref, ours = parity.reference("modernbert", head, folder), parity.lean("modernbert", head, folder)
    inputs = {k: v.flip(-1) for k, v in parity.inputs("modernbert", head).items()}
    with torch.no_grad():
        parity.assert_outputs_close(ref(**inputs), ours(**inputs))


def test_sparse_prediction(parity):
    head = "ForMaskedLM"
    folder = parity.checkpoint("modernbert", head, sparse_prediction=True)
    ref, ours = parity.reference("modernbert", head, folder), parity.lean("modernbert", head, folder)
    inputs, labels = parity.inputs("modernbert", head), parity.labels(head)
    with torch.no_grad():
        expected, got = ref(**inputs, **labels), ours(**inputs, **labels)
    assert got.logits.shape == expected.logits.shape == (int((labels["labels"] != -100).sum()), 99)
    parity.assert_outputs_close(expected, got)


def test_legacy_rope_theta_keys(parity):
    """Checkpoints' global_rope_theta / local_rope_theta become rope_parameters, as in the reference."""
    import leanformers

    kwargs = dict(encoder_parity.TINY["modernbert"], global_rope_theta=5000.0, local_rope_theta=300.0,
                  reference_compile=False)
    ours, ref = leanformers.ModernBertConfig(**kwargs), parity.T.ModernBertConfig(**kwargs)
    expected = ref.to_dict()
    expected.pop("transformers_version")
    assert ours.to_dict() == expected
    assert ours.rope_parameters["full_attention"]["rope_theta"] == 5000.0
