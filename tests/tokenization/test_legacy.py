"""Legacy files → tokenizer.json dicts, and SentencePiece models read without the sentencepiece runtime.

The SentencePiece fixture is sentencepiece 0.2.0's own `test/test_model.model` (Apache-2.0), a 1000-piece
Unigram model. The Llama-style BPE variant is derived from it by appending byte pieces and switching
the trainer spec to BPE with byte fallback — done here by appending protobuf fields, which protobuf
merges. Expected ids were produced by transformers 5.24 with sentencepiece 0.2.3 + protobuf; they are
recorded here so the tests run without those two, and checked against the live reference when the test
extras (which now include them) are installed.
"""

import json
import os
import shutil
import struct

import pytest

from leanformers.tokenization import families, legacy
from leanformers.tokenization.auto import load_tokenizer
from leanformers.tokenization.sentencepiece_model import parse_sentencepiece_model

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "spm_unigram_test.model")
TEXTS = ["Hello world, this is a test.", "  multiple   spaces\tand tabs ", "Ünïcödé ＦＵＬＬＷＩＤＴＨ ① text",
         "emoji 🤗 and 中文", "</s> <extra_id_0> x", ""]
T5_IDS = [[151, 88, 21, 887, 5, 65, 47, 11, 4, 15, 400, 6, 2],
          [4, 26, 229, 15, 25, 29, 82, 273, 19, 135, 8, 13, 4, 281, 66, 8, 2],
          [4, 2, 24, 2, 28, 2, 17, 2, 280, 352, 277, 277, 321, 100, 373, 177, 165, 4, 357, 4, 142, 297, 15, 2],
          [250, 26, 21, 999, 25, 4, 2, 13, 4, 2, 2], [2, 1099, 4, 297, 2], [2]]
LLAMA_IDS = [[1, 4, 165, 16, 88, 21, 102, 54, 31, 17, 5, 4, 95, 129, 47, 11, 4, 142, 85, 6],
             [1, 4, 4, 26, 229, 15, 25, 29, 82, 4, 4, 273, 19, 28, 117, 1009, 253, 4, 281, 66, 8, 4],
             [1, 4, 1195, 1156, 24, 1195, 1175, 28, 1195, 1182, 17, 1195, 1169, 4, 1239, 1188, 1166, 1239, 1188,
              1181, 1239, 1188, 1172, 1239, 1188, 1172, 1239, 1188, 1183, 1239, 1188, 1169, 1239, 1188, 1164, 1239,
              1188, 1180, 1239, 1188, 1168, 4, 1226, 1145, 1160, 4, 142, 297, 15],
             [1, 250, 26, 21, 999, 25, 4, 1240, 1159, 1164, 1151, 13, 4, 1228, 1184, 1173, 1230, 1150, 1135],
             [1, 2, 4, 1060, 16, 297, 15, 30, 19, 1095, 140, 1095, 351, 1062, 4, 297], [1]]
LLAMA_DECODED = ["Hello world, this is a test.", " multiple   spaces\tand tabs ", "Ünïcödé ＦＵＬＬＷＩＤＴＨ ① text",
                 "emoji 🤗 and 中文", "<extra_id_0> x", ""]


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, wire_type, payload):
    key = _varint(number << 3 | wire_type)
    return key + (_varint(len(payload)) + payload if wire_type == 2 else payload)


def _llama_bpe_model_bytes():
    data = open(FIXTURE, "rb").read()
    for byte in range(256):
        piece = _field(1, 2, f"<0x{byte:02X}>".encode()) + _field(2, 5, struct.pack("<f", 0.0)) + _field(3, 0, _varint(6))
        data += _field(1, 2, piece)
    return data + _field(2, 2, _field(3, 0, _varint(2)) + _field(35, 0, _varint(1)))


def test_protobuf_reader():
    model = parse_sentencepiece_model(open(FIXTURE, "rb").read())
    assert len(model.pieces) == 1000
    assert [(p.piece, p.type) for p in model.pieces[:3]] == [("<unk>", 2), ("<s>", 3), ("</s>", 3)]
    assert model.pieces[4].piece == "\u2581" and abs(model.pieces[4].score + 3.3334579) < 1e-5
    assert model.trainer_spec.model_type == 1 and model.trainer_spec.unk_id == 0 and model.trainer_spec.pad_id == -1
    assert model.normalizer_spec.name == "nmt_nfkc" or model.normalizer_spec.name.startswith("nmt") or \
        model.normalizer_spec.name == "nfkc"
    assert len(model.normalizer_spec.precompiled_charsmap) > 1000
    merged = parse_sentencepiece_model(_llama_bpe_model_bytes())
    assert merged.trainer_spec.model_type == 2 and merged.trainer_spec.byte_fallback
    assert merged.trainer_spec.unk_id == 0 and len(merged.pieces) == 1256 and merged.pieces[-1].piece == "<0xFF>"
    with pytest.raises(ValueError, match="SentencePiece"):
        parse_sentencepiece_model(b"\x0a\x05hello")


def test_t5_unigram_from_spiece_model(backend, tmp_path):
    shutil.copy(FIXTURE, tmp_path / "spiece.model")
    tok = transformers_free_load(tmp_path, "T5Tokenizer")
    assert [tok(t)["input_ids"] for t in TEXTS] == T5_IDS
    assert len(tok) == 1101 and tok.pad_token_id == 1100 and tok.all_special_ids[:5] == [2, 0, 1100, 1, 1099]
    assert tok.decode(tok(TEXTS[0])["input_ids"]) == "Hello world, this is a test.</s>"


def test_llama_bpe_from_tokenizer_model(backend, tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(_llama_bpe_model_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LlamaTokenizer",
                                                                "add_bos_token": True}))
    tok = load_tokenizer(str(tmp_path))
    assert type(tok).__name__ == "LlamaTokenizer" and tok.padding_side == "left"
    assert [tok(t)["input_ids"] for t in TEXTS] == LLAMA_IDS
    assert [tok.decode(ids, skip_special_tokens=True) for ids in LLAMA_IDS] == LLAMA_DECODED
    # Saved as tokenizer.json, the reference reads it back to the same ids.
    tok.save_pretrained(tmp_path / "saved")
    ref = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    assert [ref(t)["input_ids"] for t in TEXTS] == LLAMA_IDS


def transformers_free_load(folder, class_name):
    return families.find_class(class_name).from_pretrained(str(folder))


def test_spm_t5_save_roundtrip_with_reference(backend, tmp_path):
    shutil.copy(FIXTURE, tmp_path / "spiece.model")
    tok = transformers_free_load(tmp_path, "T5Tokenizer")
    tok.save_pretrained(tmp_path / "saved")
    ref = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    assert [ref(t)["input_ids"] for t in TEXTS] == T5_IDS
    assert load_tokenizer(str(tmp_path / "saved"))(TEXTS[0])["input_ids"] == T5_IDS[0]


def test_merges_from_vocab_matches_reference():
    from transformers.tokenization_utils_base import generate_merges

    model = parse_sentencepiece_model(open(FIXTURE, "rb").read())
    vocab = {p.piece: i for i, p in enumerate(model.pieces)}
    assert legacy.merges_from_vocab(vocab) == [list(m) for m in generate_merges(vocab)]


@pytest.mark.parametrize("options", [{}, {"do_lower_case": False}, {"strip_accents": True},
                                     {"tokenize_chinese_chars": False, "do_lower_case": False}])
def test_bert_builder_equals_reference_pipeline(tmp_path, options):
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "Hello", "##o",
                                         "h", "e", "l", "中", "cafe", "café", "!"])}
    ours = families.load("bert").build(dict(vocab), [], dict(options))
    ref = json.loads(transformers.BertTokenizer(vocab=dict(vocab), **options).backend_tokenizer.to_str())
    ours["added_tokens"].sort(key=lambda t: t["id"])
    assert ours == ref
    engine = tokenizers.Tokenizer.from_str(json.dumps(ours))
    assert engine.encode("Hello 中 café!").ids == tokenizers.Tokenizer.from_str(json.dumps(ref)).encode(
        "Hello 中 café!").ids


@pytest.mark.parametrize("class_name", ["GPT2Tokenizer", "RobertaTokenizer"])
@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_byte_level_builders_equal_reference_pipeline(class_name, add_prefix_space):
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "a", "b", "ab", "Ġ", "Ġab",
                                         "<|endoftext|>", "<mask>"])}
    merges = [["a", "b"], ["Ġ", "ab"]]
    ours = families.find_class(class_name).build(dict(vocab), [], {"add_prefix_space": add_prefix_space},
                                                 merges=merges)
    ref = json.loads(getattr(transformers, class_name)(vocab=dict(vocab), merges=[tuple(m) for m in merges],
                                                       add_prefix_space=add_prefix_space).backend_tokenizer.to_str())
    ref["added_tokens"].sort(key=lambda t: t["id"])
    ours["added_tokens"].sort(key=lambda t: t["id"])
    assert ours == ref


def test_vocab_and_merges_files(tmp_path, backend):
    vocab = {"<|endoftext|>": 0, "H": 1, "e": 2, "l": 3, "o": 4, "He": 5, "ll": 6, "llo": 7, "Hello": 8, "Ġ": 9,
             "w": 10, "r": 11, "d": 12, "Ġw": 13, "or": 14, "Ġwor": 15, "ld": 16, "Ġworld": 17}
    merges = ["H e", "l l", "ll o", "He llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    ref = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    tok = load_tokenizer(str(tmp_path))
    for text in ("Hello world", "Hello", "world Hello"):
        assert tok(text)["input_ids"] == ref(text)["input_ids"]
    assert tok("Hello world")["input_ids"] == [8, 17]
    assert tok.decode([8, 17]) == "Hello world"


def test_missing_files_error(tmp_path, backend):
    with pytest.raises(OSError, match="tokenizer.json"):
        load_tokenizer(str(tmp_path))


def test_recorded_ids_are_the_reference_ids(tmp_path):
    """With sentencepiece + protobuf installed (test extras), the reference reads the .model files itself:
    the ids recorded above must still be what it gives."""
    pytest.importorskip("sentencepiece", reason="the reference reads .model files only with sentencepiece")
    pytest.importorskip("google.protobuf", reason="the reference reads .model files only with protobuf")
    (tmp_path / "t5").mkdir()
    shutil.copy(FIXTURE, tmp_path / "t5" / "spiece.model")
    (tmp_path / "t5" / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}))
    ref = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "t5"))
    assert [ref(t)["input_ids"] for t in TEXTS] == T5_IDS
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "tokenizer.model").write_bytes(_llama_bpe_model_bytes())
    (tmp_path / "llama" / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LlamaTokenizer",
                                                                          "add_bos_token": True}))
    ref = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "llama"))
    assert [ref(t)["input_ids"] for t in TEXTS] == LLAMA_IDS
    assert [ref.decode(ids, skip_special_tokens=True) for ids in LLAMA_IDS] == LLAMA_DECODED
