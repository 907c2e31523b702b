"""Rotary position embeddings (RoPE), shared by every model file that rotates queries and keys.

A config holds its RoPE settings in ``rope_parameters`` (transformers v5): ``{"rope_type": ...,
"rope_theta": ..., <the type's own keys>}``. :func:`standardize_rope_parameters` builds that dict
from v5 files and from v4 ones (``rope_theta`` and ``rope_scaling`` at top level, the old ``type``
key) and checks it; :func:`inverse_frequencies` turns it into the frequencies and cos/sin scale the
reference computes for each ``rope_type``; :class:`RotaryEmbedding` makes the cos/sin tables of a
forward pass, updating the frequencies with the sequence length for "dynamic" and "longrope".

Numerics follow the reference: frequencies and tables in float32 (cast to the activations' dtype at
the end), the same operations in the same order, so the tables match it to the bit.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["ROPE_TYPES", "standardize_rope_parameters", "RopeConfigMixin", "rotary_dim", "inverse_frequencies",
           "RotaryEmbedding", "rotate_half", "apply_rotary"]

ROPE_TYPES = ("default", "linear", "dynamic", "llama3", "yarn", "longrope")
_REQUIRED = {"linear": ("factor",), "dynamic": ("factor",), "yarn": ("factor",),
             "llama3": ("factor", "low_freq_factor", "high_freq_factor"), "longrope": ("short_factor", "long_factor")}
# types whose scaling is relative to the context the model was pretrained with
_NEEDS_ORIGINAL_LENGTH = ("llama3", "yarn", "longrope")


def standardize_rope_parameters(rope_parameters, rope_scaling=None, rope_theta=None, *, default_theta: float,
                                max_position_embeddings: int, original_max_position_embeddings=None,
                                partial_rotary_factor=None) -> dict:
    """One ``rope_parameters`` dict from v5 ``rope_parameters`` or v4 ``rope_scaling`` + ``rope_theta``.

    ``original_max_position_embeddings`` / ``partial_rotary_factor``: top-level config values some
    families (Phi-3, GPT-NeoX) keep outside the dict; the first wins over the dict's, as in the reference.
    """
    params = dict(rope_scaling or rope_parameters or {})
    params.setdefault("rope_theta", rope_theta if rope_theta is not None else default_theta)
    params.setdefault("rope_type", params.get("type", "default"))
    if partial_rotary_factor is not None:
        params.setdefault("partial_rotary_factor", partial_rotary_factor)
    rope_type = params["rope_type"]
    if rope_type not in ROPE_TYPES:
        raise ValueError(f"rope_type {rope_type!r} is not supported; supported: {ROPE_TYPES}. Fix "
                         "rope_parameters (or rope_scaling) in the config.")
    missing = [key for key in _REQUIRED.get(rope_type, ()) if key not in params]
    if missing:
        raise ValueError(f"rope_parameters of type {rope_type!r} need {missing} ('factor' etc.), got {params}.")
    if rope_type in _NEEDS_ORIGINAL_LENGTH:
        if original_max_position_embeddings is not None:
            params["original_max_position_embeddings"] = original_max_position_embeddings
        else:
            params.setdefault("original_max_position_embeddings", max_position_embeddings)
    return params


class RopeConfigMixin:
    """For configs with RoPE: ``rope_parameters`` set from the constructor's arguments, and the v4
    spellings ``rope_scaling`` / ``rope_theta`` as views of it (``from_pretrained(...,
    rope_scaling={...})`` sets them). Put it before PretrainedConfig in the bases."""

    default_theta = 10000.0

    def _set_rope_parameters(self, rope_parameters, kwargs: dict, partial_rotary_factor=None):
        """Call in __init__ after max_position_embeddings is set; takes v4 keys out of ``kwargs``."""
        self.rope_parameters = standardize_rope_parameters(
            rope_parameters, kwargs.pop("rope_scaling", None), kwargs.pop("rope_theta", None),
            default_theta=self.default_theta, max_position_embeddings=self.max_position_embeddings,
            original_max_position_embeddings=getattr(self, "original_max_position_embeddings", None),
            partial_rotary_factor=partial_rotary_factor)

    @property
    def rope_scaling(self):
        return self.rope_parameters

    @rope_scaling.setter
    def rope_scaling(self, value):
        self.rope_parameters = standardize_rope_parameters(
            None, value, self.rope_parameters["rope_theta"], default_theta=self.default_theta,
            max_position_embeddings=self.max_position_embeddings,
            original_max_position_embeddings=getattr(self, "original_max_position_embeddings", None),
            partial_rotary_factor=self.rope_parameters.get("partial_rotary_factor"))

    @property
    def rope_theta(self):
        return self.rope_parameters["rope_theta"]

    @rope_theta.setter
    def rope_theta(self, value):
        self.rope_parameters = {**self.rope_parameters, "rope_theta": value}


def rotary_dim(config, params: dict | None = None) -> int:
    """How many channels of each head rotate: head_dim, or its first partial_rotary_factor part."""
    params = params if params is not None else config.rope_parameters
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return int(head_dim * params.get("partial_rotary_factor", 1.0))


def _exponents(dim: int) -> torch.Tensor:
    return torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float) / dim


def inverse_frequencies(config, params: dict | None = None, seq_len: int | None = None) -> tuple[torch.Tensor, float]:
    """(inv_freq: float32 (rotary_dim / 2,), attention scaling of cos/sin) for ``params`` (by default
    ``config.rope_parameters``) at sequence length ``seq_len`` (only "dynamic" and "longrope" read it)."""
    params = params if params is not None else config.rope_parameters
    rope_type = params["rope_type"]
    base = params["rope_theta"]
    dim = rotary_dim(config, params)
    if rope_type == "dynamic":
        # NTK-aware: stretch the base once the sequence outgrows the trained context. A tensor
        # seq_len (the forward pass's) computes in float32, as the reference does then.
        factor, trained = params["factor"], config.max_position_embeddings
        if isinstance(seq_len, torch.Tensor):
            seq_len = torch.maximum(seq_len, torch.tensor(trained, dtype=seq_len.dtype))
        else:
            seq_len = max(seq_len or trained, trained)
        base = base * ((factor * seq_len / trained) - (factor - 1)) ** (dim / (dim - 2))
    if rope_type == "yarn":
        return _yarn(params, base, dim, config.max_position_embeddings)
    if rope_type == "longrope":
        return _longrope(params, base, dim, config.max_position_embeddings, seq_len)
    inv_freq = 1.0 / (base ** _exponents(dim))
    if rope_type == "linear":
        inv_freq = inv_freq / params["factor"]
    elif rope_type == "llama3":
        inv_freq = _llama3(inv_freq, params)
    return inv_freq, 1.0


def _llama3(inv_freq: torch.Tensor, params: dict) -> torch.Tensor:
    """Llama 3.1: long wavelengths are divided by ``factor``, short ones kept, the band between blended."""
    factor = params["factor"]
    low, high = params["low_freq_factor"], params["high_freq_factor"]
    old_context = params["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_context / low, old_context / high
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, scaled)


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def _yarn(params: dict, base: float, dim: int, max_position_embeddings: int) -> tuple[torch.Tensor, float]:
    """YaRN: interpolate (divide by ``factor``) the low frequencies, keep the high ones, ramp between
    the dimensions that turn beta_fast and beta_slow times over the original context; cos/sin grow
    by ``attention_factor`` (0.1 ln(factor) + 1 unless given)."""
    original = params["original_max_position_embeddings"]
    factor = params["factor"]
    if factor is None:  # DeepSeek-style configs give the lengths, not the factor
        factor = max_position_embeddings / original
    attention_factor = params.get("attention_factor")
    if attention_factor is None:
        mscale, mscale_all_dim = params.get("mscale"), params.get("mscale_all_dim")
        if mscale and mscale_all_dim:
            attention_factor = float(_yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all_dim))
        else:
            attention_factor = _yarn_mscale(factor)
    beta_fast, beta_slow = params.get("beta_fast") or 32, params.get("beta_slow") or 1

    def correction_dim(rotations):  # the dimension that turns `rotations` times over the original context
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if params.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # no zero-width ramp
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = base ** _exponents(dim)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    keep = 1 - ramp  # 1: keep the frequency (extrapolate), 0: interpolate
    return interpolation * (1 - keep) + extrapolation * keep, attention_factor


def _longrope(params: dict, base: float, dim: int, max_position_embeddings: int,
              seq_len: int | None) -> tuple[torch.Tensor, float]:
    """LongRoPE (Phi-3 "su"): per-frequency divisors, ``long_factor`` past the original context and
    ``short_factor`` within it; cos/sin grow by sqrt(1 + ln(factor) / ln(original)) unless given."""
    original = params["original_max_position_embeddings"]
    factor = params.get("factor")
    if factor is None:  # Phi-3 gives the lengths, not the factor
        factor = max_position_embeddings / original
    attention_factor = params.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    divisors = params["long_factor"] if seq_len and seq_len > original else params["short_factor"]
    return 1.0 / (torch.tensor(divisors, dtype=torch.float32) * base ** _exponents(dim)), attention_factor


class RotaryEmbedding(nn.Module):
    """cos/sin tables for the positions of a forward pass. ``inv_freq`` is a non-persistent buffer:
    computed here (on the CPU even when parameters are built on meta), never read from checkpoints.

    ``params``: a rope_parameters dict other than ``config.rope_parameters`` (Gemma 3's local layers).
    """

    def __init__(self, config, params: dict | None = None):
        super().__init__()
        self.config = config
        self.params = params if params is not None else config.rope_parameters
        self.rope_type = self.params["rope_type"]
        self.original_max_seq_len = self.max_seq_len_cached = config.max_position_embeddings
        inv_freq, self.attention_scaling = inverse_frequencies(config, self.params)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)
        self.long_inv_freq = None  # longrope: the long-context frequencies, made when first needed

    def _update_dynamic(self, seq_len: torch.Tensor):
        # as the reference: grow the frequencies past the trained length, go back below it
        if seq_len > self.max_seq_len_cached:
            inv_freq, self.attention_scaling = inverse_frequencies(self.config, self.params, seq_len.cpu())
            self.register_buffer("inv_freq", inv_freq.to(self.inv_freq.device), persistent=False)
            self.max_seq_len_cached = int(seq_len)
        if seq_len < self.original_max_seq_len < self.max_seq_len_cached:
            self.register_buffer("inv_freq", self.original_inv_freq.to(self.inv_freq.device), persistent=False)
            self.max_seq_len_cached = self.original_max_seq_len

    def _update_longrope(self, seq_len: torch.Tensor):
        # the long factors once the positions pass the original context, the short ones below it
        original = self.params["original_max_position_embeddings"]
        if self.long_inv_freq is None:
            self.long_inv_freq, _ = inverse_frequencies(self.config, self.params, original + 1)
        chosen = self.long_inv_freq if seq_len > original else self.original_inv_freq
        self.inv_freq.copy_(chosen.to(self.inv_freq.device))

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor):
        """-> (cos, sin), each (batch, seq, rotary_dim) in x's dtype."""
        if self.rope_type in ("dynamic", "longrope"):
            seq_len = position_ids.max() + 1
            (self._update_dynamic if self.rope_type == "dynamic" else self._update_longrope)(seq_len)
        freqs = position_ids[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        if self.attention_scaling != 1.0:
            cos, sin = cos * self.attention_scaling, sin * self.attention_scaling
        return cos.to(x.dtype), sin.to(x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x's channels by the tables; when the tables are narrower than x's last dimension (partial
    rotary) only the first channels turn and the rest pass through. x: (..., head_dim); cos/sin
    broadcast to it (e.g. (batch, seq, 1, rotary_dim) for x in (batch, seq, heads, head_dim))."""
    dim = cos.shape[-1]
    if dim == x.shape[-1]:
        return x * cos + rotate_half(x) * sin
    turned, passed = x[..., :dim], x[..., dim:]
    return torch.cat((turned * cos + rotate_half(turned) * sin, passed), dim=-1)
