"""token-classification (ner) results equal transformers 4.57.6's, numpy score types included."""

import warnings

import pytest

from ref457 import assert_same

import leanformers

KINDS = ["wordpiece", "bytelevel"]
LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC", 5: "B-ORG", 6: "I-ORG"}
TEXTS = [
    "My name is Wolfgang and I live in Berlin.",
    "Sarah works at Microsoft in Seattle, Washington.",
    "Jean-Baptiste moved to Montreal in the winter of 2019.",
    "Unbelievably, George Washington visited Photosynthesis Inc. in New York City!",
    "ok",
    "Zürich and Kraków are cities; 東京 too.",  # unknown characters, accents
]


@pytest.fixture(scope="module", params=KINDS)
def setup(request, tiny_checkpoint, ref457):
    folder = tiny_checkpoint(request.param, "token-classification", id2label=LABELS)
    return leanformers.pipeline("ner", model=folder, device="cpu"), folder, ref457


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_aggregation_strategies_match_reference(setup, strategy):
    pipe, folder, ref = setup
    for inputs in (TEXTS[0], TEXTS):
        expected, _ = ref.call("token-classification", folder, inputs, aggregation_strategy=strategy,
                               ignore_labels=[])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert_same(pipe(inputs, aggregation_strategy=strategy, ignore_labels=[]), expected)
    expected, _ = ref.call("token-classification", folder, TEXTS, aggregation_strategy=strategy)
    assert_same(pipe(TEXTS, aggregation_strategy=strategy, batch_size=4), expected)


def test_default_ignores_o_and_ignore_labels(setup):
    pipe, folder, ref = setup
    assert_same(pipe(TEXTS), ref.call("ner", folder, TEXTS)[0])
    ignore = ["O", "B-PER", "I-LOC"]
    assert_same(pipe(TEXTS, ignore_labels=ignore), ref.call("ner", folder, TEXTS, ignore_labels=ignore)[0])
    everything = pipe(TEXTS[0], ignore_labels=[])
    assert {e["entity"] for e in everything} - {"O"} and all(e["word"] for e in everything)
    constructed = leanformers.pipeline("ner", model=folder, device="cpu", aggregation_strategy="average")
    assert_same(constructed(TEXTS[1]), ref.call("ner", folder, TEXTS[1], init={"aggregation_strategy": "average"})[0])


@pytest.mark.parametrize("grouped, ignore_subwords", [(True, None), (True, True), (True, False), (False, None),
                                                     (None, True)])
def test_v4_aliases(setup, grouped, ignore_subwords):
    pipe, folder, ref = setup
    kwargs = {k: v for k, v in (("grouped_entities", grouped), ("ignore_subwords", ignore_subwords))
              if v is not None}
    expected, ref_warnings = ref.call("ner", folder, TEXTS, ignore_labels=[], **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_same(pipe(TEXTS, ignore_labels=[], **kwargs), expected)
    for name in kwargs:  # each alias says which aggregation_strategy it stands for
        assert any(name in str(w.message) and "aggregation_strategy=" in str(w.message) for w in caught)
    assert_same(leanformers.pipeline("ner", model=folder, device="cpu", **kwargs)(TEXTS[3], ignore_labels=[]),
                ref.call("ner", folder, TEXTS[3], init=kwargs, ignore_labels=[])[0])


def test_long_text_with_stride(setup):
    pipe, folder, ref = setup
    long_text = " ".join(TEXTS[:4] * 4)  # far more than the 64 positions of the tiny model
    for strategy in ("simple", "first", "max"):
        expected, _ = ref.call("ner", folder, long_text, stride=16, aggregation_strategy=strategy, ignore_labels=[])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = pipe(long_text, stride=16, aggregation_strategy=strategy, ignore_labels=[])
        assert_same(ours, expected)
        assert ours[-1]["end"] > len(long_text) - 10  # the whole text was labelled, not just the first window
    with pytest.raises(ValueError, match="aggregation_strategy"):
        pipe(long_text, stride=16)
    with pytest.raises(ValueError, match="model_max_length"):
        pipe(long_text, stride=64, aggregation_strategy="simple")


def test_pre_split_words(setup):
    pipe, folder, ref = setup
    words = ["Wolfgang", "lives", "in", "New", "York", "."]
    for strategy in ("none", "first"):
        expected, _ = ref.call("ner", folder, words, is_split_into_words=True, aggregation_strategy=strategy,
                               ignore_labels=[])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert_same(pipe(words, is_split_into_words=True, aggregation_strategy=strategy, ignore_labels=[]),
                        expected)


def test_bad_inputs(setup):
    pipe, folder, ref = setup
    with pytest.raises(ValueError, match="'none', 'simple'"):
        pipe("x", aggregation_strategy="biggest")
    with pytest.raises(TypeError, match="token-classification takes a text"):
        pipe(42)
    with pytest.raises(ValueError, match="At least one input"):
        pipe([])
