"""Qwen3: Qwen2's decoder with an RMSNorm on each query and key head (before the rotation), an
explicit ``head_dim``, optional biases on all four attention projections, and sliding-window layers
named by ``layer_types``.

Module names equal the checkpoint keys (``model.layers.0.self_attn.q_norm.weight``, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import DynamicCache, decoder_attention_mask
from ..configuration import PretrainedConfig
from ..layers import (ACT2FN, GradientCheckpointingLayer, causal_lm_loss, check_input_ids, classification_loss,
                      last_token_logits, sdpa_attention, span_loss, token_classification_loss)
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutputWithPast, CausalLMOutputWithPast, QuestionAnsweringModelOutput,
                       SequenceClassifierOutputWithPast, TokenClassifierOutput)
from ..projections import project
from ..rope import RopeConfigMixin, RotaryEmbedding, apply_rotary

__all__ = [
    "Qwen3Config", "Qwen3PreTrainedModel", "Qwen3Model", "Qwen3ForCausalLM", "Qwen3ForSequenceClassification",
    "Qwen3ForTokenClassification", "Qwen3ForQuestionAnswering",
]


class Qwen3Config(RopeConfigMixin, PretrainedConfig):
    """The reference's Qwen3Config: same fields, defaults and config.json shape.

    As the reference: ``sliding_window`` is None unless ``use_sliding_window``, and ``layer_types``
    defaults to sliding attention on the layers from ``max_window_layers`` on when a window is in use.
    """

    model_type = "qwen3"

    def __init__(self, vocab_size=151936, hidden_size=4096, intermediate_size=22016, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32, head_dim=128, hidden_act="silu",
                 max_position_embeddings=32768, initializer_range=0.02, rms_norm_eps=1e-6, use_cache=True,
                 tie_word_embeddings=False, rope_parameters=None, attention_bias=False, use_sliding_window=False,
                 sliding_window=4096, max_window_layers=28, layer_types=None, attention_dropout=0.0,
                 pad_token_id=None, bos_token_id=None, eos_token_id=None, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        self.head_dim = head_dim
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.tie_word_embeddings = tie_word_embeddings
        self._set_rope_parameters(rope_parameters, kwargs)
        self.attention_bias = attention_bias
        self.use_sliding_window = use_sliding_window
        self.sliding_window = sliding_window if use_sliding_window else None
        self.max_window_layers = max_window_layers
        if layer_types is None:
            layer_types = ["sliding_attention" if self.sliding_window is not None and i >= max_window_layers
                           else "full_attention" for i in range(num_hidden_layers)]
        if len(layer_types) != num_hidden_layers:
            raise ValueError(f"layer_types has {len(layer_types)} entries but the model has "
                             f"{num_hidden_layers} layers (num_hidden_layers): give one per layer.")
        self.layer_types = list(layer_types)
        self.attention_dropout = attention_dropout
        if num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(f"num_attention_heads ({num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads}) for grouped-query attention.")
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         **kwargs)


# ---- blocks -------------------------------------------------------------------------------------
class Qwen3RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # float32 statistics even for half-precision activations, then back (as the reference)
        input_dtype = hidden_states.dtype
        shape = (hidden_states.shape[-1],)
        if input_dtype == torch.float32 and self.weight.dtype == torch.float32:
            return F.rms_norm(hidden_states, shape, self.weight, eps=self.variance_epsilon)
        normed = F.rms_norm(hidden_states.to(torch.float32), shape, eps=self.variance_epsilon)
        return self.weight * normed.to(input_dtype)


class Qwen3MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.act_fn = ACT2FN[config.hidden_act]

    def forward(self, x):
        gate, up = project(x, self.gate_proj, self.up_proj)
        return project(self.act_fn(gate) * up, self.down_proj)


class Qwen3Attention(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.scaling = self.head_dim ** -0.5
        self.attention_dropout = config.attention_dropout
        bias = config.attention_bias
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=bias)
        # over each head's own channels, so one weight of head_dim serves every head
        self.q_norm = Qwen3RMSNorm(self.head_dim, eps=config.rms_norm_eps)
        self.k_norm = Qwen3RMSNorm(self.head_dim, eps=config.rms_norm_eps)

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


class Qwen3DecoderLayer(GradientCheckpointingLayer):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.self_attn = Qwen3Attention(config, layer_idx)
        self.mlp = Qwen3MLP(config)
        self.input_layernorm = Qwen3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = Qwen3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        attn_out, weights = self.self_attn(self.input_layernorm(hidden_states), position_embeddings, mask,
                                           is_causal, past_key_values, cache_position, output_attentions)
        hidden_states = hidden_states + attn_out
        hidden_states = hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))
        return hidden_states, weights


# ---- models -------------------------------------------------------------------------------------
class Qwen3PreTrainedModel(PreTrainedModel):
    config_class = Qwen3Config
    base_model_prefix = "model"
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, Qwen3RMSNorm):
            module.weight.data.fill_(1.0)


class Qwen3Model(Qwen3PreTrainedModel):
    def __init__(self, config: Qwen3Config):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList([Qwen3DecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = Qwen3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
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
        cos, sin = self.rotary_emb(hidden_states, position_ids)
        position_embeddings = cos.unsqueeze(2), sin.unsqueeze(2)  # (batch, seq, 1, head_dim): every head

        all_hidden, all_attn = (), ()
        for layer, kind in zip(self.layers, self.config.layer_types):
            if output_hidden_states:
                all_hidden += (hidden_states,)
            mask, is_causal = masks[kind]
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


class Qwen3ForCausalLM(Qwen3PreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    _supports_generate = True

    def __init__(self, config: Qwen3Config):
        super().__init__(config)
        self.model = Qwen3Model(config)
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


class Qwen3ForSequenceClassification(Qwen3PreTrainedModel):
    def __init__(self, config: Qwen3Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = Qwen3Model(config)
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


class Qwen3ForTokenClassification(Qwen3PreTrainedModel):
    def __init__(self, config: Qwen3Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = Qwen3Model(config)
        dropout = getattr(config, "classifier_dropout", None)
        dropout = dropout if dropout is not None else getattr(config, "hidden_dropout", None)
        self.dropout = nn.Dropout(dropout if dropout is not None else 0.1)
        self.score = nn.Linear(config.hidden_size, config.num_labels,
                               bias=getattr(config, "token_classification_bias", True))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        outputs = self.model(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                             return_dict=True, **kwargs)
        logits = self.score(self.dropout(outputs.last_hidden_state))
        loss = token_classification_loss(logits, labels) if labels is not None else None
        out = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                    attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


class Qwen3ForQuestionAnswering(Qwen3PreTrainedModel):
    base_model_prefix = "transformer"  # as the reference's checkpoints name the body of this head

    def __init__(self, config: Qwen3Config):
        super().__init__(config)
        self.transformer = Qwen3Model(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        outputs = self.transformer(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                   past_key_values=past_key_values, inputs_embeds=inputs_embeds,
                                   output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                   return_dict=True, **kwargs)
        start_logits, end_logits = self.qa_outputs(outputs.last_hidden_state).split(1, dim=-1)
        start_logits, end_logits = start_logits.squeeze(-1).contiguous(), end_logits.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        out = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                           hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


# GGUF files (general.architecture) whose weights this file loads: llama's tensor names plus the q/k norms
GGUF_ARCHITECTURES = {"qwen3": {"tensor_names": {"attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"}}}

TASKS = {
    "base": Qwen3Model,
    "causal-lm": Qwen3ForCausalLM,
    "sequence-classification": Qwen3ForSequenceClassification,
    "token-classification": Qwen3ForTokenClassification,
    "question-answering": Qwen3ForQuestionAnswering,
}
