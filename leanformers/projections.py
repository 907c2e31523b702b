"""Linear projections that decode fast on the CPU: the matmuls of a decoding step, a few rows at a time.

A decoding step multiplies a handful of rows (one per sequence) by every weight of the model, so
on the CPU its speed is the speed of reading the weights. ``F.linear`` hands that to the BLAS
"x @ W.T" matrix-vector kernel, which on this kind of machine reads an (out, in) weight at half the
memory bandwidth that oneDNN's inner product reaches on a weight laid out for it. While
``generate()`` runs (``decoding(rows)``), :func:`project` therefore multiplies through oneDNN with a
copy of the weights in the layout that is fastest for that many rows:

- one row: the transposed weight, (in, out) contiguous (GPT-2's Conv1D weights already are);
- several rows: oneDNN's own blocked layout (``_reorder_linear_weight``);

and the projections that read the same input (q, k and v; gate and up) are concatenated into one
weight, so a step runs one bigger matmul instead of three small ones.

The copies are made on first use and kept on the first module of each group, keyed by the
weights' storage and version. The key is checked once per ``decoding()`` block (once per
``generate()`` call), not at every step: a training step or ``load_state_dict`` that changes a
weight between two calls makes the next call build a fresh copy. They cost the memory of the
weights once more; ``release(model)`` frees them. Outside ``decoding()``, with autograd on, off
the CPU, in other dtypes, for more rows than are being decoded (the prompt), or where oneDNN is
missing, it is plain ``F.linear`` on the module's own weight: forward passes give the reference's
numbers to the bit, and decoding gives them to float rounding (sums in another order).
"""

from __future__ import annotations

import contextlib
import itertools
import threading

import torch
import torch.nn.functional as F

__all__ = ["project", "decoding", "release"]

_state = threading.local()  # generate() may run in a worker thread (TextIteratorStreamer)
_ONEDNN: bool | None = None  # whether oneDNN's linear works here, checked once
_BLOCKS = itertools.count(1)  # numbers the decoding() blocks: copies are checked once per block


def _onednn_ok() -> bool:
    global _ONEDNN
    if _ONEDNN is None:
        try:
            x, w, b = torch.randn(3, 8), torch.randn(5, 8), torch.randn(5)
            packed = torch.ops.mkldnn._reorder_linear_weight(w, 3)
            ok = all(torch.allclose(torch.ops.mkldnn._linear_pointwise(x, weight, b, "none", [], ""),
                                    F.linear(x, w, b), atol=1e-5)
                     for weight in (packed, w.t().contiguous().t()))
            _ONEDNN = bool(ok and torch.backends.mkldnn.is_available())
        except (AttributeError, RuntimeError, NotImplementedError):
            _ONEDNN = False
    return _ONEDNN


@contextlib.contextmanager
def decoding(rows: int):
    """Within this block (on this thread), :func:`project` takes the fast path for inputs of at most
    ``rows`` rows: ``generate()`` wraps its loop in it with rows = the number of sequences."""
    previous = getattr(_state, "rows", 0), getattr(_state, "block", 0)
    _state.rows, _state.block = rows, next(_BLOCKS)
    try:
        yield
    finally:
        _state.rows, _state.block = previous


def _weight(module) -> torch.Tensor:
    """A module's weight as (out, in): nn.Linear's own, GPT-2's Conv1D's (in, out) transposed."""
    weight = module.weight
    return weight.t() if getattr(module, "transposed_weight", False) else weight


class _Packed:
    __slots__ = ("key", "weight", "bias", "sizes", "block")

    def __init__(self, key, weight, bias, sizes):
        self.key, self.weight, self.bias, self.sizes = key, weight, bias, sizes
        self.block = 0  # the decoding() block that last checked the key


def _version(t: torch.Tensor):
    try:
        return t._version
    except RuntimeError:  # an inference tensor (made under inference_mode) cannot change in place
        return None


def _key(modules, one_row: bool) -> tuple:
    key = [one_row]
    for m in modules:
        for t in (m.weight, m.bias):
            key.append(None if t is None else (t.data_ptr(), _version(t), t.dtype))
    return tuple(key)


def _pack(modules, key, one_row: bool) -> _Packed:
    weights = [_weight(m).detach() for m in modules]
    sizes = [w.shape[0] for w in weights]
    biases = [m.bias for m in modules]
    bias = None
    if any(b is not None for b in biases):
        bias = torch.cat([b.detach() if b is not None else w.new_zeros(w.shape[0])
                          for b, w in zip(biases, weights)])
    if one_row:
        # (in, out) contiguous, seen as (out, in): oneDNN's matrix-vector kernel streams it
        if len(weights) == 1 and weights[0].t().is_contiguous():
            weight = weights[0]  # already that layout (GPT-2's Conv1D): no copy
        else:
            weight = torch.cat([w.t() for w in weights], dim=1).contiguous().t()
    else:
        weight = weights[0] if len(weights) == 1 else torch.cat(weights)
        weight = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), 8)
    return _Packed(key, weight, bias, sizes)


def _checked(modules, rows: int) -> _Packed | None:
    """The group's decoding copy, made or renewed if its weights changed since it was made; None
    when the group cannot take the fast path (weights not float32, or no oneDNN here)."""
    if any(m.weight.dtype != torch.float32 for m in modules) or not _onednn_ok():
        return None
    one_row = rows == 1
    key = _key(modules, one_row)
    packed = modules[0].__dict__.get("_decode_weights")
    if packed is None or packed.key != key:
        packed = _pack(modules, key, one_row)
        modules[0].__dict__["_decode_weights"] = packed
    packed.block = _state.block
    return packed


def project(x: torch.Tensor, *modules, concat: bool = False):
    """``module(x)`` for each module (``nn.Linear``, or one with ``transposed_weight = True`` whose
    weight is stored (in, out)): one tensor for one module, a tuple for several, or with
    ``concat=True`` one tensor holding the outputs side by side on the last dimension (the fused
    matmul's own output on the fast path; ``torch.cat`` of the modules' outputs otherwise).

    All modules must read ``x`` (same in_features). See the module docstring for when the fast
    path is taken. It runs a hundred times per decoding step, so the common case is a few cheap
    checks: the copy's weights are validated once per ``decoding()`` block.
    """
    rows = getattr(_state, "rows", 0)
    if (rows and x.dtype is torch.float32 and x.is_cpu and not torch.is_grad_enabled()
            and x.numel() <= rows * x.shape[-1]):
        packed = modules[0].__dict__.get("_decode_weights")
        if packed is None or packed.block != _state.block:
            packed = _checked(modules, rows)
        if packed is not None:
            out = torch.ops.mkldnn._linear_pointwise(x, packed.weight, packed.bias, "none", [], "")
            return out if concat or len(modules) == 1 else out.split(packed.sizes, dim=-1)
    if len(modules) == 1:
        return modules[0](x)
    outs = tuple(m(x) for m in modules)
    return torch.cat(outs, dim=-1) if concat else outs


def release(model: torch.nn.Module):
    """Free the decoding copies of the weights that ``generate()`` made (they come back on next use)."""
    for module in model.modules():
        module.__dict__.pop("_decode_weights", None)
