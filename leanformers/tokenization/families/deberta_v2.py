"""DeBERTa-v2/v3: SentencePiece Unigram with [CLS] A [SEP] (B [SEP]) and its own normalizer."""

from __future__ import annotations

from .. import legacy
from . import FamilyTokenizer

DEFAULTS = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]",
            "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}


class DebertaV2Tokenizer(FamilyTokenizer):
    """SentencePiece Unigram (the .model's pieces in their order) with [CLS] A [SEP] (B [SEP]); whitespace
    runs, tabs and newlines become one space, NFC, trailing spaces stripped; honours do_lower_case,
    split_by_punct and add_prefix_space."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "spm.model", "tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask", "token_type_ids"]
    model_types = ("deberta-v2",)
    legacy_files = ("spm.model",)

    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        path = cls.find_sentencepiece(find, name_or_path)
        scores, unk_id = _read(path, kwargs)
        return build(scores, legacy.merge_added(added_tokens, path), kwargs, unk_id)

    @classmethod
    def state_from_kwargs(cls, kwargs, vocab=None, merges=None):
        path = kwargs.get("vocab_file")
        if not (path and str(path).endswith(".model")):
            return None
        scores, unk_id = _read(path, kwargs)
        return build(scores, legacy.added_tokens_for_spm(path), kwargs, unk_id)

    @classmethod
    def rebuild_state(cls, state, kwargs):
        model = state.get("model") or {}
        if model.get("type") != "Unigram":
            return state
        # the reference rebuilds the model from the vocabulary alone: the file's unk_id is not read
        built = build([tuple(v) for v in model["vocab"]], state.get("added_tokens", []), kwargs,
                      kwargs.get("unk_id", 1))
        return legacy.keep_settings(built, state)


DebertaV2TokenizerFast = DebertaV2Tokenizer


def _read(path, kwargs):
    """The .model's pieces as they are, and its unk id (its control pieces become extra special tokens).
    The reference drops the model's own normalizer (no precompiled charsmap) for the family's."""
    model, _ = legacy.read_sentencepiece(path, kwargs)
    return [(p.piece, p.score) for p in model.pieces], model.trainer_spec.unk_id


def build(scores: list, added_tokens: list, kwargs: dict, unk_id: int) -> dict:
    """The unk id is unk_token's place in the vocabulary (with score 0) when it is there, else `unk_id`."""
    unk = legacy.tok(kwargs, "unk_token", "[UNK]")
    listed = [i for i, (piece, score) in enumerate(scores) if piece == unk and score == 0.0]
    state = legacy.empty_json()
    state["added_tokens"] = list(added_tokens)
    steps = [{"type": "Lowercase"}] if kwargs.get("do_lower_case", False) else []
    steps += [{"type": "Replace", "pattern": {"Regex": r"\s{2,}|[\n\r\t]"}, "content": " "}, {"type": "NFC"},
              {"type": "Strip", "strip_left": False, "strip_right": True}]
    state["normalizer"] = {"type": "Sequence", "normalizers": steps}
    prepend = "always" if kwargs.get("add_prefix_space", True) else "first"
    metaspace = {"type": "Metaspace", "replacement": legacy.SPIECE_UNDERLINE, "prepend_scheme": prepend,
                 "split": True}
    pre = [{"type": "Punctuation", "behavior": "Isolated"}] if kwargs.get("split_by_punct", False) else []
    state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": pre + [metaspace]}
    state["decoder"] = dict(metaspace)
    state["model"] = {"type": "Unigram", "unk_id": listed[0] if listed else unk_id,
                      "vocab": [list(item) for item in scores], "byte_fallback": False}
    ids = legacy.unigram_ids(state, scores)
    legacy.register_specials(ids, kwargs, DEFAULTS)
    # a special token that is a user-defined piece of the .model ([MASK] in v3) is special all the same
    named = {legacy.tok(kwargs, name, default) for name, default in DEFAULTS.items()}
    for token in state["added_tokens"]:
        if token["content"] in named:
            token["special"] = True
    cls, sep = legacy.tok(kwargs, "cls_token", "[CLS]"), legacy.tok(kwargs, "sep_token", "[SEP]")
    cls_id = ids.get(cls) if ids.get(cls) is not None else 0
    sep_id = ids.get(sep) if ids.get(sep) is not None else 0
    state["post_processor"] = legacy.template_processing(
        [f"{cls}:0", "$A:0", f"{sep}:0"], [f"{cls}:0", "$A:0", f"{sep}:0", "$B:1", f"{sep}:1"],
        {cls: cls_id, sep: sep_id})
    return state
