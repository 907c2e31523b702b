"""What the byte-level BPE families (GPT-2, RoBERTa, Qwen2) share: vocab.json + merges.txt as legacy
files or constructor arguments, and a BPE tokenizer.json rebuilt with the family's own components."""

from __future__ import annotations

from .. import legacy
from . import FamilyTokenizer


class ByteLevelBPETokenizer(FamilyTokenizer):
    """Subclasses define `build(vocab, added_tokens, kwargs, merges=(), post_processor=None)`."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": "tokenizer.json"}

    @staticmethod
    def build(vocab, added_tokens, kwargs, merges=(), post_processor=None) -> dict:
        raise NotImplementedError

    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        vocab_path = legacy.require_file(find("vocab.json"), "vocab.json", name_or_path)
        vocab, merges = legacy.read_bpe_files(vocab_path, find("merges.txt"))
        return cls.build(vocab, added_tokens, kwargs, merges=merges)

    @classmethod
    def state_from_kwargs(cls, kwargs, vocab=None, merges=None):
        if vocab is None and kwargs.get("vocab_file"):
            vocab, file_merges = legacy.read_bpe_files(kwargs["vocab_file"], kwargs.get("merges_file"))
            merges = merges if merges is not None else file_merges
        if vocab is None:
            return None
        return cls.build(vocab, [], kwargs, merges=[list(m) for m in (merges or [])])

    @classmethod
    def rebuild_state(cls, state, kwargs):
        model = state.get("model") or {}
        if model.get("type") != "BPE":
            return state
        # merges as "a b" strings or [a, b] pairs: the engines read both
        built = cls.build(model["vocab"], state.get("added_tokens", []), kwargs, merges=model.get("merges", []),
                          post_processor=state.get("post_processor"))
        return legacy.keep_settings(built, state)
