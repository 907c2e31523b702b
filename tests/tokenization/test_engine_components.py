"""Each normalizer, pre-tokenizer and decoder against the reference: a tiny BPE is trained behind
each normalizer x pre-tokenizer combination, and ids, tokens and (original-string) offsets must be
equal; decoders must give the same text for the same tokens."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("tokenizers")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tokenizers import Regex, Tokenizer as RefTokenizer  # noqa: E402
from tokenizers import decoders as D, models as M, normalizers as N, pre_tokenizers as P  # noqa: E402
from tokenizers import trainers as T  # noqa: E402

from leanformers.tokenization import decoders as our_decoders  # noqa: E402
from leanformers.tokenization import normalizers as our_normalizers  # noqa: E402
from leanformers.tokenization import pre_tokenizers as our_pre_tokenizers  # noqa: E402
from leanformers.tokenization.engine import Tokenizer  # noqa: E402
from test_engine_support import CORPUS, TRAIN, assert_same_encoding  # noqa: E402

NORMALIZERS = {
    "NFC": N.NFC(), "NFD": N.NFD(), "NFKC": N.NFKC(), "NFKD": N.NFKD(), "Lowercase": N.Lowercase(),
    "Strip": N.Strip(), "StripLeft": N.Strip(left=True, right=False),
    "NFD+StripAccents": N.Sequence([N.NFD(), N.StripAccents()]),
    "ReplaceString": N.Replace("  ", " "), "ReplaceRegex": N.Replace(Regex(r"\s+"), "_"),
    "ReplaceGrow": N.Replace("a", "aa"), "Prepend": N.Prepend("▁"),
    "Bert": N.BertNormalizer(), "BertCased": N.BertNormalizer(lowercase=False),
    "BertStrip": N.BertNormalizer(lowercase=False, strip_accents=True),
    "BertNoClean": N.BertNormalizer(clean_text=False, handle_chinese_chars=False),
    "NFKC+Lower+Strip": N.Sequence([N.NFKC(), N.Lowercase(), N.Strip()]),
}

PRE_TOKENIZERS = {
    "Whitespace": P.Whitespace(), "WhitespaceSplit": P.WhitespaceSplit(), "Bert": P.BertPreTokenizer(),
    "ByteLevel": P.ByteLevel(add_prefix_space=True), "ByteLevelNoRegex": P.ByteLevel(add_prefix_space=False, use_regex=False),
    "MetaspaceFirst": P.Metaspace(prepend_scheme="first"), "MetaspaceNever": P.Metaspace(prepend_scheme="never", split=False),
    "Digits": P.Digits(), "DigitsEach": P.Digits(individual_digits=True), "CharDelimiter": P.CharDelimiterSplit("a"),
    "UnicodeScripts": P.UnicodeScripts(),
    "Sequence": P.Sequence([P.WhitespaceSplit(), P.Punctuation(), P.Digits(individual_digits=True)]),
}
for behavior in ("removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"):
    PRE_TOKENIZERS[f"Punctuation-{behavior}"] = P.Punctuation(behavior)
    PRE_TOKENIZERS[f"SplitRegex-{behavior}"] = P.Split(Regex(r"\s+|\d"), behavior)
    PRE_TOKENIZERS[f"SplitString-{behavior}"] = P.Split(" ", behavior, invert=behavior == "contiguous")
PRE_TOKENIZERS["SplitInvert"] = P.Split(Regex(r"\p{L}+"), "isolated", invert=True)
PRE_TOKENIZERS["Llama3Split"] = P.Sequence([
    P.Split(Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+"), "isolated"),
    P.ByteLevel(add_prefix_space=False, use_regex=False)])

COMBOS = [(n, "Whitespace") for n in NORMALIZERS] + [("NFKC+Lower+Strip", p) for p in PRE_TOKENIZERS] + [
    ("Bert", "Bert"), ("NFD+StripAccents", "ByteLevel"), ("Prepend", "MetaspaceFirst"), ("ReplaceGrow", "ByteLevel"),
    ("BertStrip", "UnicodeScripts"), ("NFKD", "Llama3Split"), (None, "ByteLevel"), (None, None), ("NFC", None),
]


def _train(normalizer, pre_tokenizer):
    ref = RefTokenizer(M.BPE(unk_token="[UNK]"))
    if normalizer is not None:
        ref.normalizer = NORMALIZERS[normalizer]
    if pre_tokenizer is not None:
        ref.pre_tokenizer = PRE_TOKENIZERS[pre_tokenizer]
    ref.train_from_iterator(TRAIN, T.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"]))
    return Tokenizer.from_str(ref.to_str()), ref


@pytest.mark.parametrize("normalizer, pre_tokenizer", COMBOS, ids=[f"{n}|{p}" for n, p in COMBOS])
def test_normalizer_and_pre_tokenizer_combination(normalizer, pre_tokenizer):
    ours, ref = _train(normalizer, pre_tokenizer)
    assert ours.to_str() == ref.to_str()
    for text in CORPUS:
        assert_same_encoding(ours.encode(text), ref.encode(text), f"{normalizer}|{pre_tokenizer} {text!r}")
    if pre_tokenizer is not None:
        ours_pre = our_pre_tokenizers.pre_tokenizer_from_dict(__import__("json").loads(ref.to_str())["pre_tokenizer"])
        for text in CORPUS[:12]:
            assert ours_pre.pre_tokenize_str(text) == PRE_TOKENIZERS[pre_tokenizer].pre_tokenize_str(text), text
    if normalizer is not None:
        ours_norm = ours.normalizer
        for text in CORPUS:
            assert ours_norm.normalize_str(text) == NORMALIZERS[normalizer].normalize_str(text), text



_RANDOM = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)  # any code point


@pytest.mark.parametrize("normalizer, pre_tokenizer", [("Bert", "Bert"), ("NFKC", "ByteLevel"),
                                                       ("NFD+StripAccents", "Whitespace"), ("Lowercase", "Digits")])
def test_random_text_through_combinations(normalizer, pre_tokenizer):
    ours, ref = _train(normalizer, pre_tokenizer)

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_RANDOM)
    def check(text):
        assert_same_encoding(ours.encode(text), ref.encode(text), repr(text))

    check()


def test_precompiled_charsmap_from_sentencepiece_model():
    from leanformers.tokenization.sentencepiece_model import load_sentencepiece_model

    path = os.path.join(os.path.dirname(__file__), "fixtures", "spm_unigram_test.model")
    if not os.path.exists(path):
        pytest.skip("no SentencePiece fixture")
    charsmap = load_sentencepiece_model(path).normalizer_spec.precompiled_charsmap
    if not charsmap:
        pytest.skip("the fixture has no precompiled charsmap")
    ref_norm = N.Precompiled(charsmap)
    ours_norm = our_normalizers.Precompiled(charsmap)
    samples = CORPUS + ["ｈａｌｆ／ｆｕｌｌ ｶﾀｶﾅ", "①②③ ㍻ ℃ ﬁ", "a\u00a0b\u2009c\u3000d", "\ufeffbom", "Ⅻ ¼ ½"]
    for text in samples:
        assert ours_norm.normalize_str(text) == ref_norm.normalize_str(text), text
    ref = RefTokenizer(M.BPE(unk_token="[UNK]"))
    ref.normalizer = ref_norm
    ref.train_from_iterator(TRAIN, T.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"]))
    ours = Tokenizer.from_str(ref.to_str())
    assert ours.to_str() == ref.to_str()
    for text in samples:
        assert_same_encoding(ours.encode(text), ref.encode(text), repr(text))


DECODERS = {
    "ByteLevel": D.ByteLevel(), "WordPiece": D.WordPiece(), "WordPieceNoCleanup": D.WordPiece("##", cleanup=False),
    "Metaspace": D.Metaspace(), "MetaspaceNever": D.Metaspace(prepend_scheme="never"), "BPEDecoder": D.BPEDecoder(),
    "ByteFallback": D.ByteFallback(), "Fuse": D.Fuse(), "Strip": D.Strip(" ", 1, 2), "Replace": D.Replace("▁", " "),
    "ReplaceRegex": D.Replace(Regex("a+"), "b"), "CTC": D.CTC(),
    "Sequence": D.Sequence([D.Replace("▁", " "), D.ByteFallback(), D.Fuse(), D.Strip(" ", 1, 0)]),
}
TOKEN_LISTS = [
    [], ["Hello"], ["▁Hello", "▁wor", "ld", "!"], ["▁▁x", "a▁b"], ["hel", "##lo", "world", "##s", ".", "don", "'", "t"],
    ["ĠHello", "Ġworld", "Ċ", "ðŁĺ", "Ģ", "<special>"], ["<0xE4>", "<0xBD>", "<0xA0>", "x", "<0xFF>", "<0x41>"],
    ["<0xe4>", "<0xbd>"], ["hello</w>", "wor", "ld</w>"], ["<pad>", "h", "h", "e", "<pad>", "l", "l", "|", "o", "o"],
    ["  a  ", " b", "c  "], ["aaa", "xa"],
]


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoder(name):
    ref = DECODERS[name]
    tok = RefTokenizer(M.WordLevel({"a": 0}, unk_token="a"))
    tok.decoder = ref
    ours = our_decoders.decoder_from_dict(__import__("json").loads(tok.to_str())["decoder"])
    assert ours.to_dict() == __import__("json").loads(tok.to_str())["decoder"]
    for tokens in TOKEN_LISTS:
        assert ours.decode(tokens) == ref.decode(tokens), tokens


@pytest.mark.parametrize("options", [
    {"continuing_subword_prefix": "##"}, {"end_of_word_suffix": "</w>"},
    {"continuing_subword_prefix": "##", "end_of_word_suffix": "</w>"}, {"ignore_merges": True},
    {"fuse_unk": True}, {"fuse_unk": False}, {"dropout": 0.0},
])
def test_bpe_model_options(options):
    trainer_options = {k: v for k, v in options.items() if k in ("continuing_subword_prefix", "end_of_word_suffix")}
    ref = RefTokenizer(M.BPE(unk_token="[UNK]", **options))
    ref.pre_tokenizer = P.Whitespace()
    ref.train_from_iterator(TRAIN[:4], T.BpeTrainer(vocab_size=200, special_tokens=["[UNK]"], **trainer_options))
    if "end_of_word_suffix" in options:
        ref.decoder = D.BPEDecoder(options["end_of_word_suffix"])
    data = ref.to_str()
    # the model options the trainer does not carry over are set in the file itself
    for key, value in options.items():
        data = data.replace(f'"{key}":null', f'"{key}":{__import__("json").dumps(value)}')
        data = data.replace(f'"{key}":false', f'"{key}":{__import__("json").dumps(value)}')
    ref = RefTokenizer.from_str(data)
    ours = Tokenizer.from_str(data)
    assert ours.to_str() == ref.to_str()
    for text in CORPUS:
        assert_same_encoding(ours.encode(text), ref.encode(text), f"{options} {text!r}")
        assert ours.decode(ref.encode(text).ids) == ref.decode(ref.encode(text).ids)


def test_bpe_merges_as_strings_and_wordpiece_long_words():
    ref = RefTokenizer(M.BPE(unk_token="[UNK]"))
    ref.pre_tokenizer = P.Whitespace()
    ref.train_from_iterator(TRAIN, T.BpeTrainer(vocab_size=250, special_tokens=["[UNK]"]))
    data = __import__("json").loads(ref.to_str())
    data["model"]["merges"] = [" ".join(m) for m in data["model"]["merges"]]  # the older "a b" form
    ours = Tokenizer.from_str(__import__("json").dumps(data))
    assert ours.to_str() == ref.to_str()
    for text in CORPUS:
        assert ours.encode(text).ids == ref.encode(text).ids
    wp = RefTokenizer(M.WordPiece(unk_token="[UNK]", max_input_chars_per_word=8))
    wp.pre_tokenizer = P.Whitespace()
    wp.train_from_iterator(TRAIN, T.WordPieceTrainer(vocab_size=200, special_tokens=["[UNK]"]))
    ours = Tokenizer.from_str(wp.to_str())
    for text in CORPUS:
        assert_same_encoding(ours.encode(text), wp.encode(text), text)
