"""fill-mask results equal transformers 4.57.6's on the same tiny checkpoints."""

import logging
import re

import pytest

from ref457 import assert_same

import leanformers

KINDS = ["wordpiece", "bytelevel"]


@pytest.fixture(scope="module", params=KINDS)
def setup(request, tiny_checkpoint, ref457):
    folder = tiny_checkpoint(request.param, "masked-lm")
    pipe = leanformers.pipeline("fill-mask", model=folder, device="cpu")
    return pipe, folder, ref457, pipe.tokenizer.mask_token


def test_one_mask_and_top_k(setup):
    pipe, folder, ref, mask = setup
    text = f"My name is {mask} and I live in Berlin."
    expected, _ = ref.call("fill-mask", folder, text)
    assert_same(pipe(text), expected)
    assert len(pipe(text)) == 5 and set(pipe(text)[0]) == {"score", "token", "token_str", "sequence"}
    for top_k in (1, 3, 12):
        assert_same(pipe(text, top_k=top_k), ref.call("fill-mask", folder, text, top_k=top_k)[0])


def test_several_masks_and_lists(setup):
    pipe, folder, ref, mask = setup
    texts = [f"{mask} lives in {mask}.", f"The {mask} is in Paris, the capital of {mask}.", f"Hello {mask}!",
             f"{mask}"]
    assert_same(pipe(texts, top_k=3), ref.call("fill-mask", folder, texts, top_k=3)[0])
    assert_same(pipe(texts, top_k=2, batch_size=2), ref.call("fill-mask", folder, texts, top_k=2)[0])
    # a one-item list gives that item's result, as the reference
    assert_same(pipe(texts[:1]), ref.call("fill-mask", folder, texts[:1])[0])
    several = pipe(texts[0])
    assert len(several) == 2 and all(len(row) == 5 for row in several)
    assert mask in several[0][0]["sequence"]  # the other mask stays visible


def test_targets_single_and_multi_token(setup, caplog):
    pipe, folder, ref, mask = setup
    text = f"My name is {mask} and I live in Berlin."
    vocab = pipe.tokenizer.get_vocab()
    known = [token for token in ("in", "Paris", "Ġin", "Ġthe", "the") if token in vocab][:2]
    for targets in (known, known[0], known + ["elephant", "unbelievably"], ["elephant"]):
        expected, ref_warnings = ref.call("fill-mask", folder, text, targets=targets)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="leanformers"):
            ours = pipe(text, targets=targets)
        assert_same(ours, expected)
        # the same warnings: a target that is not one token is replaced by its first token
        assert [r.getMessage() for r in caplog.records] == ref_warnings
    assert any("Replacing with" in w for w in ref.call("fill-mask", folder, text, targets=["elephant"])[1])
    assert_same(pipe(text, targets=known, top_k=10), ref.call("fill-mask", folder, text, targets=known, top_k=10)[0])
    assert len(pipe(text, targets=known, top_k=10)) == len(set(known))


def test_text_without_mask_names_the_models_mask_token(setup):
    pipe, folder, ref, mask = setup
    with pytest.raises(ValueError, match=re.escape(f"No mask_token ({mask}) found")) as raised:
        pipe("There is no mask here.")
    assert repr(mask) in str(raised.value)
    with pytest.raises(ValueError, match="No mask_token"):
        pipe([f"one {mask}", "none"])
    with pytest.raises(ValueError, match="top_k"):
        pipe(f"a {mask}", top_k=0)
