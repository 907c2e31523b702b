"""Collators give the reference's batches (same keys, dtypes, padding and, for MLM, the same masks)."""

import numpy as np
import pytest
import torch

import leanformers as L
from leanformers.training import (DataCollatorForLanguageModeling, DataCollatorForTokenClassification,
                                  DataCollatorWithPadding, default_data_collator)

T = pytest.importorskip("transformers")


def _assert_same_batch(ours, ref):
    assert sorted(ours) == sorted(ref)
    for key in ref:
        assert ours[key].dtype == ref[key].dtype, key
        assert torch.equal(ours[key], ref[key]), key


@pytest.fixture(scope="module")
def lean_tokenizer(ref_tokenizer):
    return L.AutoTokenizer.from_pretrained(ref_tokenizer.name_or_path)


SENTENCES = ["a short one", "this sentence is quite a bit longer than the first", "mid length text here"]


@pytest.mark.parametrize("features", [
    [{"input_ids": [1, 2, 3], "label": 0}, {"input_ids": [4, 5, 6], "label": 1}],
    [{"input_ids": torch.tensor([1, 2]), "label_ids": [0, 1], "text": "dropped"},
     {"input_ids": torch.tensor([3, 4]), "label_ids": [1, 1], "text": "dropped"}],
    [{"x": np.array([0.5, 1.5]), "label": 0.25}, {"x": np.array([2.5, 3.5]), "label": 1.0}],
    [{"input_ids": [1, 2], "label_ids": torch.tensor([1, 0])}, {"input_ids": [3, 4], "label_ids": torch.tensor([0, 0])}],
])
def test_default_data_collator(features):
    _assert_same_batch(default_data_collator(features), T.default_data_collator(features))


def test_default_data_collator_ragged_rows_error():
    with pytest.raises(ValueError, match="DataCollatorWithPadding"):
        default_data_collator([{"input_ids": [1, 2]}, {"input_ids": [1]}])


@pytest.mark.parametrize("kwargs", [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 20}])
def test_padding_collator(ref_tokenizer, lean_tokenizer, kwargs):
    features = [dict(ref_tokenizer(s), label=i) for i, s in enumerate(SENTENCES)]
    ref = T.DataCollatorWithPadding(ref_tokenizer, **kwargs)(features)
    ours = DataCollatorWithPadding(lean_tokenizer, **kwargs)(features)
    _assert_same_batch(dict(ours), dict(ref))
    # any tokenizer with the reference's pad() works, the reference's own too
    _assert_same_batch(dict(DataCollatorWithPadding(ref_tokenizer, **kwargs)(features)), dict(ref))


def test_token_classification_collator(ref_tokenizer, lean_tokenizer):
    features = []
    for s in SENTENCES:
        enc = ref_tokenizer(s)
        features.append(dict(enc, labels=[i % 3 for i in range(len(enc["input_ids"]))]))
    for side in ("right", "left"):
        ref_tokenizer.padding_side = lean_tokenizer.padding_side = side
        try:
            ref = T.DataCollatorForTokenClassification(ref_tokenizer)(features)
            ours = DataCollatorForTokenClassification(lean_tokenizer)(features)
        finally:
            ref_tokenizer.padding_side = lean_tokenizer.padding_side = "right"
        _assert_same_batch(dict(ours), dict(ref))
        assert (ours["labels"] == -100).sum() > 0


@pytest.mark.parametrize("as_dicts", [True, False])
def test_masked_lm_collator_same_masks(ref_tokenizer, lean_tokenizer, as_dicts):
    texts = SENTENCES * 4
    if as_dicts:
        examples = [ref_tokenizer(s, return_special_tokens_mask=True) for s in texts]
    else:
        examples = [ref_tokenizer(s)["input_ids"] for s in texts]
    torch.manual_seed(0)
    ref = T.DataCollatorForLanguageModeling(ref_tokenizer, mlm_probability=0.3)(examples)
    torch.manual_seed(0)
    ours = DataCollatorForLanguageModeling(lean_tokenizer, mlm_probability=0.3)(examples)
    _assert_same_batch(dict(ours), dict(ref))
    masked = ours["labels"] != -100
    assert masked.any() and (ours["input_ids"][masked] == lean_tokenizer.mask_token_id).any()
    # special tokens are never masked
    assert not masked[:, 0].any()
    # a seeded collator uses its own generator, the same way as the reference's
    ours = DataCollatorForLanguageModeling(lean_tokenizer, seed=5)(examples)
    ref = T.DataCollatorForLanguageModeling(ref_tokenizer, seed=5)(examples)
    _assert_same_batch(dict(ours), dict(ref))


def test_causal_lm_collator(ref_tokenizer, lean_tokenizer):
    examples = [ref_tokenizer(s) for s in SENTENCES]
    ref = T.DataCollatorForLanguageModeling(ref_tokenizer, mlm=False, pad_to_multiple_of=4)(examples)
    ours = DataCollatorForLanguageModeling(lean_tokenizer, mlm=False, pad_to_multiple_of=4)(examples)
    _assert_same_batch(dict(ours), dict(ref))
    pad = ours["input_ids"] == lean_tokenizer.pad_token_id
    assert pad.any() and (ours["labels"][pad] == -100).all()


def test_collator_errors(lean_tokenizer):
    with pytest.raises(ValueError, match="mlm_probability"):
        DataCollatorForLanguageModeling(lean_tokenizer, mlm_probability=1.5)
    with pytest.raises(ValueError, match="must not exceed 1"):
        DataCollatorForLanguageModeling(lean_tokenizer, mask_replace_prob=0.9, random_replace_prob=0.2)
    with pytest.raises(ValueError, match="return_tensors"):
        DataCollatorWithPadding(lean_tokenizer, return_tensors="np")([{"input_ids": [1]}])
