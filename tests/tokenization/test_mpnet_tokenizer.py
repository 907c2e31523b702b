"""MPNet's tokenizer against the reference: a WordPiece vocabulary trained here with `tokenizers`
(MPNet's specials <s> <pad> </s> [UNK] <mask> first, as in its checkpoints), from vocab.txt and from
tokenizer.json, by class name and by model_type; ids, offsets and decode equal on the corpus."""

import json
import os

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from leanformers.tokenization.auto import load_tokenizer  # noqa: E402
from encoder_tokenizers import same_behaviour, saved_both_ways, trained_wordpiece  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SPECIALS = ["<s>", "[UNK]", "<pad>", "</s>", "<mask>"]


@pytest.fixture(scope="module")
def vocab():
    return trained_wordpiece(SPECIALS)


def _folder(path, vocab, config, model_type=None):
    path.mkdir()
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    if model_type:
        (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return str(path)


@pytest.mark.parametrize("config, model_type", [
    ({"tokenizer_class": "MPNetTokenizer"}, None), ({}, "mpnet"),
    ({"tokenizer_class": "MPNetTokenizerFast", "do_lower_case": False, "mask_token": "<mask>"}, None),
])
def test_mpnet_matches_reference(vocab, tmp_path, config, model_type):
    folder = _folder(tmp_path / "mpnet", vocab, config, model_type)
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    assert type(ours).__name__ == "MPNetTokenizer"
    same_behaviour(ref, ours)
    assert ours("a b", "c")["input_ids"][:1] == [0]  # <s> ... </s> </s> ... </s>
    saved_both_ways(ref, ours, tmp_path, load_tokenizer, transformers)


def test_mpnet_mask_swallows_the_space_before_it(vocab, tmp_path):
    folder = _folder(tmp_path / "mpnet", vocab, {"tokenizer_class": "MPNetTokenizer"})
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    assert ours.added_tokens_decoder[ours.mask_token_id].lstrip is True
    assert ref.added_tokens_decoder[ref.mask_token_id].lstrip is True
    text = "hello   <mask> world"
    assert ours.tokenize(text) == ref.tokenize(text)
    assert ours(text)["input_ids"] == ref(text)["input_ids"] and ours.mask_token_id in ours(text)["input_ids"]
