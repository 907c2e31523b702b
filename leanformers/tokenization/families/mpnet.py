"""MPNet: BERT's WordPiece pipeline with RoBERTa's specials, <s> A </s> (</s> B </s>)."""

from __future__ import annotations

from .. import legacy
from . import FamilyTokenizer
from .bert import wordpiece_state

DEFAULTS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
            "unk_token": "[UNK]", "pad_token": "<pad>", "mask_token": "<mask>"}


class MPNetTokenizer(FamilyTokenizer):
    """WordPiece (BERT's normalizer and pre-tokenizer; honours do_lower_case, tokenize_chinese_chars,
    strip_accents) with <s> A </s> (</s> B </s>) and a <mask> that swallows the spaces before it."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "vocab.txt", "tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]
    model_types = ("mpnet",)

    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        path = legacy.require_file(find("vocab.txt"), "vocab.txt", name_or_path)
        return build(legacy.read_wordpiece_vocab(path), added_tokens, kwargs)

    @classmethod
    def state_from_kwargs(cls, kwargs, vocab=None, merges=None):
        if vocab is None and kwargs.get("vocab_file"):
            vocab = legacy.read_wordpiece_vocab(kwargs["vocab_file"])
        return None if vocab is None else build(vocab, [], kwargs)

    @classmethod
    def rebuild_state(cls, state, kwargs):
        model = state.get("model") or {}
        if model.get("type") != "WordPiece":
            return state
        return legacy.keep_settings(build(model["vocab"], state.get("added_tokens", []), kwargs), state)


MPNetTokenizerFast = MPNetTokenizer


def build(vocab: dict, added_tokens: list, kwargs: dict) -> dict:
    state = wordpiece_state(vocab, added_tokens, kwargs)
    ids = legacy.SpecialIds(state, vocab, len(vocab))
    # A plain-string mask_token becomes an lstrip token in the reference (MPNet's fill-mask convention).
    mask = kwargs.get("mask_token", "<mask>")
    content = legacy.tok(kwargs, "mask_token", "<mask>")
    if content is not None and content not in ids.added:
        plain = isinstance(mask, str)
        index = ids.get(content) if ids.get(content) is not None else ids.next_id
        ids.next_id = max(ids.next_id, index + 1)
        state["added_tokens"].append(legacy.added_token(index, content, lstrip=True if plain else bool(mask.lstrip),
                                                        rstrip=False if plain else bool(mask.rstrip)))
        ids.added[content] = index
    legacy.register_specials(ids, kwargs, DEFAULTS)
    cls, sep = legacy.tok(kwargs, "cls_token", "<s>"), legacy.tok(kwargs, "sep_token", "</s>")
    cls_id = ids.get(cls) if ids.get(cls) is not None else 0
    sep_id = ids.get(sep) if ids.get(sep) is not None else 2
    state["post_processor"] = {"type": "RobertaProcessing", "sep": [sep, sep_id], "cls": [cls, cls_id],
                               "trim_offsets": True, "add_prefix_space": False}
    return state
