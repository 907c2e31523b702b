"""BERT: WordPiece with [CLS] A [SEP] (B [SEP]); honours do_lower_case, tokenize_chinese_chars, strip_accents."""

from __future__ import annotations

from .. import legacy
from . import FamilyTokenizer

DEFAULTS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
            "mask_token": "[MASK]"}


class BertTokenizer(FamilyTokenizer):
    """WordPiece with [CLS] A [SEP] (B [SEP]); honours do_lower_case, tokenize_chinese_chars, strip_accents."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "vocab.txt", "tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    model_types = ("bert", "electra")  # ELECTRA checkpoints use BERT's tokenizer, as in the reference
    legacy_files = ("vocab.txt",)

    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        path = legacy.require_file(find("vocab.txt"), "vocab.txt", name_or_path)
        return build(legacy.read_wordpiece_vocab(path), added_tokens, kwargs)

    @classmethod
    def state_from_kwargs(cls, kwargs, vocab=None, merges=None):
        if vocab is None and kwargs.get("vocab_file"):
            vocab = legacy.read_wordpiece_vocab(kwargs["vocab_file"])
        if vocab is None:
            vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
        return build(vocab, [], kwargs)

    @classmethod
    def rebuild_state(cls, state, kwargs):
        model = state.get("model") or {}
        if model.get("type") != "WordPiece":
            return state
        return legacy.keep_settings(build(model["vocab"], state.get("added_tokens", []), kwargs), state)


BertTokenizerFast = BertTokenizer  # in the reference too, every tokenizer here is a "fast" one
ElectraTokenizer = ElectraTokenizerFast = BertTokenizer  # the reference's ELECTRA names for this class


def wordpiece_state(vocab: dict, added_tokens: list, kwargs: dict) -> dict:
    """BERT's WordPiece pipeline (also MPNet's) without specials or template; honours do_lower_case,
    tokenize_chinese_chars, strip_accents."""
    state = legacy.empty_json()
    state["added_tokens"] = list(added_tokens)
    state["normalizer"] = {"type": "BertNormalizer", "clean_text": True,
                           "handle_chinese_chars": kwargs.get("tokenize_chinese_chars", True),
                           "strip_accents": kwargs.get("strip_accents"),
                           "lowercase": kwargs.get("do_lower_case", True)}
    state["pre_tokenizer"] = {"type": "BertPreTokenizer"}
    state["decoder"] = {"type": "WordPiece", "prefix": "##", "cleanup": True}
    state["model"] = {"type": "WordPiece", "unk_token": legacy.tok(kwargs, "unk_token", "[UNK]"),
                      "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab}
    return state


def build(vocab: dict, added_tokens: list, kwargs: dict) -> dict:
    state = wordpiece_state(vocab, added_tokens, kwargs)
    ids = legacy.SpecialIds(state, vocab, len(vocab))
    legacy.register_specials(ids, kwargs, DEFAULTS)
    cls, sep = legacy.tok(kwargs, "cls_token", "[CLS]"), legacy.tok(kwargs, "sep_token", "[SEP]")
    cls_id = ids.get(cls) if ids.get(cls) is not None else 2
    sep_id = ids.get(sep) if ids.get(sep) is not None else 3
    state["post_processor"] = legacy.template_processing(
        [f"{cls}:0", "$A:0", f"{sep}:0"], [f"{cls}:0", "$A:0", f"{sep}:0", "$B:1", f"{sep}:1"],
        {cls: cls_id, sep: sep_id})
    return state
