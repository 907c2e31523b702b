"""A tokenizer.json dict rebuilt from a GGUF file's ``tokenizer.*`` metadata.

A GGUF carries no tokenizer.json: llama.cpp stores the vocabulary (``tokenizer.ggml.tokens``), the
token kinds (``token_type``), the merges, the special ids and the chat template as metadata. Two
kinds of tokenizer are described by ``tokenizer.ggml.model``:

- ``"gpt2"``: byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM ...). The text is split by a regex,
  each byte is spelled with a printable character, then BPE merges apply. ``tokenizer.ggml.pre``
  names the split regex the vocabulary was trained with.
- ``"llama"``: SentencePiece-style BPE (Llama 1/2, Mistral): spaces become ``▁``, a ``▁`` is put
  in front of the text, and characters missing from the vocabulary fall back to ``<0xNN>`` byte
  tokens. When the file lists no merges they are recovered from the vocabulary and the scores.
  Gemma files (architectures gemma, gemma2, gemma3) are rebuilt as Gemma's tokenizer is, as the
  reference does: no ▁ in front (their ``add_space_prefix`` is false), runs of spaces stored as
  spaces looked up as ▁s, and merges recovered in the vocabulary's order, not by score.
  Phi-3 files are rebuilt as its tokenizer.json is, as the reference does: the ▁ in front comes from
  a normalizer (so text starting with a space gets two ▁s, and each piece between special tokens its own ▁).

The result equals what the reference library builds for the same file (its tests check ids).
"""

from __future__ import annotations

__all__ = ["tokenizer_json_from_metadata", "bytes_to_unicode", "merges_from_scores"]

# llama.cpp token kinds (tokenizer.ggml.token_type)
_CONTROL, _USER_DEFINED = 3, 4
# architectures whose SentencePiece vocabularies are Gemma's (see _gemma)
_GEMMA_ARCHITECTURES = ("gemma", "gemma2", "gemma3")

# split regexes by tokenizer.ggml.pre; a file whose pre-tokenizer is not listed gets GPT-2's
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_GPT4O_SPLIT = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
                r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
                r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_TEKKEN_SPLIT = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
                 r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
                 r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_TOKENIZER_SPLITS = {
    **dict.fromkeys(("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
                     "lfm2", "jina-v5-nano", "dbrx", "smaug-bpe"), _LLAMA3_SPLIT),
    **dict.fromkeys(("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"), _QWEN2_SPLIT),
    **dict.fromkeys(("gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"), _GPT4O_SPLIT),
    "tekken": _TEKKEN_SPLIT,
}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table: printable Latin-1 bytes stand for themselves,
    the others (controls, space, ...) are moved to code points 256 and up, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def merges_from_scores(tokens: list[str], scores: list[float]) -> list[list[str]]:
    """BPE merges implied by a SentencePiece vocabulary: every way to cut a token into two
    vocabulary pieces is a merge, ranked by the token's score (best first); ties go to the shorter
    left piece, then the shorter right piece, then the order of the vocabulary."""
    vocab = {token: i for i, token in enumerate(tokens)}
    token_scores = dict(zip(tokens, scores))
    found = []
    for token, score in token_scores.items():
        cuts = [(token[:i], token[i:]) for i in range(1, len(token))
                if token[:i] in vocab and token[i:] in vocab]
        cuts.sort(key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))
        found.extend((left, right, score) for left, right in cuts)
    found.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [[left, right] for left, right, _ in found]


def _added_token(token_id: int, content: str, special: bool) -> dict:
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def _template(add_bos: bool, add_eos: bool, bos, eos) -> dict:
    """The post-processor that adds BOS / EOS around each sequence, as the reference's tokenizer does."""
    def piece(seq_id, type_id):
        return {"Sequence": {"id": seq_id, "type_id": type_id}}

    def special(token, type_id):
        return {"SpecialToken": {"id": token[0], "type_id": type_id}}

    add_bos, add_eos = add_bos and bos is not None, add_eos and eos is not None
    single, pair = [], []
    for seq_id, type_id, out in (("A", 0, single), ("A", 0, pair), ("B", 1, pair)):
        if add_bos:
            out.append(special(bos, type_id))
        out.append(piece(seq_id, type_id))
        if add_eos:
            out.append(special(eos, type_id))
    specials = {}
    for flag, token in ((add_bos, bos), (add_eos, eos)):
        if flag:
            specials[token[0]] = {"id": token[0], "ids": [token[1]], "tokens": [token[0]]}
    return {"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials}


def tokenizer_json_from_metadata(meta: dict, where: str = "the GGUF file") -> tuple[dict, dict]:
    """(tokenizer.json dict, tokenizer init kwargs: special tokens, add_bos_token, chat_template)."""
    kind = meta.get("tokenizer.ggml.model")
    tokens = meta.get("tokenizer.ggml.tokens")
    if kind is None or not isinstance(tokens, list):
        raise ValueError(f"{where} holds no tokenizer (no tokenizer.ggml.model / tokens metadata). "
                         f"Load the tokenizer from the original model's tokenizer.json instead.")
    token_types = meta.get("tokenizer.ggml.token_type") or []
    normalizer = None
    if kind == "gpt2":
        model, pre_tokenizer, decoder, byte_alphabet = _byte_level(meta, tokens)
    elif kind == "llama" and meta.get("general.architecture") in _GEMMA_ARCHITECTURES:
        model, normalizer, pre_tokenizer, decoder = _gemma(meta, tokens)
        byte_alphabet = None
    elif kind == "llama":
        model, pre_tokenizer, decoder = _sentencepiece_bpe(meta, tokens)
        byte_alphabet = None
        if meta.get("general.architecture") == "phi3":
            pre_tokenizer = None
            normalizer = {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u2581"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    else:
        raise ValueError(f"{where} describes a {kind!r} tokenizer; leanformers builds 'gpt2' (byte-level "
                         f"BPE) and 'llama' (SentencePiece BPE) tokenizers from GGUF files.")
    vocab = model["vocab"]

    def token_of(key):
        token_id = meta.get(f"tokenizer.ggml.{key}")
        return tokens[token_id] if token_id is not None and 0 <= token_id < len(tokens) else None

    special = {"bos_token": token_of("bos_token_id"), "eos_token": token_of("eos_token_id"),
               "unk_token": token_of("unknown_token_id"), "pad_token": token_of("padding_token_id")}
    # Control tokens (<|im_start|>, <s>) match whole and are special; user-defined ones match whole
    # too but are ordinary. In a byte-level vocabulary a "control" token spelled outside the byte
    # alphabet is a converter mislabel, skipped as the reference does.
    added = {}
    for token_id, (token, token_type) in enumerate(zip(tokens, token_types)):
        if token_type == _CONTROL and (byte_alphabet is None or set(token) <= byte_alphabet):
            added[token] = _added_token(token_id, token, True)
    for token in special.values():  # named special tokens are always matched whole
        if token is not None and token not in added and token in vocab:
            added[token] = _added_token(vocab[token], token, True)
    for token_id, (token, token_type) in enumerate(zip(tokens, token_types)):
        if token_type == _USER_DEFINED and token not in added and token in vocab:
            added[token] = _added_token(token_id, token, False)

    add_bos = meta.get("tokenizer.ggml.add_bos_token")
    if add_bos is None:
        add_bos = kind == "llama"  # llama.cpp adds BOS to SentencePiece vocabularies unless told not to
    add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False))
    bos = (special["bos_token"], vocab.get(special["bos_token"])) if special["bos_token"] else None
    eos = (special["eos_token"], vocab.get(special["eos_token"])) if special["eos_token"] else None
    tokenizer_json = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": sorted(added.values(), key=lambda t: t["id"]),
        "normalizer": normalizer, "pre_tokenizer": pre_tokenizer,
        "post_processor": _template(bool(add_bos), add_eos, bos, eos),
        "decoder": decoder, "model": model,
    }
    init_kwargs = {k: v for k, v in special.items() if v is not None}
    init_kwargs["add_bos_token"] = bool(add_bos)
    if "tokenizer.ggml.add_eos_token" in meta:
        init_kwargs["add_eos_token"] = add_eos
    if meta.get("tokenizer.chat_template"):
        init_kwargs["chat_template"] = meta["tokenizer.chat_template"]
    return tokenizer_json, init_kwargs


def _bpe_model(vocab: dict, merges: list, **options) -> dict:
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
             "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False}
    model.update(options)
    model["vocab"], model["merges"] = vocab, merges
    return model


def _file_merges(meta: dict):
    merges = meta.get("tokenizer.ggml.merges")
    if not isinstance(merges, list):
        return None
    # "a b" strings; a merge of tokens holding a space itself cannot be split this way, and is
    # then split at the first space as the reference does
    return [merge.split(" ", 1) for merge in merges]


def _byte_level(meta: dict, tokens: list[str]):
    spelling = bytes_to_unicode()
    alphabet = set(spelling.values())
    vocab = {}
    for token_id, token in enumerate(tokens):
        # a token written as raw text (outside the byte alphabet) is respelled byte by byte
        if not set(token) <= alphabet:
            token = "".join(spelling[b] for b in token.encode("utf-8"))
        vocab[token] = token_id
    merges = _file_merges(meta)
    if merges is None:
        scores = meta.get("tokenizer.ggml.scores") or list(range(len(tokens), 0, -1))
        merges = merges_from_scores(list(vocab), scores)
    split = PRE_TOKENIZER_SPLITS.get(meta.get("tokenizer.ggml.pre"))
    if split is None:
        pre_tokenizer = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    else:
        pre_tokenizer = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ]}
    decoder = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    return _bpe_model(vocab, merges), pre_tokenizer, decoder, alphabet


def _sentencepiece_bpe(meta: dict, tokens: list[str]):
    vocab = {token: token_id for token_id, token in enumerate(tokens)}
    merges = _file_merges(meta)
    if merges is None:
        scores = meta.get("tokenizer.ggml.scores") or [0.0] * len(tokens)
        merges = merges_from_scores(tokens, scores)
    model = _bpe_model(vocab, merges, fuse_unk=True, byte_fallback=True)
    pre_tokenizer = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0},
    ]}
    return model, pre_tokenizer, decoder


def _gemma(meta: dict, tokens: list[str]):
    """Gemma's pipeline: spaces become ▁ (no ▁ put in front), byte fallback, no Strip when decoding."""
    # a token made only of spaces is stored as spaces; the pipeline looks it up as that many ▁
    tokens = ["\u2581" * len(t) if " " in t and not t.strip() else t for t in tokens]
    vocab = {token: token_id for token_id, token in enumerate(tokens)}
    merges = _file_merges(meta)
    if merges is None:
        # Gemma's scores do not follow its merge order; the order of the vocabulary does
        merges = merges_from_scores(tokens, [-float(i) for i in range(len(tokens))])
    model = _bpe_model(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    normalizer = {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}
    pre_tokenizer = {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False}
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
    ]}
    return model, normalizer, pre_tokenizer, decoder
