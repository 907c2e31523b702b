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
from test_real_files import CORPUS  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = os.path.join(os.path.dirname(__file__), "..", ".data", "sentencepiece")
PAIRS = ["a pair", "Ça va? <mask> très bien"]


def _need(name):
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing: run scripts/fetch_test_data.sh")
    return path


def trained_model(folder) -> str:
    """A 700-piece Unigram model trained here on botchan.txt plus a multilingual sample (sentencepiece)."""
    import sentencepiece as spm

    text = folder / "train.txt"
    with open(_need("botchan.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()[:2000]
    text.write_text("\n".join(lines + CORPUS * 3), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(folder / "m"), vocab_size=700,
                                   model_type="unigram", character_coverage=0.9995, minloglevel=2)
    return str(folder / "m.model")


def same_behaviour(ref, ours, texts=CORPUS):
    assert type(ours).__name__ == type(ref).__name__
    assert ours.get_vocab() == ref.get_vocab() and len(ours) == len(ref)
    for name in ("all_special_tokens", "all_special_ids", "special_tokens_map", "model_input_names"):
        assert getattr(ours, name) == getattr(ref, name), name
    options = {"return_offsets_mapping": True, "return_special_tokens_mask": True}
    for text in texts:
        for args in ((text,), *((text, p) for p in PAIRS)):
            assert dict(ours(*args, **options)) == dict(ref(*args, **options)), args
        ids = ref(text)["input_ids"]
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip), text
    batch = dict(padding=True, truncation=True, max_length=24)
    assert dict(ours(texts, texts[::-1], **batch)) == dict(ref(texts, texts[::-1], **batch))


def spm_folder(path, model_path, config):
    path.mkdir()
    (path / "sentencepiece.bpe.model").write_bytes(open(model_path, "rb").read())
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    return str(path)


@pytest.fixture(scope="module", params=["test_model", "trained"])
def model_path(request, tmp_path_factory):
    if request.param == "trained":
        return trained_model(tmp_path_factory.mktemp("spm"))
    return _need("test_model.model")


@pytest.mark.parametrize("config", [{}, {"add_prefix_space": False}, {"mask_token": "<mask>"}])
def test_camembert_matches_reference(model_path, tmp_path, config):
    folder = spm_folder(tmp_path / "spm", model_path, {"tokenizer_class": "CamembertTokenizer", **config})
    ref, ours = transformers.AutoTokenizer.from_pretrained(folder), load_tokenizer(folder)
    same_behaviour(ref, ours)
    # the layout: five fairseq entries, the .model's <s> at 5, <mask> last
    assert ours.convert_ids_to_tokens([0, 1, 2, 3, 4, 5]) == ["<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>",
                                                              "<unk>NOTUSED", "<s>"]
    assert ours.convert_ids_to_tokens(len(ours) - 1) == "<mask>"
    ref.save_pretrained(tmp_path / "ref_saved")
    ours.save_pretrained(tmp_path / "our_saved")
    for saved in ("ref_saved", "our_saved"):
        same_behaviour(transformers.AutoTokenizer.from_pretrained(str(tmp_path / saved)),
                       load_tokenizer(str(tmp_path / saved)))


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
