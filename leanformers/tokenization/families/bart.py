"""BART: RoBERTa's byte-level BPE with <s> A </s> (</s> B </s>) (the reference's BartTokenizer is its
RobertaTokenizer under another name; here a subclass, so that model_type "bart" finds it)."""

from __future__ import annotations

from .roberta import RobertaTokenizer


class BartTokenizer(RobertaTokenizer):
    model_types = ("bart",)


BartTokenizerFast = BartTokenizer
