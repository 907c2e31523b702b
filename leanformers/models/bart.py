"""BART: a Transformer encoder-decoder (post-layer-norm) with learned positions.

The module names equal the checkpoint keys (``model.shared``, ``model.encoder.layers.0.self_attn.k_proj``,
``model.decoder.layers.0.encoder_attn``, ``lm_head``, ``final_logits_bias``). Details the reference
has and this file keeps:

- learned positional embeddings with an offset of 2 (position ``p`` reads row ``p + 2``); the
  decoder counts positions from the cache length, ignoring padding;
- ``scale_embedding`` multiplies token embeddings by sqrt(d_model); ``layernorm_embedding``
  normalises embeddings + positions before the first layer;
- token embeddings shared by encoder, decoder and ``lm_head``; ``final_logits_bias`` added to the
  logits;
- sequence classification reads the decoder state at the last eos token of each row;
- ``labels`` without ``decoder_input_ids`` are shifted right behind ``decoder_start_token_id``.

The decoder follows docs/internals.md's encoder-decoder contract: an ``EncoderDecoderCache``
whose cross-attention part holds each layer's projected encoder output, computed once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..cache import DynamicCache, EncoderDecoderCache, decoder_attention_mask
from ..configuration import PretrainedConfig
from ..layers import (ACT2FN, GradientCheckpointingLayer, check_input_ids, classification_loss, padding_mask,
                      sdpa_attention)
from ..modeling import PreTrainedModel
from ..outputs import (
    BaseModelOutput, BaseModelOutputWithPastAndCrossAttentions, CausalLMOutputWithCrossAttentions,
    Seq2SeqLMOutput, Seq2SeqModelOutput, Seq2SeqQuestionAnsweringModelOutput, Seq2SeqSequenceClassifierOutput,
)
from ..projections import project

__all__ = [
    "BartConfig", "BartPreTrainedModel", "BartModel", "BartForConditionalGeneration",
    "BartForSequenceClassification", "BartForQuestionAnswering", "BartForCausalLM", "shift_tokens_right",
]


class BartConfig(PretrainedConfig):
    """The reference's BartConfig: same fields, same defaults (facebook/bart-large)."""

    model_type = "bart"
    attribute_map = {"num_attention_heads": "encoder_attention_heads", "hidden_size": "d_model",
                     "num_hidden_layers": "encoder_layers"}

    def __init__(self, vocab_size=50265, max_position_embeddings=1024, encoder_layers=12, encoder_ffn_dim=4096,
                 encoder_attention_heads=16, decoder_layers=12, decoder_ffn_dim=4096, decoder_attention_heads=16,
                 encoder_layerdrop=0.0, decoder_layerdrop=0.0, activation_function="gelu", d_model=1024,
                 dropout=0.1, attention_dropout=0.0, activation_dropout=0.0, init_std=0.02,
                 classifier_dropout=0.0, scale_embedding=False, use_cache=True, pad_token_id=1, bos_token_id=0,
                 eos_token_id=2, is_encoder_decoder=True, decoder_start_token_id=2, forced_eos_token_id=2,
                 is_decoder=False, tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.d_model = d_model
        self.encoder_layers = encoder_layers
        self.encoder_ffn_dim = encoder_ffn_dim
        self.encoder_attention_heads = encoder_attention_heads
        self.decoder_layers = decoder_layers
        self.decoder_ffn_dim = decoder_ffn_dim
        self.decoder_attention_heads = decoder_attention_heads
        self.encoder_layerdrop = encoder_layerdrop
        self.decoder_layerdrop = decoder_layerdrop
        self.activation_function = activation_function
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.init_std = init_std
        self.classifier_dropout = classifier_dropout
        self.scale_embedding = scale_embedding
        self.use_cache = use_cache
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.decoder_start_token_id = decoder_start_token_id
        self.forced_eos_token_id = forced_eos_token_id
        self.is_decoder = is_decoder
        self.tie_word_embeddings = tie_word_embeddings
        for heads, name in ((encoder_attention_heads, "encoder"), (decoder_attention_heads, "decoder")):
            if d_model % heads != 0:
                raise ValueError(f"d_model ({d_model}) must be a multiple of {name}_attention_heads ({heads}).")
        if kwargs.get("id2label") is None:
            kwargs.setdefault("num_labels", 3)  # the reference's default for BART (MNLI)
        super().__init__(is_encoder_decoder=is_encoder_decoder, **kwargs)


def shift_tokens_right(input_ids: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Decoder inputs from labels: start token first, everything one step right, -100 -> pad."""
    if pad_token_id is None:
        raise ValueError("config.pad_token_id must be set to turn labels into decoder_input_ids.")
    shifted = input_ids.new_zeros(input_ids.shape)
    shifted[:, 1:] = input_ids[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill_(shifted == -100, pad_token_id)


class BartLearnedPositionalEmbedding(nn.Embedding):
    """Learned positions; row ``p + 2`` holds position ``p`` (fairseq's offset, kept by checkpoints)."""

    offset = 2

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__(num_embeddings + self.offset, embedding_dim)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return super().forward(positions + self.offset)


class BartAttention(nn.Module):
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
        return x.view(x.shape[0], x.shape[1], -1, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states, mask=None, is_causal=False, key_value_states=None, cache=None,
                output_attentions=False):
        batch, seq, _ = hidden_states.shape
        if key_value_states is None:  # self-attention: q, k and v in one matmul while decoding
            query, key, value = (self._heads(t) for t in project(hidden_states, self.q_proj, self.k_proj,
                                                                 self.v_proj))
            if cache is not None:
                key, value = cache.update(key, value, self.layer_idx)
        else:  # cross-attention: the encoder's keys/values are projected once and cached
            query = self._heads(project(hidden_states, self.q_proj))
            if cache is not None and cache.is_updated.get(self.layer_idx):
                key, value = cache.cross_attention_cache[self.layer_idx]
            else:
                key, value = (self._heads(t) for t in project(key_value_states, self.k_proj, self.v_proj))
                if cache is not None:
                    key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
        groups = batch // key.shape[0]
        if groups > 1:
            # generate() gives each prompt's encoder output once for its `groups` beams (rows
            # prompt * groups + j): their queries attend to it together, as extra query positions
            query = query.reshape(key.shape[0], groups, self.num_heads, seq, self.head_dim).transpose(1, 2)
            query = query.reshape(key.shape[0], self.num_heads, groups * seq, self.head_dim)
        out, weights = sdpa_attention(query, key, value, mask, scale=self.scaling, is_causal=is_causal,
                                      dropout=self.dropout if self.training else 0.0, need_weights=output_attentions)
        if groups > 1:
            out = out.reshape(key.shape[0], self.num_heads, groups, seq, self.head_dim).transpose(1, 2)
            out = out.reshape(batch, self.num_heads, seq, self.head_dim)
            if weights is not None:
                weights = weights.reshape(key.shape[0], self.num_heads, groups, seq, -1).transpose(1, 2)
                weights = weights.reshape(batch, self.num_heads, seq, -1)
        out = out.transpose(1, 2).reshape(batch, seq, -1)
        return project(out, self.out_proj), weights


class BartEncoderLayer(GradientCheckpointingLayer):
    def __init__(self, config: BartConfig, layer_idx: int):
        super().__init__()
        dim = config.d_model
        self.self_attn = BartAttention(dim, config.encoder_attention_heads, config.attention_dropout, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.activation_fn = ACT2FN[config.activation_function]
        self.dropout, self.activation_dropout = config.dropout, config.activation_dropout
        self.fc1 = nn.Linear(dim, config.encoder_ffn_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, hidden_states, mask, output_attentions=False):
        attn, weights = self.self_attn(hidden_states, mask, output_attentions=output_attentions)
        hidden_states = self.self_attn_layer_norm(
            hidden_states + F.dropout(attn, p=self.dropout, training=self.training))
        hidden_states = self.final_layer_norm(hidden_states + _mlp(self, hidden_states))
        if hidden_states.dtype == torch.float16 and not bool(torch.isfinite(hidden_states).all()):
            limit = torch.finfo(hidden_states.dtype).max - 1000  # as the reference: keep fp16 finite
            hidden_states = hidden_states.clamp(min=-limit, max=limit)
        return hidden_states, weights


def _mlp(layer, hidden_states):
    x = layer.activation_fn(project(hidden_states, layer.fc1))
    x = F.dropout(x, p=layer.activation_dropout, training=layer.training)
    return F.dropout(project(x, layer.fc2), p=layer.dropout, training=layer.training)


class BartDecoderLayer(GradientCheckpointingLayer):
    def __init__(self, config: BartConfig, layer_idx: int):
        super().__init__()
        dim, heads = config.d_model, config.decoder_attention_heads
        self.self_attn = BartAttention(dim, heads, config.attention_dropout, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.encoder_attn = BartAttention(dim, heads, config.attention_dropout, layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(dim)
        self.activation_fn = ACT2FN[config.activation_function]
        self.dropout, self.activation_dropout = config.dropout, config.activation_dropout
        self.fc1 = nn.Linear(dim, config.decoder_ffn_dim)
        self.fc2 = nn.Linear(config.decoder_ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, hidden_states, mask, is_causal, encoder_hidden_states=None, encoder_mask=None, cache=None,
                output_attentions=False):
        self_cache = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
        attn, self_weights = self.self_attn(hidden_states, mask, is_causal, cache=self_cache,
                                            output_attentions=output_attentions)
        hidden_states = self.self_attn_layer_norm(
            hidden_states + F.dropout(attn, p=self.dropout, training=self.training))
        cross_weights = None
        if encoder_hidden_states is not None:
            cross_cache = cache if isinstance(cache, EncoderDecoderCache) else None
            attn, cross_weights = self.encoder_attn(hidden_states, encoder_mask, key_value_states=encoder_hidden_states,
                                                    cache=cross_cache, output_attentions=output_attentions)
            hidden_states = self.encoder_attn_layer_norm(
                hidden_states + F.dropout(attn, p=self.dropout, training=self.training))
        hidden_states = self.final_layer_norm(hidden_states + _mlp(self, hidden_states))
        return hidden_states, self_weights, cross_weights


class BartClassificationHead(nn.Module):
    def __init__(self, input_dim: int, inner_dim: int, num_classes: int, pooler_dropout: float):
        super().__init__()
        self.dense = nn.Linear(input_dim, inner_dim)
        self.dropout = nn.Dropout(p=pooler_dropout)
        self.out_proj = nn.Linear(inner_dim, num_classes)

    def forward(self, hidden_states):
        hidden_states = torch.tanh(self.dense(self.dropout(hidden_states)))
        return self.out_proj(self.dropout(hidden_states))


# ---- models -------------------------------------------------------------------------------------
class BartPreTrainedModel(PreTrainedModel):
    config_class = BartConfig
    base_model_prefix = "model"
    _keys_to_ignore_on_load_unexpected = [r"encoder\.version", r"decoder\.version"]

    def _init_weights(self, module):
        super()._init_weights(module, std=self.config.init_std)


def _embed_scale(config) -> float:
    return math.sqrt(config.d_model) if config.scale_embedding else 1.0


class BartEncoder(BartPreTrainedModel):
    def __init__(self, config: BartConfig):
        super().__init__(config)
        self.embed_scale = _embed_scale(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
        self.embed_positions = BartLearnedPositionalEmbedding(config.max_position_embeddings, config.d_model)
        self.layers = nn.ModuleList([BartEncoderLayer(config, i) for i in range(config.encoder_layers)])
        self.layernorm_embedding = nn.LayerNorm(config.d_model)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        config = self.config
        output_attentions = output_attentions if output_attentions is not None else config.output_attentions
        output_hidden_states = (output_hidden_states if output_hidden_states is not None
                                else config.output_hidden_states)
        return_dict = return_dict if return_dict is not None else config.use_return_dict
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids) * self.embed_scale
        batch, seq = inputs_embeds.shape[:2]
        _check_length(seq, config, "input_ids")
        positions = self.embed_positions(torch.arange(seq, device=inputs_embeds.device))
        hidden_states = self.layernorm_embedding(inputs_embeds + positions)
        hidden_states = F.dropout(hidden_states, p=config.dropout, training=self.training)
        mask = padding_mask(attention_mask, batch, seq)
        all_hidden, all_attn = (), ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if self.training and config.encoder_layerdrop > 0 and torch.rand([]) < config.encoder_layerdrop:
                continue
            hidden_states, weights = layer(hidden_states, mask, output_attentions)
            if output_attentions:
                all_attn += (weights,)
        if output_hidden_states:
            all_hidden += (hidden_states,)
        out = BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden or None,
                              attentions=all_attn or None)
        return out if return_dict else out.to_tuple()


def _check_length(seq: int, config, name: str):
    if seq > config.max_position_embeddings:
        raise ValueError(f"{name} holds {seq} tokens, but BART reads at most {config.max_position_embeddings} "
                         f"(config.max_position_embeddings): tokenize with truncation=True.")


class BartDecoder(BartPreTrainedModel):
    def __init__(self, config: BartConfig):
        super().__init__(config)
        self.embed_scale = _embed_scale(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
        self.embed_positions = BartLearnedPositionalEmbedding(config.max_position_embeddings, config.d_model)
        self.layers = nn.ModuleList([BartDecoderLayer(config, i) for i in range(config.decoder_layers)])
        self.layernorm_embedding = nn.LayerNorm(config.d_model)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                past_key_values=None, inputs_embeds=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        config = self.config
        past_key_values = kwargs.pop("cache", past_key_values)  # the reference's v5.24 spelling
        output_attentions = output_attentions if output_attentions is not None else config.output_attentions
        output_hidden_states = (output_hidden_states if output_hidden_states is not None
                                else config.output_hidden_states)
        return_dict = return_dict if return_dict is not None else config.use_return_dict
        use_cache = use_cache if use_cache is not None else (config.use_cache and not self.training)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids) * self.embed_scale
        if use_cache and past_key_values is None:
            past_key_values = (EncoderDecoderCache(DynamicCache(), DynamicCache())
                               if encoder_hidden_states is not None or config.is_encoder_decoder else DynamicCache())
        if not use_cache:
            past_key_values = None
        batch, seq = inputs_embeds.shape[:2]
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        _check_length(past + seq, config, "The decoder sequence")
        if cache_position is None:
            cache_position = torch.arange(past, past + seq, device=inputs_embeds.device)
        # positions count from the cache length (padding is not skipped), as the reference
        positions = self.embed_positions(torch.arange(past, past + seq, device=inputs_embeds.device))
        hidden_states = self.layernorm_embedding(inputs_embeds + positions)
        hidden_states = F.dropout(hidden_states, p=config.dropout, training=self.training)

        key_len = past_key_values.mask_length(seq) if past_key_values is not None else seq
        mask = decoder_attention_mask(attention_mask, cache_position, key_len,
                                      is_static=getattr(past_key_values, "is_static", False))
        is_causal = mask is None and seq > 1
        encoder_mask = None
        if encoder_hidden_states is not None:
            if batch % encoder_hidden_states.shape[0]:
                raise ValueError(f"The decoder has {batch} rows but the encoder output "
                                 f"{encoder_hidden_states.shape[0]}: give one encoder row per decoder row (or "
                                 f"per group of beams).")
            encoder_mask = padding_mask(encoder_attention_mask, *encoder_hidden_states.shape[:2])

        all_hidden, all_self, all_cross = (), (), ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if self.training and config.decoder_layerdrop > 0 and torch.rand([]) < config.decoder_layerdrop:
                continue
            hidden_states, self_weights, cross_weights = layer(
                hidden_states, mask, is_causal, encoder_hidden_states, encoder_mask, past_key_values,
                output_attentions)
            if output_attentions:
                all_self += (self_weights,)
                if encoder_hidden_states is not None:
                    all_cross += (cross_weights,)
        if output_hidden_states:
            all_hidden += (hidden_states,)
        out = BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden_states, past_key_values=past_key_values, hidden_states=all_hidden or None,
            attentions=all_self or None, cross_attentions=all_cross or None)
        return out if return_dict else out.to_tuple()


def _as_encoder_output(encoder_outputs) -> BaseModelOutput:
    if isinstance(encoder_outputs, BaseModelOutput):
        return encoder_outputs
    return BaseModelOutput(*tuple(encoder_outputs)[:3])


class BartModel(BartPreTrainedModel):
    _tied_weights_keys = {"encoder.embed_tokens.weight": "shared.weight",
                          "decoder.embed_tokens.weight": "shared.weight"}

    def __init__(self, config: BartConfig):
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
        self.encoder = BartEncoder(config)
        self.decoder = BartDecoder(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, value):
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
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            if input_ids is None:
                raise ValueError("Pass decoder_input_ids (or input_ids, which are shifted right into them, or "
                                 "labels to a ...ForConditionalGeneration head).")
            decoder_input_ids = shift_tokens_right(input_ids, self.config.pad_token_id,
                                                   self.config.decoder_start_token_id)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                           inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=True)
        else:
            encoder_outputs = _as_encoder_output(encoder_outputs)
        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
            encoder_hidden_states=encoder_outputs.last_hidden_state, encoder_attention_mask=attention_mask,
            past_key_values=past_key_values, inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True,
            cache_position=cache_position)
        out = Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state, past_key_values=decoder_outputs.past_key_values,
            decoder_hidden_states=decoder_outputs.hidden_states, decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions)
        return out if return_dict else out.to_tuple()


def _seq2seq_fields(outputs) -> dict:
    """The fields every Seq2Seq head output copies from the base model's output."""
    return dict(past_key_values=outputs.past_key_values, decoder_hidden_states=outputs.decoder_hidden_states,
                decoder_attentions=outputs.decoder_attentions, cross_attentions=outputs.cross_attentions,
                encoder_last_hidden_state=outputs.encoder_last_hidden_state,
                encoder_hidden_states=outputs.encoder_hidden_states, encoder_attentions=outputs.encoder_attentions)


class BartForConditionalGeneration(BartPreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "model.shared.weight",
                          "model.encoder.embed_tokens.weight": "model.shared.weight",
                          "model.decoder.embed_tokens.weight": "model.shared.weight"}
    _keys_to_ignore_on_load_missing = [r"final_logits_bias"]
    _supports_generate = True
    # the decoder takes one encoder row per group of decoder rows: generate() encodes each prompt
    # once and does not repeat its output (or the cross-attention keys/values) per beam
    _shares_encoder_rows = True

    def __init__(self, config: BartConfig):
        super().__init__(config)
        self.model = BartModel(config)
        self.register_buffer("final_logits_bias", torch.zeros((1, config.vocab_size)))
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
        new, old = embeddings.num_embeddings, self.final_logits_bias.shape[-1]
        bias = self.final_logits_bias[:, :new] if new <= old else torch.cat(
            [self.final_logits_bias, self.final_logits_bias.new_zeros((1, new - old))], dim=1)
        self.register_buffer("final_logits_bias", bias)
        return embeddings

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, logits_to_keep=0, **kwargs):
        past_key_values = kwargs.pop("cache", past_key_values)
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
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
        logits = project(hidden_states, self.lm_head) + self.final_logits_bias.to(hidden_states.device)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().view(-1, self.config.vocab_size), labels.to(logits.device).view(-1))
        out = Seq2SeqLMOutput(loss=loss, logits=logits, **_seq2seq_fields(outputs))
        return out if return_dict else out.to_tuple()


class BartForSequenceClassification(BartPreTrainedModel):
    _tied_weights_keys = BartForConditionalGeneration._tied_weights_keys.copy()
    del _tied_weights_keys["lm_head.weight"]

    def __init__(self, config: BartConfig, **kwargs):
        super().__init__(config)
        self.model = BartModel(config)
        self.classification_head = BartClassificationHead(config.d_model, config.d_model, config.num_labels,
                                                          config.classifier_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        if labels is not None:
            use_cache = False
        if input_ids is None:
            raise NotImplementedError(f"{type(self).__name__} reads the eos tokens of input_ids: pass input_ids, "
                                      f"not inputs_embeds.")
        outputs = self.model(input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                             decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                             inputs_embeds=inputs_embeds, decoder_inputs_embeds=decoder_inputs_embeds,
                             use_cache=use_cache, output_attentions=output_attentions,
                             output_hidden_states=output_hidden_states, return_dict=True)
        hidden_states = outputs.last_hidden_state
        # the sentence is read at the last eos token of each row
        eos_mask = input_ids.eq(self.config.eos_token_id).to(hidden_states.device)
        if eos_mask.shape != hidden_states.shape[:2]:
            raise ValueError(f"{type(self).__name__} reads the decoder state at the eos tokens of input_ids, so it "
                             f"needs one decoder position per input token: leave decoder_input_ids unset (they "
                             f"are input_ids shifted right), or give them input_ids' length.")
        counts = eos_mask.sum(1)
        if bool((counts == 0).any()):
            raise ValueError(f"Each input of {type(self).__name__} must contain the eos token "
                             f"(id {self.config.eos_token_id}); tokenize with add_special_tokens=True.")
        if torch.unique_consecutive(counts).numel() != 1:
            raise ValueError("All examples must have the same number of <eos> tokens.")
        sentence = hidden_states[eos_mask, :].view(hidden_states.shape[0], -1, hidden_states.shape[-1])[:, -1, :]
        logits = self.classification_head(sentence)
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        out = Seq2SeqSequenceClassifierOutput(loss=loss, logits=logits, **_seq2seq_fields(outputs))
        return out if return_dict else out.to_tuple()


class BartForQuestionAnswering(BartPreTrainedModel):
    _tied_weights_keys = BartForSequenceClassification._tied_weights_keys

    def __init__(self, config: BartConfig):
        super().__init__(config)
        config.num_labels = 2
        self.num_labels = config.num_labels
        self.model = BartModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, start_positions=None, end_positions=None, inputs_embeds=None,
                decoder_inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        if start_positions is not None and end_positions is not None:
            use_cache = False
        outputs = self.model(input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                             decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                             inputs_embeds=inputs_embeds, decoder_inputs_embeds=decoder_inputs_embeds,
                             use_cache=use_cache, output_attentions=output_attentions,
                             output_hidden_states=output_hidden_states, return_dict=True)
        start_logits, end_logits = self.qa_outputs(outputs.last_hidden_state).split(1, dim=-1)
        start_logits, end_logits = start_logits.squeeze(-1).contiguous(), end_logits.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            ignored = start_logits.shape[1]  # positions outside the sequence are clamped to it and ignored
            start = start_positions.reshape(-1).clamp(0, ignored).to(start_logits.device)
            end = end_positions.reshape(-1).clamp(0, ignored).to(end_logits.device)
            loss = (F.cross_entropy(start_logits, start, ignore_index=ignored) +
                    F.cross_entropy(end_logits, end, ignore_index=ignored)) / 2
        out = Seq2SeqQuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                                  **_seq2seq_fields(outputs))
        return out if return_dict else out.to_tuple()


class BartDecoderWrapper(BartPreTrainedModel):
    """Holds the decoder under ``model.decoder``, so BartForCausalLM reads encoder-decoder checkpoints."""

    def __init__(self, config: BartConfig):
        super().__init__(config)
        self.decoder = BartDecoder(config)
        self.post_init()

    def forward(self, *args, **kwargs):
        return self.decoder(*args, **kwargs)


class BartForCausalLM(BartPreTrainedModel):
    """BART's decoder alone with the LM head (``labels`` are *not* shifted: labels[i] is the target of
    logits[i], as the reference v5)."""

    _tied_weights_keys = {"lm_head.weight": "model.decoder.embed_tokens.weight"}
    _supports_generate = True

    def __init__(self, config: BartConfig):
        config.is_decoder = True
        config.is_encoder_decoder = False
        super().__init__(config)
        self.model = BartDecoderWrapper(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
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
        return_dict = return_dict if return_dict is not None else self.config.use_return_dict
        outputs = self.model.decoder(input_ids=input_ids, attention_mask=attention_mask,
                                     encoder_hidden_states=encoder_hidden_states,
                                     encoder_attention_mask=encoder_attention_mask, past_key_values=past_key_values,
                                     inputs_embeds=inputs_embeds, use_cache=use_cache,
                                     output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                     return_dict=True, cache_position=cache_position)
        hidden_states = outputs.last_hidden_state
        if logits_to_keep:
            hidden_states = hidden_states[:, -logits_to_keep:]
        logits = project(hidden_states, self.lm_head)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().view(-1, self.config.vocab_size), labels.to(logits.device).view(-1))
        out = CausalLMOutputWithCrossAttentions(loss=loss, logits=logits, past_key_values=outputs.past_key_values,
                                                hidden_states=outputs.hidden_states, attentions=outputs.attentions,
                                                cross_attentions=outputs.cross_attentions)
        return out if return_dict else out.to_tuple()


TASKS = {
    "base": BartModel,
    "seq2seq-lm": BartForConditionalGeneration,
    "sequence-classification": BartForSequenceClassification,
    "question-answering": BartForQuestionAnswering,
    "causal-lm": BartForCausalLM,
}
