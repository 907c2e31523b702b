"""DistilBERT: BERT's tokenizer without token_type_ids."""

from __future__ import annotations

from .bert import BertTokenizer


class DistilBertTokenizer(BertTokenizer):
    model_input_names = ["input_ids", "attention_mask"]
    model_types = ("distilbert",)


DistilBertTokenizerFast = DistilBertTokenizer
