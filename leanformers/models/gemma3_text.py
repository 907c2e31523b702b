"""Gemma 3 (text): Gemma 2's decoder (pre/post norms, scaled embeddings, (1 + w) RMSNorms) with an
RMSNorm on each query and key head, local sliding-window layers and a global layer every
``sliding_window_pattern`` (6), each kind with its own RoPE (``rope_parameters`` per layer type:
local base 10k, global base 1M, scaling only on the global one), and no attention soft-capping.

Module names equal the checkpoint keys (``model.layers.0.self_attn.q_norm.weight``, ...); the
multimodal Gemma 3 checkpoints' text part is ``gemma3_text``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..cache import DynamicCache, decoder_attention_mask
from ..configuration import PretrainedConfig
from ..layers import (ACT2FN, GradientCheckpointingLayer, causal_lm_loss, check_input_ids, classification_loss,
                      last_token_logits, sdpa_attention)
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPast, CausalLMOutputWithPast, SequenceClassifierOutputWithPast
from ..projections import project
from ..rope import RotaryEmbedding, apply_rotary, standardize_rope_parameters

__all__ = [
    "Gemma3TextConfig", "Gemma3PreTrainedModel", "Gemma3TextModel", "Gemma3ForCausalLM",
    "Gemma3TextForSequenceClassification",
]


class Gemma3TextConfig(PretrainedConfig):
    """The reference's Gemma3TextConfig: same fields, defaults and config.json shape.

    ``rope_parameters`` holds one dict per layer type, ``{"full_attention": {...}, "sliding_attention":
    {...}}``; v4 files' ``rope_theta`` / ``rope_scaling`` go to the global (full-attention) one and
    ``rope_local_base_freq`` to the local one, as the reference folds them.
    """

    model_type = "gemma3_text"
    default_theta = {"full_attention": 1_000_000.0, "sliding_attention": 10_000.0}

    def __init__(self, vocab_size=262208, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
                 num_attention_heads=8, num_key_value_heads=4, head_dim=256, hidden_activation="gelu_pytorch_tanh",
                 max_position_embeddings=131072, initializer_range=0.02, rms_norm_eps=1e-6, use_cache=True,
                 pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True, rope_parameters=None,
                 attention_bias=False, attention_dropout=0.0, query_pre_attn_scalar=256, sliding_window=4096,
                 layer_types=None, final_logit_softcapping=None, attn_logit_softcapping=None,
                 use_bidirectional_attention=False, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        self.head_dim = head_dim
        self.hidden_activation = hidden_activation
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.tie_word_embeddings = tie_word_embeddings
        self.rope_parameters = self._rope_parameters(rope_parameters, kwargs)
        self.attention_bias = attention_bias
        self.attention_dropout = attention_dropout
        self.query_pre_attn_scalar = query_pre_attn_scalar
        self.sliding_window = sliding_window
        # as the reference: a global layer every `sliding_window_pattern` layers, the pattern kept in config.json
        # under a private name that only this class reads back (as itself, not as the pattern)
        kwargs.pop("_sliding_window_pattern", None)
        self._sliding_window_pattern = kwargs.get("sliding_window_pattern", 6)
        if layer_types is None:
            layer_types = ["sliding_attention" if (i + 1) % self._sliding_window_pattern else "full_attention"
                           for i in range(num_hidden_layers)]
        if len(layer_types) != num_hidden_layers:
            raise ValueError(f"layer_types has {len(layer_types)} entries but the model has "
                             f"{num_hidden_layers} layers (num_hidden_layers): give one per layer.")
        self.layer_types = list(layer_types)
        self.final_logit_softcapping = final_logit_softcapping
        self.attn_logit_softcapping = attn_logit_softcapping  # (stored; the reference's Gemma 3 does not apply it)
        if use_bidirectional_attention:
            raise ValueError("use_bidirectional_attention=True is not supported by leanformers' gemma3_text "
                             "model; it runs causal attention only.")
        self.use_bidirectional_attention = use_bidirectional_attention
        if num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(f"num_attention_heads ({num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads}) for grouped-query attention.")
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         **kwargs)

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["_sliding_window_pattern"] = self._sliding_window_pattern
        return out

    def _rope_parameters(self, rope_parameters, kwargs: dict) -> dict:
        given = dict(rope_parameters or {})
        if set(given) - set(self.default_theta):  # a flat dict: the global layers' settings
            given = {"full_attention": given}
        scaling = kwargs.pop("rope_scaling", None)
        thetas = {"full_attention": kwargs.pop("rope_theta", None),
                  "sliding_attention": kwargs.pop("rope_local_base_freq", None)}
        out = {}
        for kind, default_theta in self.default_theta.items():
            params = dict(given.get(kind) or {"rope_type": "default"})
            if kind == "full_attention" and scaling:
                params.update(scaling)
            out[kind] = standardize_rope_parameters(params, None, thetas[kind], default_theta=default_theta,
                                                    max_position_embeddings=self.max_position_embeddings)
        return out


# ---- blocks -------------------------------------------------------------------------------------
class Gemma3RMSNorm(nn.Module):
    """x / rms(x) * (1 + weight), all in float32, cast back at the end."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (normed * (1.0 + self.weight.float())).type_as(x)


class Gemma3ScaledEmbedding(nn.Embedding):
    """Token embeddings times sqrt(hidden_size), the scale rounded to the weights' dtype first."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None, embed_scale: float):
        super().__init__(num_embeddings, embedding_dim, padding_idx)
        self.register_buffer("embed_scale", torch.tensor(embed_scale), persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return super().forward(input_ids) * self.embed_scale.to(self.weight.dtype)


class Gemma3MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.act_fn = ACT2FN[config.hidden_activation]

    def forward(self, x):
        gate, up = project(x, self.gate_proj, self.up_proj)
        return project(self.act_fn(gate) * up, self.down_proj)


class Gemma3Attention(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.scaling = config.query_pre_attn_scalar ** -0.5
        self.attention_dropout = config.attention_dropout
        bias = config.attention_bias
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=bias)
        # over each head's own channels, so one weight of head_dim serves every head
        self.q_norm = Gemma3RMSNorm(self.head_dim, eps=config.rms_norm_eps)
        self.k_norm = Gemma3RMSNorm(self.head_dim, eps=config.rms_norm_eps)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        batch, seq, _ = hidden_states.shape
        heads, kv_heads = self.num_heads, self.num_kv_heads
        # q, k and v side by side, (batch, seq, heads + 2 * kv_heads, head_dim): one matmul while decoding
        qkv = project(hidden_states, self.q_proj, self.k_proj, self.v_proj, concat=True)
        qkv = qkv.view(batch, seq, -1, self.head_dim)
        query = apply_rotary(self.q_norm(qkv[:, :, :heads]), *position_embeddings).transpose(1, 2)
        key = apply_rotary(self.k_norm(qkv[:, :, heads:heads + kv_heads]), *position_embeddings).transpose(1, 2)
        value = qkv[:, :, heads + kv_heads:].transpose(1, 2)
        if past_key_values is not None:
            key, value = past_key_values.update(key, value, self.layer_idx, {"cache_position": cache_position})
        out, weights = sdpa_attention(query, key, value, mask, scale=self.scaling, is_causal=is_causal,
                                      dropout=self.attention_dropout if self.training else 0.0,
                                      need_weights=output_attentions)
        out = out.transpose(1, 2).reshape(batch, seq, -1)
        return project(out, self.o_proj), weights


class Gemma3DecoderLayer(GradientCheckpointingLayer):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.self_attn = Gemma3Attention(config, layer_idx)
        self.mlp = Gemma3MLP(config)
        self.input_layernorm = Gemma3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = Gemma3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.pre_feedforward_layernorm = Gemma3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_feedforward_layernorm = Gemma3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        attn_out, weights = self.self_attn(self.input_layernorm(hidden_states), position_embeddings, mask,
                                           is_causal, past_key_values, cache_position, output_attentions)
        hidden_states = hidden_states + self.post_attention_layernorm(attn_out)
        mlp_out = self.mlp(self.pre_feedforward_layernorm(hidden_states))
        hidden_states = hidden_states + self.post_feedforward_layernorm(mlp_out)
        return hidden_states, weights


# ---- models -------------------------------------------------------------------------------------
class Gemma3PreTrainedModel(PreTrainedModel):
    config_class = Gemma3TextConfig
    base_model_prefix = "model"
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.\w*inv_freq"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, Gemma3RMSNorm):
            module.weight.data.zero_()  # (1 + weight): zero is the identity


class Gemma3TextModel(Gemma3PreTrainedModel):
    def __init__(self, config: Gemma3TextConfig):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = Gemma3ScaledEmbedding(config.vocab_size, config.hidden_size, self.padding_idx,
                                                 embed_scale=config.hidden_size ** 0.5)
        self.layers = nn.ModuleList([Gemma3DecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = Gemma3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        # global (full-attention) and local (sliding) layers turn at their own frequencies
        self.rotary_emb = RotaryEmbedding(config, config.rope_parameters["full_attention"])
        self.rotary_emb_local = RotaryEmbedding(config, config.rope_parameters["sliding_attention"])
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        past_key_values = kwargs.pop("cache", past_key_values)  # the reference's v5.24 spelling
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (output_hidden_states if output_hidden_states is not None
                                else self.config.output_hidden_states)
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        use_cache = use_cache if use_cache is not None else (self.config.use_cache and not self.training)

        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache()
        batch, seq = inputs_embeds.shape[:2]
        past_len = past_key_values.get_seq_length() if past_key_values is not None else 0
        if cache_position is None:
            cache_position = torch.arange(past_len, past_len + seq, device=inputs_embeds.device)
        if position_ids is None:
            position_ids = cache_position.unsqueeze(0).expand(batch, -1)

        # one mask per kind of layer (full / sliding), sized before any layer grows the cache
        key_len = past_key_values.mask_length(seq) if past_key_values is not None else seq
        is_static = getattr(past_key_values, "is_static", False)
        masks = {}
        for kind in set(self.config.layer_types):
            window = self.config.sliding_window if kind == "sliding_attention" else None
            mask = decoder_attention_mask(attention_mask, cache_position, key_len, sliding_window=window,
                                          is_static=is_static)
            masks[kind] = (mask, mask is None and seq > 1)
        hidden_states = inputs_embeds
        rotations = {}  # layer type -> (cos, sin), each (batch, seq, 1, head_dim): every head
        for kind, rotary in (("full_attention", self.rotary_emb), ("sliding_attention", self.rotary_emb_local)):
            if kind in masks:
                cos, sin = rotary(hidden_states, position_ids)
                rotations[kind] = cos.unsqueeze(2), sin.unsqueeze(2)

        all_hidden, all_attn = (), ()
        for layer, kind in zip(self.layers, self.config.layer_types):
            if output_hidden_states:
                all_hidden += (hidden_states,)
            mask, is_causal = masks[kind]
            hidden_states, weights = layer(hidden_states, rotations[kind], mask, is_causal,
                                           past_key_values, cache_position, output_attentions)
            if output_attentions:
                all_attn += (weights,)
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:
            all_hidden += (hidden_states,)

        out = BaseModelOutputWithPast(
            last_hidden_state=hidden_states, past_key_values=past_key_values if use_cache else None,
            hidden_states=all_hidden if output_hidden_states else None,
            attentions=all_attn if output_attentions else None)
        return out if return_dict else out.to_tuple()


class Gemma3ForCausalLM(Gemma3PreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    _supports_generate = True

    def __init__(self, config: Gemma3TextConfig):
        super().__init__(config)
        self.model = Gemma3TextModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        outputs = self.model(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                             return_dict=True, cache_position=cache_position, **kwargs)
        hidden_states = outputs.last_hidden_state
        # generate() asks only for the last position's logits: skip the big vocab projection elsewhere
        if isinstance(logits_to_keep, int):
            hidden_states = hidden_states[:, -logits_to_keep:] if logits_to_keep else hidden_states
        else:
            hidden_states = hidden_states[:, logits_to_keep]
        logits = project(hidden_states, self.lm_head)
        cap = self.config.final_logit_softcapping
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        loss = None
        if labels is not None:
            loss = causal_lm_loss(logits, labels, num_items_in_batch=num_items_in_batch)
        out = CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=outputs.past_key_values,
                                     hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


class Gemma3TextForSequenceClassification(Gemma3PreTrainedModel):
    def __init__(self, config: Gemma3TextConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = Gemma3TextModel(config)
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        outputs = self.model(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                             return_dict=True, **kwargs)
        pooled = last_token_logits(self.score(outputs.last_hidden_state), input_ids, self.config.pad_token_id)
        loss = classification_loss(pooled, labels, self.config) if labels is not None else None
        out = SequenceClassifierOutputWithPast(loss=loss, logits=pooled, past_key_values=outputs.past_key_values,
                                               hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


# GGUF files (general.architecture) whose weights this file loads: llama.cpp names the four norms its own
# way (ffn_norm is the pre-feed-forward one) and stores every norm as 1 + w
GGUF_ARCHITECTURES = {"gemma3": {
    "tensor_names": {"attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
                     "post_attention_norm": "post_attention_layernorm", "ffn_norm": "pre_feedforward_layernorm",
                     "post_ffw_norm": "post_feedforward_layernorm"},
    "norm_minus_one": True,
    "config_keys": {"attention.sliding_window": "sliding_window"},
}}

TASKS = {
    "base": Gemma3TextModel,
    "causal-lm": Gemma3ForCausalLM,
    "sequence-classification": Gemma3TextForSequenceClassification,
}
