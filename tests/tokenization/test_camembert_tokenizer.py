"""CamemBERT's tokenizer against the reference (transformers 5.24): its own fairseq layout
(<s>NOTUSED <pad> </s>NOTUSED <unk> <unk>NOTUSED, the .model's pieces from its second on, <mask> last),
built from sentencepiece's test model and from a model trained here; ids, offsets and decode equal on
the multilingual corpus, and tokenizer.json saved by either side reads back the same on both."""

import json
import os

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("sentencepiece", reason="the reference reads .model files only with sentencepiece")
pytest.importorskip("google.protobuf", reason="the reference reads .model files only with protobuf")

from leanformers.tokenization.auto import load_tokenizer  # noqa: E402
from encoder_tokenizers import CORPUS, need, same_behaviour, saved_both_ways, trained_sentencepiece  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def spm_folder(path, model_path, config):
    path.mkdir()
    (path / "sentencepiece.bpe.model").write_bytes(open(model_path, "rb").read())
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    return str(path)


@pytest.fixture(scope="module", params=["test_model", "trained"])
def model_path(request, tmp_path_factory):
    if request.param == "trained":
        return trained_sentencepiece(tmp_path_factory.mktemp("spm"))
    return need("test_model.model")


@pytest.mark.parametrize("config", [{}, {"add_prefix_space": False}, {"mask_token": "<mask>"}])
def test_camembert_matches_reference(model_path, tmp_path, config):
    folder = spm_folder(tmp_path / "spm", model_path, {"tokenizer_class": "CamembertTokenizer", **config})
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    same_behaviour(ref, ours)
    # the layout: five fairseq entries, the .model's <s> at 5, <mask> last
    assert ours.convert_ids_to_tokens([0, 1, 2, 3, 4, 5]) == ["<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>",
                                                              "<unk>NOTUSED", "<s>"]
    assert ours.convert_ids_to_tokens(len(ours) - 1) == "<mask>"
    saved_both_ways(ref, ours, tmp_path, load_tokenizer, transformers)


def test_camembert_model_type_picks_the_family(model_path, tmp_path):
    """A folder whose config.json says model_type camembert (no tokenizer_class) gets CamembertTokenizer."""
    folder = spm_folder(tmp_path / "spm", model_path, {})
    (tmp_path / "spm" / "config.json").write_text(json.dumps({"model_type": "camembert"}))
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    assert type(ours).__name__ == type(ref).__name__ == "CamembertTokenizer"
    same_behaviour(ref, ours, CORPUS[:8])


def test_xlm_roberta_model_type_and_trained_model(model_path, tmp_path):
    """XLM-R (the layout CamemBERT's differs from) on the same models, picked by model_type."""
    folder = spm_folder(tmp_path / "spm", model_path, {})
    (tmp_path / "spm" / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    assert type(ours).__name__ == type(ref).__name__ == "XLMRobertaTokenizer"
    same_behaviour(ref, ours)
