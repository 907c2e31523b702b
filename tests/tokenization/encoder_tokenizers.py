"""Helpers shared by the encoder tokenizer tests (CamemBERT, ELECTRA, MPNet, DeBERTa-v2, ModernBERT):
vocabularies trained here (sentencepiece, `tokenizers`) and the comparison with the reference on the
multilingual corpus of test_real_files."""

import os

import pytest

from test_real_files import CORPUS  # noqa: F401  (re-exported for the test files)

DATA = os.path.join(os.path.dirname(__file__), "..", ".data", "sentencepiece")
PAIRS = ["a pair", "Ça va? <mask> [MASK] très bien"]


def need(name):
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing: run scripts/fetch_test_data.sh")
    return path


def training_text() -> list[str]:
    with open(need("botchan.txt"), encoding="utf-8") as f:
        return f.read().splitlines()[:2000] + CORPUS * 3


def trained_sentencepiece(folder, **options) -> str:
    """A 700-piece Unigram model trained here on botchan.txt plus the multilingual corpus; `options` go
    to the trainer (e.g. ALBERT's and DeBERTa's own special pieces)."""
    import sentencepiece as spm

    text = folder / "train.txt"
    text.write_text("\n".join(training_text()), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(folder / "m"), vocab_size=700,
                                   model_type="unigram", character_coverage=0.9995, minloglevel=2, **options)
    return str(folder / "m.model")


def spm_folder(path, model_path, filename, config, model_type=None):
    """A folder holding a SentencePiece model under `filename`, tokenizer_config.json and, with
    `model_type`, a config.json naming it."""
    import json

    path.mkdir()
    (path / filename).write_bytes(open(model_path, "rb").read())
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    if model_type:
        (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return str(path)


def trained_wordpiece(specials, lowercase=True) -> list[str]:
    """A 600-token BERT-style WordPiece vocabulary (`tokenizers`), specials first, in id order."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token=specials[1] if len(specials) > 1 else specials[0]))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(training_text(), trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials))
    vocab = tok.get_vocab()
    return sorted(vocab, key=vocab.get)


def same_behaviour(ref, ours, texts=CORPUS, pairs=PAIRS):
    """Class name, vocabulary, special tokens, ids/offsets/masks (single, pairs, batched with padding
    and truncation) and decode equal to the reference's."""
    # the reference's generic class is TokenizersBackend (PreTrainedTokenizerFast its alias); ours is
    # PreTrainedTokenizerFast
    generic = {"TokenizersBackend": "PreTrainedTokenizerFast"}
    assert type(ours).__name__ == generic.get(type(ref).__name__, type(ref).__name__)
    assert ours.get_vocab() == ref.get_vocab() and len(ours) == len(ref)
    for name in ("all_special_tokens", "all_special_ids", "special_tokens_map", "model_input_names"):
        assert getattr(ours, name) == getattr(ref, name), name
    flags = ("content", "special", "lstrip", "rstrip", "single_word", "normalized")
    assert {i: tuple(getattr(t, f) for f in flags) for i, t in ours.added_tokens_decoder.items()} == \
        {i: tuple(getattr(t, f) for f in flags) for i, t in ref.added_tokens_decoder.items()}
    options = {"return_offsets_mapping": True, "return_special_tokens_mask": True}
    for text in texts:
        for args in ((text,), *((text, p) for p in pairs)):
            assert dict(ours(*args, **options)) == dict(ref(*args, **options)), args
        ids = ref(text)["input_ids"]
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip), text
    batch = dict(padding=True, truncation=True, max_length=24)
    assert dict(ours(texts, texts[::-1], **batch)) == dict(ref(texts, texts[::-1], **batch))


def saved_both_ways(ref, ours, tmp_path, load_tokenizer, transformers, texts=CORPUS):
    """tokenizer.json saved by either side reads back to the same behaviour on both."""
    ref.save_pretrained(tmp_path / "ref_saved")
    ours.save_pretrained(tmp_path / "our_saved")
    for saved in ("ref_saved", "our_saved"):
        same_behaviour(transformers.AutoTokenizer.from_pretrained(str(tmp_path / saved)),
                       load_tokenizer(str(tmp_path / saved)), texts)
