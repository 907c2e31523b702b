"""Marian (Junczys-Dowmunt et al., 2018): the OPUS-MT translation Transformer (Helsinki-NLP/opus-mt-*).

A post-norm encoder-decoder: each sub-layer is ``LayerNorm(x + f(x))``. Positions are *static*
sinusoids (sin in the first half of each vector, cos in the second, position 0 at row 0: no offset),
computed rather than learned, so checkpoints may omit them. The decoder starts from the pad token, the
LM head adds ``final_logits_bias``, and embeddings are shared by encoder, decoder and head unless
``share_encoder_decoder_embeddings=False`` gives the decoder its own vocabulary (``decoder_vocab_size``).

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
from ..layers import ACT2FN, check_input_ids, padding_mask, sdpa_attention
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutput, BaseModelOutputWithPastAndCrossAttentions,
                       CausalLMOutputWithCrossAttentions, Seq2SeqLMOutput, Seq2SeqModelOutput)
from ..projections import project

__all__ = ["MarianConfig", "MarianPreTrainedModel", "MarianModel", "MarianMTModel", "MarianForCausalLM",
           "shift_tokens_right"]


class MarianConfig(PretrainedConfig):
    model_type = "marian"
    attribute_map = {"num_attention_heads": "encoder_attention_heads", "hidden_size": "d_model",
                     "num_hidden_layers": "encoder_layers"}

    def __init__(self, vocab_size=58101, decoder_vocab_size=None, max_position_embeddings=1024, encoder_layers=12,
                 encoder_ffn_dim=4096, encoder_attention_heads=16, decoder_layers=12, decoder_ffn_dim=4096,
                 decoder_attention_heads=16, encoder_layerdrop=0.0, decoder_layerdrop=0.0, use_cache=True,
                 is_encoder_decoder=True, activation_function="gelu", d_model=1024, dropout=0.1,
                 attention_dropout=0.0, activation_dropout=0.0, init_std=0.02, decoder_start_token_id=58100,
                 scale_embedding=False, pad_token_id=58100, eos_token_id=0, bos_token_id=None,
                 forced_eos_token_id=0, share_encoder_decoder_embeddings=True, is_decoder=False,
                 tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.decoder_vocab_size = decoder_vocab_size or vocab_size
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
        self.use_cache = use_cache
        self.scale_embedding = scale_embedding
        self.share_encoder_decoder_embeddings = share_encoder_decoder_embeddings
        self.pad_token_id = pad_token_id
        self.eos_token_id = eos_token_id
        self.bos_token_id = bos_token_id
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


def shift_tokens_right(input_ids: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """labels -> decoder_input_ids: one step to the right, the start token first, -100 read as pad."""
    if pad_token_id is None:
        raise ValueError("config.pad_token_id must be set to shift labels into decoder_input_ids.")
    if decoder_start_token_id is None:
        raise ValueError("config.decoder_start_token_id must be set to shift labels into decoder_input_ids "
                         "(Marian starts from the pad token).")
    shifted = input_ids.new_empty(input_ids.shape)
    shifted[:, 1:] = input_ids[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill_(shifted == -100, pad_token_id)


# ---------------------------------------------------------------------------------------------
# layers


class MarianSinusoidalPositionalEmbedding(nn.Embedding):
    """A fixed (num_positions, dim) table: row p is sin(p / 10000^(2i/dim)) for the even features, then
    cos(...) for the odd ones, the sines filling the first half (not interleaved). A frozen embedding
    whose ``weight`` is a parameter as in the reference, so checkpoints that store it load it."""

    def __init__(self, num_positions: int, embedding_dim: int):
        super().__init__(num_positions, embedding_dim, _freeze=True)

    def create_weight(self) -> torch.Tensor:
        n_pos, dim = self.weight.shape
        # float64 like the reference's numpy table, rounded once at the end
        exponent = 2 * (torch.arange(dim, dtype=torch.float64) // 2) / dim
        angles = torch.arange(n_pos, dtype=torch.float64)[:, None] / torch.pow(10000.0, exponent)[None, :]
        half = (dim + 1) // 2
        out = torch.empty(n_pos, dim, dtype=torch.float64)
        out[:, :half] = torch.sin(angles[:, 0::2])
        out[:, half:] = torch.cos(angles[:, 1::2])
        return out.to(torch.float32).to(self.weight.dtype)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return F.embedding(positions, self.weight)


class MarianAttention(nn.Module):
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


class MarianEncoderLayer(nn.Module):
    """Post-norm: x = LN(x + attn(x)); x = LN(x + fc2(act(fc1(x))))."""

    def __init__(self, config):
        super().__init__()
        d = config.d_model
        self.self_attn = MarianAttention(d, config.encoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.dropout = config.dropout
        self.activation_fn = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout
        self.fc1 = nn.Linear(d, config.encoder_ffn_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        attn, weights = self.self_attn(hidden_states, mask=mask, output_attentions=output_attentions)
        hidden_states = self.self_attn_layer_norm(hidden_states + _dropout(attn, self.dropout, self.training))
        ffn = _dropout(self.activation_fn(self.fc1(hidden_states)), self.activation_dropout, self.training)
        hidden_states = self.final_layer_norm(hidden_states + _dropout(self.fc2(ffn), self.dropout, self.training))
        if hidden_states.dtype == torch.float16 and not torch.isfinite(hidden_states).all():
            clamp = torch.finfo(hidden_states.dtype).max - 1000  # the reference's fp16 overflow guard
            hidden_states = hidden_states.clamp(min=-clamp, max=clamp)
        return hidden_states, weights


class MarianDecoderLayer(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        d = config.d_model
        heads = config.decoder_attention_heads
        self.self_attn = MarianAttention(d, heads, config.attention_dropout, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = MarianAttention(d, heads, config.attention_dropout, layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.dropout = config.dropout
        self.activation_fn = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout
        self.fc1 = nn.Linear(d, config.decoder_ffn_dim)
        self.fc2 = nn.Linear(config.decoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, hidden_states, mask, is_causal, encoder_hidden_states=None, encoder_mask=None, cache=None,
                output_attentions=False):
        attn, self_weights = self.self_attn(hidden_states, cache=cache, mask=mask, is_causal=is_causal,
                                            output_attentions=output_attentions)
        hidden_states = self.self_attn_layer_norm(hidden_states + _dropout(attn, self.dropout, self.training))
        cross_weights = None
        if encoder_hidden_states is not None:
            attn, cross_weights = self.encoder_attn(hidden_states, encoder_hidden_states, cache=cache,
                                                    mask=encoder_mask, output_attentions=output_attentions)
            hidden_states = self.encoder_attn_layer_norm(hidden_states + _dropout(attn, self.dropout, self.training))
        ffn = _dropout(self.activation_fn(project(hidden_states, self.fc1)), self.activation_dropout, self.training)
        ffn = _dropout(project(ffn, self.fc2), self.dropout, self.training)
        return self.final_layer_norm(hidden_states + ffn), self_weights, cross_weights


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


class MarianEncoder(nn.Module):
    def __init__(self, config, embed_tokens: nn.Embedding | None = None):
        super().__init__()
        self.config = config
        self.dropout = config.dropout
        self.layerdrop = config.encoder_layerdrop
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_tokens = embed_tokens or nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
        self.embed_positions = MarianSinusoidalPositionalEmbedding(config.max_position_embeddings, config.d_model)
        self.layers = nn.ModuleList(MarianEncoderLayer(config) for _ in range(config.encoder_layers))
        self.gradient_checkpointing = False

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        cfg = self.config
        output_attentions = cfg.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = cfg.use_return_dict if return_dict is None else return_dict
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
            if self.embed_scale != 1.0:
                inputs_embeds = inputs_embeds * self.embed_scale
        batch, length = inputs_embeds.shape[:2]
        _check_length(length, self.embed_positions.weight.shape[0], "input")
        hidden_states = inputs_embeds + self.embed_positions.weight[:length]
        hidden_states = _dropout(hidden_states, self.dropout, self.training)
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
        if output_hidden_states:
            all_hidden += (hidden_states,)
        out = BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden if output_hidden_states else None,
                              attentions=all_attn if output_attentions else None)
        return out if return_dict else out.to_tuple()


def _check_length(length, limit, what):
    if length > limit:
        raise ValueError(f"The {what} has {length} positions but the model has {limit} "
                         f"(config.max_position_embeddings). Truncate it (tokenizer(..., truncation=True)).")


class MarianDecoder(nn.Module):
    def __init__(self, config, embed_tokens: nn.Embedding | None = None):
        super().__init__()
        self.config = config
        self.dropout = config.dropout
        self.layerdrop = config.decoder_layerdrop
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_tokens = embed_tokens or nn.Embedding(config.decoder_vocab_size, config.d_model,
                                                         config.pad_token_id)
        self.embed_positions = MarianSinusoidalPositionalEmbedding(config.max_position_embeddings, config.d_model)
        self.layers = nn.ModuleList(MarianDecoderLayer(config, i) for i in range(config.decoder_layers))
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
            raise ValueError("The decoder needs decoder_input_ids (or decoder_inputs_embeds). To train, pass "
                             "labels=, which are shifted into decoder_input_ids.")
        check_input_ids(input_ids, inputs_embeds)
        cfg = self.config
        past_key_values = kwargs.pop("cache", past_key_values)  # the reference's v5.24 spelling
        output_attentions = cfg.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = cfg.use_return_dict if return_dict is None else return_dict
        use_cache = use_cache if use_cache is not None else (cfg.use_cache and not self.training)

        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if self.embed_scale != 1.0:  # the reference scales given embeddings too, on the decoder side
            inputs_embeds = inputs_embeds * self.embed_scale
        if use_cache and past_key_values is None:
            past_key_values = (EncoderDecoderCache(DynamicCache(), DynamicCache())
                               if encoder_hidden_states is not None or cfg.is_encoder_decoder else DynamicCache())
        batch, length = inputs_embeds.shape[:2]
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if cache_position is None:
            cache_position = torch.arange(past, past + length, device=inputs_embeds.device)
        _check_length(int(cache_position[-1]) + 1 if length else 0, self.embed_positions.weight.shape[0],
                      "decoder input")

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
        hidden_states = _dropout(hidden_states, self.dropout, self.training)
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


class MarianPreTrainedModel(PreTrainedModel):
    config_class = MarianConfig
    base_model_prefix = "model"
    # the sinusoids are computed, so checkpoints may leave them out
    _keys_to_ignore_on_load_missing = [r"embed_positions\.weight$", r"final_logits_bias$"]

    def __init__(self, config, *args, **kwargs):
        _check_config(config)
        super().__init__(config, *args, **kwargs)

    def _init_weights(self, module):
        if isinstance(module, MarianSinusoidalPositionalEmbedding):
            with torch.no_grad():
                module.weight.copy_(module.create_weight())
        else:
            super()._init_weights(module, std=self.config.init_std)


def _shared_ties(prefix: str) -> dict:
    return {f"{prefix}decoder.embed_tokens.weight": f"{prefix}shared.weight",
            f"{prefix}encoder.embed_tokens.weight": f"{prefix}shared.weight"}


class MarianModel(MarianPreTrainedModel):
    def __init__(self, config: MarianConfig):
        super().__init__(config)
        if config.share_encoder_decoder_embeddings:
            # one table for source and target; encoder and decoder read it under their own names
            self.shared = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
            self._tied_weights_keys = _shared_ties("")
        else:
            self._tied_weights_keys = None
        self.encoder = MarianEncoder(config)
        self.decoder = MarianDecoder(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.embed_tokens

    def set_input_embeddings(self, value):
        if self.config.share_encoder_decoder_embeddings:
            self.shared = value
            self.decoder.embed_tokens = value
        self.encoder.embed_tokens = value

    def get_decoder_input_embeddings(self):
        if self.config.share_encoder_decoder_embeddings:
            raise ValueError("get_decoder_input_embeddings() is for share_encoder_decoder_embeddings=False; "
                             "the embeddings are shared here: use get_input_embeddings().")
        return self.decoder.embed_tokens

    def set_decoder_input_embeddings(self, value):
        if self.config.share_encoder_decoder_embeddings:
            raise ValueError("set_decoder_input_embeddings() is for share_encoder_decoder_embeddings=False; "
                             "the embeddings are shared here: use set_input_embeddings().")
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


class MarianMTModel(MarianPreTrainedModel):
    """MarianModel + an LM head over the target vocabulary, plus ``final_logits_bias``."""

    _supports_generate = True
    # the decoder takes one encoder row per group of decoder rows: generate() may encode each prompt
    # once and not repeat its output (or the cross-attention keys/values) per beam
    _shares_encoder_rows = True
    _keys_to_ignore_on_save = ("model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight")

    def __init__(self, config: MarianConfig):
        super().__init__(config)
        self.model = MarianModel(config)
        if config.share_encoder_decoder_embeddings:
            self._tied_weights_keys = {"lm_head.weight": "model.shared.weight", **_shared_ties("model.")}
            target_vocab = config.vocab_size
        else:
            self._tied_weights_keys = {"lm_head.weight": "model.decoder.embed_tokens.weight"}
            target_vocab = config.decoder_vocab_size
        self.register_buffer("final_logits_bias", torch.zeros(1, target_vocab))
        self.lm_head = nn.Linear(config.d_model, target_vocab, bias=False)
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
        """The source (shared) vocabulary's size. With one shared vocabulary the LM head and
        final_logits_bias follow; with a separate target vocabulary only the encoder's embeddings change
        (resize_decoder_token_embeddings changes the target side)."""
        if self.config.share_encoder_decoder_embeddings:
            embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of)
            self.config.decoder_vocab_size = embeddings.num_embeddings
            self._resize_final_logits_bias(embeddings.num_embeddings)
            return embeddings
        if pad_to_multiple_of:
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        embeddings = self._resized(self.get_input_embeddings(), new_num_tokens)
        self.model.set_input_embeddings(embeddings)
        self.config.vocab_size = new_num_tokens
        return embeddings

    def resize_decoder_token_embeddings(self, new_num_tokens: int):
        """A separate target vocabulary's size: decoder embeddings, LM head and final_logits_bias."""
        if self.config.share_encoder_decoder_embeddings:
            raise ValueError("resize_decoder_token_embeddings() is for share_encoder_decoder_embeddings=False; "
                             "the vocabulary is shared here: use resize_token_embeddings().")
        embeddings = self._resized(self.model.decoder.embed_tokens, new_num_tokens)
        self.model.set_decoder_input_embeddings(embeddings)
        if not self.config.tie_word_embeddings:
            self.lm_head = self._resized(self.lm_head, new_num_tokens)
        self.config.decoder_vocab_size = new_num_tokens
        self.tie_weights()
        self._resize_final_logits_bias(new_num_tokens)
        return embeddings

    def _resized(self, old: nn.Module, size: int) -> nn.Module:
        """A copy of an embedding table or bias-free LM head with ``size`` rows: the first rows kept, the
        new ones initialised."""
        if isinstance(old, nn.Embedding):
            new = nn.Embedding(size, old.embedding_dim, padding_idx=old.padding_idx, dtype=old.weight.dtype,
                               device=old.weight.device)
        else:
            new = nn.Linear(old.in_features, size, bias=False, dtype=old.weight.dtype, device=old.weight.device)
        self._init_weights(new)
        n = min(old.weight.shape[0], size)
        with torch.no_grad():
            new.weight[:n] = old.weight[:n]
        return new

    def _resize_final_logits_bias(self, size: int):
        old = self.final_logits_bias
        self.register_buffer("final_logits_bias", old[:, :size] if size <= old.shape[-1] else
                             torch.cat([old, old.new_zeros((1, size - old.shape[-1]))], dim=1))

    def _dedupe_for_save(self, state_dict):
        # the sinusoids are recomputed at load: the reference leaves them out of this head's files
        state_dict = super()._dedupe_for_save(state_dict)
        return {k: v for k, v in state_dict.items() if k not in self._keys_to_ignore_on_save}

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

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
        out = Seq2SeqLMOutput(
            loss=loss, logits=logits, past_key_values=outputs.past_key_values,
            decoder_hidden_states=outputs.decoder_hidden_states, decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions, encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states, encoder_attentions=outputs.encoder_attentions)
        return out if return_dict else out.to_tuple()


class MarianDecoderWrapper(nn.Module):
    """Holds the decoder under ``model.decoder`` so MarianForCausalLM reads seq2seq checkpoints' keys."""

    def __init__(self, config):
        super().__init__()
        self.decoder = MarianDecoder(config)

    def forward(self, *args, **kwargs):
        return self.decoder(*args, **kwargs)


class MarianForCausalLM(MarianPreTrainedModel):
    """The decoder alone as a language model (optionally cross-attending to ``encoder_hidden_states``).
    As in the reference, ``labels`` are *not* shifted: labels[:, i] is the target of logits[:, i]."""

    _supports_generate = True
    _tied_weights_keys = {"lm_head.weight": "model.decoder.embed_tokens.weight"}

    def __init__(self, config: MarianConfig):
        config.is_decoder = True
        config.is_encoder_decoder = False
        super().__init__(config)
        self.model = MarianDecoderWrapper(config)
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


TASKS = {"base": MarianModel, "seq2seq-lm": MarianMTModel, "causal-lm": MarianForCausalLM}
