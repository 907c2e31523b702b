"""text-classification results equal the reference pipeline's on the same tiny checkpoints."""

import pytest

from pipeline_fixtures import MIXED_TEXTS, assert_results_close

import leanformers

ARCHS = ["bert", "distilbert", "roberta"]
PAIR = {"text": "The movie was long.", "text_pair": "But I enjoyed every minute."}


def _both(tiny_model, ref_pipeline, arch="bert", **config):
    folder = tiny_model(arch, **config)
    return leanformers.pipeline("text-classification", model=folder, device="cpu"), \
        ref_pipeline("text-classification", folder)


@pytest.mark.parametrize("arch", ARCHS)
def test_default_shapes_match_reference(tiny_model, ref_pipeline, arch):
    ours, ref = _both(tiny_model, ref_pipeline, arch, id2label={0: "NEGATIVE", 1: "POSITIVE"})
    # a str -> a one-item list; a list -> one dict per text; a pair dict -> a bare dict
    single = ours("I love this movie!")
    assert isinstance(single, list) and len(single) == 1 and set(single[0]) == {"label", "score"}
    assert_results_close(single, ref("I love this movie!"))
    assert_results_close(ours(MIXED_TEXTS), ref(MIXED_TEXTS))
    assert_results_close(ours(PAIR), ref(PAIR))
    assert isinstance(ours(PAIR), dict)
    assert_results_close(ours([PAIR, PAIR]), ref([PAIR, PAIR]))
    assert {r["label"] for r in ours(MIXED_TEXTS)} <= {"NEGATIVE", "POSITIVE"}


@pytest.mark.parametrize("top_k", [None, 1, 2, 5])
def test_top_k_matches_reference(tiny_model, ref_pipeline, top_k):
    ours, ref = _both(tiny_model, ref_pipeline, id2label={0: "a", 1: "b", 2: "c"})
    for inputs in ("Great.", MIXED_TEXTS[:4], PAIR, [PAIR]):
        assert_results_close(ours(inputs, top_k=top_k), ref(inputs, top_k=top_k))
    every = ours("Great.", top_k=None)
    assert [r["label"] for r in every] != [] and len(every) == 3
    assert [r["score"] for r in every] == sorted((r["score"] for r in every), reverse=True)
    assert len(ours(["x", "y"], top_k=2)) == 2 and all(len(r) == 2 for r in ours(["x", "y"], top_k=2))


def test_top_k_in_constructor_matches_reference(tiny_model, ref_pipeline):
    folder = tiny_model(id2label={0: "a", 1: "b", 2: "c"})
    ours = leanformers.pipeline("text-classification", model=folder, device="cpu", top_k=None)
    ref = ref_pipeline("text-classification", folder, top_k=None)
    for inputs in ("Great.", MIXED_TEXTS[:3]):
        assert_results_close(ours(inputs), ref(inputs))
    assert_results_close(ours("Great.", top_k=1), ref("Great.", top_k=1))


@pytest.mark.parametrize("function_to_apply", ["softmax", "sigmoid", "none", "SIGMOID"])
def test_function_to_apply_matches_reference(tiny_model, ref_pipeline, function_to_apply):
    ours, ref = _both(tiny_model, ref_pipeline, id2label={0: "a", 1: "b", 2: "c"})
    kwargs = {"function_to_apply": function_to_apply}
    assert_results_close(ours(MIXED_TEXTS[:5], **kwargs), ref(MIXED_TEXTS[:5], **kwargs))
    assert_results_close(ours("ok", top_k=None, **kwargs), ref("ok", top_k=None, **kwargs))


@pytest.mark.parametrize("config, expected_function", [
    ({"num_labels": 1, "problem_type": "regression"}, "none"),
    ({"num_labels": 1}, "sigmoid"),
    ({"id2label": {0: "x", 1: "y", 2: "z"}, "problem_type": "multi_label_classification"}, "sigmoid"),
    ({"id2label": {0: "x", 1: "y", 2: "z"}, "problem_type": "single_label_classification"}, "softmax"),
    ({"id2label": {0: "x", 1: "y"}}, "softmax"),
])
def test_default_function_follows_problem_type(tiny_model, ref_pipeline, config, expected_function):
    ours, ref = _both(tiny_model, ref_pipeline, **config)
    assert_results_close(ours(MIXED_TEXTS[:4], top_k=None), ref(MIXED_TEXTS[:4], top_k=None))
    assert_results_close(ours("Great."), ref("Great."))
    default = ours("Great.", top_k=None)
    explicit = ours("Great.", top_k=None, function_to_apply=expected_function)
    assert_results_close(default, explicit, atol=0)
    if expected_function == "softmax":
        assert abs(sum(r["score"] for r in default) - 1.0) < 1e-5


@pytest.mark.parametrize("arch", ARCHS)
def test_long_text_is_truncated_to_the_model(tiny_model, ref_pipeline, arch):
    ours, ref = _both(tiny_model, ref_pipeline, arch)
    long_text = " ".join(["word"] * 300)  # far beyond the 64 positions of the tiny model
    expected = ref(long_text, truncation=True, max_length=64)
    assert_results_close(ours(long_text), expected)
    assert_results_close(ours([long_text, "short"])[0], expected[0])
    # an explicit max_length wins
    assert_results_close(ours(long_text, max_length=10), ref(long_text, truncation=True, max_length=10))


def test_results_do_not_depend_on_batch_size(tiny_model, ref_pipeline):
    ours, ref = _both(tiny_model, ref_pipeline, id2label={0: "a", 1: "b", 2: "c"})
    expected = ref(MIXED_TEXTS, top_k=None, batch_size=1)
    for batch_size in (1, 3, 32):
        assert_results_close(ours(MIXED_TEXTS, top_k=None, batch_size=batch_size), expected)
    one_by_one = [ours(text, top_k=None) for text in MIXED_TEXTS]
    assert_results_close(ours(MIXED_TEXTS, top_k=None, batch_size=5), one_by_one)


def test_bad_parameters_raise_clear_errors(tiny_model):
    pipe = leanformers.pipeline("text-classification", model=tiny_model(), device="cpu")
    with pytest.raises(ValueError, match="function_to_apply"):
        pipe("x", function_to_apply="relu")
    with pytest.raises(ValueError, match="top_k"):
        pipe("x", top_k=0)
    with pytest.raises(ValueError, match="text_pair"):
        pipe([["a", "b", "c"]])
    with pytest.raises(ValueError, match="'text'"):
        pipe({"txt": "a"})
    with pytest.raises(TypeError, match="text-classification takes"):
        pipe(42)


def test_a_bare_model_is_refused_clearly(tiny_model):
    folder = tiny_model("bert", "base")
    body = leanformers.AutoModel.from_pretrained(folder)
    pipe = leanformers.pipeline("text-classification", model=body, device="cpu")
    with pytest.raises(ValueError, match="AutoModelForSequenceClassification"):
        pipe("x")
