"""XLM-RoBERTa: SentencePiece Unigram in fairseq's id layout with <s> A </s> (</s> B </s>)."""

from __future__ import annotations

from .. import legacy
from . import FamilyTokenizer

DEFAULTS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
            "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}


class XLMRobertaTokenizer(FamilyTokenizer):
    """SentencePiece Unigram in fairseq's id layout (<s> <pad> </s> <unk> first, <mask> last) with
    <s> A </s> (</s> B </s>)."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": "tokenizer.json"}
    model_types = ("xlm-roberta",)
    legacy_files = ("sentencepiece.bpe.model",)

    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        # Special tokens are found by content in the reordered vocabulary, not at their .model ids.
        path = cls.find_sentencepiece(find, name_or_path)
        scores, charsmap = _read(path, kwargs)
        return build(scores, added_tokens, kwargs, precompiled_charsmap=charsmap)

    @classmethod
    def state_from_kwargs(cls, kwargs, vocab=None, merges=None):
        path = kwargs.get("vocab_file")
        if not (path and str(path).endswith(".model")):
            return None
        scores, charsmap = _read(path, kwargs)
        return build(scores, [], kwargs, precompiled_charsmap=charsmap)

    @classmethod
    def rebuild_state(cls, state, kwargs):
        model = state.get("model") or {}
        if model.get("type") != "Unigram":
            return state
        built = build([tuple(v) for v in model["vocab"]], state.get("added_tokens", []), kwargs,
                      precompiled_charsmap=legacy.precompiled_charsmap(state))
        return legacy.keep_settings(built, state)


XLMRobertaTokenizerFast = XLMRobertaTokenizer


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
    # Always the family's own template (the reference sets it after reading any tokenizer.json).
    bos, eos = legacy.tok(kwargs, "bos_token", "<s>"), legacy.tok(kwargs, "eos_token", "</s>")
    state["post_processor"] = legacy.template_processing([bos, "$A", eos], [bos, "$A", eos, eos, "$B", eos],
                                                         {bos: ids.get(bos), eos: ids.get(eos)})
    return state
