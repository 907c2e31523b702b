"""summarization / translation / text2text-generation equal transformers 4.57.6's (v5 removed them)."""

import json
import os
import shutil

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


@pytest.fixture(scope="module", params=["MBartTokenizer", "MBart50Tokenizer"])
def mbart(request, tmp_path_factory):
    """A tiny mBART with the mBART (``X </s> src_lang``) or mBART-50 (``src_lang X </s>``) tokenizer, on
    sentencepiece's 1,000-piece test model (the tokenizer tests' fixture) plus the language codes."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("sentencepiece")
    pytest.importorskip("leanformers.models.mbart")
    import torch

    folder = tmp_path_factory.mktemp(request.param)
    shutil.copy(os.path.join(os.path.dirname(__file__), "..", "tokenization", "fixtures", "spm_unigram_test.model"),
                folder / "sentencepiece.bpe.model")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": request.param}))
    vocab_size = len(transformers.AutoTokenizer.from_pretrained(str(folder)))
    # untied head and a wide init: a default tiny mBART repeats the forced language code whatever the source
    config = transformers.MBartConfig(
        vocab_size=vocab_size, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2,
        tie_word_embeddings=False, init_std=0.3)
    torch.manual_seed(0)
    model = transformers.MBartForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0.0, 0.05)
            elif name in ("model.shared.weight", "lm_head.weight") or "embed_tokens" in name:
                param.normal_(0.0, 1.0)
    model.save_pretrained(str(folder))
    return str(folder)


LANGS = {"src_lang": "en_XX", "tgt_lang": "ro_RO"}


@pytest.mark.parametrize("kwargs", [{"max_new_tokens": 6}, {"max_new_tokens": 5, "num_beams": 1},
                                    {"max_new_tokens": 7, "return_tensors": True}])
def test_mbart_translation_languages_match_reference(mbart, ref457, kwargs):
    translate = leanformers.pipeline("translation", model=mbart, device="cpu", **LANGS)
    for inputs in (TEXTS[0], TEXTS):
        expected, _ = ref457.call("translation", mbart, inputs, init=LANGS, **kwargs)
        assert_same(translate(inputs, **kwargs), expected)
    # languages given per call override the pipeline's (the source's code and the forced first token move)
    call_langs = {"src_lang": "de_DE", "tgt_lang": "fr_XX"}
    expected, _ = ref457.call("translation", mbart, TEXTS, init=LANGS, **call_langs, **kwargs)
    assert_same(translate(TEXTS, batch_size=3, **call_langs, **kwargs), expected)


def test_mbart_translation_starts_with_the_target_language(mbart):
    translate = leanformers.pipeline("translation", model=mbart, device="cpu", **LANGS)
    codes = translate.tokenizer.lang_code_to_id
    for tgt in ("ro_RO", "fr_XX"):
        for result in translate(TEXTS[:2], return_tensors=True, max_new_tokens=4, tgt_lang=tgt):
            ids = result["translation_token_ids"].tolist()
            assert ids[:2] == [2, codes[tgt]]  # decoder start, then the forced target language code
    with pytest.raises(ValueError, match="'xx_XX' is not a language code"):
        translate("hello", tgt_lang="xx_XX")
    with pytest.raises(ValueError, match="needs the languages"):
        leanformers.pipeline("translation", model=mbart, device="cpu")("hello")


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
