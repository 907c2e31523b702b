"""Auto classes: pick the architecture from ``model_type``, by file name.

``model_type`` "bert" lives in ``leanformers/models/bert.py``; that file ends with
``TASKS = {"base": BertModel, "sequence-classification": ...}``, so no table here can drift from
the models. ``register()`` adds a user's own config and model classes.
"""

from __future__ import annotations

import importlib
import os

from .configuration import PretrainedConfig
from .hub import resolve_file, split_gguf_path

__all__ = [
    "AutoConfig", "AutoTokenizer", "AutoModel", "AutoModelForSequenceClassification",
    "AutoModelForTokenClassification", "AutoModelForQuestionAnswering", "AutoModelForMaskedLM",
    "AutoModelForMultipleChoice", "AutoModelForPreTraining", "AutoModelForNextSentencePrediction",
    "AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "model_module", "known_model_types",
]

# model types that share another type's file (same architecture and checkpoint keys)
ALIASES: dict[str, str] = {"mt5": "t5"}

_USER_CONFIGS: dict[str, type[PretrainedConfig]] = {}  # model_type -> config class
_USER_MODELS: dict[tuple[str, str], type] = {}  # (model_type, task) -> model class


def known_model_types() -> list[str]:
    folder = os.path.join(os.path.dirname(__file__), "models")
    files = [f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_")]
    return sorted(set(files) | set(ALIASES) | set(_USER_CONFIGS))


def model_module(model_type: str):
    """The module of ``models/<model_type>.py`` (after aliases)."""
    name = ALIASES.get(model_type, model_type).replace("-", "_")
    if not name.isidentifier():
        raise ValueError(f"Invalid model_type {model_type!r} in config.json.")
    try:
        return importlib.import_module(f"leanformers.models.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"leanformers.models.{name}":
            raise
        raise ValueError(
            f"Unknown model_type {model_type!r}: leanformers has no model file for it. Supported "
            f"model types: {', '.join(known_model_types())}. Check config.json's 'model_type', or "
            f"register your own classes with AutoConfig.register / AutoModel.register."
        ) from None


def _config_class_for(model_type: str) -> type[PretrainedConfig]:
    if model_type in _USER_CONFIGS:
        return _USER_CONFIGS[model_type]
    module = model_module(model_type)
    configs = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, PretrainedConfig)]
    # an alias's own class first (MT5Config); a file name stands for its type ("xlm_roberta" -> "xlm-roberta")
    for wanted in (model_type, ALIASES.get(model_type, model_type)):
        for value in configs:
            if value.model_type.replace("-", "_") == wanted.replace("-", "_"):
                return value
    raise ValueError(f"models/{model_type}.py defines no config class with model_type {model_type!r}.")


def _model_type_of(config_dict: dict, where: str) -> str:
    model_type = config_dict.get("model_type")
    if not model_type:
        raise ValueError(
            f"The config at {where} has no 'model_type', so the architecture cannot be chosen. Add "
            f"\"model_type\": \"bert\" (or the right type) to config.json, or use the model's own "
            f"class (e.g. BertModel.from_pretrained)."
        )
    return model_type


class AutoConfig:
    def __init__(self):
        raise TypeError("AutoConfig is not instantiated: use AutoConfig.from_pretrained(name_or_path).")

    @staticmethod
    def for_model(model_type: str, *args, **kwargs) -> PretrainedConfig:
        return _config_class_for(model_type)(*args, **kwargs)

    @staticmethod
    def from_pretrained(name_or_path, *, gguf_file=None, return_unused_kwargs=False, **kwargs):
        hub_keys = ("revision", "cache_dir", "local_files_only", "token", "subfolder", "force_download")
        hub = {k: kwargs.pop(k) for k in hub_keys if k in kwargs}
        name_or_path, gguf_file = split_gguf_path(name_or_path, gguf_file)
        if gguf_file:
            from .gguf import gguf_config_dict

            data = gguf_config_dict(resolve_file(name_or_path, gguf_file, **hub))
        else:
            data = PretrainedConfig.read_config_dict(name_or_path, **hub)
        model_type = _model_type_of(data, str(name_or_path))
        try:
            cls = _config_class_for(model_type)
        except ValueError:
            if not data.get("auto_map"):
                raise
            raise ValueError(
                f"{name_or_path}: model_type {model_type!r} is defined only by the checkpoint's own code "
                f"(config.json has auto_map {data['auto_map']}), and leanformers never runs code from a "
                f"checkpoint. Use a checkpoint of a supported model type ({', '.join(known_model_types())})."
            ) from None
        return cls.from_dict(data, return_unused_kwargs=return_unused_kwargs, **kwargs)

    @staticmethod
    def register(model_type: str, config_class: type[PretrainedConfig], exist_ok: bool = False):
        if model_type in _USER_CONFIGS and not exist_ok:
            raise ValueError(f"model_type {model_type!r} is already registered.")
        if config_class.model_type != model_type:
            raise ValueError(f"{config_class.__name__}.model_type is {config_class.model_type!r}, "
                             f"but it is registered as {model_type!r}: they must be equal.")
        _USER_CONFIGS[model_type] = config_class


class _AutoModel:
    task: str = "base"

    def __init__(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is not instantiated: use "
                        f"{type(self).__name__}.from_pretrained(name_or_path) or .from_config(config).")

    @classmethod
    def model_class(cls, config: PretrainedConfig) -> type:
        model_type = config.model_type
        if (model_type, cls.task) in _USER_MODELS:
            return _USER_MODELS[(model_type, cls.task)]
        module = model_module(model_type)
        # an aliased type may name its own classes (mt5 -> MT5Model) in MODEL_TYPE_TASKS
        tasks = getattr(module, "MODEL_TYPE_TASKS", {}).get(model_type) or getattr(module, "TASKS", {})
        if cls.task not in tasks:
            raise ValueError(
                f"{cls.__name__} does not support model_type {model_type!r}: models/{model_type}.py "
                f"offers the tasks {sorted(tasks)}. Pick the matching Auto class."
            )
        return tasks[cls.task]

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs):
        return cls.model_class(config).from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, name_or_path, *model_args, config=None, **kwargs):
        name_or_path, gguf_file = split_gguf_path(name_or_path, kwargs.pop("gguf_file", None))
        if gguf_file is not None:
            kwargs["gguf_file"] = gguf_file
        if config is None:
            hub_keys = ("revision", "cache_dir", "local_files_only", "token", "subfolder",
                        "force_download", "gguf_file")
            hub = {k: kwargs[k] for k in hub_keys if k in kwargs}
            # loading options are not config fields: dtype="auto" given to the config would set
            # config.dtype = "auto" and hide the dtype the checkpoint's config.json asks for
            loading_keys = ("dtype", "torch_dtype", "device_map")
            loading = {k: kwargs[k] for k in loading_keys if k in kwargs}
            config, kwargs = AutoConfig.from_pretrained(name_or_path, return_unused_kwargs=True,
                                                        **hub, **{k: v for k, v in kwargs.items()
                                                                  if k not in hub and k not in loading})
            kwargs.update(hub)
            kwargs.update(loading)
        return cls.model_class(config).from_pretrained(name_or_path, *model_args, config=config, **kwargs)

    @classmethod
    def register(cls, config_class: type[PretrainedConfig], model_class: type, exist_ok: bool = False):
        key = (config_class.model_type, cls.task)
        if key in _USER_MODELS and not exist_ok:
            raise ValueError(f"{cls.__name__} already has a class for model_type {key[0]!r}.")
        _USER_MODELS[key] = model_class


def _auto(name: str, task: str) -> type:
    return type(name, (_AutoModel,), {"task": task, "__doc__": f"Picks the {task!r} class of a model_type."})


AutoModel = _auto("AutoModel", "base")
AutoModelForSequenceClassification = _auto("AutoModelForSequenceClassification", "sequence-classification")
AutoModelForTokenClassification = _auto("AutoModelForTokenClassification", "token-classification")
AutoModelForQuestionAnswering = _auto("AutoModelForQuestionAnswering", "question-answering")
AutoModelForMaskedLM = _auto("AutoModelForMaskedLM", "masked-lm")
AutoModelForMultipleChoice = _auto("AutoModelForMultipleChoice", "multiple-choice")
AutoModelForPreTraining = _auto("AutoModelForPreTraining", "pretraining")
AutoModelForNextSentencePrediction = _auto("AutoModelForNextSentencePrediction", "next-sentence-prediction")
AutoModelForCausalLM = _auto("AutoModelForCausalLM", "causal-lm")
AutoModelForSeq2SeqLM = _auto("AutoModelForSeq2SeqLM", "seq2seq-lm")


class AutoTokenizer:
    def __init__(self):
        raise TypeError("AutoTokenizer is not instantiated: use AutoTokenizer.from_pretrained(name_or_path).")

    @staticmethod
    def from_pretrained(name_or_path, *args, gguf_file=None, **kwargs):
        name_or_path, gguf_file = split_gguf_path(name_or_path, gguf_file)
        if gguf_file:
            from .gguf import gguf_tokenizer

            hub_keys = ("revision", "cache_dir", "local_files_only", "token", "subfolder")
            path = resolve_file(name_or_path, gguf_file, **{k: kwargs.pop(k) for k in hub_keys if k in kwargs})
            return gguf_tokenizer(path, **kwargs)
        from .tokenization.auto import load_tokenizer

        return load_tokenizer(name_or_path, *args, **kwargs)
