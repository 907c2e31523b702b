"""DeBERTa-v2/v3's tokenizer against the reference: sentencepiece's test model and a model trained here
in DeBERTa-v3's layout ([PAD] [CLS] [SEP] [UNK] first), with its settings (do_lower_case,
split_by_punct, add_prefix_space), by class name and by model_type, saved both ways; ids, offsets and
decode equal on the multilingual corpus."""

import os

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("sentencepiece", reason="the reference reads .model files only with sentencepiece")
pytest.importorskip("google.protobuf", reason="the reference reads .model files only with protobuf")

from leanformers.tokenization.auto import load_tokenizer  # noqa: E402
from encoder_tokenizers import need, same_behaviour, saved_both_ways, spm_folder, trained_sentencepiece  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
V3_PIECES = dict(pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]",
                 unk_piece="[UNK]", user_defined_symbols=["[MASK]"])


@pytest.fixture(scope="module", params=["v3-trained", "test_model"])
def model_path(request, tmp_path_factory):
    if request.param == "test_model":
        return need("test_model.model")
    return trained_sentencepiece(tmp_path_factory.mktemp("spm"), **V3_PIECES)


@pytest.mark.parametrize("config, model_type", [
    ({"tokenizer_class": "DebertaV2Tokenizer"}, None), ({}, "deberta-v2"),
    ({"tokenizer_class": "DebertaV2TokenizerFast", "do_lower_case": True, "split_by_punct": True}, None),
    ({"tokenizer_class": "DebertaV2Tokenizer", "add_prefix_space": False}, None),
])
def test_deberta_v2_matches_reference(model_path, tmp_path, config, model_type):
    folder = spm_folder(tmp_path / "spm", model_path, "spm.model", config, model_type)
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    assert type(ours).__name__ == "DebertaV2Tokenizer"
    same_behaviour(ref, ours)
    saved_both_ways(ref, ours, tmp_path, load_tokenizer, transformers)
