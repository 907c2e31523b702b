"""PretrainedConfig: config.json <-> object, with the reference's defaults and JSON shape.

A model's config subclass sets ``model_type`` and defines ``__init__(self, <its fields>, **kwargs)``
ending in ``super().__init__(**kwargs)``. Keys a class does not know are kept as attributes and
written back, so a config.json survives a load/save round-trip unchanged in meaning.
"""

from __future__ import annotations

import copy
import json
import os

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
        key = type(self).attribute_map.get(key, key)
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
        """Only the keys that differ from a bare config's defaults (what config.json holds)."""
        base = PretrainedConfig().to_dict()
        return {k: v for k, v in self.to_dict().items()
                if k not in base or base[k] != v or (k == "model_type" and v)}

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


def write_text_atomic(path: str, text: str):
    """Write ``text`` to ``path`` so that a crash never leaves a half-written file there."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
