"""PretrainedConfig: config.json <-> object, with the reference's defaults and JSON shape.

A model's config subclass sets ``model_type`` and defines ``__init__(self, <its fields>, **kwargs)``
ending in ``super().__init__(**kwargs)``. Keys a class does not know are kept as attributes and
written back, so a config.json survives a load/save round-trip unchanged in meaning.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import numbers
import os
import re
import secrets

from .hub import resolve_file

__all__ = ["PretrainedConfig", "PreTrainedConfig"]

CONFIG_NAME = "config.json"

# Keys every config has, with their defaults; printing a config shows only those that differ.
_COMMON_DEFAULTS = {
    "architectures": None,
    "output_hidden_states": False,
    "output_attentions": False,
    "return_dict": True,
    "dtype": None,
    "chunk_size_feed_forward": 0,
    "is_encoder_decoder": False,
    "problem_type": None,
    "_name_or_path": "",
}
_PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")
# Written by older libraries; read for compatibility, never written back.
_RENAMED = {"torch_dtype": "dtype"}
# Sizes a model is built from. A bool, a string or a value below 1 here would build a cut-down model
# (num_hidden_layers=0 builds no layers) or fail deep inside torch, so they are checked when set.
# The second group may be null: the model then derives them (n_inner=None -> 4 * n_embd).
_SIZE_KEYS = {"num_hidden_layers", "n_layer", "n_layers", "hidden_size", "n_embd", "dim",
              "num_attention_heads", "n_head", "n_heads", "vocab_size"}
_OPTIONAL_SIZE_KEYS = {"intermediate_size", "n_inner", "hidden_dim", "num_key_value_heads", "head_dim",
                       "max_position_embeddings", "n_positions"}


def _dtype_name(value):
    if value is None or isinstance(value, str):
        return value
    return str(value).replace("torch.", "")  # a torch.dtype


class PretrainedConfig:
    model_type: str = ""
    attribute_map: dict[str, str] = {}  # reference-style aliases, e.g. {"n_embd": "hidden_size"}

    def __init__(self, **kwargs):
        for old, new in _RENAMED.items():
            if old in kwargs:
                kwargs.setdefault(new, kwargs.pop(old))
        id2label = kwargs.pop("id2label", None)
        num_labels = kwargs.pop("num_labels", None)
        kwargs.pop("label2id", None)  # always derived from id2label, as the reference does
        kwargs.pop("model_type", None)  # a class attribute, not per-instance state
        kwargs.pop("transformers_version", None)
        for key, default in _COMMON_DEFAULTS.items():
            value = kwargs.pop(key, default)
            setattr(self, key, copy.copy(value))
        self.dtype = _dtype_name(self.dtype)
        if self.problem_type not in _PROBLEM_TYPES:
            raise ValueError(
                f"problem_type must be one of {_PROBLEM_TYPES[1:]} or None, not {self.problem_type!r}."
            )
        if id2label is not None:
            self.id2label = id2label
            if num_labels is not None and num_labels != len(self.id2label):
                raise ValueError(
                    f"num_labels={num_labels} contradicts id2label, which has {len(self.id2label)} labels."
                )
        else:
            self.num_labels = 2 if num_labels is None else num_labels
        # Everything else (token ids, model-specific or unknown keys) is kept as given.
        for key, value in kwargs.items():
            try:
                setattr(self, key, value)
            except AttributeError as e:
                raise AttributeError(f"Cannot set {key}={value!r} on {type(self).__name__}: {e}") from None

    # ---- aliases and labels -------------------------------------------------------------------
    def __setattr__(self, key, value):
        _check_key(type(self), key, value)
        key = type(self).attribute_map.get(key, key)
        _check_key(type(self), key, value)
        super().__setattr__(key, value)

    def __getattr__(self, key):
        # only called when normal lookup fails: resolve reference-style aliases
        mapped = type(self).attribute_map.get(key)
        if mapped is not None:
            return getattr(self, mapped)
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    @property
    def id2label(self) -> dict[int, str]:
        return self._id2label

    @id2label.setter
    def id2label(self, mapping):
        # config.json stores keys as strings; the API uses ints
        self._id2label = {int(k): v for k, v in dict(mapping).items()}

    @property
    def label2id(self) -> dict[str, int]:
        return {v: k for k, v in self._id2label.items()}

    @label2id.setter
    def label2id(self, mapping):
        self._id2label = {int(v): k for k, v in dict(mapping).items()}

    @property
    def num_labels(self) -> int:
        return len(self._id2label)

    @num_labels.setter
    def num_labels(self, n: int):
        if not hasattr(self, "_id2label") or len(self._id2label) != n:
            self._id2label = {i: f"LABEL_{i}" for i in range(n)}

    @property
    def use_return_dict(self) -> bool:
        return self.return_dict

    @property
    def name_or_path(self) -> str:
        return self._name_or_path

    @name_or_path.setter
    def name_or_path(self, value):
        self._name_or_path = str(value)

    @property
    def torch_dtype(self):
        return self.dtype

    # ---- dict / JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            if key == "_id2label":
                out["id2label"] = dict(value)  # int keys, as the reference; JSON writes them as strings
                out["label2id"] = {v: k for k, v in value.items()}
            elif key.startswith("_") and key != "_name_or_path":
                continue
            elif isinstance(value, PretrainedConfig):
                out[key] = value.to_dict()
            else:
                out[key] = copy.deepcopy(value)
        out["dtype"] = _dtype_name(out.get("dtype"))
        out["model_type"] = self.model_type
        return out

    def to_diff_dict(self) -> dict:
        """Only the keys that differ from a bare config's defaults (what config.json holds). As in the
        reference, a common key also stays when it differs from the default this class declares:
        T5EncoderModel's is_encoder_decoder=False equals the bare default but not T5Config's True."""
        base = PretrainedConfig().to_dict()
        declared = self._declared_defaults()
        return {k: v for k, v in self.to_dict().items()
                if k not in base or base[k] != v or declared.get(k, v) != v or (k == "model_type" and v)}

    @classmethod
    def _declared_defaults(cls) -> dict:
        """The non-None defaults the subclasses' ``__init__`` signatures declare, the most derived first
        (the reference's dataclass field defaults; derived values such as id2label are not among them)."""
        declared = {}
        for klass in cls.__mro__:
            if klass is PretrainedConfig:
                break
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            for param in inspect.signature(init).parameters.values():
                if param.default is not param.empty and param.default is not None:
                    declared.setdefault(param.name, param.default)
        return declared

    def to_json_string(self, use_diff: bool = True) -> str:
        data = self.to_diff_dict() if use_diff else self.to_dict()
        data.pop("_name_or_path", None)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def __repr__(self):
        return f"{type(self).__name__} {self.to_json_string()}"

    def __eq__(self, other):
        return isinstance(other, PretrainedConfig) and self.to_dict() == other.to_dict()

    def __iter__(self):
        return iter(self.to_dict())

    def update(self, values: dict):
        for key, value in values.items():
            setattr(self, key, value)

    @classmethod
    def from_dict(cls, config_dict: dict, return_unused_kwargs: bool = False, **kwargs):
        """Build from a dict; ``kwargs`` that name config attributes override, others are returned."""
        config = cls(**config_dict)
        unused = {}
        for key, value in kwargs.items():
            if hasattr(config, key) or key in ("num_labels", "id2label", "label2id"):
                setattr(config, key, value)
            else:
                unused[key] = value
        return (config, unused) if return_unused_kwargs else config

    @classmethod
    def read_config_dict(cls, name_or_path, **hub_kwargs) -> dict:
        """The parsed config.json of a folder, cached Hub id, or a config.json path."""
        name = os.fspath(name_or_path)
        if name.lower().endswith(".gguf") and os.path.isfile(name):  # XConfig.from_pretrained("x.gguf")
            from .gguf import gguf_config_dict

            return gguf_config_dict(name)
        path = name if os.path.isfile(name) else resolve_file(name, CONFIG_NAME, **hub_kwargs)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}). Re-download or re-save the config.") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object, not {type(data).__name__}.")
        data.setdefault("_name_or_path", name)
        return data

    @classmethod
    def from_pretrained(cls, name_or_path, *, revision=None, cache_dir=None, local_files_only=None,
                        token=None, subfolder="", force_download=False, return_unused_kwargs=False,
                        **kwargs):
        data = cls.read_config_dict(name_or_path, revision=revision, cache_dir=cache_dir,
                                    local_files_only=local_files_only, token=token,
                                    subfolder=subfolder, force_download=force_download)
        found = data.get("model_type")
        if cls.model_type and found and found != cls.model_type:
            import logging

            logging.getLogger("leanformers").warning(
                f"Loading a {found!r} config into {cls.__name__} (model_type {cls.model_type!r}); "
                f"this may fail or give wrong results."
            )
        return cls.from_dict(data, return_unused_kwargs=return_unused_kwargs, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike):
        """Write config.json atomically (a temp file replaced into place)."""
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained needs a folder, and {save_directory!r} is a file.")
        os.makedirs(save_directory, exist_ok=True)
        write_text_atomic(os.path.join(save_directory, CONFIG_NAME), self.to_json_string())

    def copy(self):
        return copy.deepcopy(self)


PreTrainedConfig = PretrainedConfig  # the reference's v5 spelling


def _check_key(cls, key: str, value) -> None:
    """Refuse config keys that would replace the class's own methods, and sizes that build no model."""
    own = inspect.getattr_static(cls, key, None)
    if (key.startswith("__") and key.endswith("__") or callable(own)
            or isinstance(own, (classmethod, staticmethod)) or (isinstance(own, property) and own.fset is None)):
        raise ValueError(
            f"Config key {key!r} would replace {cls.__name__}.{key}, which is part of the config class "
            f"itself, not a setting. Remove or rename {key!r} in config.json (or in the arguments)."
        )
    if key in _SIZE_KEYS or key in _OPTIONAL_SIZE_KEYS:
        if value is None and key in _OPTIONAL_SIZE_KEYS:
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(
                f"Config key {key!r} must be a positive integer (int >= 1"
                f"{', or null' if key in _OPTIONAL_SIZE_KEYS else ''}), got {value!r} "
                f"({type(value).__name__}). Fix it in config.json or in the arguments."
            )


def write_file_atomic(path: str, write) -> None:
    """Write a file so that a reader (or a crash) sees the old file or the complete new one.

    ``write(f)`` fills a binary file object. It goes to a hidden temporary file beside ``path``
    (same folder, so same file system), which is fsynced and then renamed over ``path``; the folder
    is fsynced so the rename survives a power cut. The temporary name carries the writer's pid, so
    a later save can tell the leftover of a killed process from another process's write in flight.
    The file gets the usual umask-based mode (``os.open`` with 0o666), not a private 0o600.
    """
    path = os.fspath(path)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    fsync_folder(os.path.dirname(tmp))


def temp_path(path: str) -> str:
    """A fresh hidden name beside ``path``: ``.<name>.<pid>.<8 hex>.tmp`` (see TEMP_FILE)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_text_atomic(path: str, text: str) -> None:
    """``write_file_atomic`` for UTF-8 text (config.json, tokenizer files, trainer state)."""
    data = text.encode("utf-8")
    write_file_atomic(path, lambda f: f.write(data))


def fsync_folder(folder: str) -> None:
    """Make renames and removals in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ``.<final name>.<pid>.<8 hex>.tmp``: what write_file_atomic leaves behind if its process is killed
# (a sharded save's staged shards add their extension: ``....tmp.safetensors``).
TEMP_FILE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp(\.safetensors|\.bin)?$")


def remove_orphan_temps(folder: str, keep=()) -> list[str]:
    """Delete the temporary files that killed writers left in ``folder`` (those of live processes,
    possibly saving into the same folder right now, and the names in ``keep`` are kept)."""
    removed = []
    for entry in os.listdir(folder):
        m = TEMP_FILE.match(entry)
        if m is None or entry in keep or _pid_alive(int(m.group("pid"))):
            continue
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.remove(os.path.join(folder, entry))
            removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill would terminate the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # exists but is not ours, or cannot be asked: keep its files
    return True
