"""RoBERTa against the reference: every head, loading, saving, losses (tests in encoder_parity.py)."""

import pytest
import torch

from encoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for RoBERTa)

HEADS = ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice"]


@pytest.fixture
def arch():
    return "roberta"


@pytest.fixture(params=HEADS)
def head(request):
    return request.param


def test_position_ids_skip_padding():
    from leanformers.models.roberta import create_position_ids_from_input_ids

    ids = torch.tensor([[0, 5, 6, 2, 1, 1], [1, 1, 0, 7, 2, 1]])
    # positions start after padding_idx=1 and count only real tokens; padding keeps padding_idx
    assert create_position_ids_from_input_ids(ids, 1).tolist() == [[2, 3, 4, 5, 1, 1], [1, 1, 2, 3, 4, 1]]


def test_left_padded_rows_equal_rows_alone(parity):
    """Left padding works too: positions count only real tokens, as in fairseq."""
    ours = parity.lean("roberta", "Model", parity.checkpoint("roberta", "Model"))
    ids = torch.tensor([[5, 6, 7, 8, 9], [1, 1, 5, 6, 7]])
    mask = (ids != 1).long()
    with torch.no_grad():
        batch = ours(input_ids=ids, attention_mask=mask).last_hidden_state
        alone = ours(input_ids=ids[1:, 2:]).last_hidden_state
    torch.testing.assert_close(batch[1:, 2:], alone, atol=1e-5, rtol=0)


def test_too_long_input_names_the_limit(parity):
    ours = parity.lean("roberta", "Model", parity.checkpoint("roberta", "Model"))
    ours(torch.full((1, 62), 5))  # 64 positions, of which pad_token_id + 1 = 2 are never used
    with pytest.raises(ValueError, match="at most 62"):
        ours(torch.full((1, 63), 5))
