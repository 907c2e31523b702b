"""PreTrainedModel: from_pretrained / save_pretrained and what every model shares.

Loading (gpt-fast's recipe): build the model with its parameters on the meta device (no memory, no
random init), memory-map the checkpoint, and *assign* its tensors to the parameters by name. Only
weights the checkpoint lacks (a new task head) are materialised and initialised, and they are named
in one warning. ``base_model_prefix`` lets a body load from a head checkpoint and the reverse.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import threading

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from . import weights as W
from .configuration import PretrainedConfig, write_text_atomic
from .hub import CheckpointNotFoundError, resolve_file, split_gguf_path
from .layers import eager_attention, eager_attention_active
from .logging import tqdm

__all__ = ["PreTrainedModel", "init_empty_weights", "upload_files"]

logger = logging.getLogger("leanformers")

# from_pretrained arguments of the reference that have no meaning here; accepted and ignored.
_IGNORED_KWARGS = {
    "low_cpu_mem_usage", "resume_download", "proxies", "mirror", "_fast_init", "offload_folder",
    "offload_state_dict", "use_auth_token", "_from_auto", "weights_only", "disable_mmap", "key_mapping",
    "tp_plan", "use_kernels",
}
ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
_QUANTIZATION_KWARGS = ("load_in_8bit", "load_in_4bit", "quantization_config")


# Building a model changes how torch creates tensors (parameters on meta, a default dtype). Both
# changes are confined to the building thread: a layer built by another thread at the same time
# comes out as it would without leanformers.
_BUILD = threading.local()  # .meta: nesting depth of init_empty_weights in this thread
_PATCH_LOCK = threading.Lock()
_patch_users = 0
_originals: dict = {}
_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")


def _register_on_meta(module, name, param):
    _originals["register_parameter"](module, name, param)
    if getattr(_BUILD, "meta", 0) and param is not None and param.device.type != "meta":
        module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)


def _skip_on_meta(init):
    # Layers' own reset_parameters() would initialise meta tensors: pointless, and normal_ on meta
    # goes through torch._refs, whose first use imports torch._dynamo (seconds).
    @functools.wraps(init)
    def wrapper(tensor, *args, **kwargs):
        return tensor if tensor.device.type == "meta" else init(tensor, *args, **kwargs)
    return wrapper


def _patch(install: bool):
    """Install the hooks while any thread builds on meta; they act only in threads that do."""
    global _patch_users
    with _PATCH_LOCK:
        _patch_users += 1 if install else -1
        if install and _patch_users == 1:
            _originals["register_parameter"] = nn.Module.register_parameter
            nn.Module.register_parameter = _register_on_meta
            for name in _INIT_FUNCTIONS:
                if hasattr(nn.init, name):
                    _originals[name] = getattr(nn.init, name)
                    setattr(nn.init, name, _skip_on_meta(_originals[name]))
        elif not install and _patch_users == 0:
            # _originals keeps its entries: a call that entered a hook just before this still finds them
            nn.Module.register_parameter = _originals["register_parameter"]
            for name in _INIT_FUNCTIONS:
                if name in _originals:
                    setattr(nn.init, name, _originals[name])


@contextlib.contextmanager
def init_empty_weights():
    """Create the parameters of modules built in this thread on the meta device (buffers stay
    real: they are small and often computed, like position ids or RoPE frequencies, and are not
    always in a checkpoint). Other threads are not affected."""
    _patch(True)
    depth = getattr(_BUILD, "meta", 0)
    _BUILD.meta = depth + 1
    try:
        yield
    finally:
        _BUILD.meta = depth
        _patch(False)


class _DefaultDtype(TorchFunctionMode):
    """``torch.set_default_dtype`` for the current thread only (torch function modes are
    thread-local; the default dtype is process-wide): a factory call without a dtype that gives the
    process default floating dtype gives ``dtype`` instead."""

    _FACTORIES = frozenset({torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn,
                            torch.arange, torch.linspace, torch.logspace, torch.eye, torch.empty_strided,
                            torch.scalar_tensor, torch.tensor, torch.as_tensor})

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.dtype = dtype

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if (func in self._FACTORIES and kwargs.get("dtype") is None and "out" not in kwargs
                and isinstance(out, torch.Tensor) and out.dtype == torch.get_default_dtype()
                and not (args and isinstance(args[0], torch.Tensor))):  # torch.tensor(t) keeps t's dtype
            out = out.to(self.dtype)
        return out


def _default_dtype(dtype: torch.dtype):
    if not dtype.is_floating_point or dtype == torch.get_default_dtype():
        return contextlib.nullcontext()
    return _DefaultDtype(dtype)


def _refuse_quantization(options: dict, where: str = "from_pretrained()"):
    found = [k for k in _QUANTIZATION_KWARGS if options.get(k)]
    if found:
        raise NotImplementedError(
            f"{where} asks for quantized weights ({', '.join(found)}), which leanformers does not "
            f"support. Load the full-precision checkpoint with dtype=torch.bfloat16 or torch.float16 "
            f"to halve memory, or a GGUF file with from_pretrained(..., gguf_file=...)."
        )


def _check_variant(variant):
    if variant is not None and not (isinstance(variant, str) and W.is_plain_file_name(variant)):
        raise ValueError(f"variant must be a name like 'fp16' (weights in model.fp16.safetensors), not {variant!r}.")
    return variant


def _check_attn_implementation(value):
    if value is not None and value not in ATTN_IMPLEMENTATIONS:
        raise ValueError(
            f"attn_implementation={value!r} is not supported: use 'sdpa' (the default: "
            f"torch.nn.functional.scaled_dot_product_attention, which picks flash or memory-efficient "
            f"kernels by itself) or 'eager' (explicit matmul + softmax)."
        )
    return value


# the spellings ``dtype=`` accepts for each dtype (besides the torch.dtype itself and "torch.<name>")
DTYPE_NAMES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "float64": "float64", "fp64": "float64", "double": "float64",
}


def _to_dtype(dtype) -> torch.dtype | str | None:
    """``dtype=`` as a torch.dtype (or None / "auto"): a torch.dtype, or one of DTYPE_NAMES'
    spellings ("bf16", "bfloat16", "torch.bfloat16", ...)."""
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    name = DTYPE_NAMES.get(str(dtype).strip().lower().removeprefix("torch."))
    if name is None:
        raise ValueError(f"dtype={dtype!r} is not a dtype leanformers knows: pass a torch.dtype, 'auto', or one "
                         f"of {', '.join(sorted(DTYPE_NAMES))}.")
    return getattr(torch, name)


class _PlaceholderLeft(Exception):
    """A GGUF matrix left unpacked (its layer is not a linear one): load the file the plain way."""


def _packer(model, gguf_path):
    def pack():
        from .quantization import quantize_model

        quantize_model(model, "gguf", gguf_path)
    return pack


class PreTrainedModel(nn.Module):
    config_class: type[PretrainedConfig] = PretrainedConfig
    base_model_prefix: str = ""
    main_input_name: str = "input_ids"
    # target parameter name -> source name, tied when config.tie_word_embeddings (default True)
    _tied_weights_keys: dict[str, str] | None = None
    _keys_to_ignore_on_load_missing: list[str] | None = None
    _keys_to_ignore_on_load_unexpected: list[str] | None = None
    _supports_generate: bool = False  # causal LM heads set True

    def __init__(self, config: PretrainedConfig, *args, **kwargs):
        super().__init__()
        if not isinstance(config, PretrainedConfig):
            raise TypeError(
                f"{type(self).__name__}(config) needs a PretrainedConfig, got {type(config).__name__}. "
                f"To load weights use {type(self).__name__}.from_pretrained(name_or_path)."
            )
        self.config = config
        self.name_or_path = config.name_or_path
        self.generation_config = None
        self.gradient_checkpointing = False

    def __call__(self, *args, **kwargs):
        # attn_implementation="eager": the attention of this forward pass (and of every layer in
        # it) is computed without SDPA; a context variable, so other threads are unaffected.
        if getattr(self.config, "_attn_implementation", None) != "eager" or eager_attention_active():
            return super().__call__(*args, **kwargs)
        with eager_attention():
            return super().__call__(*args, **kwargs)

    # ---- initialisation and tying ----------------------------------------------------------------
    def _init_weights(self, module: nn.Module, std: float | None = None):
        """The reference's default init; model files override it where theirs differs (or only pass
        ``std`` where their config names it otherwise, e.g. BART's ``init_std``)."""
        if std is None:
            std = getattr(self.config, "initializer_range", 0.02)
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            if module.weight is not None:
                module.weight.data.fill_(1.0)
            if module.bias is not None:
                module.bias.data.zero_()

    def post_init(self):
        """Called at the end of a model's ``__init__``: initialise (a no-op on meta) and tie."""
        if not any(p.device.type == "meta" for p in self.parameters()):
            self.apply(self._init_weights)
        self.tie_weights()

    def _tie_pairs(self):
        if not self._tied_weights_keys or not getattr(self.config, "tie_word_embeddings", True):
            return {}
        return dict(self._tied_weights_keys)

    def tie_weights(self):
        for target, source in self._tie_pairs().items():
            try:
                param = self.get_parameter(source)
            except AttributeError:
                continue
            owner_name, _, attr = target.rpartition(".")
            try:
                owner = self.get_submodule(owner_name)
            except AttributeError:
                continue
            setattr(owner, attr, param)

    # ---- conveniences ------------------------------------------------------------------------
    @property
    def base_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self) -> nn.Module:
        base = self.base_model
        if base is not self:
            return base.get_input_embeddings()
        raise NotImplementedError(f"{type(self).__name__} does not define get_input_embeddings().")

    def set_input_embeddings(self, value: nn.Module):
        base = self.base_model
        if base is not self:
            return base.set_input_embeddings(value)
        raise NotImplementedError(f"{type(self).__name__} does not define set_input_embeddings().")

    def get_output_embeddings(self):
        return None

    def resize_token_embeddings(self, new_num_tokens: int, pad_to_multiple_of: int | None = None):
        """Grow or shrink the input embeddings (and a tied output layer) to ``new_num_tokens``."""
        if pad_to_multiple_of:
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        old = self.get_input_embeddings()
        new = nn.Embedding(new_num_tokens, old.embedding_dim, padding_idx=old.padding_idx,
                           dtype=old.weight.dtype, device=old.weight.device)
        self._init_weights(new)
        n = min(old.num_embeddings, new_num_tokens)
        with torch.no_grad():
            new.weight[:n] = old.weight[:n]
        self.set_input_embeddings(new)
        out = self.get_output_embeddings()
        if out is not None and not self._tie_pairs():
            new_out = nn.Linear(out.in_features, new_num_tokens, bias=out.bias is not None,
                                dtype=out.weight.dtype, device=out.weight.device)
            self._init_weights(new_out)
            with torch.no_grad():
                new_out.weight[:n] = out.weight[:n]
                if out.bias is not None:
                    new_out.bias[:n] = out.bias[:n]
            self.set_output_embeddings(new_out)
        elif out is not None and out.bias is not None and out.bias.shape[0] != new_num_tokens:
            bias = torch.zeros(new_num_tokens, dtype=out.bias.dtype, device=out.bias.device)
            bias[:n] = out.bias.data[:n]
            # The bias may itself be tied (BERT's decoder.bias is cls.predictions.bias): replace every
            # reference to the old tensor, or tie_weights below would put the old size back.
            old_bias, new_bias = out.bias, nn.Parameter(bias)
            for module in self.modules():
                for pname, param in list(module._parameters.items()):
                    if param is old_bias:
                        module._parameters[pname] = new_bias
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        return self.get_input_embeddings()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.get_default_dtype()

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        skip = set()
        if exclude_embeddings:
            skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        seen, total = set(), 0
        for p in self.parameters():
            if id(p) in seen or id(p) in skip or (only_trainable and not p.requires_grad):
                continue
            seen.add(id(p))
            total += p.numel()
        return total

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        """Checkpoint every layer while training (layers.GradientCheckpointingLayer and the encoders'
        own loops); ``gradient_checkpointing_kwargs`` go to ``torch.utils.checkpoint.checkpoint``."""
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = True
                if hasattr(module, "checkpointing_kwargs"):
                    module.checkpointing_kwargs = dict(gradient_checkpointing_kwargs or {})

    def gradient_checkpointing_disable(self):
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = False

    # the reference's newer names for the same switches
    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None):
        self.gradient_checkpointing_enable(activation_checkpointing_kwargs)

    activation_checkpointing_disable = gradient_checkpointing_disable

    @classmethod
    def can_generate(cls) -> bool:
        return cls._supports_generate

    def generate(self, *args, **kwargs):
        if not self.can_generate():
            raise TypeError(
                f"{type(self).__name__} cannot generate text: use a causal language model class "
                f"such as AutoModelForCausalLM."
            )
        from .generation import generate

        return generate(self, *args, **kwargs)

    @classmethod
    def sanitize(cls, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename legacy checkpoint keys. Old TF-converted BERTs name LayerNorm gamma/beta."""
        if not any(k.endswith((".gamma", ".beta")) for k in state_dict):
            return state_dict
        renamed = {}
        for key, value in state_dict.items():
            if "LayerNorm" in key or "layer_norm" in key:
                key = re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", key))
            renamed[key] = value
        return renamed

    # ---- building --------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: PretrainedConfig, dtype=None, attn_implementation=None, **kwargs):
        """A randomly initialised model (the reference's ``_from_config``)."""
        dtype = _to_dtype(dtype or kwargs.pop("torch_dtype", None))
        _refuse_quantization(kwargs, where="from_config()")
        for key in _QUANTIZATION_KWARGS:
            kwargs.pop(key, None)
        if attn_implementation is not None:
            config._attn_implementation = _check_attn_implementation(attn_implementation)
        with _default_dtype(dtype if isinstance(dtype, torch.dtype) else torch.get_default_dtype()):
            return cls(config, **kwargs)

    _from_config = from_config

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, config=None, cache_dir=None,
                        ignore_mismatched_sizes=False, force_download=False, local_files_only=None,
                        token=None, revision=None, subfolder="", use_safetensors=None, dtype="auto",
                        device_map=None, output_loading_info=False, gguf_file=None, quantization=None,
                        **kwargs):
        """Load a model from a Hub id, a folder or a GGUF file. ``quantization``: None (float weights),
        "int8" / "int4" (weight-only, any checkpoint) or "gguf" (a GGUF file's own blocks); see
        :mod:`leanformers.quantization`."""
        pretrained_model_name_or_path, gguf_file = split_gguf_path(pretrained_model_name_or_path, gguf_file)
        name = os.fspath(pretrained_model_name_or_path)
        hub = dict(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                   token=token, subfolder=subfolder, force_download=force_download)
        if "torch_dtype" in kwargs:
            dtype = kwargs.pop("torch_dtype")
        dtype = _to_dtype(dtype)
        for key in _IGNORED_KWARGS & kwargs.keys():
            kwargs.pop(key)
        _refuse_quantization(kwargs)
        for key in _QUANTIZATION_KWARGS:  # load_in_8bit=False and the like ask for nothing
            kwargs.pop(key, None)
        variant = _check_variant(kwargs.pop("variant", None))
        trust_remote_code = kwargs.pop("trust_remote_code", None)
        attn_implementation = _check_attn_implementation(kwargs.pop("attn_implementation", None))

        gguf_path = resolve_file(name, gguf_file, **hub) if gguf_file else None
        if quantization is not None:
            from .quantization import check_quantization

            quantization = check_quantization(quantization, gguf_path)
        if config is None:
            if gguf_path:
                from .gguf import gguf_config_dict

                config, kwargs = cls.config_class.from_dict(gguf_config_dict(gguf_path),
                                                            return_unused_kwargs=True, **kwargs)
            else:
                config, kwargs = cls.config_class.from_pretrained(name, return_unused_kwargs=True,
                                                                  **hub, **kwargs)
        else:
            attn_implementation = attn_implementation or getattr(config, "_attn_implementation", None)
            config = config.copy()
            config, kwargs = type(config).from_dict(config.to_dict(), return_unused_kwargs=True, **kwargs)
        if kwargs:
            raise TypeError(f"{cls.__name__}.from_pretrained() got unexpected arguments {sorted(kwargs)} "
                            f"(they are neither loading options nor {type(config).__name__} fields).")
        _refuse_quantization(vars(config), where=f"{name}'s config.json")
        if trust_remote_code and getattr(config, "auto_map", None):
            raise ValueError(
                f"{name} ships its own modelling code (config.json has auto_map {config.auto_map}), and "
                f"leanformers never runs code from a checkpoint. Pass trust_remote_code=False to load "
                f"it with the built-in {cls.__name__} (as the reference does without remote code), or "
                f"use the reference library to run the custom code."
            )
        config._attn_implementation = attn_implementation or "sdpa"
        config.name_or_path = name

        # quantization="gguf" packs the file's blocks straight from its bytes: the matrices are not
        # dequantised first (a float copy of the model at load time). Should a placeholder find no
        # quantized layer to become, the model is loaded again the plain way.
        for packed in ((True, False) if quantization == "gguf" else (False,)):
            state = cls.sanitize(cls._load_state(name, gguf_path, use_safetensors, hub, variant, packed=packed))
            if dtype == "auto" or dtype is None:
                dtype = DTYPE_NAMES.get(str(config.dtype).removeprefix("torch.")) if config.dtype else None
                dtype = getattr(torch, dtype) if dtype else None
                if not isinstance(dtype, torch.dtype):
                    dtype = next((t.dtype for t in state.values() if t.is_floating_point()), torch.float32)
            config.dtype = str(dtype).replace("torch.", "")

            with init_empty_weights(), _default_dtype(dtype):
                model = cls(config, *model_args)
            try:
                info = model._assign_state(state, dtype, ignore_mismatched_sizes,
                                           **({"prepare": _packer(model, gguf_path)} if packed else {}))
                break
            except _PlaceholderLeft:
                del state, model
        del state
        model._report_loading(info, name)
        if quantization is not None and not packed:
            from .quantization import quantize_model

            quantize_model(model, quantization, gguf_path)
        elif gguf_path:  # dequantising / packing left the heap full of freed temporaries: give them back
            from .quantization import return_freed_memory

            return_freed_memory()
        if gguf_path:  # the weights are built: the file's parse and map need not stay resident
            from .gguf import forget_gguf

            forget_gguf(gguf_path)

        if model.can_generate():
            from .generation import load_generation_config

            model.generation_config = load_generation_config(name if not gguf_path else None, config, **hub)
        if device_map is not None:
            device = device_map if not isinstance(device_map, dict) else device_map.get("", "cpu")
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            model.to(device)
        model.eval()
        return (model, info) if output_loading_info else model

    @classmethod
    def _load_state(cls, name, gguf_path, use_safetensors, hub, variant=None,
                    packed=False) -> dict[str, torch.Tensor]:
        if gguf_path:
            from .gguf import gguf_state_dict

            return gguf_state_dict(gguf_path, packed=packed)
        candidates = []
        if use_safetensors is not False:
            candidates += [W.SAFE_WEIGHTS_NAME, W.SAFE_WEIGHTS_INDEX_NAME]
        if use_safetensors is not True:
            candidates += [W.WEIGHTS_NAME, W.WEIGHTS_INDEX_NAME]
        candidates = [W.variant_name(c, variant) for c in candidates]
        # A save into the folder while we read may swap the layout under us (a single file for
        # shards, new shards for old): a vanished or changed file means "look again".
        for attempt in range(5):
            try:
                for filename in candidates:
                    path = resolve_file(name, filename, required=False, **hub)
                    if path is None:
                        continue
                    if filename.endswith(".json"):
                        # shards lie beside their index (the index may name only plain file names)
                        return W.load_sharded(path, lambda shard: resolve_file(name, shard, **hub))
                    return W.load_checkpoint_files([path])
                break
            except (FileNotFoundError, CheckpointNotFoundError):
                if attempt == 4 or not os.path.isdir(name):
                    raise
        hint = (f" To load the weights without a variant, leave out variant={variant!r}." if variant else
                " Save the model with save_pretrained(), or pass the folder that holds the weights.")
        raise W.CorruptCheckpointError(f"{name!r} has a config but no weights: none of {candidates} was found.{hint}")

    def _align_prefix(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map body-only checkpoints onto head models and head checkpoints onto bodies."""
        prefix = self.base_model_prefix
        if not prefix:
            return state
        is_head_model = isinstance(getattr(self, prefix, None), nn.Module)
        start = prefix + "."
        ckpt_has_prefix = any(k.startswith(start) for k in state)
        if is_head_model and not ckpt_has_prefix:
            own = set(self.state_dict())
            # keys of the head itself stay as they are; body keys gain the prefix
            return {(k if k in own else start + k): v for k, v in state.items()}
        if not is_head_model and ckpt_has_prefix:
            return {(k[len(start):] if k.startswith(start) else k): v for k, v in state.items()}
        return state

    def _assign_state(self, state, dtype, ignore_mismatched_sizes, prepare=None) -> dict:
        """Load ``state`` into this meta-built model. ``prepare()``, if given, runs once the tensors are
        in place and before missing ones are initialised (the GGUF packer replaces the layers whose
        weights are still meta placeholders)."""
        state = self._align_prefix(state)
        expected = self.state_dict()
        tied_targets = set(self._tie_pairs())
        unexpected = [k for k in state if k not in expected]
        if self._keys_to_ignore_on_load_unexpected:
            unexpected = [k for k in unexpected
                          if not any(re.search(p, k) for p in self._keys_to_ignore_on_load_unexpected)]
        mismatched, to_load = [], {}
        for key, tensor in tqdm(state.items(), total=len(state), desc="Loading weights", unit="tensor", leave=False):
            if key not in expected:
                continue
            want = expected[key]
            if tuple(tensor.shape) != tuple(want.shape):
                mismatched.append((key, tuple(tensor.shape), tuple(want.shape)))
                continue
            if tensor.is_floating_point() and want.is_floating_point() and tensor.dtype != dtype:
                tensor = tensor.to(dtype)
            to_load[key] = tensor
        if mismatched and not ignore_mismatched_sizes:
            shapes = "; ".join(f"{k}: checkpoint {a}, model {b}" for k, a, b in mismatched)
            raise ValueError(
                f"Cannot load the checkpoint into {type(self).__name__}: shapes differ ({shapes}). "
                f"Fix the config (e.g. num_labels, vocab_size), or pass ignore_mismatched_sizes=True "
                f"to re-initialise these weights."
            )
        self.load_state_dict(to_load, strict=False, assign=True)
        self.tie_weights()
        if prepare is not None:
            prepare()
            left = [k for k, t in [*self.named_parameters(remove_duplicate=False),
                                   *self.named_buffers(remove_duplicate=False)]
                    if t.device.type == "meta" and k in to_load]
            if left:
                raise _PlaceholderLeft(left)

        missing = self._materialize_missing(set(to_load))
        missing = [k for k in missing if k not in tied_targets]
        if self._keys_to_ignore_on_load_missing:
            missing = [k for k in missing
                       if not any(re.search(p, k) for p in self._keys_to_ignore_on_load_missing)]
        return {"missing_keys": missing, "unexpected_keys": unexpected,
                "mismatched_keys": mismatched, "error_msgs": []}

    def _materialize_missing(self, loaded: set[str]) -> list[str]:
        """Give every parameter still on meta real memory and the model's own init."""
        missing, owners, fresh = [], {}, set()
        for name, module in self.named_modules():
            for pname, param in list(module._parameters.items()):
                if param is not None and param.device.type == "meta":
                    full = f"{name}.{pname}" if name else pname
                    missing.append(full)
                    module._parameters[pname] = nn.Parameter(
                        torch.empty(param.shape, dtype=param.dtype), requires_grad=param.requires_grad)
                    fresh.add(id(module._parameters[pname]))
                    owners[id(module)] = (name, module)
        for prefix, module in owners.values():
            # init touches every param of the module: keep the real ones as they were. That includes
            # loaded tensors under another name (an MLM decoder whose weight *is* the loaded embedding
            # and whose bias is new), so go by tensor identity, not by name.
            keep = {n: p.detach().clone() for n, p in module.named_parameters(recurse=False)
                    if p is not None and id(p) not in fresh}
            self._init_weights(module)
            with torch.no_grad():
                for n, p in module.named_parameters(recurse=False):
                    if n in keep:
                        p.copy_(keep[n])
        self.tie_weights()
        return missing

    def _report_loading(self, info: dict, name: str):
        new = info["missing_keys"] + [k for k, _, _ in info["mismatched_keys"]]
        if new:
            logger.warning(
                f"Some weights of {type(self).__name__} were not initialized from the checkpoint at "
                f"{name} and are newly initialized: {new}. You should probably TRAIN this model on a "
                f"down-stream task to be able to use it for predictions and inference."
            )
        if info["unexpected_keys"]:
            logger.info(f"Weights in {name} not used by {type(self).__name__}: {info['unexpected_keys']}")

    # ---- saving ----------------------------------------------------------------------------------
    def save_pretrained(self, save_directory, *, state_dict=None, max_shard_size="50GB",
                        safe_serialization=True, is_main_process=True, variant=None, push_to_hub=False,
                        token=None, **kwargs):
        """config.json + model.safetensors (sharded above ``max_shard_size``) into ``save_directory``.

        Saving is atomic per file: each file is written beside its final name, fsynced and renamed
        over it, and a sharded index is written last, so a reader, a crash or ``kill -9`` at any
        moment leaves the old checkpoint or the new one. Weight files of an older save that this save
        replaces are removed afterwards; every other file and folder in ``save_directory`` (a
        tokenizer, logs, other checkpoints) is left as it is, never moved or copied. The folder
        itself is never renamed, so ``"."``, a mount point or a symlink to a folder work.
        ``push_to_hub=True`` then uploads the written files with huggingface_hub (``repo_id``,
        ``commit_message``, ``private``, ``create_pr``, ``revision`` go to it).
        """
        hub_options = {k: kwargs.pop(k) for k in _PUSH_OPTIONS if k in kwargs}
        if kwargs:
            raise TypeError(f"save_pretrained() got unexpected arguments {sorted(kwargs)}.")
        if hub_options and not push_to_hub:
            raise TypeError(f"save_pretrained() options {sorted(hub_options)} are for uploading: pass "
                            f"push_to_hub=True as well.")
        _check_variant(variant)
        if not is_main_process:
            return
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained needs a folder, and {save_directory!r} is a file.")
        os.makedirs(save_directory, exist_ok=True)
        if state_dict is None:
            state_dict = self.state_dict()
        state_dict = self._dedupe_for_save(state_dict)

        self.config.architectures = [type(self).__name__]
        self.config.dtype = str(self.dtype).replace("torch.", "")
        with _folder_lock(save_directory):
            written = W.save_state_dict(state_dict, save_directory, max_shard_size, variant=variant,
                                        safe_serialization=safe_serialization)
            if self.generation_config is not None and self.can_generate():
                self.generation_config.save_pretrained(save_directory)
                written.append("generation_config.json")
            write_text_atomic(os.path.join(save_directory, "config.json"), self.config.to_json_string())
            written.append("config.json")
            W.clean_after_save(save_directory, written, variant)
        if push_to_hub:
            repo_id = hub_options.pop("repo_id", None) or os.path.basename(os.path.abspath(save_directory))
            upload_files(save_directory, written, repo_id, token=token, **hub_options)

    def _dedupe_for_save(self, state_dict):
        """Drop tied copies (the reference saves a tied tensor once, under its source name)."""
        out = {k: v for k, v in state_dict.items() if k not in self._tie_pairs()}
        seen = {}
        for key in list(out):
            t = out[key]
            ident = (t.data_ptr(), t.shape, t.stride(), t.dtype) if t.device.type != "meta" else None
            if ident is not None and ident in seen:
                del out[key]  # the same tensor under a second name
            elif ident is not None:
                seen[ident] = key
        return {k: v.detach() for k, v in out.items()}


_PUSH_OPTIONS = ("repo_id", "commit_message", "private", "create_pr", "revision")


@contextlib.contextmanager
def _folder_lock(folder: str):
    """Serialise saves into one folder, across threads and processes, with ``flock`` on the folder
    itself (no lock file is created). Readers take no lock: atomic files are enough for them. Where
    folders cannot be locked (Windows, some network file systems) saves run unserialised."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def upload_files(folder: str, files, repo_id: str, *, token=None, commit_message=None, private=None,
                 create_pr=False, revision=None):
    """Upload ``files`` of ``folder`` to the Hub repo ``repo_id`` (created if missing) in one commit."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    return api.upload_folder(repo_id=repo_id, folder_path=folder, allow_patterns=sorted(files),
                             commit_message=commit_message or "Upload model", create_pr=create_pr,
                             revision=revision)
