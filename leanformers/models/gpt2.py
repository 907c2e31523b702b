"""GPT-2 (Radford et al., 2019): a decoder-only Transformer with learned absolute positions.

Module names equal the checkpoint keys (``transformer.h.0.attn.c_attn.weight``), so a Hub
checkpoint loads by name with no renaming. Pre-LayerNorm blocks; the LM head shares the token
embedding matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import Cache, DynamicCache, decoder_attention_mask
from ..configuration import PretrainedConfig
from ..layers import (ACT2FN, GradientCheckpointingLayer, causal_lm_loss, check_input_ids, classification_loss,
                      sdpa_attention)
from ..modeling import PreTrainedModel
from ..projections import project
from ..outputs import (
    BaseModelOutputWithPast, CausalLMOutputWithPast, SequenceClassifierOutputWithPast, TokenClassifierOutput,
)

__all__ = ["GPT2Config", "GPT2Model", "GPT2LMHeadModel", "GPT2ForSequenceClassification",
           "GPT2ForTokenClassification", "GPT2PreTrainedModel"]


class GPT2Config(PretrainedConfig):
    model_type = "gpt2"
    # config.json uses GPT-2's own names; the common names are aliases of them
    attribute_map = {
        "hidden_size": "n_embd",
        "max_position_embeddings": "n_positions",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
    }

    def __init__(self, vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                 activation_function="gelu_new", resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
                 layer_norm_epsilon=1e-5, initializer_range=0.02, summary_type="cls_index",
                 summary_use_proj=True, summary_activation=None, summary_proj_to_labels=True,
                 summary_first_dropout=0.1, scale_attn_weights=True, use_cache=True, bos_token_id=50256,
                 eos_token_id=50256, pad_token_id=None, scale_attn_by_inverse_layer_idx=False,
                 reorder_and_upcast_attn=False, add_cross_attention=False, tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.n_positions = n_positions
        self.n_embd = n_embd
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_inner = n_inner
        self.activation_function = activation_function
        self.resid_pdrop = resid_pdrop
        self.embd_pdrop = embd_pdrop
        self.attn_pdrop = attn_pdrop
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.summary_type = summary_type
        self.summary_use_proj = summary_use_proj
        self.summary_activation = summary_activation
        self.summary_first_dropout = summary_first_dropout
        self.summary_proj_to_labels = summary_proj_to_labels
        self.scale_attn_weights = scale_attn_weights
        self.use_cache = use_cache
        self.scale_attn_by_inverse_layer_idx = scale_attn_by_inverse_layer_idx
        # Only changes fp16 numerics of the reference's eager attention; SDPA here computes the
        # softmax in a safe way already, so the flag is kept for round-trips and otherwise unused.
        self.reorder_and_upcast_attn = reorder_and_upcast_attn
        self.add_cross_attention = add_cross_attention
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.pad_token_id = pad_token_id
        self.tie_word_embeddings = tie_word_embeddings
        super().__init__(**kwargs)


class Conv1D(nn.Module):
    """A linear layer whose weight is stored (in_features, out_features).

    OpenAI's original GPT-2 code (TensorFlow) named its dense layers "conv1d" and stored weights as
    ``x @ W``, the transpose of ``nn.Linear``'s (out, in). Checkpoints keep that layout, so we keep it
    too and compute ``bias + x @ W`` with one ``addmm``, instead of transposing at load time.
    """

    transposed_weight = True  # tells projections.project the weight is (in, out)

    def __init__(self, nf: int, nx: int):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        out = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight)
        return out.view(*x.shape[:-1], self.nf)

    def extra_repr(self):
        return f"nf={self.nf}, nx={self.weight.shape[0]}"


class GPT2Attention(nn.Module):
    def __init__(self, config: GPT2Config, layer_idx: int):
        super().__init__()
        self.embed_dim = config.n_embd
        self.num_heads = config.n_head
        self.head_dim = self.embed_dim // self.num_heads
        if self.head_dim * self.num_heads != self.embed_dim:
            raise ValueError(f"n_embd ({self.embed_dim}) must be divisible by n_head ({self.num_heads}).")
        self.layer_idx = layer_idx
        self.scaling = self.head_dim ** -0.5 if config.scale_attn_weights else 1.0
        if config.scale_attn_by_inverse_layer_idx:
            self.scaling /= float(layer_idx + 1)
        self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)  # q, k and v in one matmul
        self.c_proj = Conv1D(self.embed_dim, self.embed_dim)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states, cache: Cache | None, mask, cache_position, output_attentions=False):
        batch, length, _ = hidden_states.shape
        # (batch, length, 3 * heads * head_dim) -> q, k, v as (batch, heads, length, head_dim) views
        qkv = project(hidden_states, self.c_attn).view(batch, length, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx, {"cache_position": cache_position})
        out, weights = sdpa_attention(
            query, key, value, mask, scale=self.scaling, is_causal=mask is None and length > 1,
            dropout=self.attn_dropout.p if self.training else 0.0, need_weights=output_attentions)
        out = out.transpose(1, 2).reshape(batch, length, self.embed_dim)
        out = project(out, self.c_proj)
        return (self.resid_dropout(out) if self.training else out), weights


class GPT2MLP(nn.Module):
    def __init__(self, intermediate_size: int, config: GPT2Config):
        super().__init__()
        self.c_fc = Conv1D(intermediate_size, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, intermediate_size)
        self.act = ACT2FN[config.activation_function]
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x):
        out = project(self.act(project(x, self.c_fc)), self.c_proj)
        return self.dropout(out) if self.training else out  # (dropout is the identity in eval)


class GPT2Block(GradientCheckpointingLayer):
    def __init__(self, config: GPT2Config, layer_idx: int):
        super().__init__()
        inner = config.n_inner if config.n_inner is not None else 4 * config.n_embd
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(inner, config)

    def forward(self, hidden_states, cache, mask, cache_position, output_attentions=False):
        attn_out, weights = self.attn(self.ln_1(hidden_states), cache, mask, cache_position, output_attentions)
        hidden_states = hidden_states + attn_out
        hidden_states = hidden_states + self.mlp(self.ln_2(hidden_states))
        return hidden_states, weights


class GPT2PreTrainedModel(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    # the causal-mask buffers old checkpoints stored; the mask is built on the fly here
    _keys_to_ignore_on_load_unexpected = [r"attn\.bias$", r"attn\.masked_bias$", r"crossattention\.bias$"]

    def _init_weights(self, module):
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, Conv1D):
            module.weight.data.normal_(mean=0.0, std=std)
            module.bias.data.zero_()
        if isinstance(module, (GPT2Attention, GPT2MLP)):
            # GPT-2 paper: scale residual projections by 1/sqrt(2 * n_layer) (two per block)
            module.c_proj.weight.data.normal_(mean=0.0, std=std / (2 * self.config.n_layer) ** 0.5)


class GPT2Model(GPT2PreTrainedModel):
    def __init__(self, config: GPT2Config):
        super().__init__(config)
        if config.add_cross_attention:
            raise NotImplementedError("GPT-2 with cross-attention (add_cross_attention=True) is not supported.")
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(config, i) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, value):
        self.wte = value

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, cache=None, **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (config.output_hidden_states if output_hidden_states is None
                                else output_hidden_states)
        return_dict = config.return_dict if return_dict is None else return_dict
        use_cache = (config.use_cache and not self.training) if use_cache is None else use_cache
        past_key_values = cache if past_key_values is None else past_key_values  # the reference's v5 name
        if isinstance(past_key_values, (tuple, list)):
            past_key_values = DynamicCache.from_legacy_cache(past_key_values)
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache()
        elif not use_cache:
            past_key_values = None

        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)
        batch, length = inputs_embeds.shape[:2]
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if past + length > config.n_positions:
            raise ValueError(f"GPT-2 reads at most n_positions={config.n_positions} tokens, but got {past + length} "
                             f"({past} cached + {length} new). Truncate the input.")
        device = inputs_embeds.device
        if cache_position is None:
            cache_position = torch.arange(past, past + length, device=device)
        if position_ids is None:
            position_ids = cache_position[None, :]
        if attention_mask is not None and attention_mask.dim() != 2:
            raise ValueError(f"attention_mask must be 2-D (batch_size, sequence_length), got shape "
                             f"{tuple(attention_mask.shape)}.")

        hidden_states = inputs_embeds + self.wpe(position_ids)
        if token_type_ids is not None:
            hidden_states = hidden_states + self.wte(token_type_ids)  # GPT-2 reuses wte for segment ids
        hidden_states = self.drop(hidden_states)

        key_length = past_key_values.mask_length(length) if past_key_values is not None else length
        mask = decoder_attention_mask(attention_mask, cache_position, key_length,
                                      is_static=getattr(past_key_values, "is_static", False))

        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attn = () if output_attentions else None
        for block in self.h:
            hidden_states, weights = block(hidden_states, past_key_values, mask, cache_position, output_attentions)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attn += (weights,)
        hidden_states = self.ln_f(hidden_states)
        if output_hidden_states:
            all_hidden = all_hidden[:-1] + (hidden_states,)  # the last entry is after the final norm

        if not return_dict:
            return tuple(v for v in (hidden_states, past_key_values, all_hidden, all_attn) if v is not None)
        return BaseModelOutputWithPast(last_hidden_state=hidden_states, past_key_values=past_key_values,
                                       hidden_states=all_hidden, attentions=all_attn)


def _keep_last(hidden_states, logits_to_keep):
    if isinstance(logits_to_keep, int):
        return hidden_states if logits_to_keep == 0 else hidden_states[:, -logits_to_keep:]
    return hidden_states[:, logits_to_keep]


class GPT2LMHeadModel(GPT2PreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "transformer.wte.weight"}
    _supports_generate = True

    def __init__(self, config: GPT2Config):
        super().__init__(config)
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, logits_to_keep=0,
                cache=None, num_items_in_batch=None, **kwargs):
        return_dict = self.config.return_dict if return_dict is None else return_dict
        out = self.transformer(input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
                               token_type_ids=token_type_ids, position_ids=position_ids,
                               inputs_embeds=inputs_embeds, use_cache=use_cache,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                               return_dict=True, cache_position=cache_position, cache=cache)
        # During generation only the last position's logits are needed: skip the rest of the
        # (vocab x hidden) matmul, the largest single one in the model.
        logits = project(_keep_last(out.last_hidden_state, logits_to_keep), self.lm_head)
        loss = causal_lm_loss(logits, labels, num_items_in_batch=num_items_in_batch) if labels is not None else None
        if not return_dict:
            rest = tuple(v for v in (logits, out.past_key_values, out.hidden_states, out.attentions) if v is not None)
            return ((loss,) + rest) if loss is not None else rest
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=out.past_key_values,
                                      hidden_states=out.hidden_states, attentions=out.attentions)


class GPT2ForSequenceClassification(GPT2PreTrainedModel):
    """Classifies a sequence from its last real token (GPT-2 has no [CLS]): the last token that is not
    ``config.pad_token_id``, or the last position when no pad token is set."""

    def __init__(self, config: GPT2Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = GPT2Model(config)
        self.score = nn.Linear(config.n_embd, config.num_labels, bias=False)
        self.post_init()

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, cache=None, **kwargs):
        return_dict = self.config.return_dict if return_dict is None else return_dict
        out = self.transformer(input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
                               token_type_ids=token_type_ids, position_ids=position_ids,
                               inputs_embeds=inputs_embeds, use_cache=use_cache,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                               return_dict=True, cache_position=cache_position, cache=cache)
        logits = self.score(out.last_hidden_state)
        batch = logits.shape[0]
        pad = self.config.pad_token_id
        if pad is None and batch != 1:
            raise ValueError("GPT2ForSequenceClassification needs config.pad_token_id to find the last real "
                             "token of each row in a batch; set model.config.pad_token_id = tokenizer.pad_token_id.")
        if pad is None or input_ids is None:
            last = torch.full((batch,), logits.shape[1] - 1, device=logits.device)
        else:
            # the highest index holding a non-pad token (works for left and right padding)
            not_pad = (input_ids != pad).to(logits.device, torch.int32)
            last = (torch.arange(input_ids.shape[-1], device=logits.device, dtype=torch.int32) * not_pad).argmax(-1)
        pooled = logits[torch.arange(batch, device=logits.device), last]
        loss = classification_loss(pooled, labels, self.config) if labels is not None else None
        if not return_dict:
            rest = tuple(v for v in (pooled, out.past_key_values, out.hidden_states, out.attentions) if v is not None)
            return ((loss,) + rest) if loss is not None else rest
        return SequenceClassifierOutputWithPast(loss=loss, logits=pooled, past_key_values=out.past_key_values,
                                                hidden_states=out.hidden_states, attentions=out.attentions)


class GPT2ForTokenClassification(GPT2PreTrainedModel):
    def __init__(self, config: GPT2Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = GPT2Model(config)
        dropout = getattr(config, "classifier_dropout", None)
        if dropout is None:
            dropout = getattr(config, "hidden_dropout", None)
        self.dropout = nn.Dropout(0.1 if dropout is None else dropout)
        self.classifier = nn.Linear(config.n_embd, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, cache=None, **kwargs):
        return_dict = self.config.return_dict if return_dict is None else return_dict
        out = self.transformer(input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
                               token_type_ids=token_type_ids, position_ids=position_ids,
                               inputs_embeds=inputs_embeds, use_cache=False,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                               return_dict=True, cache_position=cache_position, cache=cache)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        if not return_dict:
            rest = tuple(v for v in (logits, out.hidden_states, out.attentions) if v is not None)
            return ((loss,) + rest) if loss is not None else rest
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                     attentions=out.attentions)


TASKS = {
    "base": GPT2Model,
    "causal-lm": GPT2LMHeadModel,
    "sequence-classification": GPT2ForSequenceClassification,
    "token-classification": GPT2ForTokenClassification,
}
