"""XLM-RoBERTa and CamemBERT against the reference: every head, loading, saving, losses (tests in
encoder_parity.py). Both are RoBERTa's architecture under their own model types and class names."""

import pytest
import torch

import encoder_parity
from encoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for both types)

HEADS = ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice"]
for _arch, _prefix in (("xlm-roberta", "XLMRoberta"), ("camembert", "Camembert")):
    encoder_parity.TINY[_arch] = dict(encoder_parity.TINY["roberta"])
    encoder_parity.PREFIX[_arch] = _prefix
    encoder_parity.PAD[_arch] = 1


@pytest.fixture(params=["xlm-roberta", "camembert"])
def arch(request):
    return request.param


@pytest.fixture(params=HEADS)
def head(request):
    return request.param


def test_left_padded_rows_equal_rows_alone(arch, parity):
    """Positions count only real tokens (fairseq's), so left padding works too."""
    ours = parity.lean(arch, "Model", parity.checkpoint(arch, "Model"))
    ids = torch.tensor([[5, 6, 7, 8, 9], [1, 1, 5, 6, 7]])
    mask = (ids != 1).long()
    with torch.no_grad():
        batch = ours(input_ids=ids, attention_mask=mask).last_hidden_state
        alone = ours(input_ids=ids[1:, 2:]).last_hidden_state
    torch.testing.assert_close(batch[1:, 2:], alone, atol=1e-5, rtol=0)


def test_model_type_is_its_own(arch, parity):
    import leanformers

    folder = parity.checkpoint(arch, "Model")
    config = leanformers.AutoConfig.from_pretrained(folder)
    assert config.model_type == arch and type(config).__name__ == encoder_parity.PREFIX[arch] + "Config"
    assert type(leanformers.AutoModel.from_pretrained(folder)).__module__.endswith(arch.replace("-", "_"))
