"""mBART: SentencePiece Unigram in fairseq's id layout, plus 25 language-code tokens.

The ids are fairseq's: ``<s> <pad> </s> <unk>`` first, then the SentencePiece pieces from id 3 on, then
the language codes (``en_XX`` ...) and ``<mask>`` last. A source text ends ``X </s> src_lang``; with
``text_target`` the labels end ``X </s> tgt_lang`` (the model wraps that code around to the front of
its decoder input). As in the reference, the pipeline is always the family's own (no normalizer,
whitespace split, "▁" before each word): a tokenizer.json only contributes its vocabulary and added
tokens. mbart50.py differs in the layout of the codes and in the normalizer.
"""

from __future__ import annotations

from .. import legacy
from . import FamilyTokenizer

FAIRSEQ_LANGUAGE_CODES = ["ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN", "hi_IN",
                          "it_IT", "ja_XX", "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP", "nl_XX", "ro_RO",
                          "ru_RU", "si_LK", "tr_TR", "vi_VN", "zh_CN"]
DEFAULTS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>",
            "pad_token": "<pad>", "mask_token": "<mask>"}
_METASPACE = {"type": "Metaspace", "replacement": legacy.SPIECE_UNDERLINE, "prepend_scheme": "always", "split": True}


class MBartTokenizer(FamilyTokenizer):
    """fairseq-layout SentencePiece Unigram with ``X </s> lang_code`` (see the module docstring)."""

    default_special_tokens = DEFAULTS
    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": "tokenizer.json"}
    model_types = ("mbart",)
    model_input_names = ["input_ids", "attention_mask"]
    language_codes = FAIRSEQ_LANGUAGE_CODES

    def __init__(self, *args, src_lang=None, tgt_lang=None, **kwargs):
        kwargs["extra_special_tokens"] = self._extra_tokens(kwargs.pop("extra_special_tokens", None)
                                                            or kwargs.pop("additional_special_tokens", None) or [])
        super().__init__(*args, src_lang=src_lang, tgt_lang=tgt_lang, **kwargs)
        missing = [code for code in self.language_codes if self._tokenizer.token_to_id(code) is None]
        if missing:
            raise ValueError(f"{type(self).__name__}'s vocabulary lacks the language codes {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''}; it is not an mBART vocabulary.")
        self.lang_code_to_id = {code: self.convert_tokens_to_ids(code) for code in self.language_codes}
        self.id_to_lang_code = {i: code for code, i in self.lang_code_to_id.items()}
        self.fairseq_offset = 1
        self._src_lang = src_lang if src_lang is not None else "en_XX"
        self.tgt_lang = tgt_lang
        self.set_src_lang_special_tokens(self._src_lang)

    @classmethod
    def _extra_tokens(cls, given) -> list:
        """The reference's additional special tokens: the language codes, then the ones given."""
        codes = set(cls.language_codes)
        return list(cls.language_codes) + [t for t in given if str(t) not in codes]

    # ---- languages -----------------------------------------------------------------------------
    @property
    def src_lang(self) -> str:
        return self._src_lang

    @src_lang.setter
    def src_lang(self, value: str):
        self._src_lang = value
        self.set_src_lang_special_tokens(value)

    def _lang_id(self, lang: str) -> int:
        index = self._tokenizer.token_to_id(lang)
        if index is None:
            raise ValueError(f"{lang!r} is not a language code of this tokenizer; known: "
                             f"{', '.join(self.language_codes)}.")
        return index

    def _set_template(self, prefix: list[str], suffix: list[str]):
        ids = {token: self._lang_id(token) if token in self.lang_code_to_id else self.convert_tokens_to_ids(token)
               for token in prefix + suffix}
        self.prefix_tokens = [ids[t] for t in prefix]
        self.suffix_tokens = [ids[t] for t in suffix]
        self._set_post_processor_json(legacy.template_processing(prefix + ["$A"] + suffix,
                                                                 prefix + ["$A", "$B"] + suffix, ids))

    def set_src_lang_special_tokens(self, src_lang: str):
        """No prefix; suffix ``</s> src_lang``."""
        self._lang_id(src_lang)
        self.cur_lang_code = self.convert_tokens_to_ids(src_lang)
        self._set_template([], [str(self.eos_token), src_lang])

    def set_tgt_lang_special_tokens(self, lang: str):
        """No prefix; suffix ``</s> tgt_lang``."""
        self._lang_id(lang)
        self.cur_lang_code = self.convert_tokens_to_ids(lang)
        self._set_template([], [str(self.eos_token), lang])

    def _switch_to_input_mode(self):
        self.set_src_lang_special_tokens(self.src_lang)

    def _switch_to_target_mode(self):
        if self.tgt_lang is None:
            self.tgt_lang = self._src_lang
        self.set_tgt_lang_special_tokens(self.tgt_lang)

    def __call__(self, text=None, text_pair=None, text_target=None, text_pair_target=None, **kwargs):
        """``text_target`` (the labels) is encoded with the target language's code."""
        if text_target is None and text_pair_target is None:
            return super().__call__(text, text_pair, **kwargs)
        return self._call_with_targets(text, text_pair, text_target, text_pair_target, kwargs)

    def _build_translation_inputs(self, raw_inputs, return_tensors, src_lang, tgt_lang, **extra_kwargs):
        """What the translation pipeline feeds generate(): the source encoded in src_lang, and the target
        language's code as ``forced_bos_token_id``."""
        if src_lang is None or tgt_lang is None:
            raise ValueError("Translation requires a `src_lang` and a `tgt_lang` for this model")
        self.src_lang = src_lang
        inputs = self(raw_inputs, add_special_tokens=True, return_tensors=return_tensors, **extra_kwargs)
        inputs["forced_bos_token_id"] = self._lang_id(tgt_lang)
        return inputs

    # ---- building ------------------------------------------------------------------------------
    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        return cls._from_sentencepiece(cls.find_sentencepiece(find, name_or_path), added_tokens, kwargs)

    @classmethod
    def state_from_kwargs(cls, kwargs, vocab=None, merges=None):
        path = kwargs.get("vocab_file")
        if vocab is not None:
            return cls.build([tuple(v) for v in vocab], [], kwargs)
        if not (path and str(path).endswith(".model")):
            return None
        return cls._from_sentencepiece(path, [], kwargs)

    @classmethod
    def _from_sentencepiece(cls, path, added_tokens, kwargs):
        model, charsmap = legacy.read_sentencepiece(path, kwargs)
        return cls.build(cls.fairseq_layout([(p.piece, p.score) for p in model.pieces], kwargs), added_tokens,
                         kwargs, charsmap)

    @classmethod
    def rebuild_state(cls, state, kwargs):
        model = state.get("model") or {}
        if model.get("type") != "Unigram":
            return state
        built = cls.build(cls.vocabulary_of_file([tuple(v) for v in model["vocab"]], kwargs),
                          state.get("added_tokens", []), kwargs, legacy.precompiled_charsmap(state))
        return legacy.keep_settings(built, state)

    @classmethod
    def vocabulary_of_file(cls, scores: list, kwargs: dict) -> list:
        """A tokenizer.json's vocabulary as the reference takes it (mBART: as it is)."""
        return scores

    @classmethod
    def fairseq_layout(cls, scores: list, kwargs: dict) -> list:
        """fairseq's ids around a .model's pieces: <s> <pad> </s> <unk>, the pieces from id 3 on, the
        language codes, <mask>."""
        first = [(legacy.tok(kwargs, name, DEFAULTS[name]), 0.0)
                 for name in ("bos_token", "pad_token", "eos_token", "unk_token")]
        return (first + [tuple(item) for item in scores[3:]] + [(code, 0.0) for code in cls.language_codes]
                + [(legacy.tok(kwargs, "mask_token", "<mask>"), 0.0)])

    @classmethod
    def pipeline(cls, state: dict, charsmap):
        """mBART's own normalizer (none: the reference drops the SentencePiece charsmap) and pre-tokenizer."""
        state["normalizer"] = None
        state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, dict(_METASPACE)]}

    @classmethod
    def build(cls, scores: list, added_tokens: list, kwargs: dict, charsmap=None) -> dict:
        state = legacy.empty_json()
        state["added_tokens"] = [dict(t) for t in added_tokens]
        cls.pipeline(state, charsmap)
        state["decoder"] = dict(_METASPACE)
        state["model"] = {"type": "Unigram", "unk_id": 3, "vocab": [list(item) for item in scores],
                          "byte_fallback": False}
        given = {t["content"] for t in added_tokens}
        ids = legacy.unigram_ids(state, scores)
        legacy.register_specials(ids, kwargs, cls.default_special_tokens)
        for code in cls.language_codes:
            ids.ensure_special(code)
        mask = legacy.tok(kwargs, "mask_token", "<mask>")
        for token in state["added_tokens"]:
            if token["content"] == mask and mask not in given:
                token["lstrip"] = True  # "a <mask>" takes the space before the mask, as the reference's
        return state


MBartTokenizerFast = MBartTokenizer
