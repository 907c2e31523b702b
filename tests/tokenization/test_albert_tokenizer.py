"""ALBERT's tokenizer against the reference on a SentencePiece model trained here in ALBERT's layout
(<pad> <unk> [CLS] [SEP] [MASK] first): ids, offsets and decode on the multilingual corpus, with the
lower-casing / accent settings, picked by model_type, and saved both ways."""

import os

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("sentencepiece", reason="the reference reads .model files only with sentencepiece")
pytest.importorskip("google.protobuf", reason="the reference reads .model files only with protobuf")

from leanformers.tokenization.auto import load_tokenizer  # noqa: E402
from encoder_tokenizers import same_behaviour, saved_both_ways, spm_folder, trained_sentencepiece  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ALBERT_PIECES = dict(pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, control_symbols=["[CLS]", "[SEP]", "[MASK]"])


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return trained_sentencepiece(tmp_path_factory.mktemp("spm"), **ALBERT_PIECES)


@pytest.mark.parametrize("config, model_type", [
    ({"tokenizer_class": "AlbertTokenizer"}, None), ({}, "albert"),
    ({"tokenizer_class": "AlbertTokenizer", "do_lower_case": False, "keep_accents": True}, None),
])
def test_albert_matches_reference(model_path, tmp_path, config, model_type):
    folder = spm_folder(tmp_path / "spm", model_path, "spiece.model", config, model_type)
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    assert type(ours).__name__ == "AlbertTokenizer"
    assert ours.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    same_behaviour(ref, ours)
    saved_both_ways(ref, ours, tmp_path, load_tokenizer, transformers)
