"""ALBERT against the reference: every head, loading, saving, losses (tests in encoder_parity.py).

The shared tests run the released layout (embedding_size 16 < hidden_size 32, one group shared by both
layers); test_layer_groups runs num_hidden_groups=2 with inner_group_num=2 over 3 layers (an uneven
split: layers 0 and 1 share group 0) for every head."""

import pytest
import torch

import encoder_parity
from encoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for ALBERT)

HEADS = ["Model", "ForPreTraining", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice"]
# ALBERT's dropouts default to 0: set them so the training tests see dropout
encoder_parity.TINY["albert"] = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
                                     type_vocab_size=2, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
encoder_parity.PREFIX["albert"] = "Albert"
GROUPS = dict(num_hidden_layers=3, num_hidden_groups=2, inner_group_num=2)


@pytest.fixture
def arch():
    return "albert"


@pytest.fixture(params=HEADS)
def head(request):
    return request.param


@pytest.fixture(autouse=True)
def classifier_dropout_off_when_dropout_free(monkeypatch):
    """ALBERT's heads drop out with classifier_dropout_prob, which the shared dropout-free runs must zero."""
    shared = encoder_parity._dropout_free
    monkeypatch.setattr(encoder_parity, "_dropout_free",
                        lambda arch: dict(shared(arch), classifier_dropout_prob=0.0))


def sop_labels():
    labels = encoder_parity.Parity.labels("ForMaskedLM")
    return dict(labels, sentence_order_label=torch.tensor([0, 1, 1]))


_shared_loss_test = encoder_parity.test_loss_matches_reference


def test_loss_matches_reference(arch, head, parity):
    if head != "ForPreTraining":
        return _shared_loss_test(arch, head, parity)
    folder = parity.checkpoint(arch, head)
    ref, ours = parity.reference(arch, head, folder), parity.lean(arch, head, folder)
    inputs = parity.inputs(arch, head)
    with torch.no_grad():
        expected, got = ref(**inputs, **sop_labels()), ours(**inputs, **sop_labels())
        torch.testing.assert_close(got.loss, expected.loss, atol=1e-5, rtol=0)
        assert ours(**inputs, labels=sop_labels()["labels"]).loss is None  # both labels are needed


def test_layer_groups(parity, head):
    folder = parity.checkpoint("albert", head, **GROUPS)
    ref, ours = parity.reference("albert", head, folder), parity.lean("albert", head, folder)
    parity.assert_same_tensors(ours.state_dict(), ref.state_dict())
    for padded in (False, True):
        inputs = parity.inputs("albert", head, padded=padded)
        with torch.no_grad():
            expected = ref(**inputs, output_hidden_states=True, output_attentions=True)
            got = ours(**inputs, output_hidden_states=True, output_attentions=True)
        # one hidden state and one attention map per layer call: 3 steps x 2 inner layers
        assert len(got.hidden_states) == 7 and len(got.attentions) == 6
        parity.assert_outputs_close(expected, got)


def test_layer_groups_train_with_checkpointing(parity):
    """Gradients through shared groups (one tensor used by several steps) equal the reference's, and
    gradient checkpointing recomputes once per step."""
    head = "ForSequenceClassification"
    folder = parity.checkpoint("albert", head, **GROUPS)
    off = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)
    ref = parity.reference("albert", head, folder, **off).train()
    ours = parity.lean("albert", head, folder, **off).train()
    ours.gradient_checkpointing_enable()
    inputs, labels = parity.inputs("albert", head), parity.labels(head)
    ref(**inputs, **labels).loss.backward()
    ours(**inputs, **labels).loss.backward()
    ref_params = dict(ref.named_parameters())
    for name, param in ours.named_parameters():
        torch.testing.assert_close(param.grad, ref_params[name].grad, atol=1e-5, rtol=0, msg=name)
