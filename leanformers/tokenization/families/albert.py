"""ALBERT: SentencePiece Unigram with [CLS] A [SEP] (B [SEP]); honours do_lower_case and keep_accents."""

from __future__ import annotations

from .. import legacy
from ._sentencepiece import SentencePieceUnigramTokenizer

DEFAULTS = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]",
            "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": "[MASK]"}


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


class AlbertTokenizer(SentencePieceUnigramTokenizer):
    """SentencePiece Unigram with [CLS] A [SEP] (B [SEP]); honours do_lower_case and keep_accents."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "spiece.model", "tokenizer_file": "tokenizer.json"}
    model_types = ("albert",)

    keeps_post_processor = True
    read = staticmethod(_read)
    build = staticmethod(build)


AlbertTokenizerFast = AlbertTokenizer
