"""question-answering results equal transformers 4.57.6's (which v5 removed) on the same tiny checkpoints."""

import pytest

from ref457 import assert_same

import leanformers

KINDS = ["wordpiece", "bytelevel"]
CONTEXT = "My name is Wolfgang and I live in Berlin. Sarah works at Microsoft in Seattle, Washington."
LONG_CONTEXT = " ".join([
    "The Eiffel Tower is in Paris, the capital of France.",
    "Angela Merkel was the chancellor of Germany for sixteen years.",
    "The quick brown fox jumps over the lazy dog near the riverbank.",
    "Hugging Face is a company based in New York City and Paris.",
    "Marie Curie won two Nobel prizes, in physics and in chemistry.",
    "The Amazon river flows through Brazil, Peru and Colombia.",
])
QUESTIONS = ["Where do I live?", "Who works at Microsoft?", "What is my name?"]


@pytest.fixture(scope="module", params=KINDS)
def setup(request, tiny_checkpoint, ref457):
    folder = tiny_checkpoint(request.param, "question-answering")
    return leanformers.pipeline("question-answering", model=folder, device="cpu"), folder, ref457


def test_spellings_of_the_inputs(setup):
    pipe, folder, ref = setup
    expected, _ = ref.call("question-answering", folder, None, question=QUESTIONS[0], context=CONTEXT)
    assert set(expected) == {"score", "start", "end", "answer"}
    assert_same(pipe(question=QUESTIONS[0], context=CONTEXT), expected)
    assert_same(pipe({"question": QUESTIONS[0], "context": CONTEXT}), expected)
    assert_same(pipe([{"question": QUESTIONS[0], "context": CONTEXT}]), expected)
    assert CONTEXT[expected["start"]:expected["end"]] == expected["answer"]
    # several questions on one context, or one context each, or a list of dicts
    assert_same(pipe(question=QUESTIONS, context=CONTEXT),
                ref.call("question-answering", folder, None, question=QUESTIONS, context=CONTEXT)[0])
    contexts = [CONTEXT, LONG_CONTEXT, CONTEXT]
    assert_same(pipe(question=QUESTIONS, context=contexts, batch_size=2),
                ref.call("question-answering", folder, None, question=QUESTIONS, context=contexts)[0])
    dicts = [{"question": q, "context": c} for q, c in zip(QUESTIONS, contexts)]
    assert_same(pipe(dicts), ref.call("question-answering", folder, dicts)[0])


@pytest.mark.parametrize("kwargs", [
    {"top_k": 3}, {"top_k": 20}, {"max_answer_len": 1}, {"max_answer_len": 3, "top_k": 4},
    {"handle_impossible_answer": True}, {"handle_impossible_answer": True, "top_k": 5},
    {"align_to_words": False}, {"align_to_words": False, "top_k": 5},
])
def test_options_match_reference(setup, kwargs):
    pipe, folder, ref = setup
    for context in (CONTEXT, "Berlin.", LONG_CONTEXT):
        expected, _ = ref.call("question-answering", folder, None, question=QUESTIONS[1], context=context, **kwargs)
        assert_same(pipe(question=QUESTIONS[1], context=context, **kwargs), expected)


@pytest.mark.parametrize("kwargs", [{}, {"doc_stride": 8}, {"max_seq_len": 24, "doc_stride": 4},
                                    {"max_seq_len": 32, "top_k": 5}, {"max_question_len": 3}])
def test_long_context_is_split_with_stride(setup, kwargs):
    pipe, folder, ref = setup
    context = LONG_CONTEXT + " " + CONTEXT
    assert len(pipe.tokenizer(context)["input_ids"]) > 64  # longer than the model takes
    expected, _ = ref.call("question-answering", folder, None, question=QUESTIONS, context=context, **kwargs)
    assert_same(pipe(question=QUESTIONS, context=context, **kwargs), expected)
    assert_same(pipe(question=QUESTIONS, context=context, batch_size=1, **kwargs), expected)


def test_stride_windows_are_batched_together(setup):
    pipe, folder, ref = setup
    seen = []
    forward = pipe.model.forward

    def recording(**inputs):
        seen.append(tuple(inputs["input_ids"].shape))
        return forward(**inputs)

    pipe.model.forward = recording
    try:
        pipe(question=[QUESTIONS[0]] * 3, context=[LONG_CONTEXT] * 3, batch_size=8, doc_stride=8)
    finally:
        del pipe.model.forward
    windows = len(pipe.tokenizer(QUESTIONS[0], LONG_CONTEXT, truncation="only_second", max_length=64, stride=8,
                                 return_overflowing_tokens=True)["input_ids"])
    assert windows > 1 and sum(rows for rows, _ in seen) == 3 * windows and seen[0][0] == min(8, 3 * windows)


def test_bad_inputs_raise_clear_errors(setup):
    pipe = setup[0]
    with pytest.raises(ValueError, match="no context was given"):
        pipe(question="Where do I live?")
    with pytest.raises(ValueError, match="no question was given"):
        pipe(context=CONTEXT)
    with pytest.raises(KeyError, match="no context"):
        pipe({"question": "Where?"})
    with pytest.raises(ValueError, match="`context` cannot be empty"):
        pipe(question="Where?", context="")
    with pytest.raises(ValueError, match="2 questions and 1 contexts"):
        pipe(question=["a?", "b?"], context=["c"])
    with pytest.raises(ValueError, match="top_k"):
        pipe(question="a?", context=CONTEXT, top_k=0)
    with pytest.raises(ValueError, match="doc_stride"):
        pipe(question="a?", context=CONTEXT, doc_stride=100, max_seq_len=50)
