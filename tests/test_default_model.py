"""The embedded default sentiment model (leanformers/default_models/sentiment), made by recipes/sentiment.py.

Checks that the shipped folder is what the model card says it is: fp16 weights that load as fp32 in
leanformers and in the reference with the same logits, the course's tokenizer ids, the course's two
sentences classified confidently through ``pipeline("sentiment-analysis")`` with no model given, and
the model card quoting the figures that recipes/evaluate_sentiment.py wrote to eval_results.json.
"""

from __future__ import annotations

import json
import os
import re
import struct

import pytest

import leanformers

MODEL_DIR = os.path.join(os.path.dirname(leanformers.__file__), "default_models", "sentiment")
SHIPPED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.txt", "README.md", "eval_results.json")

COURSE_SENTENCES = [
    "I've been waiting for a HuggingFace course my whole life.",
    "I hate this so much!",
]
# The Hugging Face course, chapter 2 ("Behind the pipeline"): the same bert-base-uncased vocabulary.
COURSE_IDS = [
    [101, 1045, 1005, 2310, 2042, 3403, 2005, 1037, 17662, 12172, 2607, 2026, 2878, 2166, 1012, 102],
    [101, 1045, 5223, 2023, 2061, 2172, 999, 102],
]
MORE_SENTENCES = [
    "A gorgeous, witty, seductive movie.",
    "The plot is nothing but boilerplate cliches from start to finish.",
    "It's not a bad film, just not a very memorable one.",
    "ok",
]


def safetensors_dtypes(path: str) -> set[str]:
    with open(path, "rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_size))
    return {entry["dtype"] for name, entry in header.items() if name != "__metadata__"}


@pytest.fixture(scope="module")
def leanformers_model():
    from leanformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(MODEL_DIR).eval()


@pytest.fixture(scope="module")
def leanformers_tokenizer():
    return leanformers.AutoTokenizer.from_pretrained(MODEL_DIR)


def test_shipped_files_and_config():
    missing = [name for name in SHIPPED_FILES if not os.path.isfile(os.path.join(MODEL_DIR, name))]
    assert not missing, f"the default model folder lacks {missing}: run recipes/sentiment.py --ship"
    with open(os.path.join(MODEL_DIR, "config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    assert config["model_type"] == "bert"
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert config["label2id"] == {"NEGATIVE": 0, "POSITIVE": 1}
    # fp16 on disk to halve the package, fp32 compute after dtype="auto" (see the model card).
    assert config["dtype"] == "float32"
    assert safetensors_dtypes(os.path.join(MODEL_DIR, "model.safetensors")) == {"F16"}
    size_mb = os.path.getsize(os.path.join(MODEL_DIR, "model.safetensors")) / 1e6
    assert 40 < size_mb < 50, size_mb


def test_leanformers_loads_fp32(leanformers_model):
    import torch

    assert leanformers_model.config.id2label == {0: "NEGATIVE", 1: "POSITIVE"}
    assert {p.dtype for p in leanformers_model.parameters()} == {torch.float32}
    # dtype="auto" reads config.json's "float32", not the fp16 of the stored tensors
    for load in (leanformers.AutoModelForSequenceClassification, leanformers.BertForSequenceClassification):
        model = load.from_pretrained(MODEL_DIR, dtype="auto")
        assert {p.dtype for p in model.parameters()} == {torch.float32}, load.__name__


def test_tokenizer_gives_the_course_ids(leanformers_tokenizer):
    assert leanformers_tokenizer(COURSE_SENTENCES)["input_ids"] == COURSE_IDS


def test_same_logits_as_the_reference(leanformers_model, leanformers_tokenizer):
    transformers = pytest.importorskip("transformers")
    import torch

    reference = transformers.AutoModelForSequenceClassification.from_pretrained(MODEL_DIR, dtype="auto").eval()
    assert {p.dtype for p in reference.parameters()} == {torch.float32}
    reference_tokenizer = transformers.AutoTokenizer.from_pretrained(MODEL_DIR)
    sentences = COURSE_SENTENCES + MORE_SENTENCES
    ours = leanformers_tokenizer(sentences, padding=True, return_tensors="pt")
    theirs = reference_tokenizer(sentences, padding=True, return_tensors="pt")
    assert ours["input_ids"].tolist() == theirs["input_ids"].tolist()
    with torch.no_grad():
        our_logits = leanformers_model(**ours).logits
        their_logits = reference(**theirs).logits
    torch.testing.assert_close(our_logits, their_logits, atol=1e-4, rtol=0)
    assert reference.config.id2label == {0: "NEGATIVE", 1: "POSITIVE"}


def test_default_pipeline_on_the_course_sentences():
    classifier = leanformers.pipeline("sentiment-analysis")
    results = classifier(COURSE_SENTENCES)
    assert [r["label"] for r in results] == ["POSITIVE", "NEGATIVE"]
    assert all(r["score"] >= 0.9 for r in results), results
    # the pipeline really loaded the embedded folder, not something else it found
    assert os.path.samefile(classifier.model.name_or_path, MODEL_DIR)


def _card_row(card: str, row_name: str) -> list[str]:
    for line in card.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] == row_name:
            return cells
    raise AssertionError(f"the model card has no table row starting with {row_name!r}")


def test_model_card_states_the_evaluated_figures():
    with open(os.path.join(MODEL_DIR, "eval_results.json"), encoding="utf-8") as handle:
        results = json.load(handle)
    with open(os.path.join(MODEL_DIR, "README.md"), encoding="utf-8") as handle:
        card = handle.read()
    assert results["split"] == "test"
    assert "Apache-2.0" in card and "MIT" in card and "python recipes/sentiment.py" in card
    sets = results["sets"]
    assert set(sets) == {"movie", "amazon", "tweets", "nyt"}
    for name, figures in sets.items():
        cells = _card_row(card, name)
        # row: set | sentences | this model | VADER
        assert int(cells[1].replace(",", "")) == figures["n"], (name, cells)
        assert cells[2] == f"{100 * figures['accuracy']:.1f}%", (name, cells)
        assert cells[3] == f"{100 * figures['vader_accuracy']:.1f}%", (name, cells)
    headline = re.search(r"held-out movie sentences: \*\*(\d+\.\d)%\*\*", card)
    assert headline, "the model card lacks the headline 'held-out movie sentences: **NN.N%**'"
    assert headline.group(1) == f"{100 * sets['movie']['accuracy']:.1f}"
    # the quality bar the recipe promises
    assert sets["movie"]["accuracy"] >= 0.86
    assert sets["movie"]["accuracy"] > sets["movie"]["vader_accuracy"] + 0.1
    for entry, expected in zip(results["course_sentences"], ["POSITIVE", "NEGATIVE"]):
        assert entry["label"] == expected and entry["score"] >= 0.9
