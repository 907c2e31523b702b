"""CamemBERT: SentencePiece Unigram in its own fairseq id layout with <s> A </s> (</s> B </s>)."""

from __future__ import annotations

from .. import legacy
from ._sentencepiece import SentencePieceUnigramTokenizer, fairseq_template

DEFAULTS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
            "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
            "additional_special_tokens": ["<s>NOTUSED", "</s>NOTUSED", "<unk>NOTUSED"]}


def _read(path, kwargs):
    model, charsmap = legacy.read_sentencepiece(path, kwargs)
    return camembert_layout([(p.piece, p.score) for p in model.pieces], kwargs), charsmap


def camembert_layout(scores: list, kwargs: dict) -> list:
    """CamemBERT's ids: five fairseq entries first (the .model's own <unk> is kept at id 4 but scored -100
    so that the model never picks it over <unk> at id 3), then the pieces after the model's <unk> from
    id 5 on, and <mask> last."""
    first = [("<s>NOTUSED", 0.0), (legacy.tok(kwargs, "pad_token", "<pad>"), 0.0), ("</s>NOTUSED", 0.0),
             (legacy.tok(kwargs, "unk_token", "<unk>"), 0.0), ("<unk>NOTUSED", -100.0)]
    return first + [tuple(item) for item in scores[1:]] + [(legacy.tok(kwargs, "mask_token", "<mask>"), 0.0)]


def build(scores: list, added_tokens: list, kwargs: dict, precompiled_charsmap: str | None = None) -> dict:
    """`scores` already in CamemBERT's layout (a tokenizer.json's, or `camembert_layout` of a .model's)."""
    normalizer = {"type": "Precompiled", "precompiled_charsmap": precompiled_charsmap} if precompiled_charsmap else None
    unk = legacy.tok(kwargs, "unk_token", "<unk>")
    unk_id = next((i for i, (piece, _) in enumerate(scores) if piece == unk), 0)
    state = legacy.metaspace_unigram(scores, unk_id, kwargs.get("add_prefix_space"), normalizer, added_tokens)
    ids = legacy.unigram_ids(state, scores)
    # <mask> swallows the spaces before it unless the mask_token given says otherwise (the reference
    # makes a plain-string mask_token an lstrip token).
    mask = kwargs.get("mask_token", "<mask>")
    content = legacy.tok(kwargs, "mask_token", "<mask>")
    if content is not None and content not in ids.added and ids.get(content) is not None:
        plain = isinstance(mask, str)
        state["added_tokens"].append(legacy.added_token(ids.get(content), content,
                                                        lstrip=True if plain else bool(mask.lstrip),
                                                        rstrip=False if plain else bool(mask.rstrip)))
        ids.added[content] = ids.get(content)
    legacy.register_specials(ids, kwargs, DEFAULTS)
    state["post_processor"] = fairseq_template(ids, kwargs)
    return state


class CamembertTokenizer(SentencePieceUnigramTokenizer):
    """SentencePiece Unigram in CamemBERT's layout (<s>NOTUSED <pad> </s>NOTUSED <unk> <unk>NOTUSED first,
    then every piece of the model, <mask> last) with <s> A </s> (</s> B </s>)."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]
    model_types = ("camembert",)

    read = staticmethod(_read)
    build = staticmethod(build)


CamembertTokenizerFast = CamembertTokenizer
