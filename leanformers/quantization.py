"""Weight-only quantized linear layers for CPU decoding.

``from_pretrained(..., quantization=...)`` replaces the model's linear layers (``nn.Linear`` and
GPT-2-style modules whose weight is stored (in, out)) by :class:`QuantizedLinear` after loading:

- ``"int8"``: symmetric int8, one scale per output channel, from any float checkpoint;
- ``"int4"``: asymmetric 4-bit, a scale and a zero per group of 32 inputs, from any float checkpoint
  (a layer whose shape the int4 kernel cannot take -- out_features not a multiple of 16, or
  in_features not a multiple of 32 -- is quantized to int8 instead);
- ``"gguf"``: the GGUF file's own blocks, converted to the nearest representation torch's kernels
  read (see :func:`from_gguf_blocks` for what is exact and what is rounded).

The matmuls read the quantized bytes through torch's own CPU kernels,
``aten._weight_int4pack_mm_for_cpu`` (weights packed by ``aten._convert_weight_to_int4pack_for_cpu``)
and ``aten._weight_int8pack_mm``, with bfloat16 activations and scales: measured on this project's
CPU (benchmarks/bench_kernels.py) those are 5x and 2.6x faster than fp32 ``F.linear`` for a decoding
step, while with fp32 activations the int4 kernel is 6x *slower* than ``F.linear``. The output is
cast back to the input's dtype. Numbers therefore differ from the float model's (that is what
quantization is); docs/internals.md reports the measured perplexity and greedy-token agreement.

The model holds one copy of the weights: the quantized one. :func:`..projections.project` fuses the
layers that read the same input (q/k/v, gate/up) into one kernel call by concatenating their packed
rows once and leaving each layer a view of its slice.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["METHODS", "QuantizedLinear", "QuantizedEmbedding", "check_quantization", "quantize_model", "quantize_weight",
           "from_gguf_blocks"]

METHODS = ("gguf", "int8", "int4")
GROUP = 32  # inputs per int4 scale/zero group (also the GGUF block size of Q4_0/Q4_1/Q8_0 and Q4_K's sub-blocks)
_ACT = torch.bfloat16  # activation and scale dtype the kernels run fast in (see the module docstring)


def check_quantization(quantization, gguf_file) -> str | None:
    """The ``quantization=`` argument, validated: None, "gguf" (with a GGUF file), "int8" or "int4"."""
    if quantization is None:
        return None
    if quantization not in METHODS:
        raise ValueError(f"quantization={quantization!r} is not supported: use 'int8' or 'int4' (weight-only, "
                         f"any checkpoint), 'gguf' (keep a GGUF file's own quantization), or None (float).")
    if quantization == "gguf" and not gguf_file:
        raise ValueError("quantization='gguf' keeps the quantization of a GGUF file: pass gguf_file=... (or a "
                         "path to a .gguf file), or use quantization='int8' / 'int4' for other checkpoints.")
    return quantization


class QuantizedLinear(nn.Module):
    """``y = x @ dequant(W).T + b`` reading W's quantized bytes.

    kind "int4": ``qweight`` is the (out, in/2) uint8 packing of ``_convert_weight_to_int4pack_for_cpu``,
    ``scales`` (in/32, out, 2) bfloat16 holds (scale, zero) with w = (q - 8) * scale + zero.
    kind "int8": ``qweight`` (out, in) int8, ``scales`` (out,) bfloat16 with w = q * scale.
    """

    def __init__(self, kind: str, in_features: int, out_features: int, qweight, scales, bias=None,
                 source: str = ""):
        super().__init__()
        self.kind, self.in_features, self.out_features, self.source = kind, in_features, out_features, source
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales", scales)
        self.bias = None if bias is None else nn.Parameter(bias.detach().float(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _matmul(x, self.kind, self.qweight, self.scales, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, kind={self.kind}, "
                f"bias={self.bias is not None}" + (f", source={self.source}" if self.source else ""))

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        raise NotImplementedError(
            "A model loaded with quantization=... holds packed quantized weights that no checkpoint format "
            "(nor the reference) reads: save the original float model instead, and quantize it when loading.")


def _matmul(x, kind, qweight, scales, bias):
    if not x.is_cpu:
        raise RuntimeError("Quantized weights (quantization=...) run on the CPU only: load the model without "
                           "quantization to use another device.")
    shape = x.shape
    x2 = x.reshape(-1, shape[-1]).to(_ACT).contiguous()
    if not scales.is_contiguous():  # a layer called on its own after project() fused its group
        scales = scales.contiguous()
    if kind == "int4":
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(x2, qweight, GROUP, scales)
    else:
        out = torch.ops.aten._weight_int8pack_mm(x2, qweight, scales)
    out = out.to(x.dtype if x.is_floating_point() else torch.float32)
    if bias is not None:
        out = out + bias.to(out.dtype)
    return out.view(*shape[:-1], out.shape[-1])


class QuantizedEmbedding(nn.Module):
    """The input embedding as int8 rows with one bf16 scale per row (``qweight`` (vocab, dim) int8,
    ``scales`` (vocab,)): a lookup dequantises only the rows it reads. When the LM head is the same
    int8 matrix (tied weights), both hold the same tensors."""

    def __init__(self, qweight, scales, padding_idx=None, dtype=torch.float32):
        super().__init__()
        self.num_embeddings, self.embedding_dim = qweight.shape
        self.padding_idx, self.dtype = padding_idx, dtype
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales", scales)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = nn.functional.embedding(ids, self.qweight).to(self.dtype)
        return rows * nn.functional.embedding(ids, self.scales[:, None]).to(self.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, kind=int8"

    _save_to_state_dict = QuantizedLinear._save_to_state_dict


# ---- float weights -> quantized -----------------------------------------------------------------
def _int4_fits(out_features: int, in_features: int) -> bool:
    return out_features % 16 == 0 and in_features % GROUP == 0


def _pack_int4(q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor):
    """q (out, in) in 0..15, scale and zero (out, in/32) -> the kernel's (qweight, scales)."""
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32).contiguous(), 1)
    scales = torch.stack([scale.t(), zero.t()], dim=-1).to(_ACT).contiguous()
    return packed, scales


def quantize_weight(weight: torch.Tensor, kind: str):
    """A float (out, in) weight -> (kind, qweight, scales); int4 falls back to int8 where it cannot fit."""
    w = weight.detach().float()
    n, k = w.shape
    if kind == "int4" and _int4_fits(n, k):
        g = w.reshape(n, k // GROUP, GROUP)
        lo, hi = g.amin(-1), g.amax(-1)
        scale = ((hi - lo) / 15).clamp(min=torch.finfo(torch.float32).tiny).to(_ACT)
        zero = (lo + 8 * scale.float()).to(_ACT)  # the kernel computes (q - 8) * scale + zero
        # round against the bf16 values the kernel will use, so the rounding is to the nearest level
        q = torch.round((g - zero.float()[..., None]) / scale.float()[..., None] + 8).clamp(0, 15)
        packed, scales = _pack_int4(q.reshape(n, k), scale.float(), zero.float())
        return "int4", packed, scales
    scale = (w.abs().amax(1) / 127).clamp(min=torch.finfo(torch.float32).tiny).to(_ACT)
    q = torch.round(w / scale.float()[:, None]).clamp(-127, 127).to(torch.int8)
    return "int8", q, scale


# ---- GGUF blocks -> quantized ---------------------------------------------------------------------
def _f16(blocks, start):
    return blocks[:, start:start + 2].contiguous().view(torch.float16).float()


def _nibbles(qs):
    return torch.cat((qs & 0x0F, qs >> 4), dim=1)


def from_gguf_blocks(type_name: str, raw: torch.Tensor, shape):
    """A GGUF tensor's raw bytes -> (kind, qweight, scales), or None for float types (kept float).

    - Q4_0 (w = d (q - 8)), Q4_1 (w = d q + m) and Q4_K (w = d sc_j q - dmin m_j on sub-blocks of
      32) map onto the int4 kernel's groups of 32 with the *same* 4-bit values: the quantized
      values are exact; only the per-group scale and zero, float16 (or d*sc products) in the file,
      are rounded to bfloat16 (8 significant bits; relative error <= 2^-9 per group).
    - Every other block type (Q8_0, Q5_*, Q6_K, Q2_K, Q3_K) is dequantised exactly and requantized
      to int8 with one scale per output row: an approximation (the file's per-block scales become
      one per row), measured in docs/internals.md.
    """
    from .gguf.dequantize import _BLOCK_TYPES, _k_scale_min, dequantize

    n, k = shape
    if type_name not in _BLOCK_TYPES:
        return None
    if type_name in ("Q4_0", "Q4_1", "Q4_K") and _int4_fits(n, k):
        _, type_size, _ = _BLOCK_TYPES[type_name]
        b = raw.reshape(-1, type_size)
        if type_name == "Q4_K":
            nb = b.shape[0]
            sc, mn = _k_scale_min(b[:, 4:16])
            scale = _f16(b, 0) * sc.float()                        # (blocks, 8)
            zero = -(_f16(b, 2) * mn.float()) + 8 * scale
            q = ((b[:, 16:].reshape(nb, 4, 1, 32) >> torch.tensor([0, 4], dtype=torch.uint8).reshape(1, 1, 2, 1))
                 & 0x0F).reshape(nb, 8 * 32)
        else:
            d = _f16(b, 0)
            if type_name == "Q4_0":
                scale, zero, q = d, torch.zeros_like(d), _nibbles(b[:, 2:])
            else:
                scale, zero, q = d, _f16(b, 2) + 8 * d, _nibbles(b[:, 4:])
        packed, scales = _pack_int4(q.reshape(n, k), scale.reshape(n, k // GROUP), zero.reshape(n, k // GROUP))
        return "int4", packed, scales
    return quantize_weight(dequantize(raw.reshape(-1), type_name, shape), "int8")


# ---- the model --------------------------------------------------------------------------------------
def _is_linear(module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    return bool(getattr(module, "transposed_weight", False)) and getattr(module, "weight", None) is not None \
        and module.weight.dim() == 2


def _weight(module) -> torch.Tensor:
    return module.weight.t() if getattr(module, "transposed_weight", False) else module.weight


def quantize_model(model: nn.Module, method: str, gguf_path=None) -> nn.Module:
    """Replace ``model``'s linear layers by :class:`QuantizedLinear` (in place; returns the model)."""
    raw = {}
    if method == "gguf":
        from .gguf import gguf_raw_weights

        raw = gguf_raw_weights(gguf_path)
    tied = dict(getattr(model, "_tie_pairs", dict)())
    prefix = getattr(model, "base_model_prefix", "")  # AutoModel of a CausalLM file: names lose "model."
    done = {}
    for name, module in list(model.named_modules()):
        if not _is_linear(module):
            continue
        weight = _weight(module)
        out_features, in_features = weight.shape
        key = name + ".weight"
        if method == "gguf":
            entry = raw.get(key) or raw.get(tied.get(key, "")) or raw.get(f"{prefix}.{key}")
            result = from_gguf_blocks(entry[0], entry[1], (out_features, in_features)) if entry else None
            if result is None:
                continue  # a float tensor in the file (or one it does not hold): kept as it is
            kind, qweight, scales = result
            source = entry[0]
        else:
            kind, qweight, scales = quantize_weight(weight, method)
            source = ""
        bias = module.bias.detach() if getattr(module, "bias", None) is not None else None
        done[name] = QuantizedLinear(kind, in_features, out_features, qweight, scales, bias, source)
    embed = _input_embedding(model)
    if embed is not None:  # the input embedding: int8 rows (shared with a tied int8 LM head)
        embed_name, module = embed
        head = next((done[n[:-len(".weight")]] for n, src in tied.items()
                     if src == embed_name + ".weight" and n.endswith(".weight") and n[:-len(".weight")] in done), None)
        if head is not None and head.kind == "int8" and head.qweight.shape == module.weight.shape:
            qweight, scales = head.qweight, head.scales
        else:
            _, qweight, scales = quantize_weight(module.weight, "int8")
        done[embed_name] = QuantizedEmbedding(qweight, scales, module.padding_idx, module.weight.dtype)
    for name, new in done.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, new)
    model.quantization = method
    return_freed_memory()
    return model


def _input_embedding(model):
    try:
        module = model.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        return None
    if type(module) is not nn.Embedding or module.weight.shape[1] % GROUP:
        return None
    name = next((n for n, m in model.named_modules() if m is module), None)
    return None if name is None else (name, module)


def return_freed_memory():
    """The float weights just dropped were many mid-sized allocations: hand the freed heap back to the
    system (glibc keeps it otherwise, and the process's RSS would stay at the float model's)."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def fuse(modules) -> QuantizedLinear | None:
    """One QuantizedLinear computing ``modules`` side by side, whose packed rows the modules then view
    (one copy of the weights), or None when they cannot be fused (kinds differ; int4 rows not in
    the whole 64-row tiles that make the packing of a concatenation the concatenation of packings)."""
    kinds = {m.kind for m in modules}
    if len(kinds) != 1 or any(m.in_features != modules[0].in_features for m in modules):
        return None
    kind = kinds.pop()
    if kind == "int4" and any(m.out_features % 64 for m in modules):
        return None
    qweight = torch.cat([m.qweight for m in modules])
    scales = torch.cat([m.scales for m in modules], dim=1 if kind == "int4" else 0)
    bias = None
    if any(m.bias is not None for m in modules):
        bias = torch.cat([m.bias if m.bias is not None else torch.zeros(m.out_features) for m in modules])
    fused = QuantizedLinear(kind, modules[0].in_features, sum(m.out_features for m in modules), qweight,
                            scales, bias, "fused")
    start = 0
    for m in modules:  # each layer now views its slice of the fused tensors: no second copy
        stop = start + m.out_features
        m.qweight = qweight[start:stop]
        m.scales = scales[:, start:stop] if kind == "int4" else scales[start:stop]
        start = stop
    return fused
