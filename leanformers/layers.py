"""Pieces every model file may share: activations, the attention call, masks and head losses.

Kept small on purpose: anything architecture-specific belongs in the model's own file.
"""

from __future__ import annotations

import contextlib
import contextvars
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACT2FN", "get_activation", "sdpa_attention", "padding_mask", "causal_padding_mask",
    "check_input_ids", "classification_loss", "eager_attention", "eager_attention_active",
]


class _GELUTanh(nn.Module):
    """GELU with the tanh approximation ('gelu_new', 'gelu_pytorch_tanh' in configs)."""

    def forward(self, x):
        return F.gelu(x, approximate="tanh")


class _QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class _GELUFast(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


_ACTIVATIONS = {
    "gelu": nn.GELU,
    "gelu_new": _GELUTanh,
    "gelu_pytorch_tanh": _GELUTanh,
    "gelu_fast": _GELUFast,
    "quick_gelu": _QuickGELU,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "mish": nn.Mish,
    "linear": nn.Identity,
}


class _ActivationTable(dict):
    def __getitem__(self, name):
        return get_activation(name)


ACT2FN = _ActivationTable(_ACTIVATIONS)


def get_activation(name) -> nn.Module:
    if callable(name) and not isinstance(name, str):
        return name
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"Unknown activation {name!r} in the config (hidden_act). Known: {sorted(_ACTIVATIONS)}."
        ) from None


def check_input_ids(input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None = None):
    """Fail early, and clearly, on the classic mistakes: no input, both inputs, a 1-D tensor."""
    if input_ids is not None and inputs_embeds is not None:
        raise ValueError("Pass either input_ids or inputs_embeds, not both.")
    if input_ids is None and inputs_embeds is None:
        raise ValueError("Pass input_ids (or inputs_embeds).")
    if input_ids is not None:
        if not isinstance(input_ids, torch.Tensor):
            raise TypeError(
                f"input_ids must be a torch.Tensor, not {type(input_ids).__name__}. "
                f"Call the tokenizer with return_tensors='pt'."
            )
        if input_ids.dim() != 2:
            hint = (" Add a batch dimension: input_ids.unsqueeze(0), or tokenize a list of texts."
                    if input_ids.dim() == 1 else "")
            raise ValueError(
                f"input_ids must be 2-D (batch_size, sequence_length), got shape "
                f"{tuple(input_ids.shape)}.{hint}"
            )
    elif inputs_embeds.dim() != 3:
        raise ValueError(
            f"inputs_embeds must be 3-D (batch_size, sequence_length, hidden_size), got shape "
            f"{tuple(inputs_embeds.shape)}."
        )


def padding_mask(attention_mask: torch.Tensor | None, batch: int, seq: int) -> torch.Tensor | None:
    """(batch, seq) 1/0 mask -> boolean (batch, 1, 1, seq) mask for SDPA (True = attend).

    Returns None when nothing is masked, which lets SDPA take its fastest kernel.
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() != 2 or attention_mask.shape != (batch, seq):
        raise ValueError(
            f"attention_mask must have shape (batch_size, sequence_length) = {(batch, seq)}, got "
            f"{tuple(attention_mask.shape)}."
        )
    if bool(attention_mask.all()):
        return None
    return attention_mask.bool()[:, None, None, :]


def causal_padding_mask(attention_mask: torch.Tensor | None, query_len: int, key_len: int,
                        device, sliding_window: int | None = None) -> torch.Tensor | None:
    """Boolean (batch|1, 1, query_len, key_len) mask for decoders: causal, padding, sliding window.

    The queries are the last ``query_len`` of ``key_len`` positions (a KV cache holds the rest).
    A fully padded query row may still see itself, so SDPA never returns NaN for it.
    """
    offset = key_len - query_len
    q = torch.arange(query_len, device=device)[:, None] + offset
    k = torch.arange(key_len, device=device)[None, :]
    mask = k <= q
    if sliding_window is not None:
        mask = mask & (k > q - sliding_window)
    mask = mask[None, None]
    if attention_mask is not None and not bool(attention_mask.all()):
        mask = mask & attention_mask.bool()[:, None, None, :key_len]
        # A fully masked row (a left-pad query) would give NaN in SDPA; let it see itself.
        mask = mask | (k == q)[None, None]
    return mask


# True while a model loaded with attn_implementation="eager" runs its forward pass (per thread and
# per async task: a context variable, set by PreTrainedModel.__call__).
_EAGER = contextvars.ContextVar("leanformers_eager_attention", default=False)


@contextlib.contextmanager
def eager_attention():
    token = _EAGER.set(True)
    try:
        yield
    finally:
        _EAGER.reset(token)


def eager_attention_active() -> bool:
    return _EAGER.get()


def sdpa_attention(query, key, value, mask=None, *, dropout: float = 0.0, scale: float | None = None,
                   is_causal: bool = False, need_weights: bool = False):
    """Scaled dot-product attention over (batch, heads, seq, head_dim) tensors.

    ``key``/``value`` may have fewer heads than ``query`` (grouped-query attention): they are
    repeated. ``mask`` is boolean (True = attend) or additive float. With ``need_weights``, or
    inside ``eager_attention()`` (attn_implementation="eager"), the attention is computed
    explicitly (matmul, softmax in float32, matmul), as the reference's eager path does; SDPA does
    not return the probabilities.
    """
    n_rep = query.shape[1] // key.shape[1]
    if not need_weights and not _EAGER.get():
        # enable_gqa reads each key/value head for its n_rep query heads (same numbers as repeating them)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout,
                                             is_causal=is_causal and mask is None, scale=scale,
                                             enable_gqa=n_rep > 1)
        return out, None
    if n_rep > 1:
        key = key.repeat_interleave(n_rep, dim=1)
        value = value.repeat_interleave(n_rep, dim=1)
    scale = scale if scale is not None else 1.0 / math.sqrt(query.shape[-1])
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale
    if is_causal and mask is None:
        q, k = scores.shape[-2:]
        mask = torch.ones(q, k, dtype=torch.bool, device=scores.device).tril(k - q)
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + mask
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    if dropout:
        weights = F.dropout(weights, p=dropout, training=True)
    return torch.matmul(weights, value), (weights if need_weights else None)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """The reference's sequence-classification loss, chosen by ``config.problem_type``.

    When problem_type is unset it is inferred (and stored on the config, as the reference does):
    one label -> regression; integer labels -> single-label; float labels -> multi-label.
    """
    num_labels = config.num_labels
    if config.problem_type is None:
        if num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    labels = labels.to(logits.device)
    if config.problem_type == "regression":
        if num_labels == 1:
            return F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
        return F.mse_loss(logits, labels.to(logits.dtype))
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
