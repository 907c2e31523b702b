"""Pipeline: the reference's stages (_sanitize_parameters → preprocess → _forward → postprocess)
with batches built from length-sorted inputs.

Why sort: a batch is padded to its longest member, and every pad token costs a full forward pass
position. The reference batches inputs in the order given, so 1,000 mixed-length sentences carry
about as many pad tokens as real ones. Here a list is preprocessed first, sorted by token count,
cut into consecutive batches (each padded only to its own longest), and the results are put back in
input order. A generator or dataset is consumed in windows of ``sort_window`` batches, sorted within
each window, so memory stays bounded and results still stream in input order.

Each item's model outputs are cut back out of its batch with a batch dimension of 1, exactly the
shape ``postprocess`` sees for a single input, so one postprocess serves both paths.
"""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
import logging
import os
from typing import Any

import torch

from ..outputs import ModelOutput

__all__ = ["Pipeline", "PipelineException", "resolve_device", "pad_batch", "with_default_truncation"]

logger = logging.getLogger("leanformers")

# Values to pad each model-input key with; any other key pads with 0. input_ids uses the
# tokenizer's pad token.
_PAD_VALUES = {"attention_mask": 0, "token_type_ids": 0, "special_tokens_mask": 1, "p_mask": 1}


class PipelineException(ValueError):
    """A pipeline cannot run on what it was given (the message says what and how to fix it)."""

    def __init__(self, task: str, model: str, reason: str):
        super().__init__(reason)
        self.task = task
        self.model = model


def resolve_device(device, model=None) -> torch.device:
    """The device a pipeline runs on, from the reference's spellings.

    ``None``: where the model already is if that is an accelerator, else ``cuda:0`` when CUDA is
    available (as the reference), else the CPU. ``-1`` or ``"cpu"``: the CPU. ``0``, ``1``, ...:
    that CUDA device. A string (``"cuda:1"``, ``"mps"``) or a ``torch.device`` is taken as given.
    """
    if device is None:
        model_device = getattr(model, "device", None)
        if isinstance(model_device, torch.device) and model_device.type != "cpu":
            return model_device
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if isinstance(device, torch.device):
        return _available(device, device)
    if isinstance(device, str):
        try:
            resolved = torch.device(device)
        except RuntimeError:
            raise ValueError(
                f"device={device!r} is not a device name. Use 'cpu', 'cuda', 'cuda:0', 'mps', an index "
                f"like 0, or -1 for the CPU."
            ) from None
        return _available(resolved, device)
    if isinstance(device, int) and not isinstance(device, bool):
        if device < 0:
            return torch.device("cpu")
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device} asks for CUDA device {device}, but CUDA is not available here. "
                f"Use device='cpu' (or -1), or leave device unset."
            )
        return torch.device(f"cuda:{device}")
    raise TypeError(f"device must be None, an int, a string or a torch.device, not {type(device).__name__}.")


def _available(device: torch.device, spelled) -> torch.device:
    """``device`` if this torch can use it here, else one clear error (instead of torch's assertion
    "Torch not compiled with CUDA enabled" from deep inside the first ``.to()``)."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = (f"this torch {torch.__version__} was built without CUDA" if torch.version.cuda is None
                   else "no CUDA device is visible")
            raise ValueError(f"device={spelled!r} asks for a CUDA GPU, but {why}. Use device='cpu' (or -1), "
                             f"or leave device unset to use a GPU only when there is one.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device={spelled!r}: there is no CUDA device {device.index}, only "
                             f"{torch.cuda.device_count()} (0 to {torch.cuda.device_count() - 1}).")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if not (mps and mps.is_available()):
            raise ValueError(f"device={spelled!r} asks for an Apple GPU (MPS), but this torch {torch.__version__} "
                             f"cannot use one here. Use device='cpu' (or -1), or leave device unset.")
    elif device.type not in ("cpu", "meta"):
        backend = getattr(torch, device.type, None)  # torch.xpu, torch.npu, ...
        if backend is not None and hasattr(backend, "is_available") and not backend.is_available():
            raise ValueError(f"device={spelled!r}: no {device.type} device is available here. Use device='cpu'.")
    return device


# model_max_length values this large mean "unknown" (the reference's VERY_LARGE_INTEGER default)
_UNKNOWN_MAX_LENGTH = 10**6
# models whose position ids start after the padding index: usable = max_position_embeddings - (pad + 1)
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer"}


def model_max_length(tokenizer, config) -> int | None:
    """The longest input both the tokenizer's settings and the model's position table allow."""
    limits = []
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and tokenizer_limit < _UNKNOWN_MAX_LENGTH:
        limits.append(tokenizer_limit)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int):
        if getattr(config, "model_type", "") in _OFFSET_POSITIONS:
            pad = getattr(config, "pad_token_id", None)
            positions -= (1 if pad is None else pad) + 1
        limits.append(positions)
    return min(limits) if limits else None


def with_default_truncation(tokenizer, config, tokenizer_kwargs: dict) -> dict:
    """``tokenizer_kwargs`` plus truncation to the model's length, unless the user turned it off
    or chose a max_length. (The reference does not truncate, and a too-long text then fails inside
    the position embeddings.)"""
    if "max_length" in tokenizer_kwargs or tokenizer_kwargs.get("truncation", True) in (False, "do_not_truncate"):
        return tokenizer_kwargs
    limit = model_max_length(tokenizer, config)
    if limit is None:
        return tokenizer_kwargs
    return {"truncation": True, "max_length": limit, **tokenizer_kwargs}


def _sequence_length(model_input) -> int:
    """Token count of one preprocessed input (its first 2-D tensor's width), for sorting."""
    values = model_input.values() if isinstance(model_input, collections.abc.Mapping) else [model_input]
    for value in values:
        if isinstance(value, torch.Tensor) and value.dim() >= 2:
            return value.shape[1]
    return 0


def pad_batch(items: list[dict], pad_token_id: int | None, padding_side: str = "right") -> dict:
    """Stack single-input dicts (tensors of batch 1) into one batch, padding dimension 1.

    Non-tensor values (a prompt string, offsets) become lists, one entry per item.
    """
    keys = list(items[0].keys())
    for item in items[1:]:
        if set(item.keys()) != set(keys):
            raise ValueError(f"Cannot batch inputs with different keys: {sorted(keys)} vs {sorted(item.keys())}.")
    batch = {}
    for key in keys:
        values = [item[key] for item in items]
        if not isinstance(values[0], torch.Tensor):
            batch[key] = values
            continue
        if values[0].dim() < 2 or len({v.shape[1] for v in values}) == 1:
            batch[key] = torch.cat(values, dim=0)
            continue
        if key == "input_ids":
            if pad_token_id is None:
                raise ValueError(
                    "These inputs have different lengths and must be padded to be batched, but the "
                    "tokenizer has no pad token. Set one (e.g. pipe.tokenizer.pad_token = "
                    "pipe.tokenizer.eos_token) or pass batch_size=1."
                )
            pad_value = pad_token_id
        else:
            pad_value = _PAD_VALUES.get(key, 0)
        longest = max(v.shape[1] for v in values)
        out = values[0].new_full((len(values), longest, *values[0].shape[2:]), pad_value)
        for row, value in enumerate(values):
            width = value.shape[1]
            if padding_side == "left":
                out[row, longest - width:] = value[0]
            else:
                out[row, :width] = value[0]
        batch[key] = out
    return batch


def _take(value, index: int, batch: int):
    """Item ``index`` of a batched value, keeping a batch dimension of 1 for tensors."""
    if isinstance(value, torch.Tensor):
        return value[index:index + 1] if value.dim() > 0 and value.shape[0] == batch else value
    if isinstance(value, tuple) and value and all(isinstance(v, torch.Tensor) for v in value):
        return tuple(_take(v, index, batch) for v in value)  # hidden_states, attentions
    if isinstance(value, list) and len(value) == batch:
        return value[index]
    return value


def _unbatch(outputs, index: int, batch: int):
    if isinstance(outputs, torch.Tensor):
        return _take(outputs, index, batch)
    if isinstance(outputs, tuple):  # a model called with return_dict=False
        return tuple(_take(v, index, batch) for v in outputs)
    items = {k: _take(v, index, batch) for k, v in outputs.items() if v is not None and k != "cache"}
    if isinstance(outputs, ModelOutput):
        return type(outputs)(**items)
    return type(outputs)(items) if isinstance(outputs, dict) else items


def _is_stream(inputs) -> bool:
    """A generator, iterator, iterable or map-style dataset: consumed lazily, results yielded lazily."""
    if isinstance(inputs, (str, bytes, dict, list, tuple, torch.Tensor)):
        return False
    return isinstance(inputs, collections.abc.Iterable) or _is_map_style(inputs)


def _is_map_style(inputs) -> bool:
    """A ``torch.utils.data.Dataset`` (such as the reference's ``KeyDataset``) or any object with
    ``__len__`` and ``__getitem__`` but no ``__iter__``: read by index, 0 to len - 1."""
    return (not isinstance(inputs, collections.abc.Iterable) and hasattr(inputs, "__getitem__")
            and hasattr(inputs, "__len__"))


def _items(inputs):
    if _is_map_style(inputs):
        return (inputs[i] for i in range(len(inputs)))
    return iter(inputs)


def _check_batch_size(batch_size):
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}.")
    return batch_size


# a tokenizer's text arguments: the pipeline passes its inputs there itself
_TOKENIZER_INPUTS = ("text", "text_pair", "text_target", "text_pair_target")


def _parameter_names(function) -> tuple[list[str], bool]:
    """The keyword-passable parameter names of ``function``, and whether it also takes ``**kwargs``."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: nothing can be checked
        return [], True
    names = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return names, any(p.kind is p.VAR_KEYWORD for p in parameters)


class Pipeline:
    """Run a model on raw inputs: ``pipe(one_input)`` or ``pipe([many, inputs], batch_size=32)``.

    Subclasses implement the reference's four stages:

    - ``_sanitize_parameters(**kwargs) -> (preprocess_params, forward_params, postprocess_params)``,
      called with the extra keyword arguments of both the constructor and each call (a call's win);
    - ``preprocess(input, **preprocess_params)`` → a dict of tensors with a batch dimension of 1;
    - ``_forward(model_inputs, **forward_params)`` → model outputs (runs under inference mode);
    - ``postprocess(model_outputs, **postprocess_params)`` → the user's result for one input.

    ``batch_size`` (per call, else the constructor's, else ``default_batch_size`` = 32) applies to
    lists, tuples, generators and datasets; inputs are batched by similar length (see the module
    docstring), so batch size changes speed, not results (beyond float rounding).
    """

    default_batch_size: int = 32
    sort_window: int = 16  # a stream is sorted in windows of this many batches
    _load_tokenizer: bool | None = True
    default_input_names = None

    def __init__(self, model, tokenizer=None, feature_extractor=None, image_processor=None,
                 processor=None, task: str = "", device=None, binary_output: bool = False, **kwargs):
        for unused in ("args_parser", "torch_dtype", "dtype", "video_processor"):
            kwargs.pop(unused, None)
        self.task = task
        self.model = model
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.image_processor = image_processor
        self.processor = processor
        self.device = resolve_device(device, model)
        self.binary_output = binary_output
        model_device = getattr(model, "device", None)
        if isinstance(model, torch.nn.Module) and model_device != self.device:
            self.model.to(self.device)
        self.call_count = 0
        self._batch_size = kwargs.pop("batch_size", None)
        if self._batch_size is not None:
            _check_batch_size(self._batch_size)
        self._num_workers = kwargs.pop("num_workers", None)  # accepted for compatibility; unused
        self._preprocess_params, self._forward_params, self._postprocess_params = self._sanitize(kwargs)

    # ---- the four stages (subclasses) ----------------------------------------------------------
    def _sanitize_parameters(self, **pipeline_parameters) -> tuple[dict, dict, dict]:
        raise NotImplementedError(f"{type(self).__name__} must implement _sanitize_parameters")

    def preprocess(self, input_, **preprocess_parameters) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement preprocess")

    def _forward(self, input_tensors: dict, **forward_parameters):
        raise NotImplementedError(f"{type(self).__name__} must implement _forward")

    def postprocess(self, model_outputs, **postprocess_parameters) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement postprocess")

    def _sanitize(self, kwargs: dict) -> tuple[dict, dict, dict]:
        """``_sanitize_parameters(**kwargs)``, with one clear error for a parameter nothing takes.

        A pipeline whose ``preprocess`` takes ``**kwargs`` hands the parameters it does not know to
        its tokenizer (the reference's text-classification does): those are checked here against
        the tokenizer's own options, so a typo is reported by the pipeline, not by the tokenizer."""
        own, open_ended = _parameter_names(self._sanitize_parameters)
        if not open_ended:
            self._raise_unknown([k for k in kwargs if k not in own], own, [])
        pre, fwd, post = self._sanitize_parameters(**kwargs)
        preprocess_names, preprocess_open = _parameter_names(self.preprocess)
        preprocess_names = preprocess_names[1:]  # the first one takes the input itself
        if preprocess_open and self.tokenizer is not None and callable(self.tokenizer):
            tokenizer_names = [n for n in _parameter_names(self.tokenizer.__call__)[0] if n not in _TOKENIZER_INPUTS]
            if tokenizer_names:  # a tokenizer that names no options cannot be checked
                # only what _sanitize_parameters took through its **kwargs and handed on as it was
                self._raise_unknown([k for k in kwargs if k not in own and k in pre and k not in preprocess_names
                                     and k not in tokenizer_names], own, tokenizer_names)
        return pre, fwd, post

    def _raise_unknown(self, unknown: list, own: list, tokenizer_options: list):
        if not unknown:
            return
        names = ", ".join(repr(k) for k in unknown)
        accepted = ", ".join(sorted({*own, "batch_size", "num_workers"}))
        extra = f"; and the tokenizer's options {', '.join(tokenizer_options)}" if tokenizer_options else ""
        what = "an unknown parameter" if len(unknown) == 1 else "unknown parameters"
        raise TypeError(f"{type(self).__name__} got {what} {names}. It accepts {accepted}{extra}.")

    def _unpad(self, item_outputs, length: int, padded_length: int, padding_side: str):
        """Hook: cut one item's outputs back to its own ``length`` after batching padded it to
        ``padded_length``. The default keeps them as they are (per-sequence outputs like logits)."""
        return item_outputs

    def _is_single_input(self, inputs) -> bool:
        """Hook: whether ``inputs`` is one input rather than a batch (a chat pipeline says True
        for a list of message dicts)."""
        return not isinstance(inputs, (list, tuple)) and not _is_stream(inputs)

    # ---- running ---------------------------------------------------------------------------------
    def get_inference_context(self):
        return torch.inference_mode

    @contextlib.contextmanager
    def device_placement(self):
        """Allocate new tensors on the pipeline's CUDA device while inside (no-op elsewhere)."""
        if self.device.type == "cuda":
            with torch.cuda.device(self.device):
                yield
        else:
            yield

    def ensure_tensor_on_device(self, **inputs):
        return self._ensure_tensor_on_device(inputs, self.device)

    def _ensure_tensor_on_device(self, inputs, device):
        if isinstance(inputs, torch.Tensor):
            return inputs.to(device)
        if isinstance(inputs, ModelOutput):
            return type(inputs)(**{k: self._ensure_tensor_on_device(v, device) for k, v in inputs.items()})
        if isinstance(inputs, collections.abc.Mapping):
            moved = {k: self._ensure_tensor_on_device(v, device) for k, v in inputs.items()}
            return moved if type(inputs) is dict else type(inputs)(moved)
        if isinstance(inputs, list):
            return [self._ensure_tensor_on_device(v, device) for v in inputs]
        if isinstance(inputs, tuple):
            return tuple(self._ensure_tensor_on_device(v, device) for v in inputs)
        return inputs

    def forward(self, model_inputs, **forward_params):
        """``_forward`` on the pipeline's device, without autograd; outputs come back on the CPU."""
        with self.device_placement(), self.get_inference_context()():
            model_inputs = self._ensure_tensor_on_device(model_inputs, self.device)
            outputs = self._forward(model_inputs, **forward_params)
            return self._ensure_tensor_on_device(outputs, torch.device("cpu"))

    def run_single(self, inputs, preprocess_params, forward_params, postprocess_params):
        model_inputs = self.preprocess(inputs, **preprocess_params)
        model_outputs = self.forward(model_inputs, **forward_params)
        return self.postprocess(model_outputs, **postprocess_params)

    def __call__(self, inputs=None, *args, batch_size: int | None = None, num_workers=None, **kwargs):
        if args:
            logger.warning(f"{type(self).__name__} ignores extra positional arguments {args!r}.")
        if inputs is None:
            raise ValueError(f"{type(self).__name__} needs an input: pipe('some text') or pipe([...]).")
        batch_size = _check_batch_size(batch_size if batch_size is not None else
                                       self._batch_size if self._batch_size is not None else self.default_batch_size)
        pre, fwd, post = self._sanitize(kwargs)
        # a call's parameters win over the constructor's, without changing the constructor's
        pre = {**self._preprocess_params, **pre}
        fwd = {**self._forward_params, **fwd}
        post = {**self._postprocess_params, **post}
        self.call_count += 1

        if self._is_single_input(inputs):
            return self.run_single(inputs, pre, fwd, post)
        if isinstance(inputs, (list, tuple)):
            return self._run_sorted(list(inputs), batch_size, pre, fwd, post)
        return self._stream(inputs, batch_size, pre, fwd, post)

    def _stream(self, inputs, batch_size, pre, fwd, post):
        """Results of a generator/dataset, lazily, in input order (sorted within windows)."""
        window = []
        for item in _items(inputs):
            window.append(item)
            if len(window) == batch_size * self.sort_window:
                yield from self._run_sorted(window, batch_size, pre, fwd, post)
                window = []
        if window:
            yield from self._run_sorted(window, batch_size, pre, fwd, post)

    def _run_sorted(self, inputs: list, batch_size: int, pre, fwd, post) -> list:
        """Results for ``inputs`` in their order, computed in batches of similar length."""
        model_inputs = [self.preprocess(item, **pre) for item in inputs]
        lengths = [_sequence_length(m) for m in model_inputs]
        order = sorted(range(len(inputs)), key=lengths.__getitem__)  # stable: ties keep input order
        padding_side = getattr(self.tokenizer, "padding_side", "right") or "right"
        pad_token_id = getattr(self.tokenizer, "pad_token_id", None)
        results = [None] * len(inputs)
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            if len(indices) == 1:
                batch = model_inputs[indices[0]]
            else:
                batch = pad_batch([model_inputs[i] for i in indices], pad_token_id, padding_side)
            outputs = self.forward(batch, **fwd)
            longest = max(lengths[i] for i in indices)
            for row, i in enumerate(indices):
                item_outputs = _unbatch(outputs, row, len(indices)) if len(indices) > 1 else outputs
                if lengths[i] != longest:
                    item_outputs = self._unpad(item_outputs, lengths[i], longest, padding_side)
                results[i] = self.postprocess(item_outputs, **post)
                model_inputs[i] = None  # free as we go
        return results

    # ---- conveniences -----------------------------------------------------------------------------
    @property
    def dtype(self):
        return getattr(self.model, "dtype", None)

    @property
    def torch_dtype(self):
        return self.dtype

    def transform(self, X):
        """scikit-learn style alias of ``__call__``."""
        return self(X)

    def predict(self, X):
        """scikit-learn style alias of ``__call__``."""
        return self(X)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs):
        """Save the model and the tokenizer into one folder that ``pipeline(model=folder)`` loads."""
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained needs a folder, and {save_directory!r} is a file.")
        os.makedirs(save_directory, exist_ok=True)
        self.model.save_pretrained(save_directory, **kwargs)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(save_directory)

    def __repr__(self):
        info = {"model": type(self.model).__name__, "dtype": str(self.dtype).split(".")[-1],
                "device": self.device.type}
        return f"{type(self).__name__}: {info}"
