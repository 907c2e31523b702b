"""OLMo 2: a Llama-style decoder with the norms moved after each sub-block (the block's output is
normalised before it joins the residual stream; no norm on the block's input), and RMSNorms over the
whole query and key projections (all heads together) before the rotation.

Module names equal the checkpoint keys (``model.layers.0.post_feedforward_layernorm.weight``, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import PretrainedConfig
from ..cache import DynamicCache, decoder_attention_mask
from ..layers import (ACT2FN, GradientCheckpointingLayer, causal_lm_loss, check_input_ids, classification_loss,
                      last_token_logits, sdpa_attention)
from ..modeling import PreTrainedModel
from ..projections import project
from ..rope import RopeConfigMixin, RotaryEmbedding, apply_rotary
from ..outputs import BaseModelOutputWithPast, CausalLMOutputWithPast, SequenceClassifierOutputWithPast

__all__ = [
    "Olmo2Config", "Olmo2PreTrainedModel", "Olmo2Model", "Olmo2ForCausalLM", "Olmo2ForSequenceClassification",
]

class Olmo2Config(RopeConfigMixin, PretrainedConfig):
    """The reference's Olmo2Config: same fields, defaults and config.json shape."""

    model_type = "olmo2"

    def __init__(self, vocab_size=50304, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=None, hidden_act="silu", max_position_embeddings=2048,
                 initializer_range=0.02, use_cache=True, pad_token_id=1, bos_token_id=None, eos_token_id=50279,
                 tie_word_embeddings=False, rope_parameters=None, attention_bias=False, attention_dropout=0.0,
                 rms_norm_eps=1e-5, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.use_cache = use_cache
        self.tie_word_embeddings = tie_word_embeddings
        self._set_rope_parameters(rope_parameters, kwargs)
        self.attention_bias = attention_bias
        self.attention_dropout = attention_dropout
        self.rms_norm_eps = rms_norm_eps
        if num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(f"num_attention_heads ({num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads}) for grouped-query attention.")
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         **kwargs)


# ---- blocks -------------------------------------------------------------------------------------
class Olmo2RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # float32 statistics and product, cast back last (the weight multiplies before the cast, unlike Llama)
        input_dtype = hidden_states.dtype
        shape = (hidden_states.shape[-1],)
        if input_dtype == torch.float32 and self.weight.dtype == torch.float32:
            return F.rms_norm(hidden_states, shape, self.weight, eps=self.variance_epsilon)
        normed = F.rms_norm(hidden_states.to(torch.float32), shape, eps=self.variance_epsilon)
        return (self.weight * normed).to(input_dtype)


class Olmo2MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.act_fn = ACT2FN[config.hidden_act]

    def forward(self, x):
        gate, up = project(x, self.gate_proj, self.up_proj)
        return project(self.act_fn(gate) * up, self.down_proj)


class Olmo2Attention(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.scaling = self.head_dim ** -0.5
        self.attention_dropout = config.attention_dropout
        bias = config.attention_bias
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=bias)
        # over all heads' channels at once (unlike Qwen3's per-head norms)
        self.q_norm = Olmo2RMSNorm(self.num_heads * self.head_dim, config.rms_norm_eps)
        self.k_norm = Olmo2RMSNorm(self.num_kv_heads * self.head_dim, config.rms_norm_eps)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        batch, seq, _ = hidden_states.shape
        heads, kv_heads = self.num_heads, self.num_kv_heads
        # q, k and v side by side, (batch, seq, heads + 2 * kv_heads, head_dim): one matmul while
        # decoding, and the rotation turns the queries and the keys in one pass
        qkv = project(hidden_states, self.q_proj, self.k_proj, self.v_proj, concat=True)
        q_width, kv_width = heads * self.head_dim, kv_heads * self.head_dim
        query = self.q_norm(qkv[..., :q_width]).view(batch, seq, heads, self.head_dim)
        key = self.k_norm(qkv[..., q_width:q_width + kv_width]).view(batch, seq, kv_heads, self.head_dim)
        query = apply_rotary(query, *position_embeddings).transpose(1, 2)
        key = apply_rotary(key, *position_embeddings).transpose(1, 2)
        value = qkv[..., q_width + kv_width:].view(batch, seq, kv_heads, self.head_dim).transpose(1, 2)
        if past_key_values is not None:
            key, value = past_key_values.update(key, value, self.layer_idx,
                                                {"cache_position": cache_position})
        out, weights = sdpa_attention(query, key, value, mask, scale=self.scaling, is_causal=is_causal,
                                      dropout=self.attention_dropout if self.training else 0.0,
                                      need_weights=output_attentions)
        out = out.transpose(1, 2).reshape(batch, seq, -1)
        return project(out, self.o_proj), weights


class Olmo2DecoderLayer(GradientCheckpointingLayer):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.self_attn = Olmo2Attention(config, layer_idx)
        self.mlp = Olmo2MLP(config)
        self.post_attention_layernorm = Olmo2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_feedforward_layernorm = Olmo2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        attn_out, weights = self.self_attn(hidden_states, position_embeddings, mask, is_causal, past_key_values,
                                           cache_position, output_attentions)
        hidden_states = hidden_states + self.post_attention_layernorm(attn_out)
        hidden_states = hidden_states + self.post_feedforward_layernorm(self.mlp(hidden_states))
        return hidden_states, weights


# ---- models -------------------------------------------------------------------------------------
class Olmo2PreTrainedModel(PreTrainedModel):
    config_class = Olmo2Config
    base_model_prefix = "model"
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, Olmo2RMSNorm):
            module.weight.data.fill_(1.0)


class Olmo2Model(Olmo2PreTrainedModel):
    def __init__(self, config: Olmo2Config):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList([Olmo2DecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = Olmo2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config)
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

        # one mask for all layers, sized before any layer grows the cache
        key_len = past_key_values.mask_length(seq) if past_key_values is not None else seq
        mask = decoder_attention_mask(attention_mask, cache_position, key_len,
                                      is_static=getattr(past_key_values, "is_static", False))
        is_causal = mask is None and seq > 1
        hidden_states = inputs_embeds
        cos, sin = self.rotary_emb(hidden_states, position_ids)
        position_embeddings = cos.unsqueeze(2), sin.unsqueeze(2)  # (batch, seq, 1, head_dim): every head

        all_hidden, all_attn = (), ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden += (hidden_states,)
            hidden_states, weights = layer(hidden_states, position_embeddings, mask, is_causal,
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


class Olmo2ForCausalLM(Olmo2PreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    _supports_generate = True

    def __init__(self, config: Olmo2Config):
        super().__init__(config)
        self.model = Olmo2Model(config)
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
        loss = None
        if labels is not None:
            loss = causal_lm_loss(logits, labels, num_items_in_batch=num_items_in_batch)
        out = CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=outputs.past_key_values,
                                     hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


class Olmo2ForSequenceClassification(Olmo2PreTrainedModel):
    def __init__(self, config: Olmo2Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = Olmo2Model(config)
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


TASKS = {
    "base": Olmo2Model,
    "causal-lm": Olmo2ForCausalLM,
    "sequence-classification": Olmo2ForSequenceClassification,
}
