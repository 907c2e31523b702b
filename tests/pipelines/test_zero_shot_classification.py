"""zero-shot-classification results equal transformers 4.57.6's on the same tiny NLI checkpoints."""

import logging

import pytest

from ref457 import assert_same

import leanformers

MNLI = {0: "contradiction", 1: "neutral", 2: "entailment"}  # bart-large-mnli's order
UPPER_FIRST = {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}  # entailment id 0: contradiction is the last
TEXTS = ["I have a problem with my iphone that needs to be resolved asap!!", "Berlin is a city.",
         "The quick brown fox jumps over the lazy dog near the riverbank, again and again, all day long."]
LABELS = ["urgent", "not urgent", "phone", "tablet", "computer"]


@pytest.fixture(scope="module", params=[("wordpiece", MNLI), ("bytelevel", UPPER_FIRST)], ids=["bert-mnli", "roberta-upper"])
def setup(request, tiny_checkpoint, ref457):
    kind, id2label = request.param
    folder = tiny_checkpoint(kind, "sequence-classification", id2label=id2label)
    return leanformers.pipeline("zero-shot-classification", model=folder, device="cpu"), folder, ref457


@pytest.mark.parametrize("multi_label", [None, False, True])
def test_labels_and_scores_match_reference(setup, multi_label):
    pipe, folder, ref = setup
    kwargs = {} if multi_label is None else {"multi_label": multi_label}
    for inputs in (TEXTS[0], TEXTS):
        expected, _ = ref.call("zero-shot-classification", folder, inputs, candidate_labels=LABELS, **kwargs)
        assert_same(pipe(inputs, candidate_labels=LABELS, **kwargs), expected)
    one = pipe(TEXTS[0], candidate_labels=LABELS, **kwargs)
    assert sorted(one["labels"]) == sorted(LABELS) and one["scores"] == sorted(one["scores"], reverse=True)
    if not multi_label:
        assert abs(sum(one["scores"]) - 1) < 1e-5


def test_label_spellings_template_and_positional_labels(setup):
    pipe, folder, ref = setup
    comma = "sports, politics ,  , science"
    assert_same(pipe(TEXTS[1], candidate_labels=comma), ref.call("zero-shot-classification", folder, TEXTS[1],
                                                                 candidate_labels=comma)[0])
    assert pipe(TEXTS[1], candidate_labels=comma)["labels"].__len__() == 3
    single = ref.call("zero-shot-classification", folder, TEXTS[1], candidate_labels=["sports"])[0]
    assert_same(pipe(TEXTS[1], candidate_labels=["sports"]), single)  # one label: entailment vs contradiction
    template = "The topic of this text is {}."
    assert_same(pipe(TEXTS, candidate_labels=LABELS, hypothesis_template=template, batch_size=3),
                ref.call("zero-shot-classification", folder, TEXTS, candidate_labels=LABELS,
                         hypothesis_template=template)[0])
    assert_same(pipe(TEXTS[0], LABELS), pipe(TEXTS[0], candidate_labels=LABELS))
    constructed = leanformers.pipeline("zero-shot-classification", model=folder, device="cpu",
                                       candidate_labels=LABELS[:2])
    assert_same(constructed(TEXTS[2]), ref.call("zero-shot-classification", folder, TEXTS[2],
                                                init={"candidate_labels": LABELS[:2]})[0])


def test_long_text_is_truncated_not_the_hypothesis(setup):
    pipe, folder, ref = setup
    long_text = " ".join(TEXTS * 8)
    expected, _ = ref.call("zero-shot-classification", folder, long_text, candidate_labels=LABELS)
    assert_same(pipe(long_text, candidate_labels=LABELS), expected)


def test_entailment_id_is_read_case_insensitively(setup, tiny_checkpoint, caplog):
    pipe = setup[0]
    assert pipe.entailment_id == pipe.model.config.label2id[next(
        label for label in pipe.model.config.label2id if label.lower() == "entailment")]
    folder = tiny_checkpoint("wordpiece", "sequence-classification", id2label={0: "yes", 1: "no"})
    with caplog.at_level(logging.WARNING, logger="leanformers"):
        unnamed = leanformers.pipeline("zero-shot-classification", model=folder, device="cpu")
    assert unnamed.entailment_id == -1 and "entailment" in caplog.text


def test_bad_inputs_raise_clear_errors(setup):
    pipe = setup[0]
    with pytest.raises(ValueError, match="at least one label"):
        pipe(TEXTS[0], candidate_labels=[])
    with pytest.raises(ValueError, match="at least one label"):
        pipe(TEXTS[0], candidate_labels=" , ")
    with pytest.raises(ValueError, match="needs candidate_labels"):
        pipe(TEXTS[0])
    with pytest.raises(ValueError, match="hypothesis_template"):
        pipe(TEXTS[0], candidate_labels=LABELS, hypothesis_template="no slot")
