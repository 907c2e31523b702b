"""Phi-3: a Llama-style decoder whose q/k/v and gate/up projections are each one fused matrix, as its
checkpoints store them (``qkv_proj``, ``gate_up_proj``), with LongRoPE ("su") scaling for the long-context
variants, partial rotary embeddings (``partial_rotary_factor``), residual dropout, and an optional
sliding window on every layer.

Module names equal the checkpoint keys (``model.layers.0.self_attn.qkv_proj.weight``, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import DynamicCache, decoder_attention_mask
from ..configuration import PretrainedConfig
from ..layers import (ACT2FN, GradientCheckpointingLayer, causal_lm_loss, check_input_ids, classification_loss,
                      last_token_logits, sdpa_attention, token_classification_loss)
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutputWithPast, CausalLMOutputWithPast, SequenceClassifierOutputWithPast,
                       TokenClassifierOutput)
from ..projections import project
from ..rope import RotaryEmbedding, apply_rotary, standardize_rope_parameters

__all__ = [
    "Phi3Config", "Phi3PreTrainedModel", "Phi3Model", "Phi3ForCausalLM", "Phi3ForSequenceClassification",
    "Phi3ForTokenClassification",
]


class Phi3Config(PretrainedConfig):
    """The reference's Phi3Config: same fields, defaults and config.json shape.

    As the reference, ``rope_parameters`` always names ``partial_rotary_factor``; the RoPE type is
    "default" or "longrope" (v4 files' "su" and "yarn" mean longrope), and the top-level
    ``original_max_position_embeddings`` is the pretrained context LongRoPE scales from.
    """

    model_type = "phi3"
    default_theta = 10000.0

    def __init__(self, vocab_size=32064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=None, resid_pdrop=0.0, embd_pdrop=0.0,
                 attention_dropout=0.0, hidden_act="silu", max_position_embeddings=4096,
                 original_max_position_embeddings=4096, initializer_range=0.02, rms_norm_eps=1e-5, use_cache=True,
                 tie_word_embeddings=False, rope_parameters=None, bos_token_id=1, eos_token_id=32000,
                 pad_token_id=32000, sliding_window=None, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        self.resid_pdrop = resid_pdrop
        self.embd_pdrop = embd_pdrop
        self.attention_dropout = attention_dropout
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.original_max_position_embeddings = original_max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.tie_word_embeddings = tie_word_embeddings
        self.rope_parameters = self._rope_parameters(rope_parameters, kwargs)
        self.sliding_window = sliding_window
        if num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(f"num_attention_heads ({num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads}) for grouped-query attention.")
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         **kwargs)

    def _rope_parameters(self, rope_parameters, kwargs: dict) -> dict:
        params = dict(kwargs.pop("rope_scaling", None) or rope_parameters or {})
        params.setdefault("rope_theta", kwargs.pop("rope_theta", self.default_theta))
        params.setdefault("partial_rotary_factor", kwargs.get("partial_rotary_factor", 1.0))
        rope_type = params.get("rope_type", params.get("type", "default"))
        if rope_type in ("su", "yarn"):  # older names of Phi-3's LongRoPE
            params["rope_type"] = rope_type = "longrope"
        if rope_type not in ("default", "longrope"):
            raise ValueError(f"Phi-3 supports rope_type 'default' or 'longrope' (v4: 'su'), got {rope_type!r}; "
                             "fix rope_parameters (or rope_scaling) in the config.")
        params = standardize_rope_parameters(
            params, default_theta=self.default_theta, max_position_embeddings=self.max_position_embeddings,
            original_max_position_embeddings=self.original_max_position_embeddings)
        rotary = int(self.hidden_size // self.num_attention_heads * params["partial_rotary_factor"])
        for key in ("short_factor", "long_factor"):
            if key in params and len(params[key]) != rotary // 2:
                raise ValueError(f"rope_parameters' {key} must have one entry per rotary frequency "
                                 f"({rotary // 2}), got {len(params[key])}.")
        return params


# ---- blocks -------------------------------------------------------------------------------------
class Phi3RMSNorm(nn.Module):
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


class Phi3MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.gate_up_proj = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.activation_fn = ACT2FN[config.hidden_act]

    def forward(self, x):
        gate, up = project(x, self.gate_up_proj).chunk(2, dim=-1)  # stored as one matrix: gate rows, then up
        return project(up * self.activation_fn(gate), self.down_proj)


class Phi3Attention(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.scaling = self.head_dim ** -0.5
        self.attention_dropout = config.attention_dropout
        # q, k and v as one stored matrix: heads * head_dim rows of queries, then keys, then values
        self.qkv_proj = nn.Linear(config.hidden_size, (self.num_heads + 2 * self.num_kv_heads) * self.head_dim,
                                  bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        batch, seq, _ = hidden_states.shape
        heads, kv_heads = self.num_heads, self.num_kv_heads
        qkv = project(hidden_states, self.qkv_proj).view(batch, seq, -1, self.head_dim)
        # (partial rotary: the tables cover the first channels of each head; the rest pass through)
        qk = apply_rotary(qkv[:, :, : heads + kv_heads], *position_embeddings)  # queries and keys in one pass
        query = qk[:, :, :heads].transpose(1, 2)
        key = qk[:, :, heads:].transpose(1, 2)
        value = qkv[:, :, heads + kv_heads:].transpose(1, 2)
        if past_key_values is not None:
            key, value = past_key_values.update(key, value, self.layer_idx, {"cache_position": cache_position})
        out, weights = sdpa_attention(query, key, value, mask, scale=self.scaling, is_causal=is_causal,
                                      dropout=self.attention_dropout if self.training else 0.0,
                                      need_weights=output_attentions)
        out = out.transpose(1, 2).reshape(batch, seq, -1)
        return project(out, self.o_proj), weights


class Phi3DecoderLayer(GradientCheckpointingLayer):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.self_attn = Phi3Attention(config, layer_idx)
        self.mlp = Phi3MLP(config)
        self.input_layernorm = Phi3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = Phi3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.resid_attn_dropout = nn.Dropout(config.resid_pdrop)
        self.resid_mlp_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        attn_out, weights = self.self_attn(self.input_layernorm(hidden_states), position_embeddings, mask,
                                           is_causal, past_key_values, cache_position, output_attentions)
        hidden_states = hidden_states + self.resid_attn_dropout(attn_out)
        hidden_states = hidden_states + self.resid_mlp_dropout(self.mlp(self.post_attention_layernorm(hidden_states)))
        return hidden_states, weights


# ---- models -------------------------------------------------------------------------------------
class Phi3PreTrainedModel(PreTrainedModel):
    config_class = Phi3Config
    base_model_prefix = "model"
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, Phi3RMSNorm):
            module.weight.data.fill_(1.0)


class Phi3Model(Phi3PreTrainedModel):
    def __init__(self, config: Phi3Config):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList([Phi3DecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = Phi3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
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

        # one mask for all layers (with the window, when set, on every one), sized before any layer grows the cache
        key_len = past_key_values.mask_length(seq) if past_key_values is not None else seq
        mask = decoder_attention_mask(attention_mask, cache_position, key_len,
                                      sliding_window=self.config.sliding_window,
                                      is_static=getattr(past_key_values, "is_static", False))
        is_causal = mask is None and seq > 1
        hidden_states = inputs_embeds
        cos, sin = self.rotary_emb(hidden_states, position_ids)
        position_embeddings = cos.unsqueeze(2), sin.unsqueeze(2)  # (batch, seq, 1, rotary_dim): every head

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


class Phi3ForCausalLM(Phi3PreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    _supports_generate = True

    def __init__(self, config: Phi3Config):
        super().__init__(config)
        self.model = Phi3Model(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    @property
    def recompute_cache_at(self) -> int:
        """generate() re-reads the whole sequence once it is one token past this length: the reference
        does so for Phi-3, whose LongRoPE turns to its long factors there (cached keys used the short)."""
        return self.config.original_max_position_embeddings

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


class Phi3ForSequenceClassification(Phi3PreTrainedModel):
    def __init__(self, config: Phi3Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = Phi3Model(config)
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


class Phi3ForTokenClassification(Phi3PreTrainedModel):
    def __init__(self, config: Phi3Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = Phi3Model(config)
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


# GGUF files (general.architecture) whose weights this file loads: llama.cpp keeps the fused matrices
# (attn_qkv; ffn_up is gate_up_proj), rows in checkpoint order, no Q/K permutation. Like the reference,
# the file's sliding_window and LongRoPE factor tensors are not read (a plain RoPE model results).
GGUF_ARCHITECTURES = {"phi3": {"tensor_names": {"attn_qkv": "self_attn.qkv_proj", "ffn_up": "mlp.gate_up_proj"}}}

TASKS = {
    "base": Phi3Model,
    "causal-lm": Phi3ForCausalLM,
    "sequence-classification": Phi3ForSequenceClassification,
    "token-classification": Phi3ForTokenClassification,
}
