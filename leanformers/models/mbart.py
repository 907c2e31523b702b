"""mBART (Liu et al., 2020): a multilingual denoising BART, pre-norm, with language-code tokens.

Unlike BART, each sub-layer normalises its input (``x + f(LN(x))``), and both encoder and decoder
end with a ``layer_norm``; embeddings go through ``layernorm_embedding`` first. Positions are learned,
read at ``position + 2`` (fairseq's offset). mBART has no single decoder start token: the labels'
last non-pad token (the target language code, as the tokenizer places it: ``X </s> lang``) is
wrapped around to the front (``shift_tokens_right``).

Module names mirror the checkpoint keys (``model.encoder.layers.0.self_attn.q_proj``, ...). The
seq2seq contract (cache, ``labels`` shifted into ``decoder_input_ids``, ``get_encoder``) is the one
every encoder-decoder file here follows: see docs/internals.md.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import DynamicCache, EncoderDecoderCache, decoder_attention_mask
from ..configuration import PretrainedConfig
from ..layers import ACT2FN, check_input_ids, classification_loss, padding_mask, sdpa_attention, span_loss
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutput, BaseModelOutputWithPastAndCrossAttentions,
                       CausalLMOutputWithCrossAttentions, Seq2SeqLMOutput, Seq2SeqModelOutput,
                       Seq2SeqQuestionAnsweringModelOutput, Seq2SeqSequenceClassifierOutput)
from ..projections import project

__all__ = ["MBartConfig", "MBartPreTrainedModel", "MBartModel", "MBartForConditionalGeneration",
           "MBartForSequenceClassification", "MBartForQuestionAnswering", "MBartForCausalLM", "shift_tokens_right"]


class MBartConfig(PretrainedConfig):
    model_type = "mbart"
    attribute_map = {"num_attention_heads": "encoder_attention_heads", "hidden_size": "d_model",
                     "num_hidden_layers": "encoder_layers"}

    def __init__(self, vocab_size=50265, max_position_embeddings=1024, encoder_layers=12, encoder_ffn_dim=4096,
                 encoder_attention_heads=16, decoder_layers=12, decoder_ffn_dim=4096, decoder_attention_heads=16,
                 encoder_layerdrop=0.0, decoder_layerdrop=0.0, use_cache=True, is_encoder_decoder=True,
                 activation_function="gelu", d_model=1024, dropout=0.1, attention_dropout=0.0,
                 activation_dropout=0.0, init_std=0.02, classifier_dropout=0.0, scale_embedding=False,
                 pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=None,
                 forced_eos_token_id=2, is_decoder=False, tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.d_model = d_model
        self.encoder_ffn_dim = encoder_ffn_dim
        self.encoder_layers = encoder_layers
        self.encoder_attention_heads = encoder_attention_heads
        self.decoder_ffn_dim = decoder_ffn_dim
        self.decoder_layers = decoder_layers
        self.decoder_attention_heads = decoder_attention_heads
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.activation_function = activation_function
        self.init_std = init_std
        self.encoder_layerdrop = encoder_layerdrop
        self.decoder_layerdrop = decoder_layerdrop
        self.classifier_dropout = classifier_dropout
        self.use_cache = use_cache
        self.scale_embedding = scale_embedding
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.decoder_start_token_id = decoder_start_token_id
        self.forced_eos_token_id = forced_eos_token_id
        self.is_decoder = is_decoder
        self.tie_word_embeddings = tie_word_embeddings
        super().__init__(is_encoder_decoder=is_encoder_decoder, **kwargs)


def _check_config(config):
    for side in ("encoder", "decoder"):
        heads = getattr(config, f"{side}_attention_heads")
        if config.d_model % heads:
            raise ValueError(f"d_model ({config.d_model}) must be a multiple of {side}_attention_heads ({heads}).")


def shift_tokens_right(input_ids: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """labels -> decoder_input_ids, mBART style: one step to the right, with each row's last non-pad
    token (the language code ending ``X </s> lang``) moved to the front; -100 is read as pad."""
    if pad_token_id is None:
        raise ValueError("config.pad_token_id must be set to shift labels into decoder_input_ids.")
    tokens = input_ids.masked_fill(input_ids == -100, pad_token_id)
    last = (tokens.ne(pad_token_id).sum(dim=1) - 1).unsqueeze(-1)
    start = tokens.gather(1, last).squeeze(-1)
    shifted = torch.empty_like(tokens)
    shifted[:, 1:] = tokens[:, :-1]
    shifted[:, 0] = start
    return shifted


# ---------------------------------------------------------------------------------------------
# layers


class MBartLearnedPositionalEmbedding(nn.Embedding):
    """Learned positions read at ``position + 2``: fairseq kept two rows for its padding scheme."""

    offset = 2

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__(num_embeddings + self.offset, embedding_dim)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return F.embedding(positions + self.offset, self.weight)


class MBartScaledWordEmbedding(nn.Embedding):
    """Token embeddings times ``embed_scale`` (sqrt(d_model) when config.scale_embedding)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None, embed_scale: float = 1.0,
                 **kwargs):
        super().__init__(num_embeddings, embedding_dim, padding_idx, **kwargs)
        self.embed_scale = embed_scale

    def forward(self, input_ids):
        out = super().forward(input_ids)
        return out * self.embed_scale if self.embed_scale != 1.0 else out


class MBartAttention(nn.Module):
    """Multi-head attention. Self-attention appends to a cache; cross-attention projects the encoder
    output once and then reads it from ``EncoderDecoderCache.cross_attention_cache``."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, layer_idx: int | None = None):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.scaling = self.head_dim ** -0.5
        self.dropout = dropout
        self.layer_idx = layer_idx
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def _heads(self, x):
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states, key_value_states=None, cache=None, mask=None, is_causal=False,
                output_attentions=False):
        batch, length, _ = hidden_states.shape
        if key_value_states is None:  # self-attention: q, k and v from one input, one matmul while decoding
            q, k, v = project(hidden_states, self.q_proj, self.k_proj, self.v_proj)
            key, value = self._heads(k), self._heads(v)
            if cache is not None:
                self_cache = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
                key, value = self_cache.update(key, value, self.layer_idx)
        else:
            q = project(hidden_states, self.q_proj)
            cross = isinstance(cache, EncoderDecoderCache)
            if cross and cache.is_updated.get(self.layer_idx):
                key, value = cache.cross_attention_cache[self.layer_idx]
            else:
                key = self._heads(self.k_proj(key_value_states))
                value = self._heads(self.v_proj(key_value_states))
                if cross:
                    key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
        query = self._heads(q)
        groups = batch // key.shape[0]
        if groups > 1:
            # generate() gives each prompt's encoder output once for its `groups` beams (rows
            # prompt * groups + j): their queries attend to it together, as extra query positions
            query = query.reshape(key.shape[0], groups, self.num_heads, length, self.head_dim).transpose(1, 2)
            query = query.reshape(key.shape[0], self.num_heads, groups * length, self.head_dim)
        out, weights = sdpa_attention(query, key, value, mask, scale=self.scaling, is_causal=is_causal,
                                      dropout=self.dropout if self.training else 0.0,
                                      need_weights=output_attentions)
        if groups > 1:
            out = out.reshape(key.shape[0], self.num_heads, groups, length, self.head_dim).transpose(1, 2)
            out = out.reshape(batch, self.num_heads, length, self.head_dim)
            if weights is not None:
                weights = weights.reshape(key.shape[0], self.num_heads, groups, length, -1).transpose(1, 2)
                weights = weights.reshape(batch, self.num_heads, length, -1)
        return project(out.transpose(1, 2).reshape(batch, length, -1), self.out_proj), weights


def _dropout(x, p, training):
    return F.dropout(x, p=p, training=True) if training and p > 0 else x


class MBartEncoderLayer(nn.Module):
    """Pre-norm: x = x + attn(LN(x)); x = x + fc2(act(fc1(LN(x))))."""

    def __init__(self, config):
        super().__init__()
        d = config.d_model
        self.self_attn = MBartAttention(d, config.encoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.dropout = config.dropout
        self.activation_fn = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout
        self.fc1 = nn.Linear(d, config.encoder_ffn_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        attn, weights = self.self_attn(self.self_attn_layer_norm(hidden_states), mask=mask,
                                       output_attentions=output_attentions)
        hidden_states = hidden_states + _dropout(attn, self.dropout, self.training)
        ffn = self.activation_fn(self.fc1(self.final_layer_norm(hidden_states)))
        ffn = self.fc2(_dropout(ffn, self.activation_dropout, self.training))
        hidden_states = hidden_states + _dropout(ffn, self.dropout, self.training)
        if hidden_states.dtype == torch.float16:
            clamp = torch.finfo(hidden_states.dtype).max - 1000  # the reference's fp16 overflow guard
            hidden_states = hidden_states.clamp(min=-clamp, max=clamp)
        return hidden_states, weights


class MBartDecoderLayer(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        d = config.d_model
        heads = config.decoder_attention_heads
        self.self_attn = MBartAttention(d, heads, config.attention_dropout, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = MBartAttention(d, heads, config.attention_dropout, layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.dropout = config.dropout
        self.activation_fn = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout
        self.fc1 = nn.Linear(d, config.decoder_ffn_dim)
        self.fc2 = nn.Linear(config.decoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, hidden_states, mask, is_causal, encoder_hidden_states=None, encoder_mask=None, cache=None,
                output_attentions=False):
        attn, self_weights = self.self_attn(self.self_attn_layer_norm(hidden_states), cache=cache, mask=mask,
                                            is_causal=is_causal, output_attentions=output_attentions)
        hidden_states = hidden_states + _dropout(attn, self.dropout, self.training)
        cross_weights = None
        if encoder_hidden_states is not None:
            attn, cross_weights = self.encoder_attn(self.encoder_attn_layer_norm(hidden_states), encoder_hidden_states,
                                                    cache=cache, mask=encoder_mask,
                                                    output_attentions=output_attentions)
            hidden_states = hidden_states + _dropout(attn, self.dropout, self.training)
        ffn = self.activation_fn(project(self.final_layer_norm(hidden_states), self.fc1))
        ffn = project(_dropout(ffn, self.activation_dropout, self.training), self.fc2)
        return hidden_states + _dropout(ffn, self.dropout, self.training), self_weights, cross_weights


class MBartClassificationHead(nn.Module):
    """dense → tanh → out_proj over the sentence vector (the decoder state at the last </s>)."""

    def __init__(self, input_dim: int, inner_dim: int, num_classes: int, pooler_dropout: float):
        super().__init__()
        self.dense = nn.Linear(input_dim, inner_dim)
        self.dropout = nn.Dropout(p=pooler_dropout)
        self.out_proj = nn.Linear(inner_dim, num_classes)

    def forward(self, hidden_states):
        hidden_states = torch.tanh(self.dense(self.dropout(hidden_states)))
        return self.out_proj(self.dropout(hidden_states))


def _decoder_mask(attention_mask, cache_position, key_length: int, is_static: bool):
    """Causal + padding mask of the decoder (None when plain causal attention is exact). Unlike the
    decoder-only helper, a padded query keeps the reference's view (the tokens before it, not itself);
    only a query that would see nothing at all (a left-pad position) is let see itself, against NaN."""
    if attention_mask is None or bool(attention_mask.all()):
        return decoder_attention_mask(None, cache_position, key_length, is_static=is_static)
    keys = torch.arange(key_length, device=cache_position.device)[None, :]
    queries = cache_position[:, None]
    am = attention_mask.to(device=cache_position.device, dtype=torch.bool)
    if am.shape[-1] < key_length:
        am = F.pad(am, (0, key_length - am.shape[-1]), value=True)
    mask = (keys <= queries)[None, None] & am[:, None, None, :key_length]
    return mask | (~mask.any(-1, keepdim=True) & (keys == queries))


def _layer_dropped(module, layerdrop: float) -> bool:
    # LayerDrop draws one number per layer in training only, as the reference does
    return module.training and layerdrop > 0 and bool(torch.rand([]) < layerdrop)


def _check_length(length, limit, what):
    if length > limit:
        raise ValueError(f"The {what} has {length} positions but the model has {limit} "
                         f"(config.max_position_embeddings). Truncate it (tokenizer(..., truncation=True)).")


def _flags(config, output_attentions, output_hidden_states, return_dict):
    return (config.output_attentions if output_attentions is None else output_attentions,
            config.output_hidden_states if output_hidden_states is None else output_hidden_states,
            config.use_return_dict if return_dict is None else return_dict)


class MBartEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.dropout = config.dropout
        self.layerdrop = config.encoder_layerdrop
        scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_tokens = MBartScaledWordEmbedding(config.vocab_size, config.d_model, config.pad_token_id, scale)
        self.embed_positions = MBartLearnedPositionalEmbedding(config.max_position_embeddings, config.d_model)
        self.layers = nn.ModuleList(MBartEncoderLayer(config) for _ in range(config.encoder_layers))
        self.layernorm_embedding = nn.LayerNorm(config.d_model)
        self.layer_norm = nn.LayerNorm(config.d_model)
        self.gradient_checkpointing = False

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        output_attentions, output_hidden_states, return_dict = _flags(self.config, output_attentions,
                                                                      output_hidden_states, return_dict)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        batch, length = inputs_embeds.shape[:2]
        _check_length(length, self.config.max_position_embeddings, "input")
        hidden_states = inputs_embeds + self.embed_positions.weight[self.embed_positions.offset:][:length]
        hidden_states = _dropout(self.layernorm_embedding(hidden_states), self.dropout, self.training)
        mask = padding_mask(attention_mask, batch, length)

        all_hidden, all_attn = (), ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if _layer_dropped(self, self.layerdrop):
                weights = None
            elif self.gradient_checkpointing and self.training:
                from torch.utils.checkpoint import checkpoint

                hidden_states, weights = checkpoint(layer, hidden_states, mask, output_attentions,
                                                    use_reentrant=False)
            else:
                hidden_states, weights = layer(hidden_states, mask, output_attentions)
            if output_attentions:
                all_attn += (weights,)
        hidden_states = self.layer_norm(hidden_states)
        if output_hidden_states:
            all_hidden += (hidden_states,)
        out = BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden if output_hidden_states else None,
                              attentions=all_attn if output_attentions else None)
        return out if return_dict else out.to_tuple()


class MBartDecoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.dropout = config.dropout
        self.layerdrop = config.decoder_layerdrop
        scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_tokens = MBartScaledWordEmbedding(config.vocab_size, config.d_model, config.pad_token_id, scale)
        self.embed_positions = MBartLearnedPositionalEmbedding(config.max_position_embeddings, config.d_model)
        self.layers = nn.ModuleList(MBartDecoderLayer(config, i) for i in range(config.decoder_layers))
        self.layernorm_embedding = nn.LayerNorm(config.d_model)
        self.layer_norm = nn.LayerNorm(config.d_model)
        self.gradient_checkpointing = False

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_values=None, inputs_embeds=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None,
                **kwargs):
        if input_ids is None and inputs_embeds is None:
            raise ValueError("The decoder needs decoder_input_ids (or decoder_inputs_embeds).")
        check_input_ids(input_ids, inputs_embeds)
        cfg = self.config
        past_key_values = kwargs.pop("cache", past_key_values)  # the reference's v5.24 spelling
        output_attentions, output_hidden_states, return_dict = _flags(cfg, output_attentions,
                                                                      output_hidden_states, return_dict)
        use_cache = use_cache if use_cache is not None else (cfg.use_cache and not self.training)

        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if use_cache and past_key_values is None:
            past_key_values = (EncoderDecoderCache(DynamicCache(), DynamicCache())
                               if encoder_hidden_states is not None or cfg.is_encoder_decoder else DynamicCache())
        batch, length = inputs_embeds.shape[:2]
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if cache_position is None:
            cache_position = torch.arange(past, past + length, device=inputs_embeds.device)
        _check_length(int(cache_position[-1]) + 1 if length else 0, cfg.max_position_embeddings, "decoder input")

        key_length = past_key_values.mask_length(length) if past_key_values is not None else length
        mask = _decoder_mask(attention_mask, cache_position, key_length,
                             getattr(past_key_values, "is_static", False))
        is_causal = mask is None and length > 1
        encoder_mask = None
        if encoder_hidden_states is not None:
            if batch % encoder_hidden_states.shape[0]:
                raise ValueError(f"The decoder has {batch} rows but the encoder output "
                                 f"{encoder_hidden_states.shape[0]}: give one encoder row per decoder row "
                                 f"(or per group of beams).")
            encoder_mask = padding_mask(encoder_attention_mask, *encoder_hidden_states.shape[:2])

        hidden_states = inputs_embeds + self.embed_positions(cache_position)
        hidden_states = _dropout(self.layernorm_embedding(hidden_states), self.dropout, self.training)
        all_hidden, all_self, all_cross = (), (), ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if _layer_dropped(self, self.layerdrop):
                self_w = cross_w = None
            elif self.gradient_checkpointing and self.training:
                from torch.utils.checkpoint import checkpoint

                hidden_states, self_w, cross_w = checkpoint(layer, hidden_states, mask, is_causal,
                                                            encoder_hidden_states, encoder_mask, past_key_values,
                                                            output_attentions, use_reentrant=False)
            else:
                hidden_states, self_w, cross_w = layer(hidden_states, mask, is_causal, encoder_hidden_states,
                                                       encoder_mask, past_key_values, output_attentions)
            if output_attentions:
                all_self += (self_w,)
                if encoder_hidden_states is not None:
                    all_cross += (cross_w,)
        hidden_states = self.layer_norm(hidden_states)
        if output_hidden_states:
            all_hidden += (hidden_states,)
        out = BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden_states, past_key_values=past_key_values,
            hidden_states=all_hidden if output_hidden_states else None,
            attentions=all_self if output_attentions else None,
            cross_attentions=all_cross if output_attentions else None)
        return out if return_dict else out.to_tuple()


# ---------------------------------------------------------------------------------------------
# models


class MBartPreTrainedModel(PreTrainedModel):
    config_class = MBartConfig
    base_model_prefix = "model"
    _keys_to_ignore_on_load_missing = [r"final_logits_bias$"]

    def __init__(self, config, *args, **kwargs):
        _check_config(config)
        super().__init__(config, *args, **kwargs)

    def _init_weights(self, module):
        super()._init_weights(module, std=self.config.init_std)


def _shared_ties(prefix: str) -> dict:
    return {f"{prefix}decoder.embed_tokens.weight": f"{prefix}shared.weight",
            f"{prefix}encoder.embed_tokens.weight": f"{prefix}shared.weight"}


class MBartModel(MBartPreTrainedModel):
    _tied_weights_keys = _shared_ties("")

    def __init__(self, config: MBartConfig):
        super().__init__(config)
        scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.shared = MBartScaledWordEmbedding(config.vocab_size, config.d_model, config.pad_token_id, scale)
        self.encoder = MBartEncoder(config)
        self.decoder = MBartDecoder(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, value):
        if not isinstance(value, MBartScaledWordEmbedding):  # e.g. from resize_token_embeddings: keep the scale
            scaled = MBartScaledWordEmbedding(value.num_embeddings, value.embedding_dim, value.padding_idx,
                                              self.shared.embed_scale, device="meta")
            scaled.weight = value.weight
            value = scaled
        self.shared = value
        self.encoder.embed_tokens = value
        self.decoder.embed_tokens = value

    def get_encoder(self):
        return self.encoder

    def get_decoder(self):
        return self.decoder

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, **kwargs):
        past_key_values = kwargs.pop("cache", past_key_values)
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            if input_ids is None:
                raise ValueError("Pass decoder_input_ids (or input_ids, which are then shifted into them as in "
                                 "mBART's denoising pre-training).")
            decoder_input_ids = shift_tokens_right(input_ids, self.config.pad_token_id)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                           inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=True)
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(*tuple(encoder_outputs)[:3])
        decoder_outputs = self.decoder(input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
                                       encoder_hidden_states=encoder_outputs[0],
                                       encoder_attention_mask=attention_mask, past_key_values=past_key_values,
                                       inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
                                       output_attentions=output_attentions,
                                       output_hidden_states=output_hidden_states, return_dict=True,
                                       cache_position=cache_position)
        out = Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state, past_key_values=decoder_outputs.past_key_values,
            decoder_hidden_states=decoder_outputs.hidden_states, decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions)
        return out if return_dict else out.to_tuple()


def _resized_bias(bias: torch.Tensor, size: int) -> torch.Tensor:
    """final_logits_bias cut to, or padded with zeros to, ``size`` tokens."""
    old = bias.shape[-1]
    return bias[:, :size] if size <= old else torch.cat([bias, bias.new_zeros((1, size - old))], dim=1)


def _seq2seq_fields(outputs) -> dict:
    """The decoder's and encoder's outputs every head passes on."""
    return dict(past_key_values=outputs.past_key_values, decoder_hidden_states=outputs.decoder_hidden_states,
                decoder_attentions=outputs.decoder_attentions, cross_attentions=outputs.cross_attentions,
                encoder_last_hidden_state=outputs.encoder_last_hidden_state,
                encoder_hidden_states=outputs.encoder_hidden_states, encoder_attentions=outputs.encoder_attentions)


class MBartForConditionalGeneration(MBartPreTrainedModel):
    _supports_generate = True
    # the decoder takes one encoder row per group of decoder rows: generate() may encode each prompt
    # once and not repeat its output (or the cross-attention keys/values) per beam
    _shares_encoder_rows = True
    _tied_weights_keys = {"lm_head.weight": "model.shared.weight", **_shared_ties("model.")}

    def __init__(self, config: MBartConfig):
        super().__init__(config)
        self.model = MBartModel(config)
        self.register_buffer("final_logits_bias", torch.zeros(1, config.vocab_size))
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_encoder(self):
        return self.model.encoder

    def get_decoder(self):
        return self.model.decoder

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def resize_token_embeddings(self, new_num_tokens: int, pad_to_multiple_of: int | None = None):
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of)
        self.register_buffer("final_logits_bias", _resized_bias(self.final_logits_bias, embeddings.num_embeddings))
        return embeddings

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, logits_to_keep=0, **kwargs):
        past_key_values = kwargs.pop("cache", past_key_values)
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        if labels is not None:
            use_cache = False
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        outputs = self.model(input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                             decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                             past_key_values=past_key_values, inputs_embeds=inputs_embeds,
                             decoder_inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
                             output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                             return_dict=True, cache_position=cache_position)
        hidden_states = outputs.last_hidden_state
        if logits_to_keep:  # generate() asks for the last position only
            hidden_states = hidden_states[:, -logits_to_keep:]
        logits = project(hidden_states, self.lm_head) + self.final_logits_bias
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.to(logits.device).view(-1))
        out = Seq2SeqLMOutput(loss=loss, logits=logits, **_seq2seq_fields(outputs))
        return out if return_dict else out.to_tuple()


class MBartForSequenceClassification(MBartPreTrainedModel):
    """Classifies from the decoder state at each sequence's last </s> (every row needs the same count)."""

    _tied_weights_keys = _shared_ties("model.")

    def __init__(self, config: MBartConfig):
        super().__init__(config)
        self.model = MBartModel(config)
        self.classification_head = MBartClassificationHead(config.d_model, config.d_model, config.num_labels,
                                                           config.classifier_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} needs input_ids: it reads the sentence vector at the last "
                             f"</s> token, which inputs_embeds do not show.")
        if labels is not None:
            use_cache = False
        outputs = self.model(input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                             decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                             inputs_embeds=inputs_embeds, decoder_inputs_embeds=decoder_inputs_embeds,
                             use_cache=use_cache, output_attentions=output_attentions,
                             output_hidden_states=output_hidden_states, return_dict=True)
        hidden_states = outputs.last_hidden_state
        eos_mask = input_ids.eq(self.config.eos_token_id).to(hidden_states.device)
        counts = eos_mask.sum(1)
        if bool((counts == 0).any()):
            raise ValueError(f"Each example must contain at least one <eos> token (id {self.config.eos_token_id}); "
                             f"tokenize with add_special_tokens=True.")
        if bool((counts != counts[0]).any()):
            raise ValueError("All examples must have the same number of <eos> tokens: the sentence vector is read "
                             "at each row's last one.")
        sentence = hidden_states[eos_mask, :].view(hidden_states.shape[0], -1, hidden_states.shape[-1])[:, -1, :]
        logits = self.classification_head(sentence)
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        out = Seq2SeqSequenceClassifierOutput(loss=loss, logits=logits, **_seq2seq_fields(outputs))
        return out if return_dict else out.to_tuple()


class MBartForQuestionAnswering(MBartPreTrainedModel):
    _tied_weights_keys = _shared_ties("model.")

    def __init__(self, config: MBartConfig):
        config.num_labels = 2
        super().__init__(config)
        self.num_labels = 2
        self.model = MBartModel(config)
        self.qa_outputs = nn.Linear(config.d_model, 2)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, start_positions=None, end_positions=None, inputs_embeds=None,
                decoder_inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        if start_positions is not None and end_positions is not None:
            use_cache = False
        outputs = self.model(input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                             decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                             inputs_embeds=inputs_embeds, decoder_inputs_embeds=decoder_inputs_embeds,
                             use_cache=use_cache, output_attentions=output_attentions,
                             output_hidden_states=output_hidden_states, return_dict=True)
        start_logits, end_logits = self.qa_outputs(outputs.last_hidden_state).split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        out = Seq2SeqQuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                                  **_seq2seq_fields(outputs))
        return out if return_dict else out.to_tuple()


class MBartDecoderWrapper(nn.Module):
    """Holds the decoder under ``model.decoder`` so MBartForCausalLM reads seq2seq checkpoints' keys."""

    def __init__(self, config):
        super().__init__()
        self.decoder = MBartDecoder(config)

    def forward(self, *args, **kwargs):
        return self.decoder(*args, **kwargs)


class MBartForCausalLM(MBartPreTrainedModel):
    """The decoder alone as a language model (optionally cross-attending to ``encoder_hidden_states``).
    As in the reference, ``labels`` are *not* shifted: labels[:, i] is the target of logits[:, i]."""

    _supports_generate = True
    _tied_weights_keys = {"lm_head.weight": "model.decoder.embed_tokens.weight"}

    def __init__(self, config: MBartConfig):
        config.is_decoder = True
        config.is_encoder_decoder = False
        super().__init__(config)
        self.model = MBartDecoderWrapper(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.decoder.embed_tokens

    def set_input_embeddings(self, value):
        self.model.decoder.embed_tokens = value

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def get_decoder(self):
        return self.model.decoder

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                past_key_values=None, inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        past_key_values = kwargs.pop("cache", past_key_values)
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        outputs = self.model.decoder(input_ids=input_ids, attention_mask=attention_mask,
                                     encoder_hidden_states=encoder_hidden_states,
                                     encoder_attention_mask=encoder_attention_mask, past_key_values=past_key_values,
                                     inputs_embeds=inputs_embeds, use_cache=use_cache,
                                     output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                     return_dict=True, cache_position=cache_position)
        hidden_states = outputs.last_hidden_state
        if isinstance(logits_to_keep, int):
            hidden_states = hidden_states[:, -logits_to_keep:] if logits_to_keep else hidden_states
        else:
            hidden_states = hidden_states[:, logits_to_keep]
        logits = project(hidden_states, self.lm_head)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.to(logits.device).view(-1))
        out = CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=outputs.past_key_values, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions, cross_attentions=outputs.cross_attentions)
        return out if return_dict else out.to_tuple()


TASKS = {
    "base": MBartModel,
    "seq2seq-lm": MBartForConditionalGeneration,
    "sequence-classification": MBartForSequenceClassification,
    "question-answering": MBartForQuestionAnswering,
    "causal-lm": MBartForCausalLM,
}
