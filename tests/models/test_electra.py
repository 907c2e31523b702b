"""ELECTRA against the reference: every head (the ForPreTraining discriminator too), loading, saving,
losses (tests in encoder_parity.py). The tiny config has embedding_size 16 < hidden_size 32, so the
embeddings projection and the generator's down-projection are exercised."""

import pytest
import torch

import encoder_parity
from encoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for ELECTRA)

HEADS = ["Model", "ForPreTraining", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice"]
encoder_parity.TINY["electra"] = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                      num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
                                      type_vocab_size=2)
encoder_parity.PREFIX["electra"] = "Electra"


@pytest.fixture
def arch():
    return "electra"


@pytest.fixture(params=HEADS)
def head(request):
    return request.param


def discriminator_labels():
    """ELECTRA's pre-training labels: 1 where a token was replaced, 0 where it is the original."""
    return dict(labels=torch.randint(0, 2, (3, 9), generator=torch.Generator().manual_seed(1)))


_shared_loss_test = encoder_parity.test_loss_matches_reference


def test_loss_matches_reference(arch, head, parity):
    if head != "ForPreTraining":
        return _shared_loss_test(arch, head, parity)
    folder = parity.checkpoint(arch, head)
    ref, ours = parity.reference(arch, head, folder), parity.lean(arch, head, folder)
    for inputs in (parity.inputs(arch, head), parity.inputs(arch, head, padded=False)):
        with torch.no_grad():
            expected, got = ref(**inputs, **discriminator_labels()), ours(**inputs, **discriminator_labels())
        torch.testing.assert_close(got.loss, expected.loss, atol=1e-5, rtol=0)
    del inputs["attention_mask"]  # without a mask every token counts
    with torch.no_grad():
        torch.testing.assert_close(ours(**inputs, **discriminator_labels()).loss,
                                   ref(**inputs, **discriminator_labels()).loss, atol=1e-5, rtol=0)


@pytest.mark.parametrize("head", ["Model", "ForMaskedLM", "ForMultipleChoice"])
def test_embedding_size_equal_to_hidden_size(parity, head):
    """Without the projection (the base and large checkpoints): no embeddings_project, same numbers."""
    folder = parity.checkpoint("electra", head, embedding_size=32)
    ref, ours = parity.reference("electra", head, folder), parity.lean("electra", head, folder)
    assert not hasattr(ours.electra if head != "Model" else ours, "embeddings_project")
    parity.assert_same_tensors(ours.state_dict(), ref.state_dict())
    inputs = parity.inputs("electra", head)
    with torch.no_grad():
        parity.assert_outputs_close(ref(**inputs, output_hidden_states=True), ours(**inputs, output_hidden_states=True))


def test_pretraining_is_the_auto_pretraining_class(parity):
    import leanformers

    folder = parity.checkpoint("electra", "ForPreTraining")
    assert type(leanformers.AutoModelForPreTraining.from_pretrained(folder)).__name__ == "ElectraForPreTraining"
    assert type(parity.T.AutoModelForPreTraining.from_pretrained(folder)).__name__ == "ElectraForPreTraining"
