"""Mixtral: Mistral's decoder with a sparse mixture of experts in place of the feed-forward block: a
router scores ``num_local_experts`` SwiGLU experts per token, the top ``num_experts_per_tok`` run and
their outputs are summed with the router's (renormalised) probabilities. The router logits of every
layer can be returned, and with them the load-balancing loss the reference adds to the LM loss.

Module names equal the checkpoint keys (``model.layers.0.block_sparse_moe.experts.3.w1.weight``,
``...block_sparse_moe.gate.weight``), the per-expert layout the Hub files and the reference's
save_pretrained use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import DynamicCache, decoder_attention_mask
from ..configuration import PretrainedConfig
from ..layers import (ACT2FN, GradientCheckpointingLayer, causal_lm_loss, check_input_ids, classification_loss,
                      last_token_logits, load_balancing_loss, sdpa_attention, span_loss, token_classification_loss)
from ..modeling import PreTrainedModel
from ..outputs import (MoeCausalLMOutputWithPast, MoeModelOutputWithPast, QuestionAnsweringModelOutput,
                       SequenceClassifierOutputWithPast, TokenClassifierOutput)
from ..projections import project
from ..rope import RopeConfigMixin, RotaryEmbedding, apply_rotary

__all__ = [
    "MixtralConfig", "MixtralPreTrainedModel", "MixtralModel", "MixtralForCausalLM", "MixtralForSequenceClassification",
    "MixtralForTokenClassification", "MixtralForQuestionAnswering",
]


class MixtralConfig(RopeConfigMixin, PretrainedConfig):
    """The reference's MixtralConfig: same fields, defaults and config.json shape. ``sliding_window``
    (None = full attention) applies to every layer."""

    model_type = "mixtral"
    default_theta = 1000000.0

    def __init__(self, vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=8, head_dim=None, hidden_act="silu",
                 max_position_embeddings=4096 * 32, initializer_range=0.02, rms_norm_eps=1e-5, use_cache=True,
                 pad_token_id=None, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False, sliding_window=None,
                 attention_dropout=0.0, num_experts_per_tok=2, num_local_experts=8, output_router_logits=False,
                 router_aux_loss_coef=0.001, router_jitter_noise=0.0, rope_parameters=None, **kwargs):
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
        self.sliding_window = sliding_window
        self.attention_dropout = attention_dropout
        self.num_experts_per_tok = num_experts_per_tok
        self.num_local_experts = num_local_experts
        self.output_router_logits = output_router_logits
        self.router_aux_loss_coef = router_aux_loss_coef
        self.router_jitter_noise = router_jitter_noise
        self._set_rope_parameters(rope_parameters, kwargs)
        if num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(f"num_attention_heads ({num_attention_heads}) must be a multiple of "
                             f"num_key_value_heads ({self.num_key_value_heads}) for grouped-query attention.")
        if not 0 < num_experts_per_tok <= num_local_experts:
            raise ValueError(f"num_experts_per_tok ({num_experts_per_tok}) must be between 1 and "
                             f"num_local_experts ({num_local_experts}).")
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         **kwargs)


# ---- blocks -------------------------------------------------------------------------------------
class MixtralRMSNorm(nn.Module):
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


class MixtralBlockSparseTop2MLP(nn.Module):
    """One expert: SwiGLU with w1 (gate), w3 (up) and w2 (down), the checkpoints' names."""

    def __init__(self, config):
        super().__init__()
        self.w1 = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.w2 = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.w3 = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.act_fn = ACT2FN[config.hidden_act]

    def forward(self, x):
        gate, up = project(x, self.w1, self.w3)
        return project(self.act_fn(gate) * up, self.w2)


class MixtralSparseMoeBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_experts = config.num_local_experts
        self.top_k = config.num_experts_per_tok
        self.jitter_noise = config.router_jitter_noise
        self.gate = nn.Linear(config.hidden_size, config.num_local_experts, bias=False)
        self.experts = nn.ModuleList(MixtralBlockSparseTop2MLP(config) for _ in range(config.num_local_experts))

    def forward(self, hidden_states):
        """-> (output, router logits (batch * seq, num_experts))."""
        batch, seq, hidden = hidden_states.shape
        if self.training and self.jitter_noise > 0:
            hidden_states = hidden_states * torch.empty_like(hidden_states).uniform_(
                1.0 - self.jitter_noise, 1.0 + self.jitter_noise)
        flat = hidden_states.reshape(-1, hidden)
        router_logits = project(flat, self.gate)
        # the top-k experts by probability (float32), their weights renormalised to sum to one
        weights, chosen = torch.topk(torch.softmax(router_logits.float(), dim=-1), self.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(flat)
        # each expert once, on the tokens routed to it, in expert order (the reference's order of sums)
        for expert in chosen.unique().tolist():
            token, slot = torch.where(chosen == expert)
            expert_out = self.experts[expert](flat[token]) * weights[token, slot, None]
            out.index_add_(0, token, expert_out.to(out.dtype))
        return out.reshape(batch, seq, hidden), router_logits


class MixtralAttention(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim or config.hidden_size // config.num_attention_heads
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.scaling = self.head_dim ** -0.5
        self.attention_dropout = config.attention_dropout
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        batch, seq, _ = hidden_states.shape
        heads, kv_heads = self.num_heads, self.num_kv_heads
        # q, k and v side by side, (batch, seq, heads + 2 * kv_heads, head_dim): one matmul while decoding
        qkv = project(hidden_states, self.q_proj, self.k_proj, self.v_proj, concat=True)
        qkv = qkv.view(batch, seq, -1, self.head_dim)
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


class MixtralDecoderLayer(GradientCheckpointingLayer):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.self_attn = MixtralAttention(config, layer_idx)
        self.block_sparse_moe = MixtralSparseMoeBlock(config)
        self.input_layernorm = MixtralRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = MixtralRMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        """-> (hidden states, attention weights or None, router logits)."""
        attn_out, weights = self.self_attn(self.input_layernorm(hidden_states), position_embeddings, mask,
                                           is_causal, past_key_values, cache_position, output_attentions)
        hidden_states = hidden_states + attn_out
        moe_out, router_logits = self.block_sparse_moe(self.post_attention_layernorm(hidden_states))
        return hidden_states + moe_out, weights, router_logits


# ---- models -------------------------------------------------------------------------------------
class MixtralPreTrainedModel(PreTrainedModel):
    config_class = MixtralConfig
    base_model_prefix = "model"
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, MixtralRMSNorm):
            module.weight.data.fill_(1.0)


class MixtralModel(MixtralPreTrainedModel):
    def __init__(self, config: MixtralConfig):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList([MixtralDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = MixtralRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                output_router_logits=None, return_dict=None, cache_position=None, **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        output_router_logits = (output_router_logits if output_router_logits is not None
                                else self.config.output_router_logits)
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

        # one mask for all layers (with the window, when set), sized before any layer grows the cache
        key_len = past_key_values.mask_length(seq) if past_key_values is not None else seq
        mask = decoder_attention_mask(attention_mask, cache_position, key_len,
                                      sliding_window=self.config.sliding_window,
                                      is_static=getattr(past_key_values, "is_static", False))
        is_causal = mask is None and seq > 1
        hidden_states = inputs_embeds
        cos, sin = self.rotary_emb(hidden_states, position_ids)
        position_embeddings = cos.unsqueeze(2), sin.unsqueeze(2)  # (batch, seq, 1, head_dim): every head

        all_hidden, all_attn, all_router = (), (), ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden += (hidden_states,)
            hidden_states, weights, router_logits = layer(hidden_states, position_embeddings, mask, is_causal,
                                                          past_key_values, cache_position, output_attentions)
            if output_attentions:
                all_attn += (weights,)
            if output_router_logits:
                all_router += (router_logits,)
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:
            all_hidden += (hidden_states,)

        out = MoeModelOutputWithPast(
            last_hidden_state=hidden_states, past_key_values=past_key_values if use_cache else None,
            hidden_states=all_hidden if output_hidden_states else None,
            attentions=all_attn if output_attentions else None,
            router_logits=all_router if output_router_logits else None)
        return out if return_dict else out.to_tuple()


class MixtralForCausalLM(MixtralPreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    _supports_generate = True

    def __init__(self, config: MixtralConfig):
        super().__init__(config)
        self.model = MixtralModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, output_router_logits=None, return_dict=None, cache_position=None,
                logits_to_keep=0, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        output_router_logits = (output_router_logits if output_router_logits is not None
                                else self.config.output_router_logits)
        outputs = self.model(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                             output_router_logits=output_router_logits, return_dict=True,
                             cache_position=cache_position, **kwargs)
        hidden_states = outputs.last_hidden_state
        # generate() asks only for the last position's logits: skip the big vocab projection elsewhere
        if isinstance(logits_to_keep, int):
            hidden_states = hidden_states[:, -logits_to_keep:] if logits_to_keep else hidden_states
        else:
            hidden_states = hidden_states[:, logits_to_keep]
        logits = project(hidden_states, self.lm_head)
        loss = aux_loss = None
        if labels is not None:
            loss = causal_lm_loss(logits, labels, num_items_in_batch=num_items_in_batch)
        if output_router_logits:
            aux_loss = load_balancing_loss(outputs.router_logits, self.config.num_local_experts,
                                           self.config.num_experts_per_tok, attention_mask)
            if labels is not None:
                loss = loss + self.config.router_aux_loss_coef * aux_loss.to(loss.device)
        out = MoeCausalLMOutputWithPast(loss=loss, aux_loss=aux_loss, logits=logits,
                                        past_key_values=outputs.past_key_values, hidden_states=outputs.hidden_states,
                                        attentions=outputs.attentions, router_logits=outputs.router_logits)
        return out if return_dict else out.to_tuple()


class MixtralForSequenceClassification(MixtralPreTrainedModel):
    def __init__(self, config: MixtralConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = MixtralModel(config)
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


class MixtralForTokenClassification(MixtralPreTrainedModel):
    def __init__(self, config: MixtralConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = MixtralModel(config)
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


class MixtralForQuestionAnswering(MixtralPreTrainedModel):
    def __init__(self, config: MixtralConfig):
        super().__init__(config)
        self.model = MixtralModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        outputs = self.model(input_ids, attention_mask=attention_mask, position_ids=position_ids,
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


TASKS = {
    "base": MixtralModel,
    "causal-lm": MixtralForCausalLM,
    "sequence-classification": MixtralForSequenceClassification,
    "token-classification": MixtralForTokenClassification,
    "question-answering": MixtralForQuestionAnswering,
}
