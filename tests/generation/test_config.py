"""GenerationConfig: generation_config.json written by either library is read by the other."""

import json

import pytest

transformers = pytest.importorskip("transformers")

from leanformers import GenerationConfig  # noqa: E402

SETTINGS = dict(max_new_tokens=40, do_sample=True, temperature=0.8, top_k=20, top_p=0.95, num_beams=1,
                repetition_penalty=1.1, eos_token_id=[2, 7], pad_token_id=0, bad_words_ids=[[5], [6, 7]],
                stop_strings=["\n\n"], cache_implementation="static", my_custom_key="kept")


def comparable(path):
    data = json.loads(path.read_text())
    data.pop("transformers_version", None)
    return data


def test_reference_writes_we_read(tmp_path):
    transformers.GenerationConfig(**SETTINGS).save_pretrained(tmp_path)
    ours = GenerationConfig.from_pretrained(tmp_path)
    for key, value in SETTINGS.items():
        assert getattr(ours, key) == value, key
    assert ours.num_return_sequences is None and ours.get("num_return_sequences") == 1  # unset -> default


def test_we_write_reference_reads(tmp_path):
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    GenerationConfig(**SETTINGS).save_pretrained(ours_dir)
    transformers.GenerationConfig(**SETTINGS).save_pretrained(theirs_dir)
    assert comparable(ours_dir / "generation_config.json") == comparable(theirs_dir / "generation_config.json")
    theirs = transformers.GenerationConfig.from_pretrained(ours_dir)
    for key, value in SETTINGS.items():
        assert getattr(theirs, key) == value, key


def test_from_model_config_matches_reference():
    from leanformers.models.gpt2 import GPT2Config

    ours = GenerationConfig.from_model_config(GPT2Config(bos_token_id=1, eos_token_id=2, pad_token_id=0))
    theirs = transformers.GenerationConfig.from_model_config(
        transformers.GPT2Config(bos_token_id=1, eos_token_id=2, pad_token_id=0))
    a = json.loads(ours.to_json_string())
    b = json.loads(theirs.to_json_string())
    b.pop("transformers_version")
    assert a == b


def test_update_returns_unused_and_validates():
    config = GenerationConfig(max_new_tokens=5)
    unused = config.update(top_k=3, not_a_field=1)
    assert unused == {"not_a_field": 1} and config.top_k == 3
    assert GenerationConfig(top_k=3) == GenerationConfig(top_k=3) != GenerationConfig(top_k=4)
    assert config.to_dict()["max_new_tokens"] == 5 and config.to_dict()["top_p"] is None
    for bad in (dict(top_p=2.0), dict(max_new_tokens=0), dict(num_beams=-1), dict(temperature=-1.0),
                dict(early_stopping="sometimes"), dict(cache_implementation="paged")):
        with pytest.raises(ValueError):
            GenerationConfig(**bad)


def test_model_load_and_save_carry_generation_config(tmp_path):
    import warnings

    from leanformers.models.gpt2 import GPT2LMHeadModel

    config = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=32,
                                     bos_token_id=1, eos_token_id=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.GPT2LMHeadModel(config)
        model.generation_config.max_new_tokens = 7
        model.generation_config.do_sample = True
        model.save_pretrained(tmp_path / "ref")
    ours = GPT2LMHeadModel.from_pretrained(tmp_path / "ref")
    assert ours.generation_config.max_new_tokens == 7 and ours.generation_config.do_sample is True
    ours.generation_config.top_k = 4
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.GenerationConfig.from_pretrained(tmp_path / "ours")
    assert (back.max_new_tokens, back.do_sample, back.top_k) == (7, True, 4)
