"""Llama: SentencePiece-style BPE with byte fallback (Metaspace pre-tokenizer); pads on the left."""

from __future__ import annotations

from .. import legacy
from . import FamilyTokenizer

DEFAULTS = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}


class LlamaTokenizer(FamilyTokenizer):
    """SentencePiece-style BPE with byte fallback (Metaspace pre-tokenizer); pads on the left."""

    default_special_tokens = DEFAULTS
    padding_side = "left"
    vocab_files_names = {"vocab_file": "tokenizer.model", "tokenizer_file": "tokenizer.json"}
    model_types = ("llama",)
    legacy_files = ("tokenizer.model",)

    @classmethod
    def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
        path = cls.find_sentencepiece(find, name_or_path)
        return _from_sentencepiece(path, legacy.merge_added(added_tokens, path), kwargs)

    @classmethod
    def state_from_kwargs(cls, kwargs, vocab=None, merges=None):
        path = kwargs.get("vocab_file")
        if not (path and str(path).endswith(".model")):
            return None
        return _from_sentencepiece(path, legacy.added_tokens_for_spm(path), kwargs)

    @classmethod
    def rebuild_state(cls, state, kwargs):
        model = state.get("model") or {}
        if model.get("type") != "BPE":
            return state
        built = build(model["vocab"], state.get("added_tokens", []), kwargs, merges=model.get("merges", []),
                      post_processor=state.get("post_processor"))
        return legacy.keep_settings(built, state)

    @classmethod
    def loads_tokenizer_json_as_is(cls, text):
        # Llama-3-style repos still say LlamaTokenizer but ship a byte-level tokenizer.json, which the
        # Metaspace rebuild would ruin.
        return '"ByteLevel"' in text


LlamaTokenizerFast = LlamaTokenizer


def _from_sentencepiece(path, added_tokens, kwargs) -> dict:
    model, _ = legacy.read_sentencepiece(path, kwargs)
    vocab = {p.piece: index for index, p in enumerate(model.pieces)}
    return build(vocab, added_tokens, kwargs, merges=legacy.merges_from_vocab(vocab))


def build(vocab: dict, added_tokens: list, kwargs: dict, merges=(), post_processor=None) -> dict:
    add_prefix_space = kwargs.get("add_prefix_space")
    add_prefix_space = True if add_prefix_space is None else bool(add_prefix_space)
    prepend = ("always" if kwargs.get("legacy", False) else "first") if add_prefix_space else "never"
    state = legacy.empty_json()
    state["added_tokens"] = list(added_tokens)
    state["pre_tokenizer"] = {"type": "Metaspace", "replacement": legacy.SPIECE_UNDERLINE, "prepend_scheme": prepend,
                              "split": False}
    decoders = [{"type": "Replace", "pattern": {"String": legacy.SPIECE_UNDERLINE}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}]
    if add_prefix_space:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    state["decoder"] = {"type": "Sequence", "decoders": decoders}
    state["model"] = legacy.bpe_model(vocab, list(merges), continuing_subword_prefix=None, end_of_word_suffix=None,
                                      fuse_unk=True, byte_fallback=True)
    ids = legacy.SpecialIds(state, vocab, len(vocab))
    legacy.register_specials(ids, kwargs, DEFAULTS)
    explicit = "add_bos_token" in kwargs or "add_eos_token" in kwargs
    keep = post_processor and not explicit
    state["post_processor"] = post_processor if keep else legacy.flags_template(ids, kwargs, DEFAULTS)
    return state
