"""ALBERT: SentencePiece Unigram with [CLS] A [SEP] (B [SEP]); honours do_lower_case and keep_accents."""

from __future__ import annotations

from .. import legacy
from . import FamilyTokenizer

DEFAULTS = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]",
            "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": "[MASK]"}


class AlbertTokenizer(FamilyTokenizer):
    """SentencePiece Unigram with [CLS] A [SEP] (B [SEP]); honours do_lower_case and keep_accents."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "spiece.model", "tokenizer_file": "tokenizer.json"}
    model_types = ("albert",)

    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        # Special tokens are found by content in the vocabulary, not at their .model ids.
        path = cls.find_sentencepiece(find, name_or_path)
        scores, charsmap = _read(path, kwargs)
        return build(scores, added_tokens, kwargs, precompiled_charsmap=charsmap)

    @classmethod
    def state_from_kwargs(cls, kwargs, vocab=None, merges=None):
        path = kwargs.get("vocab_file")
        if not (path and str(path).endswith(".model")):
            return None
        scores, charsmap = _read(path, kwargs)
        return build(scores, [], kwargs, precompiled_charsmap=charsmap)

    @classmethod
    def rebuild_state(cls, state, kwargs):
        model = state.get("model") or {}
        if model.get("type") != "Unigram":
            return state
        built = build([tuple(v) for v in model["vocab"]], state.get("added_tokens", []), kwargs,
                      precompiled_charsmap=legacy.precompiled_charsmap(state),
                      post_processor=state.get("post_processor"))
        return legacy.keep_settings(built, state)


AlbertTokenizerFast = AlbertTokenizer


def _read(path, kwargs):
    model, charsmap = legacy.read_sentencepiece(path, kwargs)
    return [(p.piece, p.score) for p in model.pieces], charsmap


def build(scores: list, added_tokens: list, kwargs: dict, precompiled_charsmap: str | None = None,
          post_processor=None) -> dict:
    steps = [{"type": "Replace", "pattern": {"String": "``"}, "content": '"'},
             {"type": "Replace", "pattern": {"String": "''"}, "content": '"'}]
    if not kwargs.get("keep_accents", False):
        steps += [{"type": "NFKD"}, {"type": "StripAccents"}]
    if kwargs.get("do_lower_case", True):
        steps.append({"type": "Lowercase"})
    if precompiled_charsmap:
        steps.append({"type": "Precompiled", "precompiled_charsmap": precompiled_charsmap})
    # unk_id is 1 whatever the vocabulary says: ALBERT's own layout is <pad> <unk> [CLS] [SEP] [MASK].
    state = legacy.metaspace_unigram(scores, 1, kwargs.get("add_prefix_space"),
                                     {"type": "Sequence", "normalizers": steps}, added_tokens)
    ids = legacy.unigram_ids(state, scores)
    cls_id = ids.get(legacy.tok(kwargs, "cls_token", "[CLS]"))
    sep_id = ids.get(legacy.tok(kwargs, "sep_token", "[SEP]"))
    legacy.register_specials(ids, kwargs, DEFAULTS)
    if post_processor is None:
        if cls_id is None or sep_id is None:
            raise ValueError("An ALBERT vocabulary must hold its cls_token and sep_token ([CLS] and [SEP]); "
                             "pass cls_token= / sep_token= naming pieces of the SentencePiece model.")
        # The template names the tokens "[CLS]" / "[SEP]" whatever cls_token / sep_token are.
        post_processor = legacy.template_processing(["[CLS]:0", "$A:0", "[SEP]:0"],
                                                    ["[CLS]:0", "$A:0", "[SEP]:0", "$B:1", "[SEP]:1"],
                                                    {"[CLS]": cls_id, "[SEP]": sep_id})
    state["post_processor"] = post_processor
    return state
