"""feature-extraction equals the reference pipeline (at its batch_size=1) on tiny checkpoints."""

import pytest

from pipeline_fixtures import MIXED_TEXTS, assert_results_close

import leanformers

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("arch", ["bert", "distilbert", "roberta"])
@pytest.mark.parametrize("head", ["base", "sequence-classification"])
def test_features_match_reference(tiny_model, ref_pipeline, arch, head):
    folder = tiny_model(arch, head)
    ours = leanformers.pipeline("feature-extraction", model=folder, device="cpu")
    ref = ref_pipeline("feature-extraction", folder)
    single = ours("Hello world!")
    n_tokens = len(ours.tokenizer("Hello world!")["input_ids"])
    assert len(single) == 1 and len(single[0]) == n_tokens and len(single[0][0]) == 32  # [1, seq, hidden]
    assert_results_close(single, ref("Hello world!"), atol=1e-5)
    # batched, each input keeps exactly its own tokens (the reference at batch_size=1)
    expected = [ref(text) for text in MIXED_TEXTS]
    for batch_size in (1, 4, 32):
        assert_results_close(ours(MIXED_TEXTS, batch_size=batch_size), expected, atol=1e-5)


def test_return_tensors_and_tokenize_kwargs(tiny_model, ref_pipeline):
    folder = tiny_model("bert", "base")
    ours = leanformers.pipeline("feature-extraction", model=folder, device="cpu")
    ref = ref_pipeline("feature-extraction", folder)
    tensor = ours("Hello world!", return_tensors=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (1, 5, 32)
    torch.testing.assert_close(tensor, ref("Hello world!", return_tensors=True), atol=1e-5, rtol=1e-5)
    tensor.add_(1.0)  # a normal tensor the user owns, not an inference-mode one
    tensors = ours(MIXED_TEXTS[:3], return_tensors=True)
    assert [t.shape[1] for t in tensors] == [len(ours.tokenizer(t)["input_ids"]) for t in MIXED_TEXTS[:3]]

    kwargs = {"tokenize_kwargs": {"add_special_tokens": False}}
    assert_results_close(ours("Hello world!", **kwargs), ref("Hello world!", **kwargs), atol=1e-5)
    assert len(ours("Hello world!", **kwargs)[0]) == 3
    def truncated():  # fresh each time: the reference writes truncation into tokenize_kwargs
        return {"tokenize_kwargs": {"max_length": 4}, "truncation": True}

    assert_results_close(ours(MIXED_TEXTS[1], **truncated()), ref(MIXED_TEXTS[1], **truncated()), atol=1e-5)
    assert len(ours(MIXED_TEXTS[1], **truncated())[0]) == 4
    with pytest.raises(ValueError, match="twice"):
        ours("x", truncation=True, tokenize_kwargs={"truncation": False})
    with pytest.raises(TypeError, match="tokenize_kwargs"):
        ours("x", add_special_tokens=False)


def test_long_text_is_truncated(tiny_model, ref_pipeline):
    folder = tiny_model("bert", "base")
    ours = leanformers.pipeline("feature-extraction", model=folder, device="cpu")
    ref = ref_pipeline("feature-extraction", folder)
    long_text = " ".join(["word"] * 200)
    expected = ref(long_text, tokenize_kwargs={"truncation": True, "max_length": 64})
    assert_results_close(ours(long_text), expected, atol=1e-5)
    assert len(ours(long_text)[0]) == 64
