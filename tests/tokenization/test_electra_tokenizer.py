"""ELECTRA's tokenizer is BERT's WordPiece in the reference (model_type "electra" and the class names
ElectraTokenizer / ElectraTokenizerFast all give BertTokenizer): a vocabulary trained here with
`tokenizers`, loaded from vocab.txt and from tokenizer.json, equal to the reference on the corpus."""

import json
import os

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from leanformers.tokenization.auto import load_tokenizer  # noqa: E402
from encoder_tokenizers import same_behaviour, saved_both_ways, trained_wordpiece  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="module")
def vocab():
    return trained_wordpiece(SPECIALS)


@pytest.mark.parametrize("config, model_type", [
    ({}, "electra"), ({"tokenizer_class": "ElectraTokenizer"}, None),
    ({"tokenizer_class": "ElectraTokenizerFast", "do_lower_case": False}, "electra"),
])
def test_electra_is_bert_wordpiece(vocab, tmp_path, config, model_type):
    folder = tmp_path / "electra"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    if model_type:
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    ref, ours = transformers.AutoTokenizer.from_pretrained(str(folder)), load_tokenizer(str(folder))
    assert type(ours).__name__ == "BertTokenizer"
    same_behaviour(ref, ours)
    saved_both_ways(ref, ours, tmp_path, load_tokenizer, transformers)


def test_electra_names_are_bert_tokenizer():
    import leanformers

    assert leanformers.ElectraTokenizer is leanformers.ElectraTokenizerFast is leanformers.BertTokenizer
