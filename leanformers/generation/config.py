"""GenerationConfig: generation_config.json <-> object, with the reference's keys and defaults.

As in the reference (v5), every known field defaults to None, meaning "not set": a config only
holds what a user or a checkpoint chose, and ``generate`` fills the rest from ``DEFAULTS``. So a
generation_config.json holds just the keys that were set, and files round-trip between the two
libraries. Unknown keys are kept and written back.
"""

from __future__ import annotations

import copy
import json
import os

from ..configuration import write_text_atomic
from ..hub import resolve_file

__all__ = ["GenerationConfig", "GENERATION_CONFIG_NAME", "DEFAULTS", "load_generation_config",
           "check_supported"]

GENERATION_CONFIG_NAME = "generation_config.json"

# Every field the reference's GenerationConfig has, in its order (all default to None).
FIELDS = (
    "max_length", "max_new_tokens", "min_length", "min_new_tokens", "early_stopping", "max_time",
    "stop_strings", "do_sample", "num_beams", "use_mtp", "use_cache", "cache_implementation",
    "cache_config", "max_cache_len", "temperature", "top_k", "top_p", "min_p", "top_h", "typical_p",
    "epsilon_cutoff", "eta_cutoff", "repetition_penalty", "encoder_repetition_penalty",
    "length_penalty", "no_repeat_ngram_size", "bad_words_ids", "renormalize_logits",
    "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "sequence_bias",
    "token_healing", "guidance_scale", "watermarking_config", "num_return_sequences",
    "output_attentions", "output_hidden_states", "output_scores", "output_logits",
    "return_dict_in_generate", "pad_token_id", "bos_token_id", "eos_token_id",
    "encoder_no_repeat_ngram_size", "decoder_start_token_id", "is_assistant", "num_assistant_tokens",
    "num_assistant_tokens_schedule", "assistant_confidence_threshold", "prompt_lookup_num_tokens",
    "max_matching_ngram_size", "assistant_early_exit", "assistant_lookbehind", "target_lookbehind",
    "assistant_ensemble_weight", "speculation_type", "compile_config", "disable_compile",
    "continuous_batching_config", "low_memory", "penalty_alpha", "dola_layers", "diversity_penalty",
    "num_beam_groups", "constraints", "force_words_ids", "prefill_chunk_size",
)

# What generate() uses for a field nobody set (the reference's global defaults).
DEFAULTS = {
    "max_length": 20, "min_length": 0, "do_sample": False, "use_cache": True, "early_stopping": False,
    "num_beams": 1, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "typical_p": 1.0,
    "repetition_penalty": 1.0, "length_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "num_return_sequences": 1, "output_scores": False,
    "output_logits": False, "output_attentions": False, "output_hidden_states": False,
    "return_dict_in_generate": False, "remove_invalid_values": False, "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0, "encoder_repetition_penalty": 1.0, "num_beam_groups": 1, "diversity_penalty": 0.0,
}

# Fields generate() does not implement, with the value that means "off" (the reference's v4
# default, which older generation_config.json files may hold): any other value raises, so a
# setting is never silently ignored. Every other field of FIELDS is honoured.
_UNSUPPORTED = {
    "use_mtp": False, "cache_config": None, "top_h": None, "token_healing": False, "guidance_scale": 1.0,
    "watermarking_config": None, "is_assistant": False, "num_assistant_tokens": 20,
    "num_assistant_tokens_schedule": ("constant", "heuristic"), "assistant_confidence_threshold": 0.4,
    "prompt_lookup_num_tokens": None, "max_matching_ngram_size": None, "assistant_early_exit": None,
    "assistant_lookbehind": 10, "target_lookbehind": 10, "assistant_ensemble_weight": None,
    "speculation_type": None, "compile_config": None, "continuous_batching_config": None,
    "low_memory": False, "penalty_alpha": 0.0, "dola_layers": None, "diversity_penalty": 0.0,
    "num_beam_groups": 1, "constraints": None, "force_words_ids": None, "prefill_chunk_size": None,
}


def check_supported(config: "GenerationConfig"):
    """Raise on the first setting generate() cannot honour (see ``_UNSUPPORTED``)."""
    for name, off in _UNSUPPORTED.items():
        value = getattr(config, name, None)
        if value is None or value == off or (isinstance(off, tuple) and value in off):
            continue
        raise ValueError(f"GenerationConfig.{name}={value!r} is not supported by leanformers' generate() "
                         f"(it would be silently ignored). Remove it from the generate() call or from the "
                         f"model's generation_config (model.generation_config.{name} = None).")


# Bookkeeping keys the reference writes; read and kept, never compared.
_METADATA = ("_from_model_config", "transformers_version", "_commit_hash", "_original_object_hash")
_EXTRA_OUTPUT_FLAGS = ("output_attentions", "output_hidden_states", "output_scores", "output_logits")


class GenerationConfig:
    """How ``generate`` decodes: lengths, strategy (greedy, sampling, beams), penalties, outputs."""

    def __init__(self, **kwargs):
        for name in FIELDS:
            setattr(self, name, kwargs.pop(name, None))
        self._from_model_config = kwargs.pop("_from_model_config", None)
        kwargs.pop("transformers_version", None)
        for key, value in kwargs.items():  # custom entries are kept as attributes
            setattr(self, key, value)
        self.validate()

    # ---- checks ------------------------------------------------------------------------------
    def validate(self):
        """Raise on values that cannot work; the message says which field and what to use."""
        def positive_int(name, allow_zero=False):
            value = getattr(self, name)
            if value is None:
                return
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
                least = "a non-negative" if allow_zero else "a positive"
                raise ValueError(f"GenerationConfig.{name} must be {least} integer, not {value!r}.")

        positive_int("max_new_tokens")
        positive_int("num_beams")
        positive_int("num_return_sequences")
        positive_int("min_new_tokens", allow_zero=True)
        positive_int("top_k", allow_zero=True)
        positive_int("no_repeat_ngram_size", allow_zero=True)
        for name, low, high in (("top_p", 0.0, 1.0), ("typical_p", 0.0, 1.0), ("min_p", 0.0, 1.0)):
            value = getattr(self, name)
            if value is not None and not (low <= float(value) <= high):
                raise ValueError(f"GenerationConfig.{name} must be between {low} and {high}, not {value!r}.")
        if self.temperature is not None and float(self.temperature) < 0:
            raise ValueError(f"GenerationConfig.temperature must be >= 0, not {self.temperature!r}. Use "
                             f"do_sample=False for greedy decoding.")
        if self.repetition_penalty is not None and float(self.repetition_penalty) <= 0:
            raise ValueError(f"GenerationConfig.repetition_penalty must be a positive float, not "
                             f"{self.repetition_penalty!r} (1.0 means no penalty).")
        if self.early_stopping not in (None, True, False, "never"):
            raise ValueError(f"GenerationConfig.early_stopping must be True, False or 'never', not "
                             f"{self.early_stopping!r}.")
        if self.cache_implementation not in (None, "dynamic", "static"):
            raise ValueError(f"cache_implementation={self.cache_implementation!r} is not supported; use "
                             f"'dynamic' (the default) or 'static'.")

    # ---- dict / JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {k: copy.deepcopy(v) for k, v in self.__dict__.items() if not k.startswith("__")}
        return out

    def to_diff_dict(self) -> dict:
        """The keys that were set (what generation_config.json holds)."""
        return {k: v for k, v in self.to_dict().items()
                if v is not None or (k not in FIELDS and k not in _METADATA)}

    def to_json_string(self, use_diff: bool = True, ignore_metadata: bool = False) -> str:
        data = self.to_diff_dict() if use_diff else self.to_dict()
        if ignore_metadata:
            for key in _METADATA:
                data.pop(key, None)
        data = json.loads(json.dumps(data, default=_json_default))  # int dict keys -> str
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path, use_diff: bool = True):
        write_text_atomic(os.fspath(path), self.to_json_string(use_diff=use_diff))

    def __repr__(self):
        return f"GenerationConfig {self.to_json_string()}"

    def __eq__(self, other):
        return (isinstance(other, GenerationConfig) and
                self.to_json_string(use_diff=False, ignore_metadata=True) ==
                other.to_json_string(use_diff=False, ignore_metadata=True))

    def __hash__(self):
        return hash(self.to_json_string(ignore_metadata=True))

    def copy(self) -> "GenerationConfig":
        return copy.deepcopy(self)

    def update(self, **kwargs) -> dict:
        """Set the given fields that exist on this config; return the others (unused) as a dict."""
        unused = {}
        for key, value in kwargs.items():
            if hasattr(self, key):
                setattr(self, key, value)
            else:
                unused[key] = value
        self.validate()
        return unused

    def get(self, name: str):
        """The value ``generate`` uses: the set value, else the global default."""
        value = getattr(self, name, None)
        return DEFAULTS.get(name) if value is None else value

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        return_unused_kwargs = kwargs.pop("return_unused_kwargs", False)
        config = cls(**{**config_dict})
        unused = config.update(**kwargs)
        return (config, unused) if return_unused_kwargs else config

    @classmethod
    def from_json_file(cls, path) -> "GenerationConfig":
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}). Re-download or re-save it.") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object, not {type(data).__name__}.")
        return cls(**data)

    @classmethod
    def from_pretrained(cls, pretrained_model_name, config_file_name=None, *, revision=None, cache_dir=None,
                        local_files_only=None, token=None, subfolder="", force_download=False,
                        return_unused_kwargs=False, **kwargs):
        """Read generation_config.json from a folder, a cached Hub id, or a path to the file."""
        name = os.fspath(pretrained_model_name)
        filename = os.fspath(config_file_name) if config_file_name else GENERATION_CONFIG_NAME
        if os.path.isfile(name):
            path = name
        else:
            path = resolve_file(name, filename, revision=revision, cache_dir=cache_dir,
                                local_files_only=local_files_only, token=token, subfolder=subfolder,
                                force_download=force_download)
        config = cls.from_json_file(path)
        unused = config.update(**kwargs)
        return (config, unused) if return_unused_kwargs else config

    @classmethod
    def from_model_config(cls, model_config) -> "GenerationConfig":
        """Take the generation fields (token ids, use_cache, output flags) a model config holds."""
        data = model_config if isinstance(model_config, dict) else model_config.to_dict()
        data = {k: v for k, v in data.items() if v is not None and k in FIELDS}
        config = cls(**data)
        config._from_model_config = True
        if not config.return_dict_in_generate and any(getattr(config, f) for f in _EXTRA_OUTPUT_FLAGS):
            config.return_dict_in_generate = True
        return config

    def save_pretrained(self, save_directory, config_file_name=None, **kwargs):
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained needs a folder, and {save_directory!r} is a file.")
        os.makedirs(save_directory, exist_ok=True)
        self.to_json_file(os.path.join(save_directory, config_file_name or GENERATION_CONFIG_NAME))


def _json_default(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def load_generation_config(name_or_path, config, **hub_kwargs) -> GenerationConfig:
    """What ``from_pretrained`` stores on ``model.generation_config``: the checkpoint's
    generation_config.json when it has one, else the fields of the model config."""
    if name_or_path is not None:
        path = None
        try:
            path = resolve_file(name_or_path, GENERATION_CONFIG_NAME, required=False,
                                **hub_kwargs)
        except OSError:
            path = None
        if path is not None:
            return GenerationConfig.from_json_file(path)
    return GenerationConfig.from_model_config(config)
