"""RoBERTa: byte-level BPE with <s> A </s> (</s> B </s>)."""

from __future__ import annotations

from .. import legacy
from ._byte_level import ByteLevelBPETokenizer

DEFAULTS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
            "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}


class RobertaTokenizer(ByteLevelBPETokenizer):
    """Byte-level BPE with <s> A </s> (</s> B </s>)."""

    default_special_tokens = DEFAULTS
    model_types = ("roberta",)

    @staticmethod
    def build(vocab, added_tokens, kwargs, merges=(), post_processor=None) -> dict:
        # The family's own post-processor always (the reference sets it whatever the file had).
        add_prefix_space = bool(kwargs.get("add_prefix_space", False))
        state = legacy.empty_json()
        state["added_tokens"] = list(added_tokens)
        state["pre_tokenizer"] = legacy.byte_level(add_prefix_space)
        state["decoder"] = legacy.byte_level(True)
        state["model"] = legacy.bpe_model(vocab, list(merges))
        ids = legacy.SpecialIds(state, vocab, len(vocab))
        legacy.register_specials(ids, kwargs, DEFAULTS)
        sep, cls = legacy.tok(kwargs, "sep_token", "</s>"), legacy.tok(kwargs, "cls_token", "<s>")
        state["post_processor"] = {"type": "RobertaProcessing", "sep": [sep, ids.get(sep)],
                                   "cls": [cls, ids.get(cls)], "trim_offsets": bool(kwargs.get("trim_offsets", True)),
                                   "add_prefix_space": add_prefix_space}
        return state


RobertaTokenizerFast = RobertaTokenizer
