"""PreTrainedModel: from_pretrained / save_pretrained and what every model shares.

Loading (gpt-fast's recipe): build the model with its parameters on the meta device (no memory, no
random init), memory-map the checkpoint, and *assign* its tensors to the parameters by name. Only
weights the checkpoint lacks (a new task head) are materialised and initialised, and they are named
in one warning. ``base_model_prefix`` lets a body load from a head checkpoint and the reverse.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile

import torch
from torch import nn

from . import weights as W
from .configuration import PretrainedConfig, write_text_atomic
from .hub import resolve_file

__all__ = ["PreTrainedModel", "init_empty_weights"]

logger = logging.getLogger("leanformers")

# from_pretrained arguments of the reference that have no meaning here; accepted and ignored.
_IGNORED_KWARGS = {
    "trust_remote_code", "low_cpu_mem_usage", "attn_implementation", "resume_download", "proxies",
    "mirror", "_fast_init", "offload_folder", "offload_state_dict", "use_auth_token", "_from_auto",
    "weights_only", "disable_mmap", "key_mapping", "tp_plan", "use_kernels", "variant",
}


@contextlib.contextmanager
def init_empty_weights():
    """Create parameters on the meta device (buffers stay real: they are small and often computed,
    like position ids or RoPE frequencies, and are not always in a checkpoint)."""
    original = nn.Module.register_parameter

    def register_on_meta(module, name, param):
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    # Layers' own reset_parameters() would then initialise meta tensors: pointless, and normal_ on
    # meta goes through torch._refs, whose first use imports torch._dynamo (seconds). Skip them.
    def skip_on_meta(init):
        def wrapper(tensor, *args, **kwargs):
            return tensor if tensor.device.type == "meta" else init(tensor, *args, **kwargs)
        return wrapper

    init_functions = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS if hasattr(nn.init, name)}
    nn.Module.register_parameter = register_on_meta
    for name, fn in init_functions.items():
        setattr(nn.init, name, skip_on_meta(fn))
    try:
        yield
    finally:
        nn.Module.register_parameter = original
        for name, fn in init_functions.items():
            setattr(nn.init, name, fn)


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                   "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                   "sparse_")


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    if dtype.is_floating_point:
        torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _to_dtype(dtype) -> torch.dtype | str | None:
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    name = str(dtype).replace("torch.", "")
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"dtype must be a torch.dtype, 'auto' or a name like 'float16', not {dtype!r}.")
    return value


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

    # ---- initialisation and tying ----------------------------------------------------------------
    def _init_weights(self, module: nn.Module):
        """The reference's default init; model files override it where theirs differs."""
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
    def from_config(cls, config: PretrainedConfig, dtype=None, **kwargs):
        """A randomly initialised model (the reference's ``_from_config``)."""
        dtype = _to_dtype(dtype or kwargs.pop("torch_dtype", None))
        with _default_dtype(dtype if isinstance(dtype, torch.dtype) else torch.get_default_dtype()):
            return cls(config, **kwargs)

    _from_config = from_config

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, config=None, cache_dir=None,
                        ignore_mismatched_sizes=False, force_download=False, local_files_only=None,
                        token=None, revision=None, subfolder="", use_safetensors=None, dtype="auto",
                        device_map=None, output_loading_info=False, gguf_file=None, **kwargs):
        name = os.fspath(pretrained_model_name_or_path)
        hub = dict(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only,
                   token=token, subfolder=subfolder, force_download=force_download)
        if "torch_dtype" in kwargs:
            dtype = kwargs.pop("torch_dtype")
        dtype = _to_dtype(dtype)
        for key in _IGNORED_KWARGS & kwargs.keys():
            kwargs.pop(key)

        gguf_path = resolve_file(name, gguf_file, **hub) if gguf_file else None
        if config is None:
            if gguf_path:
                from .gguf import gguf_config_dict

                config, kwargs = cls.config_class.from_dict(gguf_config_dict(gguf_path),
                                                            return_unused_kwargs=True, **kwargs)
            else:
                config, kwargs = cls.config_class.from_pretrained(name, return_unused_kwargs=True,
                                                                  **hub, **kwargs)
        else:
            config = config.copy()
            config, kwargs = type(config).from_dict(config.to_dict(), return_unused_kwargs=True, **kwargs)
        if kwargs:
            raise TypeError(f"{cls.__name__}.from_pretrained() got unexpected arguments {sorted(kwargs)} "
                            f"(they are neither loading options nor {type(config).__name__} fields).")
        config.name_or_path = name

        state = cls._load_state(name, gguf_path, use_safetensors, hub)
        state = cls.sanitize(state)
        if dtype == "auto" or dtype is None:
            dtype = _to_dtype(config.dtype) if config.dtype else None
            if not isinstance(dtype, torch.dtype):
                dtype = next((t.dtype for t in state.values() if t.is_floating_point()), torch.float32)
        config.dtype = str(dtype).replace("torch.", "")

        with init_empty_weights(), _default_dtype(dtype):
            model = cls(config, *model_args)
        info = model._assign_state(state, dtype, ignore_mismatched_sizes)
        model._report_loading(info, name)

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
    def _load_state(cls, name, gguf_path, use_safetensors, hub) -> dict[str, torch.Tensor]:
        if gguf_path:
            from .gguf import gguf_state_dict

            return gguf_state_dict(gguf_path)
        candidates = []
        if use_safetensors is not False:
            candidates += [W.SAFE_WEIGHTS_NAME, W.SAFE_WEIGHTS_INDEX_NAME]
        if use_safetensors is not True:
            candidates += [W.WEIGHTS_NAME, W.WEIGHTS_INDEX_NAME]
        for filename in candidates:
            path = resolve_file(name, filename, required=False, **hub)
            if path is None:
                continue
            if filename.endswith(".index.json"):
                shards = sorted(set(W.read_index(path).values()))
                return W.load_checkpoint_files([resolve_file(name, s, **hub) for s in shards])
            return W.load_checkpoint_files([path])
        raise W.CorruptCheckpointError(
            f"{name!r} has a config but no weights: none of {candidates} was found. Save the model "
            f"with save_pretrained(), or pass the folder that holds the weights."
        )

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

    def _assign_state(self, state, dtype, ignore_mismatched_sizes) -> dict:
        state = self._align_prefix(state)
        expected = self.state_dict()
        tied_targets = set(self._tie_pairs())
        unexpected = [k for k in state if k not in expected]
        if self._keys_to_ignore_on_load_unexpected:
            unexpected = [k for k in unexpected
                          if not any(re.search(p, k) for p in self._keys_to_ignore_on_load_unexpected)]
        mismatched, to_load = [], {}
        for key, tensor in state.items():
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
                        safe_serialization=True, is_main_process=True, **kwargs):
        """config.json + model.safetensors (sharded above ``max_shard_size``), written atomically.

        Everything is written into a temporary folder beside the target, which then takes the
        target's place; files already there that this save does not write (a tokenizer, a README)
        are kept. A crash at any point leaves the old folder or the new one, never a mix.
        """
        if not is_main_process:
            return
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained needs a folder, and {save_directory!r} is a file.")
        if state_dict is None:
            state_dict = self.state_dict()
        state_dict = self._dedupe_for_save(state_dict)

        self.config.architectures = [type(self).__name__]
        self.config.dtype = str(self.dtype).replace("torch.", "")
        parent = os.path.dirname(os.path.abspath(save_directory))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-save-", dir=parent)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the saved folder must not be
        try:
            written = {"config.json"}
            write_text_atomic(os.path.join(tmp, "config.json"), self.config.to_json_string())
            if self.generation_config is not None and self.can_generate():
                self.generation_config.save_pretrained(tmp)
                written.add("generation_config.json")
            if safe_serialization:
                written.update(W.save_state_dict(state_dict, tmp, max_shard_size))
            else:
                torch.save({k: v.contiguous() for k, v in state_dict.items()},
                           os.path.join(tmp, W.WEIGHTS_NAME))
                written.add(W.WEIGHTS_NAME)
            _swap_into_place(tmp, save_directory, written)
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)

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


_WEIGHT_FILE = re.compile(r"^(model(-\d{5}-of-\d{5})?\.safetensors|model\.safetensors\.index\.json|"
                          r"pytorch_model(-\d{5}-of-\d{5})?\.bin|pytorch_model\.bin\.index\.json)$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(tmp: str, target: str, written: set[str]):
    """Make ``tmp`` become ``target``, keeping target's other files (tokenizer, README, ...)."""
    if os.path.isdir(target):
        for entry in os.listdir(target):
            if entry in written or _WEIGHT_FILE.match(entry):
                continue  # replaced by this save, or a stale weight file of an older save
            src = os.path.join(target, entry)
            dst = os.path.join(tmp, entry)
            if os.path.isdir(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                try:
                    os.link(src, dst)  # cheap, and the old folder is removed right after
                except OSError:
                    shutil.copy2(src, dst)
        old = tempfile.mkdtemp(prefix=".tmp-old-", dir=os.path.dirname(os.path.abspath(target)))
        os.rmdir(old)
        os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(old, target)  # put the good folder back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, target)
