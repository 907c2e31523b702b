"""T5: SentencePiece Unigram with </s> appended and 100 <extra_id_N> sentinel tokens."""

from __future__ import annotations

from .. import legacy
from ._sentencepiece import SentencePieceUnigramTokenizer

DEFAULTS = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def _read(path, kwargs):
    """The .model's pieces plus the <extra_id_N> sentinels after them (highest N first), and its charsmap;
    the special pieces and sentinels become the default extra special tokens."""
    model, charsmap = legacy.read_sentencepiece(path)
    extra_ids = kwargs.get("extra_ids", 100)
    if (kwargs.get("extra_special_tokens") or kwargs.get("additional_special_tokens")) is None:
        listed = legacy.special_pieces(model)
        if not any("<extra_id_" in t for t in listed):
            listed = listed + [f"<extra_id_{i}>" for i in range(extra_ids)]
        kwargs["extra_special_tokens"] = listed
    scores = [(p.piece, p.score) for p in model.pieces]
    scores += [(f"<extra_id_{i}>", 0.0) for i in range(extra_ids - 1, -1, -1)]
    return scores, charsmap


def build(scores: list, added_tokens: list, kwargs: dict, precompiled_charsmap: str | None = None) -> dict:
    state = legacy.empty_json()
    state["added_tokens"] = list(added_tokens)
    if precompiled_charsmap:
        state["normalizer"] = {"type": "Precompiled", "precompiled_charsmap": precompiled_charsmap}
    metaspace = {"type": "Metaspace", "replacement": legacy.SPIECE_UNDERLINE, "prepend_scheme": "always",
                 "split": True}
    state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, metaspace]}
    state["decoder"] = dict(metaspace)
    state["model"] = {"type": "Unigram", "unk_id": 2, "vocab": [list(item) for item in scores], "byte_fallback": False}
    ids = legacy.unigram_ids(state, scores)
    legacy.register_specials(ids, kwargs, DEFAULTS)
    eos = legacy.tok(kwargs, "eos_token", "</s>")
    state["post_processor"] = legacy.template_processing(["$A", "</s>"], ["$A", "</s>", "$B", "</s>"],
                                                         {"</s>": ids.get("</s>")} if eos else {})
    return state


class T5Tokenizer(SentencePieceUnigramTokenizer):
    """SentencePiece Unigram with </s> appended and 100 <extra_id_N> sentinel tokens."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "spiece.model", "tokenizer_file": "tokenizer.json"}
    model_types = ("t5", "mt5")
    legacy_files = ("spiece.model",)
    read = staticmethod(_read)
    build = staticmethod(build)

    @classmethod
    def added_tokens_of(cls, added_tokens, path):
        return legacy.merge_added(added_tokens, path)  # plus the .model's own special pieces

    def get_sentinel_tokens(self) -> list[str]:
        return [t for t in self.extra_special_tokens if t.startswith("<extra_id_")]

    def get_sentinel_token_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.get_sentinel_tokens())


T5TokenizerFast = T5Tokenizer
