"""GPT-2: byte-level BPE; adds no special tokens unless add_bos_token / add_eos_token say so."""

from __future__ import annotations

from .. import legacy
from ._byte_level import ByteLevelBPETokenizer

DEFAULTS = {"unk_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}


class GPT2Tokenizer(ByteLevelBPETokenizer):
    """Byte-level BPE; adds no special tokens unless add_bos_token / add_eos_token say so."""

    default_special_tokens = DEFAULTS
    model_types = ("gpt2",)
    legacy_files = ("vocab.json",)

    @staticmethod
    def build(vocab, added_tokens, kwargs, merges=(), post_processor=None) -> dict:
        state = legacy.empty_json()
        state["added_tokens"] = list(added_tokens)
        state["pre_tokenizer"] = legacy.byte_level(bool(kwargs.get("add_prefix_space", False)))
        state["decoder"] = legacy.byte_level(True)
        state["model"] = legacy.bpe_model(vocab, list(merges))
        ids = legacy.SpecialIds(state, vocab, len(vocab))
        legacy.register_specials(ids, kwargs, DEFAULTS)
        state["post_processor"] = post_processor or legacy.flags_template(ids, kwargs, DEFAULTS)
        return state


GPT2TokenizerFast = GPT2Tokenizer
