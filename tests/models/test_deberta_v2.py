"""DeBERTa-v2/v3 against the reference: every head, loading, saving, losses (tests in encoder_parity.py).

The shared tests run a v3 layout: relative attention with log position buckets (8 buckets: inputs of 9
tokens reach the logarithmic ones), share_att_key, layer-normed relative embeddings, c2p and p2c, no
absolute positions. test_v2_layouts covers the v2 layouts (separate position projections, clipped
distances, absolute positions, the convolution layer, embedding_size < hidden_size) and plain
attention; test_masked_lm_non_legacy the lm_predictions head."""

import pytest
import torch

import encoder_parity
from encoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for DeBERTa-v2)

HEADS = ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice"]
encoder_parity.TINY["deberta-v2"] = dict(
    vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
    max_position_embeddings=64, type_vocab_size=2, relative_attention=True, position_buckets=8,
    pos_att_type="p2c|c2p", share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False)
encoder_parity.PREFIX["deberta-v2"] = "DebertaV2"
V2_LAYOUTS = {
    "v2-xlarge": dict(share_att_key=False, position_buckets=-1, max_relative_positions=4, norm_rel_ebd="none",
                      position_biased_input=True, conv_kernel_size=3, pos_att_type=["c2p", "p2c"]),
    "c2p-only-projected": dict(share_att_key=False, pos_att_type=["c2p"], embedding_size=16),
    "p2c-only": dict(pos_att_type=["p2c"], position_buckets=-1, max_relative_positions=-1),
    "plain": dict(relative_attention=False, pos_att_type=None, position_biased_input=True),
}


@pytest.fixture
def arch():
    return "deberta-v2"


@pytest.fixture(params=HEADS)
def head(request):
    return request.param


@pytest.mark.parametrize("layout", list(V2_LAYOUTS))
@pytest.mark.parametrize("head", ["Model", "ForMaskedLM", "ForSequenceClassification"])
def test_v2_layouts(parity, head, layout):
    folder = parity.checkpoint("deberta-v2", head, **V2_LAYOUTS[layout])
    ref, ours = parity.reference("deberta-v2", head, folder), parity.lean("deberta-v2", head, folder)
    parity.assert_same_tensors(ours.state_dict(), ref.state_dict())
    for padded in (False, True):
        inputs = parity.inputs("deberta-v2", head, padded=padded)
        with torch.no_grad():
            parity.assert_outputs_close(ref(**inputs, output_hidden_states=True, output_attentions=True),
                                        ours(**inputs, output_hidden_states=True, output_attentions=True))
            labels = parity.labels(head)
            if labels:
                torch.testing.assert_close(ours(**inputs, **labels).loss, ref(**inputs, **labels).loss,
                                           atol=1e-5, rtol=0)


def test_masked_lm_non_legacy(parity, tmp_path):
    """legacy=False: lm_predictions.lm_head projects with the input embeddings themselves."""
    head = "ForMaskedLM"
    folder = parity.checkpoint("deberta-v2", head, legacy=False)
    ref, ours = parity.reference("deberta-v2", head, folder), parity.lean("deberta-v2", head, folder)
    parity.assert_same_tensors(ours.state_dict(), ref.state_dict())
    inputs, labels = parity.inputs("deberta-v2", head), parity.labels(head)
    with torch.no_grad():
        parity.assert_outputs_close(ref(**inputs, **labels), ours(**inputs, **labels))
    ours.save_pretrained(tmp_path)
    again = parity.reference("deberta-v2", head, str(tmp_path))
    parity.assert_same_tensors(again.state_dict(), ours.state_dict())


def test_long_inputs_without_absolute_positions(parity):
    """v3 has no absolute positions: inputs past max_position_embeddings run, as in the reference."""
    folder = parity.checkpoint("deberta-v2", "Model")
    ref, ours = parity.reference("deberta-v2", "Model", folder), parity.lean("deberta-v2", "Model", folder)
    ids = torch.randint(3, 99, (1, 80), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        parity.assert_outputs_close(ref(input_ids=ids), ours(input_ids=ids))


def test_clear_input_errors(parity):
    folder = parity.checkpoint("deberta-v2", "Model", position_biased_input=True)
    ours = parity.lean("deberta-v2", "Model", folder)
    with pytest.raises(ValueError, match="batch dimension"):
        ours(torch.tensor([5, 6, 7]))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        ours(torch.full((1, 80), 5))
    with pytest.raises(ValueError, match="attention_mask"):
        ours(torch.full((2, 4), 5), attention_mask=torch.ones(2, 5, dtype=torch.long))
    mc = parity.lean("deberta-v2", "ForMultipleChoice", parity.checkpoint("deberta-v2", "ForMultipleChoice"))
    with pytest.raises(ValueError, match="num_choices"):
        mc(torch.full((2, 4), 5))
    import leanformers

    with pytest.raises(ValueError, match="pos_att_type"):
        leanformers.DebertaV2Model(leanformers.DebertaV2Config(**dict(encoder_parity.TINY["deberta-v2"],
                                                                       pos_att_type=["p2p"])))
