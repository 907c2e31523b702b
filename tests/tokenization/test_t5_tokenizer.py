"""The T5 tokenizer against the reference's T5TokenizerFast, live.

Folders hold sentencepiece's own test model (tests/.data/sentencepiece/test_model.model, fetched by
setup) as spiece.model, or the tokenizer.json the reference saves from it. Ids, tokens, offsets and
decoded text must be equal; so must the sentinels (<extra_id_N>), `extra_ids`, `legacy` (which
transformers 5's T5 tokenizer does not act on) and `text_target` → labels.
"""

import json
import os
import shutil

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")
from leanformers import AutoTokenizer, T5Tokenizer, T5TokenizerFast  # noqa: E402

SPM = os.path.join(os.path.dirname(__file__), "..", ".data", "sentencepiece", "test_model.model")
TEXTS = ["Hello world, this is a test.", "The <extra_id_0> walks in <extra_id_1> park", "  multiple   spaces\tand tabs ",
         "Ünïcödé ＦＵＬＬＷＩＤＴＨ ① text", "emoji 🤗 and 中文", "</s> <pad> x</s>y", "a<extra_id_99>b <unk>", ""]
PAIRS = [("translate English to German: Hello", "Hallo"), ("question: who? context: me.", "<extra_id_3> me")]


def _needs_data():
    if not os.path.exists(SPM):
        pytest.skip("tests/.data is missing: run scripts/setup.sh --test and symlink tests/.data")


def _spm_folder(root, **config):
    _needs_data()
    os.makedirs(root, exist_ok=True)
    shutil.copy(SPM, os.path.join(root, "spiece.model"))
    with open(os.path.join(root, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "T5Tokenizer", **config}, f)
    return str(root)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """spiece.model folders, and the reference's save of one (tokenizer.json + tokenizer_config.json)."""
    root = tmp_path_factory.mktemp("t5tok")
    out = {"spm": _spm_folder(root / "spm"),
           "spm-extra10": _spm_folder(root / "extra10", extra_ids=10),
           "spm-legacy-false": _spm_folder(root / "legacy-false", legacy=False),
           "spm-legacy-true": _spm_folder(root / "legacy-true", legacy=True)}
    saved = str(root / "saved")
    transformers.AutoTokenizer.from_pretrained(out["spm"]).save_pretrained(saved)
    out["json"] = saved
    json_only = root / "json-only"  # tokenizer.json alone, without spiece.model beside it
    json_only.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(saved, name), json_only / name)
    out["json-only"] = str(json_only)
    # transformers 4 wrote legacy=False T5 files with prepend_scheme "first"; transformers 5 rebuilds the
    # pipeline around the vocabulary, so such a file tokenizes as the others do
    first = root / "json-first"
    shutil.copytree(json_only, first)
    state = json.loads((first / "tokenizer.json").read_text())
    for item in state["pre_tokenizer"]["pretokenizers"]:
        if item["type"] == "Metaspace":
            item["prepend_scheme"] = "first"
    state["decoder"]["prepend_scheme"] = "first"
    (first / "tokenizer.json").write_text(json.dumps(state))
    config = json.loads((first / "tokenizer_config.json").read_text())
    (first / "tokenizer_config.json").write_text(json.dumps(dict(config, legacy=False)))
    out["json-first"] = str(first)
    return out


def _both(folder, **kwargs):
    return transformers.AutoTokenizer.from_pretrained(folder, **kwargs), AutoTokenizer.from_pretrained(folder, **kwargs)


@pytest.mark.parametrize("name", ["spm", "spm-extra10", "spm-legacy-false", "spm-legacy-true", "json", "json-only",
                                  "json-first"])
def test_ids_tokens_offsets_and_decode_match_reference(folders, name):
    ref, lean = _both(folders[name])
    assert type(lean).__name__ == "T5Tokenizer" and lean.is_fast
    assert len(lean) == len(ref) and lean.get_vocab() == ref.get_vocab()
    for text in TEXTS:
        r = ref(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        o = lean(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        assert o["input_ids"] == r["input_ids"], text
        assert o["offset_mapping"] == r["offset_mapping"], text
        assert o["special_tokens_mask"] == r["special_tokens_mask"], text
        assert lean.tokenize(text) == ref.tokenize(text), text
        for skip in (False, True):
            assert lean.decode(r["input_ids"], skip_special_tokens=skip) == \
                ref.decode(r["input_ids"], skip_special_tokens=skip), (text, skip)


def test_pairs_batches_padding_truncation_match_reference(folders):
    ref, lean = _both(folders["spm"])
    for kwargs in (dict(), dict(padding=True), dict(padding="max_length", max_length=12, truncation=True),
                   dict(truncation="only_second", max_length=18, padding=True)):
        firsts, seconds = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
        assert lean(firsts, seconds, **kwargs).data == ref(firsts, seconds, **kwargs).data, kwargs
    assert lean(TEXTS, padding=True)["input_ids"] == ref(TEXTS, padding=True)["input_ids"]
    assert lean.batch_decode(ref(TEXTS)["input_ids"]) == ref.batch_decode(ref(TEXTS)["input_ids"])


def test_sentinels_and_special_tokens_match_reference(folders):
    for name, count in (("spm", 100), ("spm-extra10", 10)):
        ref, lean = _both(folders[name])
        # (the reference's own get_sentinel_tokens fails in 5.24: it reads additional_special_tokens)
        expected = [t for t in ref.extra_special_tokens if t.startswith("<extra_id_")]
        assert sorted(lean.get_sentinel_tokens()) == sorted(expected) and len(expected) == count
        assert sorted(lean.get_sentinel_token_ids()) == sorted(ref.convert_tokens_to_ids(expected))
        assert lean.convert_tokens_to_ids(f"<extra_id_{count - 1}>") == ref.convert_tokens_to_ids(f"<extra_id_{count - 1}>")
        for attr in ("eos_token", "pad_token", "unk_token", "eos_token_id", "pad_token_id", "unk_token_id",
                     "all_special_tokens", "all_special_ids"):
            assert getattr(lean, attr) == getattr(ref, attr), (name, attr)


def test_constructor_arguments_match_reference(folders):
    _needs_data()
    for kwargs in (dict(), dict(extra_ids=0), dict(extra_ids=5),
                   dict(extra_ids=0, additional_special_tokens=["<ctx>"]),
                   dict(additional_special_tokens=["<ctx>"])):
        ref = transformers.T5TokenizerFast.from_pretrained(folders["spm"], **kwargs)
        lean = T5TokenizerFast.from_pretrained(folders["spm"], **kwargs)
        assert len(lean) == len(ref), kwargs
        for text in TEXTS + ["<ctx> and <extra_id_4>"]:
            assert lean(text)["input_ids"] == ref(text)["input_ids"], (kwargs, text)
    assert T5Tokenizer is T5TokenizerFast


def test_text_target_gives_labels_as_reference(folders):
    ref, lean = _both(folders["json"])
    inputs, targets = ["summarize: a long text here", "summarize: short"], ["long", "a short summary text"]
    for kwargs in (dict(), dict(max_length=6, truncation=True), dict(padding=True),
                   dict(max_length=8, truncation=True, max_target_length=3)):
        r = ref(inputs, text_target=targets, **kwargs)
        o = lean(inputs, text_target=targets, **kwargs)
        assert set(o.keys()) == set(r.keys()) == {"input_ids", "attention_mask", "labels"}, kwargs
        assert o.data == r.data, kwargs
    # targets alone come back as ordinary encodings (input_ids), as in the reference
    assert lean(text_target=targets).data == ref(text_target=targets).data
    assert "labels" not in lean(text_target=targets)
    r = ref(inputs[0], text_target=targets[0], return_tensors="pt")
    o = lean(inputs[0], text_target=targets[0], return_tensors="pt")
    assert o["labels"].tolist() == r["labels"].tolist()


def test_save_roundtrip_loads_in_reference(folders, tmp_path):
    lean = AutoTokenizer.from_pretrained(folders["spm"])
    lean.save_pretrained(tmp_path)
    ref = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    back = AutoTokenizer.from_pretrained(str(tmp_path))
    original = transformers.AutoTokenizer.from_pretrained(folders["spm"])
    for text in TEXTS:
        expected = original(text)["input_ids"]
        assert ref(text)["input_ids"] == expected and back(text)["input_ids"] == expected, text


def test_mt5_model_type_picks_t5_tokenizer(folders, tmp_path):
    """An mT5 folder whose tokenizer_config.json names no class: config.json's model_type decides."""
    shutil.copy(SPM, tmp_path / "spiece.model")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mt5"}))
    ref, lean = _both(str(tmp_path))
    assert type(lean).__name__ == "T5Tokenizer"
    assert [lean(t)["input_ids"] for t in TEXTS] == [ref(t)["input_ids"] for t in TEXTS]


def test_folder_without_vocabulary_is_a_clear_error(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}))
    with pytest.raises(OSError, match="spiece.model"):
        AutoTokenizer.from_pretrained(str(tmp_path))
