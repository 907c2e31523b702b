"""Turn legacy vocabulary files into a tokenizer.json *dict* for the engine.

The reference builds each model family's pipeline in code (BERT: BertNormalizer + BertPreTokenizer +
WordPiece; GPT-2 / RoBERTa: byte-level BPE; Llama: Metaspace + byte-fallback BPE; T5: Unigram) and
feeds it a vocabulary read either from legacy files (vocab.txt, vocab.json + merges.txt, a SentencePiece
.model) or from an existing tokenizer.json. We do the same, producing the JSON the engine reads, so the
result can be checked against `tokenizers.Tokenizer.from_str` too.
"""

from __future__ import annotations

import json

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


def template_processing(single: list, pair: list, special_ids: dict[str, int]) -> dict:
    """single / pair: lists of "$A:0"-style strings or "token:type" strings, as in the `tokenizers` API."""

    def convert(items):
        out = []
        for item in items:
            piece, sep, type_id = item.rpartition(":")
            if not sep or not type_id.isdigit():
                piece, type_id = item, "0"
            if piece in ("$A", "$B", "$"):
                out.append({"Sequence": {"id": "B" if piece == "$B" else "A", "type_id": int(type_id)}})
            else:
                out.append({"SpecialToken": {"id": piece, "type_id": int(type_id)}})
        return out

    specials = {tok: {"id": tok, "ids": [index], "tokens": [tok]} for tok, index in special_ids.items()}
    return {"type": "TemplateProcessing", "single": convert(single), "pair": convert(pair), "special_tokens": specials}


def bos_eos_template(bos: str | None, bos_id, eos: str | None, eos_id) -> dict:
    """The reference's `[bos] $A [eos]` / `[bos] $A [eos] [bos] $B [eos]` post-processor."""
    single = ([f"{bos}:0"] if bos else []) + ["$A:0"] + ([f"{eos}:0"] if eos else [])
    pair = single + ([f"{bos}:1"] if bos else []) + ["$B:1"] + ([f"{eos}:1"] if eos else [])
    special = {}
    if bos:
        special[bos] = bos_id
    if eos:
        special[eos] = eos_id
    return template_processing(single, pair, special)


def _byte_level(add_prefix_space: bool, trim_offsets: bool = True) -> dict:
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets,
            "use_regex": True}


def _bpe_model(vocab, merges, **options) -> dict:
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
             "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False}
    model.update(options)
    model["vocab"] = vocab
    model["merges"] = merges
    return model


def _empty_json() -> dict:
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
            "pre_tokenizer": None, "post_processor": None, "decoder": None, "model": None}


class _Ids:
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


def _register_specials(ids: _Ids, kwargs: dict, defaults: dict):
    from .special_tokens import SPECIAL_TOKENS_ATTRIBUTES

    for name in SPECIAL_TOKENS_ATTRIBUTES:
        value = kwargs.get(name, defaults.get(name))
        if value is not None:
            ids.ensure_special(str(getattr(value, "content", value)))
    extras = kwargs.get("extra_special_tokens") or kwargs.get("additional_special_tokens") or []
    for value in extras if isinstance(extras, (list, tuple)) else []:
        ids.ensure_special(str(getattr(value, "content", value)))


def _tok(kwargs, name, default):
    value = kwargs.get(name, default)
    return None if value is None else str(getattr(value, "content", value))


# ---- family builders: (vocab, merges/scores, added_tokens, kwargs) → tokenizer.json dict -------------
def build_bert(vocab: dict, added_tokens: list, kwargs: dict, **_) -> dict:
    defaults = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                "mask_token": "[MASK]"}
    state = _empty_json()
    state["added_tokens"] = list(added_tokens)
    state["normalizer"] = {"type": "BertNormalizer", "clean_text": True,
                           "handle_chinese_chars": kwargs.get("tokenize_chinese_chars", True),
                           "strip_accents": kwargs.get("strip_accents"),
                           "lowercase": kwargs.get("do_lower_case", True)}
    state["pre_tokenizer"] = {"type": "BertPreTokenizer"}
    state["decoder"] = {"type": "WordPiece", "prefix": "##", "cleanup": True}
    state["model"] = {"type": "WordPiece", "unk_token": _tok(kwargs, "unk_token", "[UNK]"),
                      "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab}
    ids = _Ids(state, vocab, len(vocab))
    _register_specials(ids, kwargs, defaults)
    cls, sep = _tok(kwargs, "cls_token", "[CLS]"), _tok(kwargs, "sep_token", "[SEP]")
    cls_id = ids.get(cls) if ids.get(cls) is not None else 2
    sep_id = ids.get(sep) if ids.get(sep) is not None else 3
    state["post_processor"] = template_processing(
        [f"{cls}:0", "$A:0", f"{sep}:0"], [f"{cls}:0", "$A:0", f"{sep}:0", "$B:1", f"{sep}:1"],
        {cls: cls_id, sep: sep_id})
    return state


def build_gpt2(vocab: dict, added_tokens: list, kwargs: dict, merges=(), post_processor=None, **_) -> dict:
    defaults = {"unk_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
    add_prefix_space = bool(kwargs.get("add_prefix_space", False))
    state = _empty_json()
    state["added_tokens"] = list(added_tokens)
    state["pre_tokenizer"] = _byte_level(add_prefix_space)
    state["decoder"] = _byte_level(True)
    state["model"] = _bpe_model(vocab, list(merges))
    ids = _Ids(state, vocab, len(vocab))
    _register_specials(ids, kwargs, defaults)
    state["post_processor"] = post_processor or _flags_template(ids, kwargs, defaults)
    return state


def build_roberta(vocab: dict, added_tokens: list, kwargs: dict, merges=(), **_) -> dict:
    defaults = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
    add_prefix_space = bool(kwargs.get("add_prefix_space", False))
    trim_offsets = bool(kwargs.get("trim_offsets", True))
    state = _empty_json()
    state["added_tokens"] = list(added_tokens)
    state["pre_tokenizer"] = _byte_level(add_prefix_space)
    state["decoder"] = _byte_level(True)
    state["model"] = _bpe_model(vocab, list(merges))
    ids = _Ids(state, vocab, len(vocab))
    _register_specials(ids, kwargs, defaults)
    sep, cls = _tok(kwargs, "sep_token", "</s>"), _tok(kwargs, "cls_token", "<s>")
    state["post_processor"] = {"type": "RobertaProcessing", "sep": [sep, ids.get(sep)], "cls": [cls, ids.get(cls)],
                               "trim_offsets": trim_offsets, "add_prefix_space": add_prefix_space}
    return state


def _flags_template(ids: _Ids, kwargs: dict, defaults: dict) -> dict:
    bos = _tok(kwargs, "bos_token", defaults.get("bos_token")) if kwargs.get("add_bos_token") else None
    eos = _tok(kwargs, "eos_token", defaults.get("eos_token")) if kwargs.get("add_eos_token") else None
    return bos_eos_template(bos, ids.get(bos), eos, ids.get(eos))


def build_llama(vocab: dict, added_tokens: list, kwargs: dict, merges=(), post_processor=None, **_) -> dict:
    defaults = {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
    add_prefix_space = kwargs.get("add_prefix_space")
    add_prefix_space = True if add_prefix_space is None else bool(add_prefix_space)
    legacy = kwargs.get("legacy", False)
    prepend = ("always" if legacy else "first") if add_prefix_space else "never"
    state = _empty_json()
    state["added_tokens"] = list(added_tokens)
    state["pre_tokenizer"] = {"type": "Metaspace", "replacement": SPIECE_UNDERLINE, "prepend_scheme": prepend,
                              "split": False}
    decoders = [{"type": "Replace", "pattern": {"String": SPIECE_UNDERLINE}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}]
    if add_prefix_space:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    state["decoder"] = {"type": "Sequence", "decoders": decoders}
    state["model"] = _bpe_model(vocab, list(merges), continuing_subword_prefix=None, end_of_word_suffix=None,
                                fuse_unk=True, byte_fallback=True)
    ids = _Ids(state, vocab, len(vocab))
    _register_specials(ids, kwargs, defaults)
    explicit = "add_bos_token" in kwargs or "add_eos_token" in kwargs
    state["post_processor"] = post_processor if post_processor and not explicit else _flags_template(ids, kwargs, defaults)
    return state


def build_t5(scores: list, added_tokens: list, kwargs: dict, precompiled_charsmap: str | None = None, **_) -> dict:
    defaults = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    state = _empty_json()
    state["added_tokens"] = list(added_tokens)
    if precompiled_charsmap:
        state["normalizer"] = {"type": "Precompiled", "precompiled_charsmap": precompiled_charsmap}
    metaspace = {"type": "Metaspace", "replacement": SPIECE_UNDERLINE, "prepend_scheme": "always", "split": True}
    state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, metaspace]}
    state["decoder"] = dict(metaspace)
    state["model"] = {"type": "Unigram", "unk_id": 2, "vocab": [list(item) for item in scores], "byte_fallback": False}
    vocab_ids = {}
    for index, (piece, _) in enumerate(scores):
        vocab_ids.setdefault(piece, index)
    ids = _Ids(state, vocab_ids, len(scores))
    _register_specials(ids, kwargs, defaults)
    eos = _tok(kwargs, "eos_token", "</s>")
    state["post_processor"] = template_processing(["$A", "</s>"], ["$A", "</s>", "$B", "</s>"],
                                                  {"</s>": ids.get("</s>")} if eos else {})
    return state


def _metaspace_unigram(scores: list, unk_id: int, add_prefix_space, normalizer, added_tokens: list) -> dict:
    """The SentencePiece-Unigram pipeline XLM-R and ALBERT share: split on whitespace, ▁ for spaces."""
    prepend = "always" if (True if add_prefix_space is None else bool(add_prefix_space)) else "never"
    metaspace = {"type": "Metaspace", "replacement": SPIECE_UNDERLINE, "prepend_scheme": prepend, "split": True}
    state = _empty_json()
    state["added_tokens"] = list(added_tokens)
    state["normalizer"] = normalizer
    state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, metaspace]}
    state["decoder"] = dict(metaspace)
    state["model"] = {"type": "Unigram", "unk_id": unk_id, "vocab": [list(item) for item in scores],
                      "byte_fallback": False}
    return state


def _unigram_ids(state: dict, scores: list) -> _Ids:
    vocab_ids = {}
    for index, (piece, _) in enumerate(scores):
        vocab_ids.setdefault(piece, index)
    return _Ids(state, vocab_ids, len(scores))


def fairseq_layout(scores: list, kwargs: dict) -> list:
    """XLM-R's ids: fairseq puts <s> <pad> </s> <unk> first, then the SentencePiece pieces from id 3 on
    (so every piece id moves up by one), and <mask> last."""
    first = [(_tok(kwargs, name, default), 0.0) for name, default in
             (("bos_token", "<s>"), ("pad_token", "<pad>"), ("eos_token", "</s>"), ("unk_token", "<unk>"))]
    return first + [tuple(item) for item in scores[3:]] + [(_tok(kwargs, "mask_token", "<mask>"), 0.0)]


def build_xlm_roberta(scores: list, added_tokens: list, kwargs: dict, precompiled_charsmap: str | None = None,
                      **_) -> dict:
    """`scores` already in fairseq layout (a tokenizer.json's, or `fairseq_layout` of a .model's pieces)."""
    defaults = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
    normalizer = {"type": "Precompiled", "precompiled_charsmap": precompiled_charsmap} if precompiled_charsmap else None
    state = _metaspace_unigram(scores, 3, kwargs.get("add_prefix_space"), normalizer, added_tokens)
    ids = _unigram_ids(state, scores)
    _register_specials(ids, kwargs, defaults)
    # Always the family's own template (the reference sets it after reading any tokenizer.json).
    bos, eos = _tok(kwargs, "bos_token", "<s>"), _tok(kwargs, "eos_token", "</s>")
    state["post_processor"] = template_processing([bos, "$A", eos], [bos, "$A", eos, eos, "$B", eos],
                                                  {bos: ids.get(bos), eos: ids.get(eos)})
    return state


def build_albert(scores: list, added_tokens: list, kwargs: dict, precompiled_charsmap: str | None = None,
                 post_processor=None, **_) -> dict:
    defaults = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]",
                "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    steps = [{"type": "Replace", "pattern": {"String": "``"}, "content": '"'},
             {"type": "Replace", "pattern": {"String": "''"}, "content": '"'}]
    if not kwargs.get("keep_accents", False):
        steps += [{"type": "NFKD"}, {"type": "StripAccents"}]
    if kwargs.get("do_lower_case", True):
        steps.append({"type": "Lowercase"})
    if precompiled_charsmap:
        steps.append({"type": "Precompiled", "precompiled_charsmap": precompiled_charsmap})
    # unk_id is 1 whatever the vocabulary says: ALBERT's own layout is <pad> <unk> [CLS] [SEP] [MASK].
    state = _metaspace_unigram(scores, 1, kwargs.get("add_prefix_space"), {"type": "Sequence", "normalizers": steps},
                               added_tokens)
    ids = _unigram_ids(state, scores)
    cls_id, sep_id = ids.get(_tok(kwargs, "cls_token", "[CLS]")), ids.get(_tok(kwargs, "sep_token", "[SEP]"))
    _register_specials(ids, kwargs, defaults)
    if post_processor is None:
        if cls_id is None or sep_id is None:
            raise ValueError("An ALBERT vocabulary must hold its cls_token and sep_token ([CLS] and [SEP]); "
                             "pass cls_token= / sep_token= naming pieces of the SentencePiece model.")
        # The template names the tokens "[CLS]" / "[SEP]" whatever cls_token / sep_token are.
        post_processor = template_processing(["[CLS]:0", "$A:0", "[SEP]:0"],
                                             ["[CLS]:0", "$A:0", "[SEP]:0", "$B:1", "[SEP]:1"],
                                             {"[CLS]": cls_id, "[SEP]": sep_id})
    state["post_processor"] = post_processor
    return state


QWEN2_SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                       r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def build_qwen2(vocab: dict, added_tokens: list, kwargs: dict, merges=(), post_processor=None, **_) -> dict:
    """Qwen2's byte-level BPE: NFC, its own split regex, then bytes to characters without GPT-2's regex."""
    defaults = {"unk_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    state = _empty_json()
    state["added_tokens"] = list(added_tokens)
    state["normalizer"] = {"type": "NFC"}
    state["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": bool(kwargs.get("add_prefix_space") or False),
         "trim_offsets": True, "use_regex": False}]}
    state["decoder"] = _byte_level(True)
    state["model"] = _bpe_model(vocab, list(merges))
    ids = _Ids(state, vocab, len(vocab))
    _register_specials(ids, kwargs, defaults)
    state["post_processor"] = post_processor
    return state


BUILDERS = {"bert": build_bert, "gpt2": build_gpt2, "roberta": build_roberta, "llama": build_llama, "t5": build_t5,
            "xlm_roberta": build_xlm_roberta, "albert": build_albert, "qwen2": build_qwen2}


# ---- SentencePiece ---------------------------------------------------------------------------------
def sentencepiece_inputs(path: str, family: str, kwargs: dict) -> dict:
    """Read a .model file into builder inputs; also fills kwargs defaults (special tokens) like the reference."""
    import base64

    from .sentencepiece_model import BPE as SPM_BPE, CONTROL, USER_DEFINED, load_sentencepiece_model

    model = load_sentencepiece_model(path)
    spec = model.trainer_spec
    specials = [p for p in model.pieces if p.type in (CONTROL, USER_DEFINED)]
    extra = [{"content": p.piece, "special": p.type == CONTROL} for p in specials]
    charsmap = model.normalizer_spec.precompiled_charsmap
    out = {"precompiled_charsmap": base64.b64encode(charsmap).decode() if charsmap else None}
    if family == "t5":
        extra_ids = kwargs.get("extra_ids", 100)
        scores = [(p.piece, p.score) for p in model.pieces]
        listed = kwargs.get("extra_special_tokens") or kwargs.get("additional_special_tokens")
        if listed is None:
            listed = [e["content"] for e in extra]
            if not any("<extra_id_" in str(t) for t in listed):
                listed = listed + [f"<extra_id_{i}>" for i in range(extra_ids)]
            kwargs["extra_special_tokens"] = listed
        scores += [(f"<extra_id_{i}>", 0.0) for i in range(extra_ids - 1, -1, -1)]
        out["scores"] = scores
        return out
    if "extra_special_tokens" not in kwargs and "additional_special_tokens" not in kwargs and extra:
        kwargs["extra_special_tokens"] = [e["content"] for e in extra]
    if family in ("xlm_roberta", "albert"):  # Unigram families that keep (or reorder) the pieces' scores
        scores = [(p.piece, p.score) for p in model.pieces]
        out["scores"] = fairseq_layout(scores, kwargs) if family == "xlm_roberta" else scores
        return out
    vocab = {p.piece: index for index, p in enumerate(model.pieces)}
    out["vocab"] = vocab
    if spec.model_type == SPM_BPE or family == "llama":
        out["merges"] = merges_from_vocab(vocab)
    return out


def added_tokens_for_spm(path: str) -> list[dict]:
    """Control / user-defined pieces become added tokens (control ones special), as the reference does."""
    from .sentencepiece_model import CONTROL, USER_DEFINED, load_sentencepiece_model

    model = load_sentencepiece_model(path)
    return [added_token(i, p.piece, special=p.type == CONTROL)
            for i, p in enumerate(model.pieces) if p.type in (CONTROL, USER_DEFINED)]


def build_from_kwargs(family: str, kwargs: dict) -> dict | None:
    """Build from `vocab_file=` / `merges_file=` / `vocab=` / `merges=` given to a class constructor."""
    vocab = kwargs.pop("vocab", None)
    merges = kwargs.pop("merges", None)
    vocab_file = kwargs.get("vocab_file")
    merges_file = kwargs.get("merges_file")
    if family == "bert":
        if vocab is None and vocab_file:
            vocab = read_wordpiece_vocab(vocab_file)
        if vocab is None:
            vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
        return build_bert(vocab, [], kwargs)
    if family in ("gpt2", "roberta"):
        if vocab is None and vocab_file:
            vocab, file_merges = read_bpe_files(vocab_file, merges_file)
            merges = merges if merges is not None else file_merges
        if vocab is None:
            return None
        return BUILDERS[family](vocab, [], kwargs, merges=[list(m) for m in (merges or [])])
    if family in ("llama", "t5") and vocab_file and str(vocab_file).endswith(".model"):
        inputs = sentencepiece_inputs(vocab_file, family, kwargs)
        if family == "t5":
            return build_t5(inputs["scores"], added_tokens_for_spm(vocab_file), kwargs,
                            precompiled_charsmap=inputs["precompiled_charsmap"])
        return build_llama(inputs["vocab"], added_tokens_for_spm(vocab_file), kwargs, merges=inputs.get("merges", []))
    if family in ("xlm_roberta", "albert") and vocab_file and str(vocab_file).endswith(".model"):
        inputs = sentencepiece_inputs(vocab_file, family, kwargs)
        return BUILDERS[family](inputs["scores"], [], kwargs, precompiled_charsmap=inputs["precompiled_charsmap"])
    if family == "qwen2":
        if vocab is None and vocab_file:
            vocab, file_merges = read_bpe_files(vocab_file, merges_file)
            merges = merges if merges is not None else file_merges
        if vocab is None:
            return None
        return build_qwen2(vocab, [], kwargs, merges=[list(m) for m in (merges or [])])
    return None
