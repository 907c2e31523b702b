"""`load_tokenizer(name_or_path, **kwargs)`: what `AutoTokenizer.from_pretrained` runs.

Reads tokenizer_config.json (+ special_tokens_map.json, added_tokens.json, chat templates), picks the
class (tokenizer_class, else config.json's model_type, else the generic class), and builds the engine
from tokenizer.json or, failing that, from the legacy vocabulary files. Files are only read, never
rewritten.
"""

from __future__ import annotations

import json
import os

from . import legacy
from .lazy import LazyLogger
from .files import ADDED_TOKENS_FILE, CHAT_TEMPLATE_FILE, CHAT_TEMPLATE_DIR, SPECIAL_TOKENS_MAP_FILE
from .files import TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, read_json

logger = LazyLogger(__name__)

_HUB_KEYS = ("revision", "cache_dir", "local_files_only", "token", "subfolder", "force_download")
_DROPPED_KWARGS = ("use_fast", "trust_remote_code", "_from_auto", "proxies", "resume_download", "tokenizer_type",
                   "use_auth_token", "_commit_hash")
_LEGACY_FILES = {"vocab.txt": "bert", "vocab.json": "gpt2", "tokenizer.model": "llama", "spiece.model": "t5",
                 "sentencepiece.bpe.model": "xlm_roberta"}
# The SentencePiece file each family's repos carry (any of them is tried when that one is missing).
_SPM_FILES = {"t5": "spiece.model", "albert": "spiece.model", "llama": "tokenizer.model",
              "xlm_roberta": "sentencepiece.bpe.model"}


def _finder(name_or_path, hub_kwargs):
    from ..hub import resolve_file

    def find(filename):
        return resolve_file(name_or_path, filename, required=False, **hub_kwargs)

    return find


def _to_added_token(value, cls):
    """{"__type": "AddedToken", ...} / {"content": ...} dicts from JSON files → AddedToken objects."""
    if isinstance(value, dict) and "content" in value:
        state = {k: v for k, v in value.items() if k in ("single_word", "lstrip", "rstrip", "normalized", "special")}
        return cls(value["content"], **state)
    if isinstance(value, list):
        return [_to_added_token(v, cls) for v in value]
    return value


def _pick_class(tokenizer_class, config: dict, find):
    from .model_tokenizers import MODEL_TYPE_TO_CLASS, TOKENIZER_CLASSES
    from .tokenizer import PreTrainedTokenizerFast

    if tokenizer_class is not None:
        return tokenizer_class
    name = config.get("tokenizer_class")
    if name:
        base = name[: -len("Fast")] if name.endswith("Fast") and name != "PreTrainedTokenizerFast" else name
        if base in TOKENIZER_CLASSES:
            return TOKENIZER_CLASSES[base]
        # A family we have no class for: its tokenizer.json is used as it is (the reference does the same
        # for names it does not know; for its own other families it may rebuild the pipeline first).
        logger.info("tokenizer_class %r has no class of its own here; using tokenizer.json as it is.", name)
        return PreTrainedTokenizerFast
    config_path = find("config.json")
    if config_path:
        model_type = read_json(config_path).get("model_type")
        if model_type in MODEL_TYPE_TO_CLASS:
            return MODEL_TYPE_TO_CLASS[model_type]
    return PreTrainedTokenizerFast


def _read_chat_templates(find, name_or_path, hub_kwargs) -> dict:
    templates = {}
    path = find(CHAT_TEMPLATE_FILE)
    if path:
        with open(path, encoding="utf-8") as f:
            templates["default"] = f.read()
    folder = os.path.join(os.fspath(name_or_path), hub_kwargs.get("subfolder", ""), CHAT_TEMPLATE_DIR)
    if os.path.isdir(folder):
        for filename in sorted(os.listdir(folder)):
            if filename.endswith(".jinja"):
                with open(os.path.join(folder, filename), encoding="utf-8") as f:
                    templates[filename[: -len(".jinja")]] = f.read()
    return templates


def load_tokenizer(name_or_path, *init_inputs, tokenizer_class=None, **kwargs):
    """Load a tokenizer from a folder or a Hub id, like the reference's `AutoTokenizer.from_pretrained`."""
    from .tokenizer import PreTrainedTokenizerFast, engine_from_state

    hub_kwargs = {k: kwargs.pop(k) for k in _HUB_KEYS if k in kwargs}
    for key in _DROPPED_KWARGS:
        kwargs.pop(key, None)
    find = _finder(name_or_path, hub_kwargs)
    config_path = find(TOKENIZER_CONFIG_FILE)
    config = read_json(config_path) if config_path else {}
    cls = _pick_class(tokenizer_class, config, find)
    from .engine import AddedToken as token_cls

    init_kwargs = {k: v for k, v in config.items() if k not in ("tokenizer_class", "init_inputs", "auto_map")}
    templates = _read_chat_templates(find, name_or_path, hub_kwargs)
    if templates:
        init_kwargs["chat_template"] = templates["default"] if list(templates) == ["default"] else templates
    tokenizer_path = find(TOKENIZER_FILE)
    file_state = None
    if tokenizer_path:
        with open(tokenizer_path, encoding="utf-8") as f:
            text = f.read()
        if tokenizer_class is None and cls.legacy_builder == "llama" and '"ByteLevel"' in text:
            # Llama-3-style repos still say LlamaTokenizer but ship a byte-level tokenizer.json, which the
            # Metaspace rebuild would ruin: the reference loads the file as it is, and so do we.
            logger.warning("tokenizer_class is %s but tokenizer.json is byte-level; loading it as it is "
                           "(PreTrainedTokenizerFast).", config.get("tokenizer_class"))
            cls = PreTrainedTokenizerFast
        file_state = json.loads(text)
        del text
        # A tokenizer.json's post-processor already says whether bos/eos are added.
        init_kwargs.pop("add_bos_token", None)
        init_kwargs.pop("add_eos_token", None)
    init_kwargs.update(kwargs)
    if "additional_special_tokens" in init_kwargs and not init_kwargs.get("extra_special_tokens"):
        init_kwargs["extra_special_tokens"] = init_kwargs.pop("additional_special_tokens")

    # Added tokens: tokenizer_config.json's added_tokens_decoder, else the older special_tokens_map.json
    # + added_tokens.json pair.
    added_decoder = {}
    if "added_tokens_decoder" in init_kwargs:
        for index, token in init_kwargs.pop("added_tokens_decoder").items():
            added_decoder[int(index)] = dict(token, id=int(index))
    else:
        special_map_path = find(SPECIAL_TOKENS_MAP_FILE)
        if special_map_path:
            for key, value in read_json(special_map_path).items():
                if key in kwargs and kwargs[key]:
                    continue
                if key in ("additional_special_tokens", "extra_special_tokens") and isinstance(value, list):
                    existing = list(init_kwargs.get("extra_special_tokens") or [])
                    for token in value:
                        if str(token.get("content") if isinstance(token, dict) else token) not in map(
                                lambda t: str(t.get("content") if isinstance(t, dict) else t), existing):
                            existing.append(token)
                    init_kwargs["extra_special_tokens"] = existing
                else:
                    if isinstance(value, dict):
                        value = dict(value, special=True)
                    init_kwargs[key] = value
        added_path = find(ADDED_TOKENS_FILE)
        if added_path:
            special_names = {str(_content(init_kwargs.get(k))) for k in cls.SPECIAL_TOKENS_ATTRIBUTES if init_kwargs.get(k)}
            special_names |= {str(_content(t)) for t in init_kwargs.get("extra_special_tokens") or []}
            for content, index in read_json(added_path).items():
                special = content in special_names
                added_decoder[int(index)] = legacy.added_token(int(index), content, special=special,
                                                                normalized=not special)
    added_list = [added_decoder[i] for i in sorted(added_decoder)]
    for token in added_list:
        token.pop("__type", None)

    # Special tokens given as strings take the flags of the matching added token (e.g. <mask> lstrip).
    by_content = {t["content"]: t for t in added_list}
    for key in list(init_kwargs):
        value = init_kwargs[key]
        if key.endswith("_token") and isinstance(value, str) and value in by_content:
            init_kwargs[key] = _to_added_token(by_content[value], token_cls)
        elif key.endswith("_token") or key == "extra_special_tokens":
            init_kwargs[key] = _to_added_token(value, token_cls)

    state = _build_state(cls, file_state, added_list, init_kwargs, find, name_or_path)
    init_kwargs["name_or_path"] = os.fspath(name_or_path)
    backend = engine_from_state(state)
    return cls(*init_inputs, _engine=backend, **init_kwargs)


def _content(value):
    if isinstance(value, dict):
        return value.get("content")
    return getattr(value, "content", value)


def _build_state(cls, file_state, added_list, init_kwargs, find, name_or_path) -> dict:
    """The tokenizer.json dict to hand the engine (`file_state`: the folder's tokenizer.json, if any)."""
    family = cls.legacy_builder
    if file_state is not None:
        state = file_state
        if family is None:
            return state
        return _rebuild_from_tokenizer_json(family, state, init_kwargs)
    builder_kwargs = dict(init_kwargs)
    if family is None:  # the generic class: guess the family from the files present
        for filename, guess in _LEGACY_FILES.items():
            if find(filename):
                family = guess
                break
    if family is None:
        raise OSError(
            f"Can't load a tokenizer from {os.fspath(name_or_path)!r}: it holds no tokenizer.json and none of "
            f"{sorted(_LEGACY_FILES)} (looked with tokenizer_config.json's settings). Save one with "
            "save_pretrained(), or pass the path of a folder that has these files."
        )
    if family == "bert":
        path = find("vocab.txt")
        _require(path, "vocab.txt", name_or_path)
        return legacy.build_bert(legacy.read_wordpiece_vocab(path), added_list, init_kwargs)
    if family in ("gpt2", "roberta", "qwen2"):
        vocab_path, merges_path = find("vocab.json"), find("merges.txt")
        _require(vocab_path, "vocab.json", name_or_path)
        vocab, merges = legacy.read_bpe_files(vocab_path, merges_path)
        return legacy.BUILDERS[family](vocab, added_list, init_kwargs, merges=merges)
    if family not in _SPM_FILES:
        raise OSError(f"Can't load the tokenizer: {os.fspath(name_or_path)!r} has no tokenizer.json, which "
                      f"{cls.__name__} needs (it has no legacy vocabulary format here).")
    filename = _SPM_FILES[family]
    path = find(filename)
    for other in dict.fromkeys(_SPM_FILES.values()):
        path = path or find(other)
    _require(path, filename, name_or_path)
    inputs = legacy.sentencepiece_inputs(path, family, init_kwargs)
    if family in ("xlm_roberta", "albert"):
        # Special tokens are found by content in the (reordered) vocabulary, not at their .model ids.
        return legacy.BUILDERS[family](inputs["scores"], added_list, init_kwargs,
                                       precompiled_charsmap=inputs["precompiled_charsmap"])
    spm_added = legacy.added_tokens_for_spm(path)
    known = {t["content"] for t in added_list}
    added = sorted(added_list + [t for t in spm_added if t["content"] not in known], key=lambda t: t["id"])
    if family == "t5":
        return legacy.build_t5(inputs["scores"], added, init_kwargs, precompiled_charsmap=inputs["precompiled_charsmap"])
    return legacy.build_llama(inputs["vocab"], added, init_kwargs, merges=inputs.get("merges", []))


def _require(path, filename, name_or_path):
    if not path:
        raise OSError(f"Can't load the tokenizer: {os.fspath(name_or_path)!r} has no {filename} (and no tokenizer.json).")


def _rebuild_from_tokenizer_json(family: str, state: dict, init_kwargs: dict) -> dict:
    """The reference rebuilds a family's pipeline around the vocabulary of its tokenizer.json, keeping only
    the file's added tokens, padding, truncation and (for GPT-2 / Llama) post-processor."""
    model = state.get("model") or {}
    added = state.get("added_tokens", [])
    if family == "t5" and model.get("type") == "Unigram":
        built = legacy.build_t5([tuple(v) for v in model["vocab"]], added, init_kwargs,
                                precompiled_charsmap=_precompiled(state))
    elif family == "bert" and model.get("type") == "WordPiece":
        built = legacy.build_bert(model["vocab"], added, init_kwargs)
    elif family in ("xlm_roberta", "albert") and model.get("type") == "Unigram":
        built = legacy.BUILDERS[family]([tuple(v) for v in model["vocab"]], added, init_kwargs,
                                        precompiled_charsmap=_precompiled(state),
                                        post_processor=state.get("post_processor"))
    elif family in ("gpt2", "roberta", "llama", "qwen2") and model.get("type") == "BPE":
        merges = model.get("merges", [])  # "a b" strings or [a, b] pairs: the engines read both
        built = legacy.BUILDERS[family](model["vocab"], added, init_kwargs, merges=merges,
                                        post_processor=state.get("post_processor"))
    else:
        return state  # a family mismatch (e.g. a BPE file under a WordPiece class): trust the file
    built["truncation"], built["padding"] = state.get("truncation"), state.get("padding")
    return built


def _precompiled(state: dict):
    normalizer = state.get("normalizer") or {}
    items = normalizer.get("normalizers", [normalizer]) if normalizer.get("type") == "Sequence" else [normalizer]
    for item in items:
        if item and item.get("type") == "Precompiled":
            return item.get("precompiled_charsmap")
    return None
