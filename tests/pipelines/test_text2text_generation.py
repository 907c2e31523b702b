"""summarization / translation / text2text-generation equal transformers 4.57.6's (v5 removed them)."""

import pytest

from ref457 import assert_same

import leanformers

TEXTS = ["My name is Wolfgang and I live in Berlin.", "Sarah works at Microsoft in Seattle, Washington.",
         "The quick brown fox jumps over the lazy dog near the riverbank.", "ok"]
TASK_PARAMS = {
    "summarization": {"prefix": "summarize: ", "max_length": 12, "min_length": 3, "no_repeat_ngram_size": 2,
                      "num_beams": 2, "length_penalty": 2.0},
    "translation_en_to_fr": {"prefix": "translate English to French: ", "max_length": 10, "num_beams": 3,
                             "early_stopping": True},
}


@pytest.fixture(scope="module", params=["bart", "t5", "marian"])
def bart(request, tmp_path_factory):
    """A tiny encoder-decoder of each kind (named for the first; T5 and Marian run once their model
    files are in leanformers)."""
    pytest.importorskip("transformers")
    pytest.importorskip(f"leanformers.models.{request.param}")
    from tiny_checkpoints import build_seq2seq

    return build_seq2seq(str(tmp_path_factory.mktemp(request.param)), request.param, task_specific_params=TASK_PARAMS)


@pytest.fixture(scope="module")
def t5_without_prefix(tmp_path_factory):
    pytest.importorskip("transformers")
    pytest.importorskip("leanformers.models.t5")
    from tiny_checkpoints import build_seq2seq

    return build_seq2seq(str(tmp_path_factory.mktemp("t5-plain")), "t5")


def test_t5_translation_without_a_prefix_is_refused(t5_without_prefix):
    translate = leanformers.pipeline("translation_en_to_ja", model=t5_without_prefix, device="cpu")
    with pytest.raises(ValueError, match="prefix") as raised:
        translate("hello")
    assert "translation_en_to_ja" in str(raised.value)


def test_pipeline_defaults(bart):
    pipe = leanformers.pipeline("text2text-generation", model=bart, device="cpu")
    assert pipe.generation_config.max_new_tokens == 256 and pipe.generation_config.num_beams == 4
    assert pipe.generation_config.pad_token_id == pipe.tokenizer.pad_token_id and pipe.prefix is None


@pytest.mark.parametrize("task", ["summarization", "text2text-generation", "translation_en_to_fr"])
@pytest.mark.parametrize("kwargs", [{"max_new_tokens": 6}, {"max_new_tokens": 5, "num_beams": 1},
                                    {"max_new_tokens": 4, "num_return_sequences": 2},
                                    {"max_new_tokens": 6, "clean_up_tokenization_spaces": True},
                                    {"max_new_tokens": 7, "num_beams": 2, "length_penalty": 0.5}])
def test_results_match_reference(bart, ref457, task, kwargs):
    pipe = leanformers.pipeline(task, model=bart, device="cpu")
    for inputs in (TEXTS[0], TEXTS):
        expected, _ = ref457.call(task, bart, inputs, **kwargs)
        assert_same(pipe(inputs, **kwargs), expected)
    expected, _ = ref457.call(task, bart, TEXTS, **kwargs)
    assert_same(pipe(TEXTS, batch_size=3, **kwargs), expected)


@pytest.mark.parametrize("task", ["summarization", "translation_en_to_fr"])
def test_return_tensors_and_task_settings(bart, ref457, task):
    pipe = leanformers.pipeline(task, model=bart, device="cpu")
    expected, _ = ref457.call(task, bart, TEXTS, return_tensors=True, max_new_tokens=5)
    assert_same(pipe(TEXTS, return_tensors=True, batch_size=4, max_new_tokens=5), expected)
    assert_same(pipe(TEXTS[1], return_tensors=True, max_new_tokens=5),
                ref457.call(task, bart, TEXTS[1], return_tensors=True, max_new_tokens=5)[0])
    # the prefix and settings came from task_specific_params
    params = dict(TASK_PARAMS[task])
    assert pipe.prefix == params.pop("prefix")
    for key, value in params.items():
        assert getattr(pipe.generation_config, key) == value
    constructed = leanformers.pipeline(task, model=bart, device="cpu", max_new_tokens=3, num_beams=1)
    assert_same(constructed(TEXTS[0]), ref457.call(task, bart, TEXTS[0], init={"max_new_tokens": 3, "num_beams": 1})[0])


def test_bare_translation_task_picks_the_models_translation(bart, ref457):
    with pytest.warns(UserWarning, match="translation_en_to_fr"):
        pipe = leanformers.pipeline("translation", model=bart, device="cpu")
    assert pipe.task == "translation_en_to_fr" and pipe.prefix == TASK_PARAMS["translation_en_to_fr"]["prefix"]
    assert_same(pipe(TEXTS[:2], max_new_tokens=5), ref457.call("translation", bart, TEXTS[:2], max_new_tokens=5)[0])


def test_bad_inputs_raise_clear_errors(bart):
    translate = leanformers.pipeline("translation_en_to_fr", model=bart, device="cpu")
    with pytest.raises(ValueError, match="no language codes"):
        translate("hello", src_lang="en", tgt_lang="de")
    with pytest.raises(KeyError, match="translation_XX_to_YY"):
        leanformers.pipeline("translation_en_fr", model=bart)
    with pytest.raises(ValueError, match="no default model"):
        leanformers.pipeline("translation_fr_to_ja")
    with pytest.raises(TypeError, match="takes a text"):
        translate(42)
    with pytest.raises(ValueError, match="exactly one token"):
        translate("hello", stop_sequence="two words here")
