"""What the SentencePiece Unigram families (ALBERT, CamemBERT, T5, XLM-RoBERTa) share: the state read
from a .model (a legacy file or the ``vocab_file`` argument) or a Unigram tokenizer.json rebuilt with
the family's own components, and fairseq's <s> A </s> (</s> B </s>) template."""

from __future__ import annotations

from .. import legacy
from . import FamilyTokenizer


class SentencePieceUnigramTokenizer(FamilyTokenizer):
    """Subclasses define ``read(path, kwargs) -> (scores, precompiled_charsmap)`` (the .model's pieces in
    the family's id layout) and ``build(scores, added_tokens, kwargs, precompiled_charsmap=None)``."""

    keeps_post_processor = False  # True: a tokenizer.json's post_processor is passed on to build()

    @staticmethod
    def read(path: str, kwargs: dict) -> tuple[list, str | None]:
        raise NotImplementedError

    @staticmethod
    def build(scores: list, added_tokens: list, kwargs: dict, precompiled_charsmap: str | None = None) -> dict:
        raise NotImplementedError

    @classmethod
    def added_tokens_of(cls, added_tokens: list, path: str) -> list:
        """The added tokens of a state read from the .model at ``path`` (the folder's, by default)."""
        return added_tokens

    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        # Special tokens are found by content in the family's vocabulary, not at their .model ids.
        path = cls.find_sentencepiece(find, name_or_path)
        scores, charsmap = cls.read(path, kwargs)
        return cls.build(scores, cls.added_tokens_of(added_tokens, path), kwargs, precompiled_charsmap=charsmap)

    @classmethod
    def state_from_kwargs(cls, kwargs, vocab=None, merges=None):
        path = kwargs.get("vocab_file")
        if not (path and str(path).endswith(".model")):
            return None
        scores, charsmap = cls.read(path, kwargs)
        return cls.build(scores, cls.added_tokens_of([], path), kwargs, precompiled_charsmap=charsmap)

    @classmethod
    def rebuild_state(cls, state, kwargs):
        model = state.get("model") or {}
        if model.get("type") != "Unigram":
            return state
        extra = {"post_processor": state.get("post_processor")} if cls.keeps_post_processor else {}
        built = cls.build([tuple(v) for v in model["vocab"]], state.get("added_tokens", []), kwargs,
                          precompiled_charsmap=legacy.precompiled_charsmap(state), **extra)
        return legacy.keep_settings(built, state)


def fairseq_template(ids, kwargs: dict) -> dict:
    """fairseq's <s> A </s> (</s> B </s>), always the family's own (the reference sets it after reading any
    tokenizer.json); ``ids`` is the built state's ``legacy.unigram_ids``."""
    bos, eos = legacy.tok(kwargs, "bos_token", "<s>"), legacy.tok(kwargs, "eos_token", "</s>")
    return legacy.template_processing([bos, "$A", eos], [bos, "$A", eos, eos, "$B", eos],
                                      {bos: ids.get(bos), eos: ids.get(eos)})
