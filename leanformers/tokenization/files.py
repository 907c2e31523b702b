"""Writing a tokenizer folder the reference can read back: tokenizer.json, tokenizer_config.json,
special_tokens_map.json and chat templates. Every file is written to a temp file then os.replace'd,
so an interrupted save never leaves a half-written file behind."""

from __future__ import annotations

import json
import os

from ..configuration import write_text_atomic as atomic_write_text

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
CHAT_TEMPLATE_FILE = "chat_template.jinja"
CHAT_TEMPLATE_DIR = "additional_chat_templates"

# Runtime / loading details that must not be written back into tokenizer_config.json.
_NOT_SAVED = {"name_or_path", "special_tokens_map_file", "tokenizer_file", "device_map", "slow_tokenizer_class",
              "files_loaded", "vocab_file", "merges_file", "added_tokens_decoder", "additional_special_tokens",
              "cache_dir", "revision", "token", "local_files_only", "subfolder", "force_download", "proxies",
              "trust_remote_code", "_from_auto", "use_fast", "tokenizer_type"}


def _jsonable(value):
    """AddedToken objects → the reference's {"__type": "AddedToken", ...} dicts; recurse into containers."""
    if hasattr(value, "content") and hasattr(value, "special"):
        state = {k: getattr(value, k) for k in ("content", "single_word", "lstrip", "rstrip", "normalized", "special")}
        return {"__type": "AddedToken", **state}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _token_state(token) -> dict:
    return {k: getattr(token, k) for k in ("content", "single_word", "lstrip", "rstrip", "normalized", "special")}


def _dump(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def save_tokenizer(tokenizer, save_directory, filename_prefix=None, save_jinja_files=True) -> tuple[str, ...]:
    save_directory = os.fspath(save_directory)
    if os.path.isfile(save_directory):
        raise ValueError(f"save_pretrained needs a directory, but {save_directory!r} is a file")
    os.makedirs(save_directory, exist_ok=True)
    prefix = f"{filename_prefix}-" if filename_prefix else ""

    config = dict(tokenizer.init_kwargs)
    config.pop("add_bos_token", None)
    config.pop("add_eos_token", None)
    for key in list(config) + ["model_max_length", "padding_side", "truncation_side", "clean_up_tokenization_spaces"]:
        if key in ("add_bos_token", "add_eos_token"):
            continue
        if key in tokenizer.__dict__ or key in ("model_max_length",):
            config[key] = getattr(tokenizer, key)
    if "model_input_names" in config:
        config["model_input_names"] = list(tokenizer.model_input_names)
    for name in tokenizer.SPECIAL_TOKENS_ATTRIBUTES:
        config.pop(name, None)
    config.update(tokenizer.special_tokens_map)
    if tokenizer._extra_special_tokens:
        config["extra_special_tokens"] = tokenizer.extra_special_tokens
    else:
        config.pop("extra_special_tokens", None)
    written = []

    template = tokenizer.chat_template
    config.pop("chat_template", None)
    if save_jinja_files and isinstance(template, str):
        path = os.path.join(save_directory, prefix + CHAT_TEMPLATE_FILE)
        atomic_write_text(path, template)
        written.append(path)
    elif save_jinja_files and isinstance(template, dict):
        for name, text in template.items():
            if name == "default":
                path = os.path.join(save_directory, prefix + CHAT_TEMPLATE_FILE)
            else:
                if os.path.basename(name) != name or name in ("", ".", ".."):
                    raise ValueError(f"Invalid chat template name: {name!r}")
                folder = os.path.join(save_directory, prefix + CHAT_TEMPLATE_DIR)
                os.makedirs(folder, exist_ok=True)
                path = os.path.join(folder, f"{name}.jinja")
            atomic_write_text(path, text)
            written.append(path)
    elif isinstance(template, dict):
        config["chat_template"] = [{"name": k, "template": v} for k, v in template.items()]
    elif template is not None:
        config["chat_template"] = template

    for key in _NOT_SAVED:
        config.pop(key, None)
    config["tokenizer_class"] = _saved_class_name(tokenizer)
    config = _jsonable(config)
    config_path = os.path.join(save_directory, prefix + TOKENIZER_CONFIG_FILE)
    atomic_write_text(config_path, _dump(config))

    special_map = {}
    for name in tokenizer.SPECIAL_TOKENS_ATTRIBUTES:
        value = tokenizer._special_tokens_map.get(name)
        if value is not None:
            special_map[name] = _token_state(value) if hasattr(value, "content") else value
            if isinstance(special_map[name], dict):
                special_map[name].pop("special", None)
    if tokenizer._extra_special_tokens:
        special_map["additional_special_tokens"] = [str(t) for t in tokenizer._extra_special_tokens]
    special_path = os.path.join(save_directory, prefix + SPECIAL_TOKENS_MAP_FILE)
    atomic_write_text(special_path, _dump(special_map))

    tokenizer_path = os.path.join(save_directory, prefix + TOKENIZER_FILE)
    atomic_write_text(tokenizer_path, _backend_json_for_save(tokenizer))
    return (config_path, *written, special_path, tokenizer_path)


def _saved_class_name(tokenizer) -> str:
    name = type(tokenizer).__name__
    # The reference records e.g. "BertTokenizer" for BertTokenizerFast; the generic class keeps its name.
    if name.endswith("Fast") and name != "PreTrainedTokenizerFast":
        name = name[: -len("Fast")]
    return name


def _backend_json_for_save(tokenizer) -> str:
    """The engine's tokenizer.json, with the truncation / padding it was loaded with (not the last call's)."""
    state = json.loads(tokenizer._tokenizer.to_str())
    state["truncation"] = _truncation_json(tokenizer._saved_truncation)
    state["padding"] = _padding_json(tokenizer._saved_padding)
    return json.dumps(state, ensure_ascii=False, indent=2)


def _truncation_json(settings):
    if not settings:
        return None
    strategy = {"longest_first": "LongestFirst", "only_first": "OnlyFirst", "only_second": "OnlySecond"}
    return {"direction": settings["direction"].capitalize(), "max_length": settings["max_length"],
            "strategy": strategy[settings["strategy"]], "stride": settings["stride"]}


def _padding_json(settings):
    if not settings:
        return None
    length = settings["length"]
    return {"strategy": {"Fixed": length} if length is not None else "BatchLongest",
            "direction": settings["direction"].capitalize(), "pad_to_multiple_of": settings["pad_to_multiple_of"],
            "pad_id": settings["pad_id"], "pad_type_id": settings["pad_type_id"], "pad_token": settings["pad_token"]}


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
