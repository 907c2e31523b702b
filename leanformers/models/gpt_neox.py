"""GPT-NeoX (Pythia, GPT-NeoX-20B): LayerNorm blocks whose attention and feed-forward read the same
input and add to the residual stream together (``use_parallel_residual``), q/k/v from one matrix laid
out head by head ([q_h, k_h, v_h] for each head), rotary embeddings on the first ``rotary_pct`` of each
head's channels, and a GELU MLP with biases.

Module names equal the checkpoint keys (``gpt_neox.layers.0.attention.query_key_value.weight``,
``embed_out.weight``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..configuration import PretrainedConfig
from ..cache import DynamicCache, decoder_attention_mask
from ..layers import (ACT2FN, GradientCheckpointingLayer, causal_lm_loss, check_input_ids, classification_loss,
                      last_token_logits, sdpa_attention, span_loss, token_classification_loss)
from ..modeling import PreTrainedModel
from ..projections import project
from ..rope import RotaryEmbedding, apply_rotary, standardize_rope_parameters
from ..outputs import (BaseModelOutputWithPast, CausalLMOutputWithPast, QuestionAnsweringModelOutput,
                       SequenceClassifierOutputWithPast, TokenClassifierOutput)

__all__ = [
    "GPTNeoXConfig", "GPTNeoXPreTrainedModel", "GPTNeoXModel", "GPTNeoXForCausalLM", "GPTNeoXForSequenceClassification",
    "GPTNeoXForTokenClassification", "GPTNeoXForQuestionAnswering",
]

class GPTNeoXConfig(PretrainedConfig):
    """The reference's GPTNeoXConfig: same fields, defaults and config.json shape. v4 files' ``rotary_pct``
    and ``rotary_emb_base`` become ``rope_parameters``' partial_rotary_factor and rope_theta."""

    model_type = "gpt_neox"
    default_theta = 10000.0

    def __init__(self, vocab_size=50432, hidden_size=6144, num_hidden_layers=44, num_attention_heads=64,
                 intermediate_size=24576, hidden_act="gelu", attention_dropout=0.0, hidden_dropout=0.0,
                 classifier_dropout=0.1, max_position_embeddings=2048, initializer_range=0.02, layer_norm_eps=1e-5,
                 use_cache=True, bos_token_id=0, eos_token_id=2, pad_token_id=None, tie_word_embeddings=False,
                 use_parallel_residual=True, rope_parameters=None, attention_bias=True, is_decoder=False, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.attention_dropout = attention_dropout
        self.hidden_dropout = hidden_dropout
        self.classifier_dropout = classifier_dropout
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.use_cache = use_cache
        self.tie_word_embeddings = tie_word_embeddings
        self.use_parallel_residual = use_parallel_residual
        self.rope_parameters = standardize_rope_parameters(
            rope_parameters, kwargs.pop("rope_scaling", None), kwargs.pop("rotary_emb_base", None),
            default_theta=self.default_theta, max_position_embeddings=max_position_embeddings,
            partial_rotary_factor=kwargs.pop("rotary_pct", 0.25))
        self.attention_bias = attention_bias
        self.is_decoder = is_decoder
        if hidden_size % num_attention_heads != 0:
            raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of num_attention_heads "
                             f"({num_attention_heads}); fix one of them in the config.")
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         **kwargs)


# ---- blocks -------------------------------------------------------------------------------------
class GPTNeoXMLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(config.hidden_size, config.intermediate_size)
        self.dense_4h_to_h = nn.Linear(config.intermediate_size, config.hidden_size)
        self.act = ACT2FN[config.hidden_act]

    def forward(self, x):
        return project(self.act(project(x, self.dense_h_to_4h)), self.dense_4h_to_h)


class GPTNeoXAttention(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_size ** -0.5
        self.attention_dropout = config.attention_dropout
        self.query_key_value = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.attention_bias)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, bias=config.attention_bias)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        batch, seq, _ = hidden_states.shape
        # stored head by head: each head's query, key and value channels side by side
        qkv = project(hidden_states, self.query_key_value).view(batch, seq, self.num_heads, 3 * self.head_size)
        query, key, value = qkv.chunk(3, dim=-1)
        # (partial rotary: the tables cover the first rotary_pct of each head's channels)
        query = apply_rotary(query, *position_embeddings).transpose(1, 2)
        key = apply_rotary(key, *position_embeddings).transpose(1, 2)
        value = value.transpose(1, 2)
        if past_key_values is not None:
            key, value = past_key_values.update(key, value, self.layer_idx, {"cache_position": cache_position})
        out, weights = sdpa_attention(query, key, value, mask, scale=self.scaling, is_causal=is_causal,
                                      dropout=self.attention_dropout if self.training else 0.0,
                                      need_weights=output_attentions)
        out = out.transpose(1, 2).reshape(batch, seq, -1)
        return project(out, self.dense), weights


class GPTNeoXLayer(GradientCheckpointingLayer):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.use_parallel_residual = config.use_parallel_residual
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_attention_dropout = nn.Dropout(config.hidden_dropout)
        self.post_mlp_dropout = nn.Dropout(config.hidden_dropout)
        self.attention = GPTNeoXAttention(config, layer_idx)
        self.mlp = GPTNeoXMLP(config)

    def forward(self, hidden_states, position_embeddings, mask, is_causal, past_key_values=None,
                cache_position=None, output_attentions=False):
        attn_out, weights = self.attention(self.input_layernorm(hidden_states), position_embeddings, mask,
                                           is_causal, past_key_values, cache_position, output_attentions)
        attn_out = self.post_attention_dropout(attn_out)
        if self.use_parallel_residual:  # x + attn(ln1(x)) + mlp(ln2(x))
            mlp_out = self.post_mlp_dropout(self.mlp(self.post_attention_layernorm(hidden_states)))
            return mlp_out + attn_out + hidden_states, weights
        attn_out = attn_out + hidden_states  # x' = x + attn(ln1(x)); x' + mlp(ln2(x'))
        return self.post_mlp_dropout(self.mlp(self.post_attention_layernorm(attn_out))) + attn_out, weights


# ---- models -------------------------------------------------------------------------------------
class GPTNeoXPreTrainedModel(PreTrainedModel):
    config_class = GPTNeoXConfig
    base_model_prefix = "gpt_neox"
    # buffers older checkpoints stored (causal masks, rotary frequencies): computed here instead
    _keys_to_ignore_on_load_unexpected = [r"attention\.bias", r"attention\.masked_bias", r"rotary_emb\.inv_freq"]


class GPTNeoXModel(GPTNeoXPreTrainedModel):
    def __init__(self, config: GPTNeoXConfig):
        super().__init__(config)
        self.embed_in = nn.Embedding(config.vocab_size, config.hidden_size)
        self.emb_dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList([GPTNeoXLayer(config, i) for i in range(config.num_hidden_layers)])
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.rotary_emb = RotaryEmbedding(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_in

    def set_input_embeddings(self, value):
        self.embed_in = value

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
            inputs_embeds = self.embed_in(input_ids)
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
        hidden_states = self.emb_dropout(inputs_embeds)
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
        hidden_states = self.final_layer_norm(hidden_states)
        if output_hidden_states:
            all_hidden += (hidden_states,)

        out = BaseModelOutputWithPast(
            last_hidden_state=hidden_states, past_key_values=past_key_values if use_cache else None,
            hidden_states=all_hidden if output_hidden_states else None,
            attentions=all_attn if output_attentions else None)
        return out if return_dict else out.to_tuple()


class GPTNeoXForCausalLM(GPTNeoXPreTrainedModel):
    _tied_weights_keys = {"embed_out.weight": "gpt_neox.embed_in.weight"}
    _supports_generate = True

    def __init__(self, config: GPTNeoXConfig):
        super().__init__(config)
        self.gpt_neox = GPTNeoXModel(config)
        self.vocab_size = config.vocab_size
        self.embed_out = nn.Linear(config.hidden_size, config.vocab_size, bias=False)  # the LM head
        self.post_init()

    def get_output_embeddings(self):
        return self.embed_out

    def set_output_embeddings(self, value):
        self.embed_out = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        outputs = self.gpt_neox(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                             return_dict=True, cache_position=cache_position, **kwargs)
        hidden_states = outputs.last_hidden_state
        # generate() asks only for the last position's logits: skip the big vocab projection elsewhere
        if isinstance(logits_to_keep, int):
            hidden_states = hidden_states[:, -logits_to_keep:] if logits_to_keep else hidden_states
        else:
            hidden_states = hidden_states[:, logits_to_keep]
        logits = project(hidden_states, self.embed_out)
        loss = None
        if labels is not None:
            loss = causal_lm_loss(logits, labels, num_items_in_batch=num_items_in_batch)
        out = CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=outputs.past_key_values,
                                     hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


class GPTNeoXForSequenceClassification(GPTNeoXPreTrainedModel):
    def __init__(self, config: GPTNeoXConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.gpt_neox = GPTNeoXModel(config)
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        outputs = self.gpt_neox(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                             return_dict=True, **kwargs)
        pooled = last_token_logits(self.score(outputs.last_hidden_state), input_ids, self.config.pad_token_id)
        loss = classification_loss(pooled, labels, self.config) if labels is not None else None
        out = SequenceClassifierOutputWithPast(loss=loss, logits=pooled, past_key_values=outputs.past_key_values,
                                               hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


class GPTNeoXForTokenClassification(GPTNeoXPreTrainedModel):
    def __init__(self, config: GPTNeoXConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.gpt_neox = GPTNeoXModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        outputs = self.gpt_neox(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                             return_dict=True, **kwargs)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = token_classification_loss(logits, labels) if labels is not None else None
        out = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                    attentions=outputs.attentions)
        return out if return_dict else out.to_tuple()


class GPTNeoXForQuestionAnswering(GPTNeoXPreTrainedModel):
    def __init__(self, config: GPTNeoXConfig):
        super().__init__(config)
        self.gpt_neox = GPTNeoXModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        outputs = self.gpt_neox(input_ids, attention_mask=attention_mask, position_ids=position_ids,
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
    "base": GPTNeoXModel,
    "causal-lm": GPTNeoXForCausalLM,
    "sequence-classification": GPTNeoXForSequenceClassification,
    "token-classification": GPTNeoXForTokenClassification,
    "question-answering": GPTNeoXForQuestionAnswering,
}
