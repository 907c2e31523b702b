"""What the tokenizer families (families/*.py) build their pipelines from: legacy-file readers and
tokenizer.json components.

The reference builds each model family's pipeline in code (BERT: BertNormalizer + BertPreTokenizer +
WordPiece; GPT-2 / RoBERTa: byte-level BPE; Llama: Metaspace + byte-fallback BPE; T5: Unigram) and
feeds it a vocabulary read either from legacy files (vocab.txt, vocab.json + merges.txt, a SentencePiece
.model) or from an existing tokenizer.json. The families do the same with these pieces, producing the
JSON the engine reads, so the result can be checked against `tokenizers.Tokenizer.from_str` too.
"""

from __future__ import annotations

import json

from .special_tokens import SPECIAL_TOKENS_ATTRIBUTES
from .templates import bos_eos_template, template_processing  # noqa: F401  (the families build with these)

# (sentencepiece_model is imported only where a .model file is read: loading a tokenizer.json needs none of it)

SPIECE_UNDERLINE = "\u2581"


# ---- readers --------------------------------------------------------------------------------------
def read_wordpiece_vocab(path: str) -> dict[str, int]:
    """vocab.txt: one token per line, the id is the line number."""
    with open(path, encoding="utf-8") as f:
        return {line.rstrip("\n"): index for index, line in enumerate(f)}


def read_bpe_files(vocab_path: str, merges_path: str | None) -> tuple[dict[str, int], list[list[str]]]:
    """vocab.json (token → id) and merges.txt (one "left right" pair per line, after a #version header)."""
    with open(vocab_path, encoding="utf-8") as f:
        vocab = json.load(f)
    merges = []
    if merges_path is not None:
        with open(merges_path, encoding="utf-8") as f:
            lines = f.read().split("\n")  # text mode already turned \r\n into \n
        if lines and lines[0].startswith("#version"):
            lines = lines[1:]
        # One comprehension over 50k lines: a third of the time of a per-line loop. A line without a
        # space stays a 1-item list, which the engine reports as a malformed merge.
        merges = [line.split(" ", 1) for line in lines if line]
    return vocab, merges


def merges_from_vocab(vocab: dict[str, int], skip_tokens=()) -> list[list[str]]:
    """Recover BPE merges from a vocabulary ordered by rank (SentencePiece BPE stores no merges).

    Every split of a token into two vocabulary tokens is a merge; merges are ranked by the merged
    token's id, then by the lengths of the parts — the order the reference derives them in.
    """
    skip = set(skip_tokens)
    merges = []
    for token, rank in vocab.items():
        if token in skip:
            continue
        local = []
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in skip or right in skip:
                continue
            if left in vocab and right in vocab:
                local.append((vocab[left], vocab[right], left, right, rank))
        local.sort(key=lambda m: (m[0], m[1]))
        merges.extend(local)
    merges.sort(key=lambda m: (m[4], len(m[2]), len(m[3])))
    return [[m[2], m[3]] for m in merges]


# ---- components -----------------------------------------------------------------------------------
def added_token(index: int, content: str, *, special=True, normalized=False, lstrip=False, rstrip=False,
                single_word=False) -> dict:
    return {"id": index, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def byte_level(add_prefix_space: bool, trim_offsets: bool = True) -> dict:
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets,
            "use_regex": True}


def bpe_model(vocab, merges, **options) -> dict:
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
             "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False}
    model.update(options)
    model["vocab"] = vocab
    model["merges"] = merges
    return model


def empty_json() -> dict:
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
            "pre_tokenizer": None, "post_processor": None, "decoder": None, "model": None}


class SpecialIds:
    """Ids of tokens in the model vocabulary + added tokens, adding missing special tokens the way the
    reference's constructor does (in SPECIAL_TOKENS_ATTRIBUTES order, then the extra special tokens)."""

    def __init__(self, state: dict, vocab_ids: dict[str, int], vocab_size: int):
        self.state, self.vocab_ids = state, vocab_ids
        self.added = {t["content"]: t["id"] for t in state["added_tokens"]}
        self.next_id = max([vocab_size - 1, *self.added.values()]) + 1

    def get(self, token: str | None):
        if token is None:
            return None
        if token in self.added:
            return self.added[token]
        return self.vocab_ids.get(token)

    def ensure_special(self, token: str):
        if token is None or token in self.added:
            return
        index = self.vocab_ids.get(token)
        if index is None:
            index, self.next_id = self.next_id, self.next_id + 1
        self.state["added_tokens"].append(added_token(index, token))
        self.added[token] = index


def register_specials(ids: SpecialIds, kwargs: dict, defaults: dict):
    for name in SPECIAL_TOKENS_ATTRIBUTES:
        value = kwargs.get(name, defaults.get(name))
        if value is not None:
            ids.ensure_special(str(getattr(value, "content", value)))
    extras = kwargs.get("extra_special_tokens") or kwargs.get("additional_special_tokens") or []
    for value in extras if isinstance(extras, (list, tuple)) else []:
        ids.ensure_special(str(getattr(value, "content", value)))


def tok(kwargs, name, default):
    value = kwargs.get(name, default)
    return None if value is None else str(getattr(value, "content", value))


def flags_template(ids: SpecialIds, kwargs: dict, defaults: dict) -> dict:
    """`[bos] $A [eos]` as the add_bos_token / add_eos_token settings ask."""
    bos = tok(kwargs, "bos_token", defaults.get("bos_token")) if kwargs.get("add_bos_token") else None
    eos = tok(kwargs, "eos_token", defaults.get("eos_token")) if kwargs.get("add_eos_token") else None
    return bos_eos_template(bos, ids.get(bos), eos, ids.get(eos))


def metaspace_unigram(scores: list, unk_id: int, add_prefix_space, normalizer, added_tokens: list) -> dict:
    """The SentencePiece-Unigram pipeline XLM-R and ALBERT share: split on whitespace, ▁ for spaces."""
    prepend = "always" if (True if add_prefix_space is None else bool(add_prefix_space)) else "never"
    metaspace = {"type": "Metaspace", "replacement": SPIECE_UNDERLINE, "prepend_scheme": prepend, "split": True}
    state = empty_json()
    state["added_tokens"] = list(added_tokens)
    state["normalizer"] = normalizer
    state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, metaspace]}
    state["decoder"] = dict(metaspace)
    state["model"] = {"type": "Unigram", "unk_id": unk_id, "vocab": [list(item) for item in scores],
                      "byte_fallback": False}
    return state


def unigram_ids(state: dict, scores: list) -> SpecialIds:
    vocab_ids = {}
    for index, (piece, _) in enumerate(scores):
        vocab_ids.setdefault(piece, index)
    return SpecialIds(state, vocab_ids, len(scores))


# ---- rebuilding around a tokenizer.json ------------------------------------------------------------
def keep_settings(built: dict, state: dict) -> dict:
    """A rebuilt pipeline keeps the file's truncation and padding."""
    built["truncation"], built["padding"] = state.get("truncation"), state.get("padding")
    return built


def precompiled_charsmap(state: dict):
    """The Precompiled normalizer's charsmap in a tokenizer.json dict, if it has one."""
    normalizer = state.get("normalizer") or {}
    items = normalizer.get("normalizers", [normalizer]) if normalizer.get("type") == "Sequence" else [normalizer]
    for item in items:
        if item and item.get("type") == "Precompiled":
            return item.get("precompiled_charsmap")
    return None


def require_file(path, filename, name_or_path):
    if not path:
        raise OSError(f"Can't load the tokenizer: {name_or_path!r} has no {filename} (and no tokenizer.json).")
    return path


# ---- SentencePiece ---------------------------------------------------------------------------------
def read_sentencepiece(path: str, kwargs: dict | None = None):
    """(model, its precompiled charsmap as base64 or None) of a .model file. With `kwargs`, its special
    pieces become the default extra special tokens, as the reference does."""
    import base64

    from .sentencepiece_model import load_sentencepiece_model

    model = load_sentencepiece_model(path)
    if kwargs is not None and "extra_special_tokens" not in kwargs and "additional_special_tokens" not in kwargs:
        extra = special_pieces(model)
        if extra:
            kwargs["extra_special_tokens"] = extra
    charsmap = model.normalizer_spec.precompiled_charsmap
    return model, (base64.b64encode(charsmap).decode() if charsmap else None)


def special_pieces(model) -> list[str]:
    """The control and user-defined pieces of a SentencePiece model."""
    from .sentencepiece_model import CONTROL, USER_DEFINED

    return [p.piece for p in model.pieces if p.type in (CONTROL, USER_DEFINED)]


def added_tokens_for_spm(path: str) -> list[dict]:
    """Control / user-defined pieces become added tokens (control ones special), as the reference does."""
    from .sentencepiece_model import CONTROL, USER_DEFINED, load_sentencepiece_model

    model = load_sentencepiece_model(path)
    return [added_token(i, p.piece, special=p.type == CONTROL)
            for i, p in enumerate(model.pieces) if p.type in (CONTROL, USER_DEFINED)]


def merge_added(added_tokens: list, spm_path: str) -> list:
    """The folder's added tokens plus the .model's special pieces it does not list, by id."""
    known = {t["content"] for t in added_tokens}
    spm_added = [t for t in added_tokens_for_spm(spm_path) if t["content"] not in known]
    return sorted(added_tokens + spm_added, key=lambda t: t["id"])
