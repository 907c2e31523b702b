"""Qwen2 (and Qwen2.5 / Qwen3): byte-level BPE after NFC and Qwen's own split regex."""

from __future__ import annotations

from .. import legacy
from ._byte_level import ByteLevelBPETokenizer

DEFAULTS = {"unk_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")


class Qwen2Tokenizer(ByteLevelBPETokenizer):
    """Byte-level BPE after NFC and Qwen's own split regex; the post-processor comes from tokenizer.json."""

    default_special_tokens = DEFAULTS
    model_types = ("qwen2",)

    @staticmethod
    def build(vocab, added_tokens, kwargs, merges=(), post_processor=None) -> dict:
        # bytes to characters without GPT-2's regex: the split above already did that work
        state = legacy.empty_json()
        state["added_tokens"] = list(added_tokens)
        state["normalizer"] = {"type": "NFC"}
        state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": bool(kwargs.get("add_prefix_space") or False),
             "trim_offsets": True, "use_regex": False}]}
        state["decoder"] = legacy.byte_level(True)
        state["model"] = legacy.bpe_model(vocab, list(merges))
        ids = legacy.SpecialIds(state, vocab, len(vocab))
        legacy.register_specials(ids, kwargs, DEFAULTS)
        state["post_processor"] = post_processor
        return state


Qwen2TokenizerFast = Qwen2Tokenizer
