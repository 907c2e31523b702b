"""mBART-50: mBART's vocabulary layout with 52 language codes; ``src_lang X </s>`` order.

Unlike mbart.py, the language code comes *first* (``en_XX X </s>``, and ``tgt_lang X </s>`` for
labels), the SentencePiece charsmap normalizes the text (then runs of spaces become one), and a
tokenizer.json vocabulary without language codes is put in fairseq's layout first.
"""

from __future__ import annotations

from .. import legacy
from .mbart import FAIRSEQ_LANGUAGE_CODES as _MBART25_CODES
from .mbart import DEFAULTS as _MBART_DEFAULTS
from .mbart import MBartTokenizer

FAIRSEQ_LANGUAGE_CODES = _MBART25_CODES + [
    "af_ZA", "az_AZ", "bn_IN", "fa_IR", "he_IL", "hr_HR", "id_ID", "ka_GE", "km_KH", "mk_MK", "ml_IN", "mn_MN",
    "mr_IN", "pl_PL", "ps_AF", "pt_XX", "sv_SE", "sw_KE", "ta_IN", "te_IN", "th_TH", "tl_XX", "uk_UA", "ur_PK",
    "xh_ZA", "gl_ES", "sl_SI"]


class MBart50Tokenizer(MBartTokenizer):
    """mBART-50: ``lang_code X </s>`` (see the module docstring)."""

    # no bos_token: the reference's mBART-50 class has none ("<s>" is an extra special token there)
    default_special_tokens = {k: v for k, v in _MBART_DEFAULTS.items() if k != "bos_token"}
    model_types = ()  # mBART-50 checkpoints say model_type "mbart": their tokenizer_config names this class
    language_codes = FAIRSEQ_LANGUAGE_CODES

    @classmethod
    def _extra_tokens(cls, given) -> list:
        """The reference's additional special tokens: the ones given, then the language codes."""
        codes = set(cls.language_codes)
        return [t for t in given if str(t) not in codes] + list(cls.language_codes)

    def set_src_lang_special_tokens(self, src_lang: str):
        """Prefix ``src_lang``, suffix ``</s>``."""
        self._lang_id(src_lang)
        self.cur_lang_code_id = self.convert_tokens_to_ids(src_lang)
        self._set_template([src_lang], [str(self.eos_token)])

    def set_tgt_lang_special_tokens(self, tgt_lang: str):
        """Prefix ``tgt_lang``, suffix ``</s>``."""
        self._lang_id(tgt_lang)
        self.cur_lang_code_id = self.convert_tokens_to_ids(tgt_lang)
        self._set_template([tgt_lang], [str(self.eos_token)])

    @classmethod
    def vocabulary_of_file(cls, scores: list, kwargs: dict) -> list:
        # a vocabulary without the codes is a bare SentencePiece one: the reference lays it out first
        pieces = {piece for piece, _ in scores}
        return scores if any(code in pieces for code in cls.language_codes) else cls.fairseq_layout(scores, kwargs)

    @classmethod
    def pipeline(cls, state: dict, charsmap):
        steps = [{"type": "Precompiled", "precompiled_charsmap": charsmap}] if charsmap else []
        state["normalizer"] = {"type": "Sequence", "normalizers": steps + [
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
        state["pre_tokenizer"] = {"type": "Metaspace", "replacement": legacy.SPIECE_UNDERLINE,
                                  "prepend_scheme": "always", "split": True}


MBart50TokenizerFast = MBart50Tokenizer
