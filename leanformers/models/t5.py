"""T5 and mT5: an encoder-decoder Transformer with relative position buckets and RMS layer norms.

Module names equal the checkpoint keys (``shared.weight``, ``encoder.block.0.layer.0.SelfAttention.q``,
``...relative_attention_bias``, ``decoder.block.0.layer.1.EncDecAttention.k``, ``lm_head``), so Hub
checkpoints load by name. Both model types live here: ``mt5`` differs only in its config defaults
and in never rescaling the decoder output.

What makes T5 T5, as the reference computes it:
- attention scores are not scaled by 1/sqrt(d_kv); a learned bias per (head, relative-position
  bucket) is added instead. Only the first block of each stack owns the bias table: the bias it
  makes is shared by every block (buckets are bidirectional in the encoder, causal in the decoder).
- pre-norm residual blocks with T5LayerNorm (RMS: no mean, no bias, variance in float32).
- v1.0 feed-forward is ``wo(relu(wi(x)))``; v1.1 / mT5 is gated, ``wo(act(wi_0(x)) * wi_1(x))``
  (``feed_forward_proj = "gated-gelu"`` uses the tanh GELU, "gated-silu" SiLU).
- the LM head shares the embedding matrix; v1.0 checkpoints (``tie_word_embeddings`` not False)
  multiply the decoder output by d_model**-0.5 before it. A checkpoint whose ``lm_head.weight``
  differs from ``shared.weight`` keeps its own head (v1.1, mT5), as the reference does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import DynamicCache, EncoderDecoderCache
from ..configuration import PretrainedConfig
from ..layers import ACT2FN, GradientCheckpointingLayer, check_input_ids, classification_loss, span_loss
from ..modeling import PreTrainedModel
from ..projections import project
from ..outputs import (
    BaseModelOutput, BaseModelOutputWithPastAndCrossAttentions, Seq2SeqLMOutput, Seq2SeqModelOutput,
    Seq2SeqQuestionAnsweringModelOutput, Seq2SeqSequenceClassifierOutput, TokenClassifierOutput,
)

__all__ = [
    "T5Config", "T5PreTrainedModel", "T5Model", "T5ForConditionalGeneration", "T5EncoderModel",
    "T5ForSequenceClassification", "T5ForTokenClassification", "T5ForQuestionAnswering",
    "MT5Config", "MT5Model", "MT5ForConditionalGeneration", "MT5EncoderModel",
    "MT5ForSequenceClassification", "MT5ForTokenClassification", "MT5ForQuestionAnswering",
]


class T5Config(PretrainedConfig):
    """The reference's T5Config: same fields, defaults and config.json shape.

    As in transformers 5, ``tie_word_embeddings`` is always True afterwards; the value a config.json
    gives only decides ``scale_decoder_outputs`` (v1.0 files leave it unset: scale; v1.1 files say
    False: do not). ``decoder_start_token_id`` defaults to the pad token, T5's start token.
    """

    model_type = "t5"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "num_heads",
                     "num_hidden_layers": "num_layers", "head_dim": "d_kv"}
    _defaults = dict(vocab_size=32128, d_ff=2048, num_layers=6, num_heads=8, feed_forward_proj="relu")

    def __init__(self, vocab_size=None, d_model=512, d_kv=64, d_ff=None, num_layers=None,
                 num_decoder_layers=None, num_heads=None, relative_attention_num_buckets=32,
                 relative_attention_max_distance=128, dropout_rate=0.1, layer_norm_epsilon=1e-6,
                 initializer_factor=1.0, feed_forward_proj=None, is_encoder_decoder=True, use_cache=True,
                 pad_token_id=0, eos_token_id=1, classifier_dropout=0.0, is_decoder=False, **kwargs):
        given = dict(vocab_size=vocab_size, d_ff=d_ff, num_layers=num_layers, num_heads=num_heads,
                     feed_forward_proj=feed_forward_proj)
        for key, value in given.items():
            setattr(self, key, self._defaults[key] if value is None else value)
        self.d_model, self.d_kv = d_model, d_kv
        self.num_decoder_layers = self.num_layers if num_decoder_layers is None else num_decoder_layers
        self.relative_attention_num_buckets = relative_attention_num_buckets
        self.relative_attention_max_distance = relative_attention_max_distance
        self.dropout_rate, self.classifier_dropout = dropout_rate, classifier_dropout
        self.layer_norm_epsilon, self.initializer_factor = layer_norm_epsilon, initializer_factor
        self.use_cache, self.is_decoder = use_cache, is_decoder

        act = self.feed_forward_proj.split("-")
        if (len(act) > 1 and act[0] != "gated") or len(act) > 2:
            raise ValueError(
                f"feed_forward_proj {self.feed_forward_proj!r} is not a valid activation of the dense layer: "
                f"use 'gated-{{ACT_FN}}' or '{{ACT_FN}}', e.g. 'gated-gelu' or 'relu'.")
        self.dense_act_fn = "gelu_new" if self.feed_forward_proj == "gated-gelu" else act[-1]
        self.is_gated_act = act[0] == "gated"
        self._set_scaling(kwargs.pop("tie_word_embeddings", None))
        self.tie_word_embeddings = True
        kwargs.setdefault("decoder_start_token_id", pad_token_id)
        # a config.json's own dense_act_fn / is_gated_act / scale_decoder_outputs win, as in the reference
        super().__init__(pad_token_id=pad_token_id, eos_token_id=eos_token_id,
                         is_encoder_decoder=is_encoder_decoder, **kwargs)

    def _set_scaling(self, tie_word_embeddings):
        # v1.0 always rescaled the decoder output; v1.1 configs mark themselves with tie_word_embeddings=False
        self.scale_decoder_outputs = tie_word_embeddings is not False


class MT5Config(T5Config):
    """The reference's MT5Config: T5's fields with mT5's defaults; the output is never rescaled."""

    model_type = "mt5"
    _defaults = dict(vocab_size=250112, d_ff=1024, num_layers=8, num_heads=6, feed_forward_proj="gated-gelu")

    def __init__(self, *args, bos_token_id=None, **kwargs):
        super().__init__(*args, bos_token_id=bos_token_id, **kwargs)

    def _set_scaling(self, tie_word_embeddings):
        pass  # mT5 has no scale_decoder_outputs


# ---- layers -------------------------------------------------------------------------------------
def _init_std(module: nn.Module, std: float) -> nn.Module:
    """Tag a Linear/Embedding with the reference's init std, so ``_init_weights`` can initialise it
    alone (a head the checkpoint lacks) or within the whole model (``from_config``)."""
    module.init_std = std
    return module


class T5LayerNorm(nn.Module):
    """RMS norm without bias; the variance in float32 even for half-precision activations."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        if hidden_states.dtype == torch.float32 and self.weight.dtype == torch.float32:
            # one fused kernel, equal to the formula below in float32
            return F.rms_norm(hidden_states, (hidden_states.shape[-1],), self.weight, eps=self.variance_epsilon)
        variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            hidden_states = hidden_states.to(self.weight.dtype)
        return self.weight * hidden_states


def _activation(name: str) -> nn.Module:
    # The reference's "gelu_new" is the written-out tanh formula; F.gelu(approximate="tanh") differs in
    # the last bits, which unscaled v1.1 logits (tens) turn into ~5e-6. Keep the formula here.
    return _NewGELU() if name == "gelu_new" else ACT2FN[name]


class _NewGELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class T5DenseActDense(nn.Module):
    """v1.0: wo(act(wi(x)))."""

    def __init__(self, config):
        super().__init__()
        f = config.initializer_factor
        self.wi = _init_std(nn.Linear(config.d_model, config.d_ff, bias=False), f * config.d_model ** -0.5)
        self.wo = _init_std(nn.Linear(config.d_ff, config.d_model, bias=False), f * config.d_ff ** -0.5)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = _activation(config.dense_act_fn)

    def forward(self, hidden_states):
        hidden_states = self.dropout(self.act(project(hidden_states, self.wi)))
        return project(hidden_states.to(self.wo.weight.dtype), self.wo)


class T5DenseGatedActDense(nn.Module):
    """v1.1 / mT5: wo(act(wi_0(x)) * wi_1(x))."""

    def __init__(self, config):
        super().__init__()
        f = config.initializer_factor
        self.wi_0 = _init_std(nn.Linear(config.d_model, config.d_ff, bias=False), f * config.d_model ** -0.5)
        self.wi_1 = _init_std(nn.Linear(config.d_model, config.d_ff, bias=False), f * config.d_model ** -0.5)
        self.wo = _init_std(nn.Linear(config.d_ff, config.d_model, bias=False), f * config.d_ff ** -0.5)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = _activation(config.dense_act_fn)

    def forward(self, hidden_states):
        gate, linear = project(hidden_states, self.wi_0, self.wi_1)
        hidden_states = self.dropout(self.act(gate) * linear)
        return project(hidden_states.to(self.wo.weight.dtype), self.wo)


class T5LayerFF(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(config) if config.is_gated_act else T5DenseActDense(config)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states):
        return hidden_states + self.dropout(self.DenseReluDense(self.layer_norm(hidden_states)))


def relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool, num_buckets: int,
                             max_distance: int) -> torch.Tensor:
    """Mesh TensorFlow's buckets for ``memory_position - query_position``: half of them exact for
    short distances, the rest logarithmic up to ``max_distance`` (beyond it, the last bucket).
    Bidirectional buckets split the range between keys before and after the query; causal ones
    see only keys before it."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = relative_position.abs()
    else:
        relative_position = -torch.clamp(relative_position, max=0)
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    # float32 log as the reference, so the same distances land in the same buckets
    if_large = max_exact + (torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact)
                            * (num_buckets - max_exact)).to(torch.long)
    if_large = torch.clamp(if_large, max=num_buckets - 1)
    return buckets + torch.where(is_small, relative_position, if_large)


class T5Attention(nn.Module):
    def __init__(self, config, has_relative_attention_bias: bool = False, layer_idx: int = 0,
                 is_decoder: bool = False):
        super().__init__()
        self.is_decoder = is_decoder
        self.has_relative_attention_bias = has_relative_attention_bias
        self.relative_attention_num_buckets = config.relative_attention_num_buckets
        self.relative_attention_max_distance = config.relative_attention_max_distance
        self.n_heads = config.num_heads
        self.key_value_proj_dim = config.d_kv
        self.dropout = config.dropout_rate
        self.layer_idx = layer_idx
        inner, d, f = config.num_heads * config.d_kv, config.d_model, config.initializer_factor
        self.q = _init_std(nn.Linear(d, inner, bias=False), f * (d * config.d_kv) ** -0.5)
        self.k = _init_std(nn.Linear(d, inner, bias=False), f * d ** -0.5)
        self.v = _init_std(nn.Linear(d, inner, bias=False), f * d ** -0.5)
        self.o = _init_std(nn.Linear(inner, d, bias=False), f * inner ** -0.5)
        if has_relative_attention_bias:
            self.relative_attention_bias = _init_std(
                nn.Embedding(config.relative_attention_num_buckets, config.num_heads), f * d ** -0.5)

    def compute_bias(self, query_length: int, key_length: int, past: int = 0, device=None) -> torch.Tensor:
        """The relative position bias, (1, heads, query_length, key_length); queries start at ``past``."""
        device = device if device is not None else self.relative_attention_bias.weight.device
        context = torch.arange(query_length, dtype=torch.long, device=device)[:, None] + past
        memory = torch.arange(key_length, dtype=torch.long, device=device)[None, :]
        buckets = relative_position_bucket(memory - context, not self.is_decoder,
                                           self.relative_attention_num_buckets, self.relative_attention_max_distance)
        return self.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)

    def _heads(self, x):
        return x.view(x.shape[0], x.shape[1], -1, self.key_value_proj_dim).transpose(1, 2)

    def forward(self, hidden_states, attn_bias=None, key_value_states=None, cache=None,
                output_attentions=False):
        """``attn_bias``: the additive float mask (relative position bias with -inf-like values where
        a key is hidden), or None; the scores are not scaled, as in T5."""
        batch, q_len = hidden_states.shape[:2]
        is_cross = key_value_states is not None
        # project() multiplies through decoding-friendly weight copies inside generate(); else nn.Linear
        if is_cross:
            query = self._heads(project(hidden_states, self.q))
            reuse = isinstance(cache, EncoderDecoderCache) and cache.is_updated.get(self.layer_idx)
            if reuse:  # the encoder's keys/values were projected at the first step
                key, value = cache.cross_attention_cache[self.layer_idx]
            else:
                key, value = (self._heads(t) for t in project(key_value_states, self.k, self.v))
                if isinstance(cache, EncoderDecoderCache):
                    key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
        else:
            query, key, value = (self._heads(t) for t in project(hidden_states, self.q, self.k, self.v))
            if cache is not None:
                own = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
                key, value = own.update(key, value, self.layer_idx)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if output_attentions:
            scores = torch.matmul(query, key.transpose(-1, -2))
            if attn_bias is not None:
                scores = scores + attn_bias
            weights = torch.softmax(scores.float(), dim=-1).to(scores.dtype)
            out = torch.matmul(F.dropout(weights, p=dropout, training=self.training), value)
        else:
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=attn_bias, dropout_p=dropout,
                                                 scale=1.0)
        out = out.transpose(1, 2).reshape(batch, q_len, -1)
        return project(out, self.o), weights


class T5LayerSelfAttention(nn.Module):
    def __init__(self, config, has_relative_attention_bias=False, layer_idx=0, is_decoder=False):
        super().__init__()
        self.SelfAttention = T5Attention(config, has_relative_attention_bias, layer_idx, is_decoder)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states, attn_bias=None, cache=None, output_attentions=False):
        out, weights = self.SelfAttention(self.layer_norm(hidden_states), attn_bias, cache=cache,
                                          output_attentions=output_attentions)
        return hidden_states + self.dropout(out), weights


class T5LayerCrossAttention(nn.Module):
    def __init__(self, config, layer_idx=0):
        super().__init__()
        self.EncDecAttention = T5Attention(config, False, layer_idx, is_decoder=True)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states, key_value_states, attn_bias=None, cache=None, output_attentions=False):
        out, weights = self.EncDecAttention(self.layer_norm(hidden_states), attn_bias, key_value_states, cache,
                                            output_attentions)
        return hidden_states + self.dropout(out), weights


def _clamp_fp16(hidden_states):
    # the reference clamps inf values so fp16 training survives overflowing activations
    if hidden_states.dtype == torch.float16:
        limit = torch.finfo(torch.float16).max
        limit = torch.where(torch.isinf(hidden_states).any(), limit - 1000, limit)
        hidden_states = torch.clamp(hidden_states, min=-limit, max=limit)
    return hidden_states


class T5Block(GradientCheckpointingLayer):
    """layer.0 self-attention, (decoder) layer.1 cross-attention, layer.-1 feed-forward."""

    def __init__(self, config, has_relative_attention_bias=False, layer_idx=0, is_decoder=False):
        super().__init__()
        self.is_decoder = is_decoder
        self.layer = nn.ModuleList([T5LayerSelfAttention(config, has_relative_attention_bias, layer_idx, is_decoder)])
        if is_decoder:
            self.layer.append(T5LayerCrossAttention(config, layer_idx))
        self.layer.append(T5LayerFF(config))

    def forward(self, hidden_states, self_bias=None, encoder_hidden_states=None, cross_bias=None, cache=None,
                output_attentions=False):
        hidden_states, self_weights = self.layer[0](hidden_states, self_bias, cache, output_attentions)
        hidden_states = _clamp_fp16(hidden_states)
        cross_weights = None
        if self.is_decoder and encoder_hidden_states is not None:
            hidden_states, cross_weights = self.layer[1](hidden_states, encoder_hidden_states, cross_bias, cache,
                                                         output_attentions)
            hidden_states = _clamp_fp16(hidden_states)
        hidden_states = _clamp_fp16(self.layer[-1](hidden_states))
        return hidden_states, self_weights, cross_weights


def _additive(allowed: torch.Tensor | None, bias: torch.Tensor | None, dtype) -> torch.Tensor | None:
    """The float mask SDPA adds to the scores: ``bias`` where ``allowed``, the dtype's minimum elsewhere."""
    if allowed is None:
        return bias
    if bias is None:
        bias = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(allowed, bias, torch.finfo(dtype).min).contiguous()


class T5Stack(nn.Module):
    """The encoder (``is_decoder=False``) or the decoder: embeddings, blocks, final norm."""

    def __init__(self, config, is_decoder: bool, num_layers: int):
        super().__init__()
        self.config = config
        self.is_decoder = is_decoder
        self.embed_tokens = _init_std(nn.Embedding(config.vocab_size, config.d_model), config.initializer_factor)
        self.block = nn.ModuleList(T5Block(config, i == 0, i, is_decoder) for i in range(num_layers))
        self.final_layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                inputs_embeds=None, past_key_values=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        config = self.config
        past_key_values = kwargs.pop("cache", past_key_values)  # the reference's v5.24 spelling
        check_input_ids(input_ids, inputs_embeds)
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = config.use_return_dict if return_dict is None else return_dict
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        batch, q_len = inputs_embeds.shape[:2]
        device, dtype = inputs_embeds.device, inputs_embeds.dtype

        if not self.is_decoder:
            if use_cache:
                raise ValueError("use_cache=True needs the decoder: the T5 encoder keeps no cache.")
            past_key_values = None
        elif past_key_values is None and (use_cache if use_cache is not None else
                                          config.use_cache and not self.training):
            past_key_values = EncoderDecoderCache(DynamicCache(), DynamicCache())
        cache = past_key_values

        # the position bias and the masks are the same for every block: build the additive masks once
        past = 0
        if cache is not None:
            past = int(cache_position[0]) if cache_position is not None else cache.get_seq_length()
        key_len = cache.mask_length(q_len) if cache is not None else q_len
        first = self.block[0].layer[0].SelfAttention
        bias = first.compute_bias(q_len, key_len, past, device=device).to(dtype)
        self_bias = _additive(self._self_mask(attention_mask, q_len, past, key_len, device), bias, dtype)
        cross_bias = None
        if self.is_decoder and encoder_hidden_states is not None and encoder_attention_mask is not None \
                and not bool(encoder_attention_mask.all()):
            cross_bias = _additive(encoder_attention_mask.to(device, torch.bool)[:, None, None, :], None, dtype)

        hidden_states = self.dropout(inputs_embeds)
        all_hidden = () if output_hidden_states else None
        all_attn = () if output_attentions else None
        all_cross = () if output_attentions and self.is_decoder else None
        for layer in self.block:
            if output_hidden_states:
                all_hidden += (hidden_states,)
            hidden_states, weights, cross = layer(hidden_states, self_bias, encoder_hidden_states, cross_bias, cache,
                                                  output_attentions)
            if output_attentions:
                all_attn += (weights,)
                if all_cross is not None:
                    all_cross += (cross,)
        hidden_states = self.dropout(self.final_layer_norm(hidden_states))
        if output_hidden_states:
            all_hidden += (hidden_states,)

        if not self.is_decoder:
            out = BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden, attentions=all_attn)
        else:
            out = BaseModelOutputWithPastAndCrossAttentions(
                last_hidden_state=hidden_states, past_key_values=cache, hidden_states=all_hidden,
                attentions=all_attn, cross_attentions=all_cross)
        return out if return_dict else out.to_tuple()

    def _self_mask(self, attention_mask, q_len, past, key_len, device):
        """Boolean (batch|1, 1, q, key_len) mask of the keys each query sees, or None for "all"."""
        padded = attention_mask is not None and not bool(attention_mask.all())
        if not self.is_decoder:
            return attention_mask.to(device, torch.bool)[:, None, None, :] if padded else None
        if not padded and q_len == 1:
            return None
        query_pos = torch.arange(past, past + q_len, device=device)[:, None]
        allowed = (torch.arange(key_len, device=device)[None, :] <= query_pos)[None, None]
        if padded:
            am = attention_mask.to(device, torch.bool)
            if am.shape[-1] < key_len:  # a mask for the new tokens only: earlier ones are tokens
                am = F.pad(am, (key_len - am.shape[-1], 0), value=True)
            allowed = allowed & am[:, None, None, :key_len]
        return allowed


# ---- models -------------------------------------------------------------------------------------
class T5PreTrainedModel(PreTrainedModel):
    config_class = T5Config
    base_model_prefix = "transformer"
    _keys_to_ignore_on_load_unexpected = [r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight"]

    def _init_weights(self, module):
        std = getattr(module, "init_std", None)
        if std is not None:
            module.weight.data.normal_(mean=0.0, std=std)
            if getattr(module, "bias", None) is not None:
                module.bias.data.zero_()
        elif isinstance(module, T5LayerNorm):
            module.weight.data.fill_(self.config.initializer_factor)

    def _assign_state(self, state, dtype, ignore_mismatched_sizes, **kwargs):
        # As the reference (_keep_in_fp32_modules = ["wo"]): loaded in float16, the feed-forward output
        # projections stay float32, where large v1.1 / flan activations would overflow float16.
        keep = {k: v for k, v in state.items() if k.endswith(".wo.weight")} if dtype == torch.float16 else {}
        info = super()._assign_state(state, dtype, ignore_mismatched_sizes, **kwargs)
        params = dict(self.named_parameters())
        prefix = self.base_model_prefix + "."
        for key, tensor in keep.items():
            for name in (key, prefix + key, key.removeprefix(prefix)):  # as _align_prefix may have renamed it
                if name in params:
                    owner, _, attr = name.rpartition(".")
                    setattr(self.get_submodule(owner), attr, nn.Parameter(tensor.to(torch.float32)))
        return info

    def _shift_right(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Labels -> decoder inputs: the start token first, the rest moved one right, -100 -> pad."""
        start, pad = self.config.decoder_start_token_id, self.config.pad_token_id
        if start is None:
            raise ValueError("config.decoder_start_token_id is not set; T5 starts decoding from the pad token: "
                             "set config.decoder_start_token_id = config.pad_token_id.")
        if pad is None:
            raise ValueError("config.pad_token_id is not set; it replaces -100 in the shifted labels.")
        shifted = input_ids.new_zeros(input_ids.shape)
        shifted[..., 1:] = input_ids[..., :-1].clone()
        shifted[..., 0] = start
        return shifted.masked_fill_(shifted == -100, pad)

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return self._shift_right(labels)


def _as_encoder_output(encoder_outputs) -> BaseModelOutput:
    """encoder_outputs given as a BaseModelOutput, a dict or a (last_hidden_state, hidden_states, attentions) tuple."""
    if isinstance(encoder_outputs, BaseModelOutput):
        return encoder_outputs
    if isinstance(encoder_outputs, dict):
        return BaseModelOutput(**encoder_outputs)
    return BaseModelOutput(*encoder_outputs[:3])


class _EncoderDecoder(T5PreTrainedModel):
    """The shared / encoder / decoder trio of T5Model, T5ForConditionalGeneration, T5ForQuestionAnswering."""

    _tied_weights_keys = {"encoder.embed_tokens.weight": "shared.weight",
                          "decoder.embed_tokens.weight": "shared.weight"}

    def __init__(self, config):
        super().__init__(config)
        self.shared = _init_std(nn.Embedding(config.vocab_size, config.d_model), config.initializer_factor)
        self.encoder = T5Stack(config, is_decoder=False, num_layers=config.num_layers)
        self.decoder = T5Stack(config, is_decoder=True, num_layers=config.num_decoder_layers)

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, value):
        self.shared = value
        self.encoder.set_input_embeddings(value)
        self.decoder.set_input_embeddings(value)

    def get_encoder(self):
        return self.encoder

    def get_decoder(self):
        return self.decoder

    def _encode_decode(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                       encoder_outputs, past_key_values, inputs_embeds, decoder_inputs_embeds, use_cache,
                       output_attentions, output_hidden_states, cache_position):
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                           inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=True)
        else:
            encoder_outputs = _as_encoder_output(encoder_outputs)
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError(
                f"{type(self).__name__} needs decoder_input_ids (or decoder_inputs_embeds): T5 decodes from "
                f"config.decoder_start_token_id ({self.config.decoder_start_token_id}); pass labels to "
                f"T5ForConditionalGeneration to have them shifted into decoder_input_ids.")
        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids, attention_mask=decoder_attention_mask, inputs_embeds=decoder_inputs_embeds,
            past_key_values=past_key_values, encoder_hidden_states=encoder_outputs.last_hidden_state,
            encoder_attention_mask=attention_mask, use_cache=use_cache, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=True, cache_position=cache_position)
        return encoder_outputs, decoder_outputs


def _seq2seq_fields(encoder_outputs, decoder_outputs) -> dict:
    return dict(past_key_values=decoder_outputs.past_key_values,
                decoder_hidden_states=decoder_outputs.hidden_states,
                decoder_attentions=decoder_outputs.attentions, cross_attentions=decoder_outputs.cross_attentions,
                encoder_last_hidden_state=encoder_outputs.last_hidden_state,
                encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions)


class T5Model(_EncoderDecoder):
    def __init__(self, config: T5Config):
        super().__init__(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, **kwargs):
        past_key_values = kwargs.pop("cache", past_key_values)
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        enc, dec = self._encode_decode(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                                       encoder_outputs, past_key_values, inputs_embeds, decoder_inputs_embeds,
                                       use_cache, output_attentions, output_hidden_states, cache_position)
        out = Seq2SeqModelOutput(last_hidden_state=dec.last_hidden_state, **_seq2seq_fields(enc, dec))
        return out if return_dict else out.to_tuple()


class T5ForConditionalGeneration(_EncoderDecoder):
    _tied_weights_keys = {**_EncoderDecoder._tied_weights_keys, "lm_head.weight": "shared.weight"}
    _supports_generate = True
    _rescales_output = True  # mT5 never does
    _own_lm_head = False  # set when a checkpoint's lm_head differs from its embeddings

    def __init__(self, config: T5Config):
        super().__init__(config)
        self.model_dim = config.d_model
        self.lm_head = _init_std(nn.Linear(config.d_model, config.vocab_size, bias=False),
                                 config.initializer_factor)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def _tie_pairs(self):
        pairs = super()._tie_pairs()
        if self._own_lm_head:
            pairs.pop("lm_head.weight", None)
        return pairs

    def resize_token_embeddings(self, new_num_tokens: int, pad_to_multiple_of: int | None = None):
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of)
        old = self.lm_head
        if self._own_lm_head and old.out_features != embeddings.num_embeddings:
            new = nn.Linear(old.in_features, embeddings.num_embeddings, bias=False, dtype=old.weight.dtype,
                            device=old.weight.device)
            new.weight.data.normal_(mean=0.0, std=self.config.initializer_factor)
            n = min(old.out_features, new.out_features)
            with torch.no_grad():
                new.weight[:n] = old.weight[:n]
            self.lm_head = _init_std(new, self.config.initializer_factor)
        return embeddings

    def _assign_state(self, state, dtype, ignore_mismatched_sizes, **kwargs):
        # the reference ties lm_head to the embeddings unless the checkpoint holds a different head
        head, shared = state.get("lm_head.weight"), state.get("shared.weight")
        if head is not None and shared is not None and (head.shape != shared.shape or not torch.equal(head, shared)):
            self._own_lm_head = True
        return super()._assign_state(state, dtype, ignore_mismatched_sizes, **kwargs)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, **kwargs):
        past_key_values = kwargs.pop("cache", past_key_values)
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self._shift_right(labels)
        enc, dec = self._encode_decode(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                                       encoder_outputs, past_key_values, inputs_embeds, decoder_inputs_embeds,
                                       use_cache, output_attentions, output_hidden_states, cache_position)
        sequence_output = dec.last_hidden_state
        if self._rescales_output and getattr(self.config, "scale_decoder_outputs", False):
            sequence_output = sequence_output * (self.model_dim ** -0.5)
        logits = project(sequence_output, self.lm_head)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), labels.to(logits.device).view(-1),
                                   ignore_index=-100)
        out = Seq2SeqLMOutput(loss=loss, logits=logits, **_seq2seq_fields(enc, dec))
        return out if return_dict else out.to_tuple()


class T5EncoderModel(T5PreTrainedModel):
    _tied_weights_keys = {"encoder.embed_tokens.weight": "shared.weight"}
    _keys_to_ignore_on_load_unexpected = [r"decoder"]

    def __init__(self, config: T5Config):
        super().__init__(config)
        # as the reference: the config itself is marked encoder-only (and saved so)
        config.use_cache = False
        config.is_encoder_decoder = False
        self.shared = _init_std(nn.Embedding(config.vocab_size, config.d_model), config.initializer_factor)
        self.encoder = T5Stack(config, is_decoder=False, num_layers=config.num_layers)
        self.post_init()

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, value):
        self.shared = value
        self.encoder.set_input_embeddings(value)

    def get_encoder(self):
        return self.encoder

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                            return_dict=return_dict)


class T5ClassificationHead(nn.Module):
    """dense -> tanh -> out_proj over the decoder state at the last <eos>."""

    def __init__(self, config):
        super().__init__()
        std = config.initializer_factor * config.d_model ** -0.5
        self.dense = _init_std(nn.Linear(config.d_model, config.d_model), std)
        self.dropout = nn.Dropout(p=config.classifier_dropout)
        self.out_proj = _init_std(nn.Linear(config.d_model, config.num_labels), std)

    def forward(self, hidden_states):
        hidden_states = torch.tanh(self.dense(self.dropout(hidden_states)))
        return self.out_proj(self.dropout(hidden_states))


class T5ForSequenceClassification(T5PreTrainedModel):
    _tied_weights_keys = {"transformer.encoder.embed_tokens.weight": "transformer.shared.weight",
                          "transformer.decoder.embed_tokens.weight": "transformer.shared.weight"}

    def __init__(self, config: T5Config):
        super().__init__(config)
        self.transformer = T5Model(config)
        self.classification_head = T5ClassificationHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        if labels is not None:
            use_cache = False
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} needs input_ids: it classifies from the decoder state at the "
                             f"last <eos> token (inputs_embeds alone cannot say where that is).")
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self._shift_right(input_ids)  # as the reference: decode the input itself
        outputs = self.transformer(input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                                   decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                                   inputs_embeds=inputs_embeds, decoder_inputs_embeds=decoder_inputs_embeds,
                                   use_cache=use_cache, output_attentions=output_attentions,
                                   output_hidden_states=output_hidden_states, return_dict=True)
        sequence_output = outputs.last_hidden_state
        eos_mask = input_ids.eq(self.config.eos_token_id).to(sequence_output.device)
        counts = eos_mask.sum(1)
        if bool((counts == 0).any()):
            raise ValueError(f"Each example must contain at least one <eos> token (id {self.config.eos_token_id}): "
                             f"tokenize with the T5 tokenizer, which appends it.")
        if bool((counts != counts[0]).any()):
            raise ValueError("All examples must have the same number of <eos> tokens.")
        batch, _, hidden = sequence_output.shape
        sentence = sequence_output[eos_mask, :].view(batch, -1, hidden)[:, -1, :]
        logits = self.classification_head(sentence)
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        # every field of T5Model's output but the decoder state it classified
        fields = {key: value for key, value in outputs.items() if key != "last_hidden_state"}
        out = Seq2SeqSequenceClassifierOutput(loss=loss, logits=logits, **fields)
        return out if return_dict else out.to_tuple()


class T5ForTokenClassification(T5PreTrainedModel):
    _tied_weights_keys = {"transformer.encoder.embed_tokens.weight": "transformer.shared.weight"}

    def __init__(self, config: T5Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = T5EncoderModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = _init_std(nn.Linear(config.d_model, config.num_labels), config.initializer_factor)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        outputs = self.transformer(input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                                   output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                   return_dict=True)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        out = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                    attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


class T5ForQuestionAnswering(_EncoderDecoder):
    def __init__(self, config: T5Config):
        super().__init__(config)
        self.model_dim = config.d_model
        self.num_labels = config.num_labels
        self.qa_outputs = _init_std(nn.Linear(config.d_model, config.num_labels),
                                    config.initializer_factor * config.d_model ** -0.5)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, start_positions=None, end_positions=None, inputs_embeds=None,
                decoder_inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        if start_positions is not None and end_positions is not None:
            use_cache = False
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            if input_ids is None:
                raise ValueError("Pass input_ids, or decoder_input_ids / decoder_inputs_embeds: without them "
                                 "T5ForQuestionAnswering decodes the shifted input_ids.")
            decoder_input_ids = self._shift_right(input_ids)
        enc, dec = self._encode_decode(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                                       encoder_outputs, None, inputs_embeds, decoder_inputs_embeds, use_cache,
                                       output_attentions, output_hidden_states, None)
        logits = self.qa_outputs(dec.last_hidden_state)
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        out = Seq2SeqQuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                                  **_seq2seq_fields(enc, dec))
        return out if return_dict else out.to_tuple()


# ---- mT5: the same architecture under its own names and config ----------------------------------
def _mt5(cls, **attributes):
    name = "M" + cls.__name__
    return type(name, (cls,), {"config_class": MT5Config, "__module__": __name__, "__qualname__": name,
                               "__doc__": f"mT5's {cls.__name__}.", **attributes})


MT5Model = _mt5(T5Model)
MT5ForConditionalGeneration = _mt5(T5ForConditionalGeneration, _rescales_output=False)
MT5EncoderModel = _mt5(T5EncoderModel)
MT5ForSequenceClassification = _mt5(T5ForSequenceClassification)
MT5ForTokenClassification = _mt5(T5ForTokenClassification)
MT5ForQuestionAnswering = _mt5(T5ForQuestionAnswering)

TASKS = {
    "base": T5Model,
    "seq2seq-lm": T5ForConditionalGeneration,
    "encoder": T5EncoderModel,
    "sequence-classification": T5ForSequenceClassification,
    "token-classification": T5ForTokenClassification,
    "question-answering": T5ForQuestionAnswering,
}
# model_type "mt5" (an alias of this file) gets the MT5 names
MODEL_TYPE_TASKS = {"mt5": {task: globals()["M" + cls.__name__] for task, cls in TASKS.items()}}
