"""`load_tokenizer(name_or_path, **kwargs)`: what `AutoTokenizer.from_pretrained` runs.

Reads tokenizer_config.json (+ special_tokens_map.json, added_tokens.json, chat templates), picks the
class (tokenizer_class, else config.json's model_type, else the generic class; the family modules in
families/ say which names they serve), and has the family build the engine's pipeline around
tokenizer.json or, failing that, from the legacy vocabulary files. Files are only read, never rewritten.
"""

from __future__ import annotations

import json
import os
import sys

from . import families, legacy
from .lazy import LazyLogger
from .files import ADDED_TOKENS_FILE, CHAT_TEMPLATE_FILE, CHAT_TEMPLATE_DIR, SPECIAL_TOKENS_MAP_FILE
from .files import TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, read_json

logger = LazyLogger(__name__)

_HUB_KEYS = ("revision", "cache_dir", "local_files_only", "token", "subfolder", "force_download")
_DROPPED_KWARGS = ("use_fast", "trust_remote_code", "_from_auto", "proxies", "resume_download", "tokenizer_type",
                   "use_auth_token", "_commit_hash")


def _finder(name_or_path, hub_kwargs):
    from ..hub import resolve_file

    def find(filename):
        return resolve_file(name_or_path, filename, required=False, **hub_kwargs)

    return find


def _added_token_class():
    from .tokenizer import _backend_tokenizer_class

    backend = _backend_tokenizer_class()
    return getattr(sys.modules.get(backend.__module__), "AddedToken", None) or __import__(
        "leanformers.tokenization.engine", fromlist=["AddedToken"]).AddedToken


def _to_added_token(value, cls):
    """{"__type": "AddedToken", ...} / {"content": ...} dicts from JSON files → AddedToken objects."""
    if isinstance(value, dict) and "content" in value:
        state = {k: v for k, v in value.items() if k in ("single_word", "lstrip", "rstrip", "normalized", "special")}
        return cls(value["content"], **state)
    if isinstance(value, list):
        return [_to_added_token(v, cls) for v in value]
    return value


def _pick_class(tokenizer_class, config: dict, find):
    from .tokenizer import PreTrainedTokenizerFast

    if tokenizer_class is not None:
        return tokenizer_class
    name = config.get("tokenizer_class")
    if name:
        cls = families.find_class(name)
        if cls is None:
            # A family we have no class for: its tokenizer.json is used as it is (the reference does the same
            # for names it does not know; for its own other families it may rebuild the pipeline first).
            logger.info("tokenizer_class %r has no class of its own here; using tokenizer.json as it is.", name)
            return PreTrainedTokenizerFast
        return cls
    config_path = find("config.json")
    if config_path:
        model_type = read_json(config_path).get("model_type")
        if model_type:
            return families.class_for_model_type(model_type) or PreTrainedTokenizerFast
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
    token_cls = _added_token_class()

    init_kwargs = {k: v for k, v in config.items() if k not in ("tokenizer_class", "init_inputs", "auto_map")}
    templates = _read_chat_templates(find, name_or_path, hub_kwargs)
    if templates:
        init_kwargs["chat_template"] = templates["default"] if list(templates) == ["default"] else templates
    tokenizer_path = find(TOKENIZER_FILE)
    file_state = None
    if tokenizer_path:
        with open(tokenizer_path, encoding="utf-8") as f:
            text = f.read()
        family = cls if issubclass(cls, families.FamilyTokenizer) else None
        if tokenizer_class is None and family is not None and family.loads_tokenizer_json_as_is(text):
            # e.g. Llama-3-style repos still say LlamaTokenizer but ship a byte-level tokenizer.json, which
            # the family's rebuild would ruin: the reference loads the file as it is, and so do we.
            logger.warning("tokenizer_class is %s but tokenizer.json is not that family's; loading it as it is "
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
    family = cls if issubclass(cls, families.FamilyTokenizer) else None
    if file_state is not None:
        return file_state if family is None else family.rebuild_state(file_state, init_kwargs)
    if family is None:  # the generic class: guess the family from the files present (the class stays generic)
        family = families.guess_from_files(find)
    if family is None:
        raise OSError(
            f"Can't load a tokenizer from {os.fspath(name_or_path)!r}: it holds no tokenizer.json and none of "
            f"{families.legacy_file_names()} (looked with tokenizer_config.json's settings). Save one with "
            "save_pretrained(), or pass the path of a folder that has these files."
        )
    return family.state_from_files(find, added_list, init_kwargs, os.fspath(name_or_path))
