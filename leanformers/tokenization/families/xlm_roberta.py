"""XLM-RoBERTa: SentencePiece Unigram in fairseq's id layout with <s> A </s> (</s> B </s>)."""

from __future__ import annotations

from .. import legacy
from ._sentencepiece import SentencePieceUnigramTokenizer, fairseq_template

DEFAULTS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
            "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}


def _read(path, kwargs):
    model, charsmap = legacy.read_sentencepiece(path, kwargs)
    return fairseq_layout([(p.piece, p.score) for p in model.pieces], kwargs), charsmap


def fairseq_layout(scores: list, kwargs: dict) -> list:
    """XLM-R's ids: fairseq puts <s> <pad> </s> <unk> first, then the SentencePiece pieces from id 3 on
    (so every piece id moves up by one), and <mask> last."""
    first = [(legacy.tok(kwargs, name, default), 0.0) for name, default in
             (("bos_token", "<s>"), ("pad_token", "<pad>"), ("eos_token", "</s>"), ("unk_token", "<unk>"))]
    return first + [tuple(item) for item in scores[3:]] + [(legacy.tok(kwargs, "mask_token", "<mask>"), 0.0)]


def build(scores: list, added_tokens: list, kwargs: dict, precompiled_charsmap: str | None = None) -> dict:
    """`scores` already in fairseq layout (a tokenizer.json's, or `fairseq_layout` of a .model's pieces)."""
    normalizer = {"type": "Precompiled", "precompiled_charsmap": precompiled_charsmap} if precompiled_charsmap else None
    state = legacy.metaspace_unigram(scores, 3, kwargs.get("add_prefix_space"), normalizer, added_tokens)
    ids = legacy.unigram_ids(state, scores)
    legacy.register_specials(ids, kwargs, DEFAULTS)
    state["post_processor"] = fairseq_template(ids, kwargs)
    return state


class XLMRobertaTokenizer(SentencePieceUnigramTokenizer):
    """SentencePiece Unigram in fairseq's id layout (<s> <pad> </s> <unk> first, <mask> last) with
    <s> A </s> (</s> B </s>)."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": "tokenizer.json"}
    model_types = ("xlm-roberta",)
    legacy_files = ("sentencepiece.bpe.model",)

    read = staticmethod(_read)
    build = staticmethod(build)


XLMRobertaTokenizerFast = XLMRobertaTokenizer
