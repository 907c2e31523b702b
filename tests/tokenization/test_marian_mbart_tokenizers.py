"""Marian, mBART and mBART-50 tokenizers against the reference (MarianTokenizer on the sentencepiece
library, MBartTokenizerFast, MBart50TokenizerFast), on folders built here from SentencePiece models.

Marian folders: source.spm = sentencepiece's 1,000-piece English test model (tests/tokenization/fixtures),
target.spm = a model trained here on botchan.txt plus a few non-Latin lines (so that vocab.json holds
pieces the source model does not know), vocab.json = both models' pieces with a few left out (they must
come out as <unk>) and two language codes. mBART folders hold the English model as
sentencepiece.bpe.model. Every comparison is ids, tokens and decoded text, on a multilingual sample.
"""

import json
import os
import random
import shutil

import pytest

transformers = pytest.importorskip("transformers")
spm = pytest.importorskip("sentencepiece")

from leanformers import AutoTokenizer  # noqa: E402

HERE = os.path.dirname(__file__)
SOURCE_SPM = os.path.join(HERE, "fixtures", "spm_unigram_test.model")
BOTCHAN = os.path.join(HERE, "..", ".data", "sentencepiece", "botchan.txt")
NON_LATIN = ["Привет, мир! Как дела?", "Γειά σου Κόσμε", "吾輩は猫である。名前はまだ無い。", "你好，世界！",
             "مرحبا بالعالم", "안녕하세요 세계"]
SAMPLE = [
    "Hello world", "I was born in 1990.", "the thing", "Café naïve résumé façade Ångström Øre straße",
    *NON_LATIN, "👨‍👩‍👧‍👦 family 👍🏽", "e\u0301 a\u0300\u0323 n\u0303", "tab\there\x00nul\x07bell \u200b zw",
    "  leading and   multiple    spaces  ", "\t\ttabs\tand\nnew\n\nlines\r\n", "   ", "", "a", "x" * 60,
    "Hello </s> world <pad> x <unk>", "<s> not special here", "ＦＵＬＬ　ｗｉｄｔｈ", "don't won't they're",
    ">>fr<< Hello there", "Hello >>fr<< there", ">>de<<", ">>xx<< unknown code", "Numbers 12345 3.14159 -42",
    "en_XX ro_RO codes <mask> in text", "I've been waiting for a HuggingFace course my whole life.",
]
LEFT_OUT = ("▁the", "ing")  # pieces vocab.json does not list: encoded as <unk>
# the reference's MarianTokenizer asks for sacremoses, which it does not use to encode
pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")


def _pieces(path):
    model = spm.SentencePieceProcessor(model_file=path)
    return [model.id_to_piece(i) for i in range(model.get_piece_size())
            if not (model.is_control(i) or model.is_unknown(i))]


@pytest.fixture(scope="session")
def target_spm(tmp_path_factory):
    if not os.path.exists(BOTCHAN):
        pytest.skip("tests/.data/sentencepiece/botchan.txt is missing: run scripts/fetch_test_data.sh")
    folder = tmp_path_factory.mktemp("target-spm")
    corpus = folder / "corpus.txt"
    with open(BOTCHAN, encoding="utf-8") as f:
        lines = f.read().splitlines()[:1500]  # enough for 400 pieces, and trained in a second
    corpus.write_text("\n".join(lines + NON_LATIN * 20) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / "target"), vocab_size=400,
                                   model_type="unigram", character_coverage=1.0, num_threads=1,
                                   minloglevel=2)
    return str(folder / "target.model")


@pytest.fixture(scope="session")
def marian_folders(tmp_path_factory, target_spm):
    """{"joint": one vocab.json for both sides, "separate": separate_vocabs with target_vocab.json}."""
    joint = tmp_path_factory.mktemp("marian-joint")
    separate = tmp_path_factory.mktemp("marian-separate")
    for folder in (joint, separate):
        shutil.copy(SOURCE_SPM, folder / "source.spm")
        shutil.copy(target_spm, folder / "target.spm")
    vocab = {"</s>": 0, "<unk>": 1}
    for piece in _pieces(SOURCE_SPM) + _pieces(target_spm):
        if piece not in LEFT_OUT:
            vocab.setdefault(piece, len(vocab))
    vocab.setdefault("Привет", len(vocab))  # a run source.spm cannot segment, found whole in vocab.json
    vocab.update({">>fr<<": len(vocab), ">>de<<": len(vocab) + 1})
    vocab["<pad>"] = len(vocab)
    (joint / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (joint / "tokenizer_config.json").write_text(json.dumps({"source_lang": "en", "target_lang": "fr"}))
    (joint / "config.json").write_text(json.dumps({"model_type": "marian"}))  # how Hub repos name the class

    source_vocab = {"</s>": 0, "<unk>": 1, "<pad>": 2}
    for piece in _pieces(SOURCE_SPM):
        source_vocab.setdefault(piece, len(source_vocab))
    target_vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}  # other ids than the source side's
    for piece in _pieces(target_spm):
        if piece not in LEFT_OUT:
            target_vocab.setdefault(piece, len(target_vocab))
    (separate / "vocab.json").write_text(json.dumps(source_vocab, ensure_ascii=False), encoding="utf-8")
    (separate / "target_vocab.json").write_text(json.dumps(target_vocab, ensure_ascii=False), encoding="utf-8")
    (separate / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "MarianTokenizer", "separate_vocabs": True, "source_lang": "en", "target_lang": "ja"}))
    return {"joint": str(joint), "separate": str(separate)}


@pytest.fixture(scope="session")
def mbart_folders(tmp_path_factory):
    out = {}
    for name in ("MBartTokenizer", "MBart50Tokenizer"):
        folder = tmp_path_factory.mktemp(name)
        shutil.copy(SOURCE_SPM, folder / "sentencepiece.bpe.model")
        (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": name}))
        out[name] = str(folder)
    return out


def _load(folder, **kwargs):
    return transformers.AutoTokenizer.from_pretrained(folder, **kwargs), AutoTokenizer.from_pretrained(folder, **kwargs)


def _same(call_ref, call_ours, context):
    """Both give the same result, or both fail with the same kind of error (e.g. an id unknown to both)."""
    try:
        expected = call_ref()
    except (IndexError, KeyError, ValueError) as error:
        with pytest.raises(type(error)):
            call_ours()
        return
    assert call_ours() == expected, context


def _assert_same_text_handling(ref, ours, decode_options=({},)):
    for text in SAMPLE:
        expected, actual = ref(text).input_ids, ours(text).input_ids
        assert actual == expected, text
        assert ours.tokenize(text) == ref.tokenize(text), text
        _same(lambda: ref.convert_ids_to_tokens(expected), lambda: ours.convert_ids_to_tokens(actual), text)
        for options in ({"skip_special_tokens": True}, *decode_options):
            _same(lambda: ref.decode(expected, **options), lambda: ours.decode(actual, **options), (text, options))


def _assert_random_ids_decode_alike(ref, ours, decode_options=({},), rounds=150):
    rng = random.Random(0)
    for _ in range(rounds):
        ids = [rng.randrange(len(ref)) for _ in range(rng.randrange(1, 12))]
        for options in ({"skip_special_tokens": True}, *decode_options):
            _same(lambda: ref.decode(ids, **options), lambda: ours.decode(ids, **options), (ids, options))


def _assert_targets_alike(ref, ours, sources, targets):
    expected = ref(sources, text_target=targets, padding=True, return_tensors="pt")
    actual = ours(sources, text_target=targets, padding=True, return_tensors="pt")
    assert set(actual) == set(expected)
    for key in expected:
        assert actual[key].tolist() == expected[key].tolist(), key
    assert ours(text_target=targets[0]).input_ids == ref(text_target=targets[0]).input_ids
    assert ours("a b", "c d").input_ids == ref("a b", "c d").input_ids


# ---- Marian -----------------------------------------------------------------------------------------
MARIAN_DECODE = ({}, {"use_source_tokenizer": True}, {"use_source_tokenizer": False})


@pytest.mark.parametrize("layout", ["joint", "separate"])
def test_marian_matches_reference(marian_folders, layout):
    ref, ours = _load(marian_folders[layout])
    assert type(ours).__name__ == "MarianTokenizer"
    _assert_same_text_handling(ref, ours, MARIAN_DECODE)
    _assert_random_ids_decode_alike(ref, ours, MARIAN_DECODE)
    # labels go through target.spm (and, with separate_vocabs, target_vocab.json's ids)
    _assert_targets_alike(ref, ours, ["Hello world", "the"], ["吾輩は猫である。", "Bonjour le monde, x"])
    for text in SAMPLE:
        assert ours(text_target=text).input_ids == ref(text_target=text).input_ids, text
    assert ours.get_vocab() == ref.get_vocab() and ours.vocab_size == ref.vocab_size and len(ours) == len(ref)
    assert ours.special_tokens_map == ref.special_tokens_map
    assert (ours.pad_token_id, ours.eos_token_id, ours.unk_token_id) == (ref.pad_token_id, ref.eos_token_id,
                                                                         ref.unk_token_id)


PIECES = [" ", "  ", "\t", "\n", "\r\n", "a", "the", "ing", "é", "e\u0301", "a\u0300\u0323", "ﬁ", "①", "Ⅻ", "ｱ", "㍿",
          "\u200b", "\u00a0", "\u3000", "\u2581", "Привет", "你好", "吾輩", "。", ">>fr<<", ">>de<<", "</s>", "<pad>",
          "<unk>", "0", "99", "½", "™", "…", "\ufeff", "\x00", "\u0301", "ǆ", "Å"]


@pytest.mark.parametrize("layout", ["joint", "separate"])
def test_marian_random_texts_match_reference(marian_folders, layout):
    """Random mixes of the pieces where SentencePiece's rules show: spaces and "▁" at either end, runs of
    unknown characters, the charsmap's longest matches, language codes after special tokens."""
    ref, ours = _load(marian_folders[layout])
    rng = random.Random(layout)
    for _ in range(400):
        if rng.random() < 0.3:
            text = "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(0, 6)))
        else:
            text = "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 8)))
        assert ours(text).input_ids == ref(text).input_ids, text
        assert ours(text_target=text).input_ids == ref(text_target=text).input_ids, text
        assert ours.tokenize(text) == ref.tokenize(text), text


@pytest.mark.parametrize("layout", ["joint", "separate"])
def test_marian_plain_text_path_equals_the_general_one(marian_folders, layout):
    """Plain text skips the engine's alignment machinery: same ids, tokens, offsets and word ids."""
    from leanformers.tokenization.engine import Tokenizer

    ours = AutoTokenizer.from_pretrained(marian_folders[layout])
    with open(BOTCHAN, encoding="utf-8") as f:
        lines = f.read().splitlines()[:400] + ["1990 a", "a\tb c\nd", "x", "I was born in 1990."]
    plain = 0
    for engine in ours._engines:
        for line in lines:
            if engine._plain(line):
                plain += 1
                fast, general = engine._encode_plain(line, 0), Tokenizer._encode_text(engine, line, 0)
                assert (fast.ids, fast.tokens, fast.offsets, fast.words) == (
                    general.ids, general.tokens, general.offsets, general.words), line
    assert plain > 600
    assert not any(ours._engines[0]._plain(t) for t in (" a", "a ", "a  b", ">>fr<< a", "a </s>", "é", ""))


def test_marian_vocabulary_rules(marian_folders):
    ours = AutoTokenizer.from_pretrained(marian_folders["joint"])
    vocab = json.loads(open(os.path.join(marian_folders["joint"], "vocab.json"), encoding="utf-8").read())
    ids = ours("the Привет").input_ids
    assert ids[0] == vocab["<unk>"]  # "▁the" is a source piece but not in vocab.json
    assert ids[-1] == vocab["</s>"]
    assert vocab["Привет"] in ids  # unknown to source.spm, but vocab.json (from target.spm) has it
    assert ours(">>fr<< the").input_ids[0] == vocab[">>fr<<"]  # a leading language code is one token
    assert vocab[">>fr<<"] not in ours("x >>fr<< y").input_ids  # elsewhere it is text
    assert ours.supported_language_codes == [">>fr<<", ">>de<<"]


@pytest.mark.parametrize("layout", ["joint", "separate"])
def test_marian_added_tokens_reach_both_sides(marian_folders, layout):
    ref, ours = _load(marian_folders[layout])
    for tokenizer in (ref, ours):
        tokenizer.add_tokens(["<newtok>"])
        tokenizer.add_special_tokens({"extra_special_tokens": ["<sep2>"]})
    text = "a <newtok> b <sep2> the"
    assert ours(text).input_ids == ref(text).input_ids
    assert ours(text_target=text).input_ids == ref(text_target=text).input_ids
    assert len(ours) == len(ref) and ours.get_vocab() == ref.get_vocab()
    with pytest.raises(ValueError, match="split_special_tokens=True is not supported by MarianTokenizer"):
        ours("a </s>", split_special_tokens=True)


def test_marian_save_round_trips_both_ways(marian_folders, tmp_path):
    for layout, folder in marian_folders.items():
        ref, ours = _load(folder)
        ours.save_pretrained(tmp_path / f"ours-{layout}")
        ref.save_pretrained(tmp_path / f"ref-{layout}")
        assert not (tmp_path / f"ours-{layout}" / "tokenizer.json").exists()
        reloaded = {"ref<-ours": transformers.AutoTokenizer.from_pretrained(tmp_path / f"ours-{layout}"),
                    "ours<-ref": AutoTokenizer.from_pretrained(tmp_path / f"ref-{layout}"),
                    "ours<-ours": AutoTokenizer.from_pretrained(tmp_path / f"ours-{layout}")}
        for name, tokenizer in reloaded.items():
            for text in SAMPLE[:12]:
                assert tokenizer(text, text_target=text).data == ref(text, text_target=text).data, (name, text)
                labels = ref(text_target=text).input_ids
                _same(lambda: ref.decode(labels), lambda: tokenizer.decode(labels), (name, text))


def test_marian_folders_that_cannot_be_read_faithfully(marian_folders, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("source.spm", "target.spm", "vocab.json"):
        shutil.copy(os.path.join(marian_folders["joint"], name), bare / name)
    # no class named anywhere: refuse rather than guess GPT-2 from vocab.json
    with pytest.raises(OSError, match=r"MarianTokenizer files \(\['source.spm', 'target.spm', 'vocab.json'\]\)"):
        AutoTokenizer.from_pretrained(bare)
    (bare / "config.json").write_text(json.dumps({"model_type": "marian"}))
    assert type(AutoTokenizer.from_pretrained(bare)).__name__ == "MarianTokenizer"
    (bare / "target.spm").unlink()
    with pytest.raises(OSError, match=r"lacks \['target.spm'\] \(found \['source.spm', 'vocab.json'\]\)"):
        AutoTokenizer.from_pretrained(bare)
    shutil.copy(os.path.join(marian_folders["joint"], "target.spm"), bare / "target.spm")
    (bare / "tokenizer.json").write_text("{}")
    with pytest.raises(OSError, match="Remove tokenizer.json"):
        AutoTokenizer.from_pretrained(bare)


def test_marian_refuses_sentencepiece_settings_it_does_not_reproduce(marian_folders, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["the cat sat on the mat", "a dog and a cat", "hello world"] * 20), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(tmp_path / "bpe"), vocab_size=30,
                                   model_type="bpe", num_threads=1, minloglevel=2)
    folder = tmp_path / "bpe-marian"
    shutil.copytree(marian_folders["joint"], folder)
    shutil.copy(tmp_path / "bpe.model", folder / "target.spm")
    with pytest.raises(ValueError, match="target.spm is a SentencePiece model with a BPE model"):
        AutoTokenizer.from_pretrained(folder)


# ---- mBART / mBART-50 -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["MBartTokenizer", "MBart50Tokenizer"])
def test_mbart_matches_reference_and_round_trips(mbart_folders, tmp_path, name):
    ref, ours = _load(mbart_folders[name], src_lang="en_XX", tgt_lang="ro_RO")
    assert type(ours).__name__ == name
    ours.save_pretrained(tmp_path / "ours")
    ref.save_pretrained(tmp_path / "ref")
    pairs = [(ref, ours), (transformers.AutoTokenizer.from_pretrained(tmp_path / "ours"),
                           AutoTokenizer.from_pretrained(tmp_path / "ref"))]
    for expected, actual in pairs:
        _assert_same_text_handling(expected, actual)
        _assert_random_ids_decode_alike(expected, actual, rounds=80)
        _assert_targets_alike(expected, actual, ["Hello world", "x"], ["Salut lume", "y z"])
        assert actual.get_vocab() == expected.get_vocab()
        assert actual.special_tokens_map == expected.special_tokens_map
        assert actual.lang_code_to_id == expected.lang_code_to_id
        expected.src_lang = actual.src_lang = "fr_XX"
        assert actual("Bonjour").input_ids == expected("Bonjour").input_ids


def test_language_codes_placed_as_the_reference_places_them(mbart_folders):
    mbart = AutoTokenizer.from_pretrained(mbart_folders["MBartTokenizer"], src_lang="en_XX", tgt_lang="ro_RO")
    batch = mbart("Hello world", text_target="Salut lume")
    en, ro, eos = mbart.lang_code_to_id["en_XX"], mbart.lang_code_to_id["ro_RO"], mbart.eos_token_id
    assert batch["input_ids"][-2:] == [eos, en] and batch["labels"][-2:] == [eos, ro]  # X </s> lang
    assert mbart("Hello").input_ids[-1] == en  # labels did not leave the tokenizer in target mode

    mbart50 = AutoTokenizer.from_pretrained(mbart_folders["MBart50Tokenizer"], src_lang="en_XX", tgt_lang="ro_RO")
    batch = mbart50("Hello world", text_target="Salut lume")
    en, ro, eos = mbart50.lang_code_to_id["en_XX"], mbart50.lang_code_to_id["ro_RO"], mbart50.eos_token_id
    assert batch["input_ids"][0] == en and batch["input_ids"][-1] == eos  # lang X </s>
    assert batch["labels"][0] == ro and batch["labels"][-1] == eos
    assert len(mbart50.lang_code_to_id) == 52 and len(mbart.lang_code_to_id) == 25

    inputs = mbart50._build_translation_inputs("Hello", return_tensors=None, src_lang="de_DE", tgt_lang="fr_XX")
    assert inputs["forced_bos_token_id"] == mbart50.lang_code_to_id["fr_XX"]
    assert inputs["input_ids"][0] == mbart50.lang_code_to_id["de_DE"]
    with pytest.raises(ValueError, match="'xx_XX' is not a language code"):
        mbart50.src_lang = "xx_XX"


def test_mbart_is_chosen_by_model_type(mbart_folders, tmp_path):
    folder = tmp_path / "by-model-type"
    shutil.copytree(mbart_folders["MBartTokenizer"], folder)
    (folder / "tokenizer_config.json").unlink()
    (folder / "config.json").write_text(json.dumps({"model_type": "mbart"}))
    assert type(AutoTokenizer.from_pretrained(folder)).__name__ == "MBartTokenizer"
