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
    "check_input_ids", "classification_loss", "eager_attention", "eager_attention_active", "causal_lm_loss",
    "GradientCheckpointingLayer", "last_token_logits", "token_classification_loss", "span_loss",
    "load_balancing_loss",
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
                   is_causal: bool = False, need_weights: bool = False, softcap: float | None = None):
    """Scaled dot-product attention over (batch, heads, seq, head_dim) tensors.

    ``key``/``value`` may have fewer heads than ``query`` (grouped-query attention): they are
    repeated. ``mask`` is boolean (True = attend) or additive float. With ``need_weights``, or
    inside ``eager_attention()`` (attn_implementation="eager"), the attention is computed
    explicitly (matmul, softmax in float32, matmul), as the reference's eager path does; SDPA does
    not return the probabilities. ``softcap`` (Gemma 2): the scores become
    ``softcap * tanh(scores / softcap)`` before the mask and softmax, which SDPA cannot do, so they
    are computed explicitly too.
    """
    n_rep = query.shape[1] // key.shape[1]
    if not need_weights and softcap is None and not _EAGER.get():
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
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
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


def last_token_logits(logits: torch.Tensor, input_ids: torch.Tensor | None, pad_token_id) -> torch.Tensor:
    """A decoder's sequence-classification logits: those of each row's last non-pad token (the rightmost
    one, so left and right padding both work); the last position when there is no pad token or no ids."""
    batch = logits.shape[0]
    if pad_token_id is None and batch != 1:
        raise ValueError("Cannot classify a batch of more than one sequence without a padding token: set "
                         "config.pad_token_id (e.g. to the tokenizer's pad_token_id).")
    if pad_token_id is None or input_ids is None:
        last = torch.full((batch,), -1, device=logits.device, dtype=torch.long)
    else:
        non_pad = (input_ids != pad_token_id).to(logits.device, torch.int32)
        positions = torch.arange(input_ids.shape[-1], device=logits.device, dtype=torch.int32)
        last = (positions * non_pad).argmax(-1)
    return logits[torch.arange(batch, device=logits.device), last]


def token_classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy in float32; -100 marks tokens that do not count (sub-words, padding)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.to(logits.device).reshape(-1))


def span_loss(start_logits, end_logits, start_positions, end_positions) -> torch.Tensor:
    """Extractive QA: mean of the start and end cross-entropies; positions outside the sequence are ignored."""
    if start_positions.dim() > 1:
        start_positions = start_positions.squeeze(-1)
    if end_positions.dim() > 1:
        end_positions = end_positions.squeeze(-1)
    ignored = start_logits.shape[1]  # clamping sends out-of-range answers here, and they are skipped
    start_positions = start_positions.to(start_logits.device).clamp(0, ignored)
    end_positions = end_positions.to(end_logits.device).clamp(0, ignored)
    return (F.cross_entropy(start_logits, start_positions, ignore_index=ignored)
            + F.cross_entropy(end_logits, end_positions, ignore_index=ignored)) / 2


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100,
                   num_items_in_batch=None) -> torch.Tensor:
    """Next-token cross-entropy, as the reference: position t predicts labels[t + 1], in float32;
    ``ignore_index`` labels do not count. With ``num_items_in_batch`` (the Trainer's count of label
    tokens over gradient-accumulation steps) the sum is divided by it instead of taking the mean."""
    logits = logits.float()
    labels = F.pad(labels.to(logits.device), (0, 1), value=ignore_index)[..., 1:]
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=ignore_index,
                           reduction=reduction)
    if num_items_in_batch is not None:
        if isinstance(num_items_in_batch, torch.Tensor):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    return loss


def load_balancing_loss(router_logits: tuple, num_experts: int, top_k: int, attention_mask=None) -> torch.Tensor:
    """The Switch Transformer auxiliary loss of a mixture-of-experts model, as the reference computes it:
    num_experts * sum over experts of (share of top-k assignments) * (mean router probability), over
    every layer's tokens (padding excluded when ``attention_mask`` is given)."""
    device = router_logits[0].device
    tokens_per_expert = torch.zeros(num_experts, dtype=torch.float32, device=device)
    prob_per_expert = torch.zeros(num_experts, dtype=torch.float32, device=device)
    rows = 0.0
    mask = None if attention_mask is None else attention_mask.reshape(-1).to(device=device, dtype=torch.float32)
    for logits in router_logits:
        probs = torch.softmax(logits.to(device), dim=-1)
        _, chosen = torch.topk(probs, top_k, dim=-1)
        if mask is None:
            tokens_per_expert = tokens_per_expert + torch.histc(chosen.reshape(-1).float(), bins=num_experts,
                                                                min=0, max=num_experts)
            prob_per_expert = prob_per_expert + probs.float().sum(dim=0)
            rows = rows + probs.shape[0]
        else:
            tokens_per_expert = tokens_per_expert + torch.zeros(num_experts, dtype=torch.float32, device=device
                                                                ).scatter_add_(0, chosen.reshape(-1),
                                                                               mask.repeat_interleave(top_k))
            prob_per_expert = prob_per_expert + (probs.float() * mask.unsqueeze(-1)).sum(dim=0)
            rows = rows + mask.sum()
    return torch.sum((tokens_per_expert / rows) * (prob_per_expert / rows).unsqueeze(0)) * num_experts


class GradientCheckpointingLayer(nn.Module):
    """Base of the layers (decoder blocks) that ``model.gradient_checkpointing_enable()`` checkpoints.

    While enabled and training with autograd on, a call runs the layer through
    ``torch.utils.checkpoint.checkpoint``: its activations are dropped after the forward pass and
    recomputed in the backward pass (memory for compute; the gradients are the same). A KV cache
    passed in is dropped with a warning, as the reference does: recomputing would fill it twice.
    """

    gradient_checkpointing = False
    checkpointing_kwargs: dict | None = None  # gradient_checkpointing_kwargs, e.g. {"use_reentrant": True}

    def __call__(self, *args, **kwargs):
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            from torch.utils import checkpoint as checkpointing

            from .cache import Cache

            if any(isinstance(a, Cache) for a in (*args, *kwargs.values())):
                import logging

                logging.getLogger("leanformers").warning(
                    "A KV cache cannot be filled under gradient checkpointing (the layers run twice): "
                    "use_cache is ignored while training with it.")
                args = tuple(None if isinstance(a, Cache) else a for a in args)
                kwargs = {k: None if isinstance(v, Cache) else v for k, v in kwargs.items()}
            options = {"use_reentrant": False, **(self.checkpointing_kwargs or {})}
            return checkpointing.checkpoint(super().__call__, *args, **options, **kwargs)
        return super().__call__(*args, **kwargs)
