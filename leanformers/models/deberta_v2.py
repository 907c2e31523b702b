"""DeBERTa-v2 and v3 (He et al., 2020/2021): an encoder with disentangled attention.

Attention scores add to content-to-content ``q·k`` a content-to-position term (``c2p``: each query
against the embedding of its relative distance to the key) and a position-to-content term (``p2c``),
as ``pos_att_type`` lists them; all three are divided by ``sqrt(head_dim * (1 + number of terms))``.
Relative distances come from one table, ``encoder.rel_embeddings`` (optionally layer-normed,
``norm_rel_ebd="layer_norm"``), indexed by distance clipped to ``±pos_ebd_size``, or by log-bucketed
distance when ``position_buckets > 0`` (v3). ``share_att_key=True`` (v3) projects those embeddings
with the content ``query_proj``/``key_proj`` instead of separate ``pos_query_proj``/``pos_key_proj``.
Absolute position embeddings are added only with ``position_biased_input`` (off in v3), token types
only with ``type_vocab_size > 0``. The padding mask is a query x key product: a padded query row masks
every key, so its softmax is uniform (as in the reference, whose numbers we keep there too).
Module names mirror the checkpoint keys (``deberta.*``, ``cls.predictions.*`` or, with
``legacy=False``, ``lm_predictions.lm_head.*``, ``pooler.dense``, ``classifier``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import PretrainedConfig
from ..layers import ACT2FN, check_input_ids, classification_loss, sdpa_attention, span_loss
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutput, MaskedLMOutput, MultipleChoiceModelOutput, QuestionAnsweringModelOutput,
                       SequenceClassifierOutput, TokenClassifierOutput)

__all__ = [
    "DebertaV2Config", "DebertaV2PreTrainedModel", "DebertaV2Model", "DebertaV2ForMaskedLM",
    "DebertaV2ForSequenceClassification", "DebertaV2ForMultipleChoice", "DebertaV2ForTokenClassification",
    "DebertaV2ForQuestionAnswering",
]


class DebertaV2Config(PretrainedConfig):
    model_type = "deberta-v2"

    def __init__(self, vocab_size=128100, hidden_size=1536, num_hidden_layers=24, num_attention_heads=24,
                 intermediate_size=6144, hidden_act="gelu", hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=0,
                 initializer_range=0.02, layer_norm_eps=1e-7, relative_attention=False, max_relative_positions=-1,
                 pad_token_id=0, bos_token_id=None, eos_token_id=None, position_biased_input=True,
                 pos_att_type=None, pooler_dropout=0.0, pooler_hidden_act="gelu", legacy=True,
                 tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.relative_attention = relative_attention
        self.max_relative_positions = max_relative_positions
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.position_biased_input = position_biased_input
        if isinstance(pos_att_type, str):  # "p2c|c2p" in older configs
            pos_att_type = [x.strip() for x in pos_att_type.lower().split("|")]
        self.pos_att_type = pos_att_type
        self.pooler_dropout = pooler_dropout
        self.pooler_hidden_act = pooler_hidden_act
        self.legacy = legacy
        self.tie_word_embeddings = tie_word_embeddings
        self.pooler_hidden_size = kwargs.pop("pooler_hidden_size", hidden_size)
        super().__init__(**kwargs)


def _check_config(config):
    """Fail at construction, with a fix, on configs this implementation does not cover."""
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                         f"({config.num_attention_heads}).")
    unknown = set(config.pos_att_type or []) - {"c2p", "p2c"}
    if unknown:
        raise ValueError(f"pos_att_type {sorted(unknown)} is not supported: DeBERTa-v2 knows 'c2p' and 'p2c' "
                         f"(e.g. pos_att_type=['p2c', 'c2p']).")
    if getattr(config, "z_steps", 0) > 1:
        raise ValueError("z_steps > 1 (re-running the last layer, an experimental DeBERTa option) is not "
                         "supported; no released checkpoint uses it. Remove z_steps from config.json.")


def _relative_settings(config):
    """(position_buckets, max_relative_positions, pos_ebd_size) as the reference derives them."""
    buckets = getattr(config, "position_buckets", -1)
    max_relative = getattr(config, "max_relative_positions", -1)
    if max_relative < 1:
        max_relative = config.max_position_embeddings
    return buckets, max_relative, buckets if buckets > 0 else max_relative


def log_bucket_position(relative_pos: torch.Tensor, bucket_size: int, max_position: int) -> torch.Tensor:
    """Distances below bucket_size/2 kept exact; larger ones mapped logarithmically so that
    max_position lands on the last of the bucket_size/2 buckets on its side."""
    mid = bucket_size // 2
    sign = torch.sign(relative_pos)
    near = (relative_pos < mid) & (relative_pos > -mid)
    abs_pos = torch.where(near, torch.tensor(mid - 1).type_as(relative_pos), relative_pos.abs())
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid))
                         * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, relative_pos.type_as(log_pos), log_pos * sign)


def build_relative_position(seq_len: int, bucket_size: int, max_position: int, device) -> torch.Tensor:
    """(seq, seq) long: query position minus key position, log-bucketed when buckets are set."""
    ids = torch.arange(seq_len, dtype=torch.long, device=device)
    relative = ids[:, None] - ids[None, :]
    if bucket_size > 0 and max_position > 0:
        relative = log_bucket_position(relative, bucket_size, max_position)
    return relative.to(torch.long)


# ---------------------------------------------------------------------------------------------
# layers


class DebertaV2Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embedding_size = getattr(config, "embedding_size", config.hidden_size)
        self.word_embeddings = nn.Embedding(config.vocab_size, self.embedding_size, padding_idx=config.pad_token_id)
        self.position_biased_input = getattr(config, "position_biased_input", True)
        self.position_embeddings = (nn.Embedding(config.max_position_embeddings, self.embedding_size)
                                    if self.position_biased_input else None)
        self.token_type_embeddings = (nn.Embedding(config.type_vocab_size, self.embedding_size)
                                      if config.type_vocab_size > 0 else None)
        self.embed_proj = (nn.Linear(self.embedding_size, config.hidden_size, bias=False)
                           if self.embedding_size != config.hidden_size else None)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                             persistent=False)

    def forward(self, input_ids, token_type_ids, position_ids, mask, inputs_embeds):
        """``mask``: the (batch, seq) attention mask; padding positions come out as zeros."""
        embeddings = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        if self.position_embeddings is not None:
            if position_ids is None:
                embeddings = embeddings + self.position_embeddings.weight[:embeddings.shape[1]]
            else:
                embeddings = embeddings + self.position_embeddings(position_ids.long())
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                embeddings = embeddings + self.token_type_embeddings.weight[0]
            else:
                embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        if self.embed_proj is not None:
            embeddings = self.embed_proj(embeddings)
        embeddings = self.LayerNorm(embeddings) * mask.unsqueeze(-1).to(embeddings.dtype)
        return self.dropout(embeddings)


class DisentangledSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = getattr(config, "attention_head_size", config.hidden_size // config.num_attention_heads)
        inner = self.num_heads * self.head_dim
        self.query_proj = nn.Linear(config.hidden_size, inner)
        self.key_proj = nn.Linear(config.hidden_size, inner)
        self.value_proj = nn.Linear(config.hidden_size, inner)
        self.share_att_key = getattr(config, "share_att_key", False)
        self.pos_att_type = list(config.pos_att_type or [])
        self.relative_attention = getattr(config, "relative_attention", False)
        if self.relative_attention:
            _, _, self.pos_ebd_size = _relative_settings(config)
            self.pos_dropout = nn.Dropout(config.hidden_dropout_prob)
            if not self.share_att_key:
                if "c2p" in self.pos_att_type:
                    self.pos_key_proj = nn.Linear(config.hidden_size, inner)
                if "p2c" in self.pos_att_type:
                    self.pos_query_proj = nn.Linear(config.hidden_size, inner)
        self.dropout_prob = config.attention_probs_dropout_prob
        # every score term is divided by sqrt(head_dim * number of terms)
        terms = 1 + ("c2p" in self.pos_att_type) + ("p2c" in self.pos_att_type)
        self.scale = math.sqrt(self.head_dim * terms)

    def _heads(self, x):
        return x.view(*x.shape[:-1], self.num_heads, self.head_dim).transpose(-3, -2)

    def forward(self, hidden_states, mask, relative_pos=None, rel_embeddings=None, output_attentions=False):
        """``mask``: boolean (batch, 1, seq, seq), True = attend, or None when nothing is masked."""
        batch, seq_len, _ = hidden_states.shape
        query = self._heads(self.query_proj(hidden_states))
        key = self._heads(self.key_proj(hidden_states))
        value = self._heads(self.value_proj(hidden_states))
        bias = None
        if self.relative_attention:
            bias = self._disentangled_bias(query, key, relative_pos, self.pos_dropout(rel_embeddings))
        if mask is not None:
            if bias is None:
                bias = torch.zeros(mask.shape, dtype=query.dtype, device=query.device)
            bias = bias.masked_fill(~mask, torch.finfo(query.dtype).min)
        context, weights = sdpa_attention(query, key, value, bias, scale=1.0 / self.scale,
                                          dropout=self.dropout_prob if self.training else 0.0,
                                          need_weights=output_attentions)
        return context.transpose(1, 2).reshape(batch, seq_len, -1), weights

    def _disentangled_bias(self, query, key, relative_pos, rel_embeddings):
        span = self.pos_ebd_size
        rel_embeddings = rel_embeddings[:span * 2]
        if self.share_att_key:
            pos_query = self._heads(self.query_proj(rel_embeddings))
            pos_key = self._heads(self.key_proj(rel_embeddings))
        else:
            pos_key = self._heads(self.pos_key_proj(rel_embeddings)) if "c2p" in self.pos_att_type else None
            pos_query = self._heads(self.pos_query_proj(rel_embeddings)) if "p2c" in self.pos_att_type else None
        shape = (*query.shape[:2], relative_pos.shape[0], relative_pos.shape[1])
        score = 0
        if "c2p" in self.pos_att_type:
            # query i against the embedding of its distance to key j
            c2p = torch.matmul(query, pos_key.transpose(-1, -2))
            index = torch.clamp(relative_pos + span, 0, span * 2 - 1)
            score = score + torch.gather(c2p, -1, index.expand(shape)) / self.scale
        if "p2c" in self.pos_att_type:
            # key j against the embedding of the query's distance to it, read back transposed
            p2c = torch.matmul(key, pos_query.transpose(-1, -2))
            index = torch.clamp(-relative_pos + span, 0, span * 2 - 1)
            score = score + torch.gather(p2c, -1, index.expand(shape)).transpose(-1, -2) / self.scale
        return score


class DebertaV2SelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class DebertaV2Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = DisentangledSelfAttention(config)
        self.output = DebertaV2SelfOutput(config)

    def forward(self, hidden_states, mask, relative_pos, rel_embeddings, output_attentions=False):
        context, weights = self.self(hidden_states, mask, relative_pos, rel_embeddings, output_attentions)
        return self.output(context, hidden_states), weights


class DebertaV2Intermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class DebertaV2Output(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class DebertaV2Layer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = DebertaV2Attention(config)
        self.intermediate = DebertaV2Intermediate(config)
        self.output = DebertaV2Output(config)

    def forward(self, hidden_states, mask, relative_pos, rel_embeddings, output_attentions=False):
        attention_output, weights = self.attention(hidden_states, mask, relative_pos, rel_embeddings,
                                                   output_attentions)
        return self.output(self.intermediate(attention_output), attention_output), weights


class ConvLayer(nn.Module):
    """v2 xlarge/xxlarge: a convolution over the embeddings, added to the first layer's output."""

    def __init__(self, config):
        super().__init__()
        kernel_size = getattr(config, "conv_kernel_size", 3)
        self.conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel_size, padding=(kernel_size - 1) // 2,
                              groups=getattr(config, "conv_groups", 1))
        self.conv_act = ACT2FN[getattr(config, "conv_act", "tanh")]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual_states, input_mask):
        out = self.conv(hidden_states.transpose(1, 2)).transpose(1, 2)
        keep = input_mask.unsqueeze(-1).to(out.dtype)
        out = self.conv_act(self.dropout(out.masked_fill(keep == 0, 0)))
        return self.LayerNorm(residual_states + out) * keep


class DebertaV2Encoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(DebertaV2Layer(config) for _ in range(config.num_hidden_layers))
        self.relative_attention = getattr(config, "relative_attention", False)
        if self.relative_attention:
            self.position_buckets, self.max_relative_positions, span = _relative_settings(config)
            self.rel_embeddings = nn.Embedding(span * 2, config.hidden_size)
        self.norm_rel_ebd = [x.strip() for x in getattr(config, "norm_rel_ebd", "none").lower().split("|")]
        if "layer_norm" in self.norm_rel_ebd:
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.conv = ConvLayer(config) if getattr(config, "conv_kernel_size", 0) > 0 else None
        self.gradient_checkpointing = False

    def get_rel_embedding(self):
        if not self.relative_attention:
            return None
        weight = self.rel_embeddings.weight
        return self.LayerNorm(weight) if "layer_norm" in self.norm_rel_ebd else weight

    def forward(self, hidden_states, input_mask, output_attentions=False, output_hidden_states=False):
        """``input_mask``: (batch, seq) 1/0. -> (last hidden state, all hidden states or None, attentions or None)"""
        mask = None
        if not bool(input_mask.all()):  # query x key: a padded query row masks every key
            keep = input_mask.bool()
            mask = (keep[:, None, :, None] & keep[:, None, None, :])
        relative_pos = rel_embeddings = None
        if self.relative_attention:
            relative_pos = build_relative_position(hidden_states.shape[1], self.position_buckets,
                                                   self.max_relative_positions, hidden_states.device)
            rel_embeddings = self.get_rel_embedding()
        embeddings = hidden_states
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for i, layer in enumerate(self.layer):
            if self.gradient_checkpointing and self.training:
                from torch.utils.checkpoint import checkpoint

                hidden_states, weights = checkpoint(layer, hidden_states, mask, relative_pos, rel_embeddings,
                                                    output_attentions, use_reentrant=False)
            else:
                hidden_states, weights = layer(hidden_states, mask, relative_pos, rel_embeddings, output_attentions)
            if i == 0 and self.conv is not None:
                hidden_states = self.conv(embeddings, hidden_states, input_mask)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return hidden_states, all_hidden, all_attentions


class LegacyDebertaV2PredictionHeadTransform(nn.Module):
    def __init__(self, config):
        super().__init__()
        embedding_size = getattr(config, "embedding_size", config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, embedding_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(embedding_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class LegacyDebertaV2LMPredictionHead(nn.Module):
    """transform -> vocabulary projection; ``decoder.weight`` is tied to the input embeddings and
    ``decoder.bias`` *is* ``bias`` (checkpoints store ``cls.predictions.bias``)."""

    def __init__(self, config):
        super().__init__()
        self.transform = LegacyDebertaV2PredictionHeadTransform(config)
        self.decoder = nn.Linear(getattr(config, "embedding_size", config.hidden_size), config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class LegacyDebertaV2OnlyMLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.predictions = LegacyDebertaV2LMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


class DebertaV2LMPredictionHead(nn.Module):
    """``legacy=False``: dense -> act -> LayerNorm, then the input embeddings themselves as the projection."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states, word_embeddings):
        hidden_states = self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))
        return torch.matmul(hidden_states, word_embeddings.weight.t()) + self.bias


class DebertaV2OnlyMLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.lm_head = DebertaV2LMPredictionHead(config)

    def forward(self, sequence_output, word_embeddings):
        return self.lm_head(sequence_output, word_embeddings)


class ContextPooler(nn.Module):
    """first token -> dropout (pooler_dropout) -> dense -> pooler_hidden_act."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.pooler_hidden_size, config.pooler_hidden_size)
        self.dropout = nn.Dropout(config.pooler_dropout)
        self.activation = ACT2FN[config.pooler_hidden_act]

    def forward(self, hidden_states):
        return self.activation(self.dense(self.dropout(hidden_states[:, 0])))


# ---------------------------------------------------------------------------------------------
# models


class DebertaV2PreTrainedModel(PreTrainedModel):
    config_class = DebertaV2Config
    base_model_prefix = "deberta"
    _keys_to_ignore_on_load_unexpected = [r"embeddings\.position_ids$", r"position_embeddings",
                                          r"mask_predictions\."]

    def _init_weights(self, module):
        super()._init_weights(module)  # normal(0, initializer_range) / zeros / LayerNorm ones
        if isinstance(module, (LegacyDebertaV2LMPredictionHead, DebertaV2LMPredictionHead)):
            module.bias.data.zero_()
        elif isinstance(module, DebertaV2Embeddings):
            module.position_ids.copy_(torch.arange(module.position_ids.shape[-1]).expand((1, -1)))

    @classmethod
    def sanitize(cls, state_dict):
        state_dict = super().sanitize(state_dict)
        # Some checkpoints hold the LM bias only as ``decoder.bias``; it is the same tensor as ``predictions.bias``.
        if "cls.predictions.decoder.bias" in state_dict and "cls.predictions.bias" not in state_dict:
            state_dict = dict(state_dict, **{"cls.predictions.bias": state_dict["cls.predictions.decoder.bias"]})
        return state_dict

    def _outputs(self, output_attentions, output_hidden_states, return_dict):
        """Call-time flags, falling back to the config's, as the reference does."""
        config = self.config
        return (config.output_attentions if output_attentions is None else output_attentions,
                config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                config.use_return_dict if return_dict is None else return_dict)


class DebertaV2Model(DebertaV2PreTrainedModel):
    def __init__(self, config: DebertaV2Config):
        super().__init__(config)
        _check_config(config)
        self.embeddings = DebertaV2Embeddings(config)
        self.encoder = DebertaV2Encoder(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        batch, seq_len = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        device = input_ids.device if input_ids is not None else inputs_embeds.device
        if (self.embeddings.position_embeddings is not None and position_ids is None
                and seq_len > self.config.max_position_embeddings):
            raise ValueError(f"The input has {seq_len} tokens but this model handles at most "
                             f"max_position_embeddings={self.config.max_position_embeddings}. Truncate "
                             f"the input (tokenizer(..., truncation=True)).")
        if attention_mask is None:
            attention_mask = torch.ones(batch, seq_len, device=device)
        elif attention_mask.shape != (batch, seq_len):
            raise ValueError(f"attention_mask must have shape (batch_size, sequence_length) = {(batch, seq_len)}, "
                             f"got {tuple(attention_mask.shape)}.")
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds)
        hidden, all_hidden, all_attentions = self.encoder(hidden, attention_mask, output_attentions,
                                                          output_hidden_states)
        out = BaseModelOutput(last_hidden_state=hidden, hidden_states=all_hidden, attentions=all_attentions)
        return out if return_dict else out.to_tuple()


def _body_kwargs(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                 output_attentions, output_hidden_states):
    return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                output_hidden_states=output_hidden_states, return_dict=True)


def _finish(output_cls, return_dict, body, **fields):
    out = output_cls(**fields, hidden_states=body.hidden_states, attentions=body.attentions)
    return out if return_dict else out.to_tuple()


class DebertaV2ForMaskedLM(DebertaV2PreTrainedModel):
    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "deberta.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: DebertaV2Config):
        super().__init__(config)
        self.legacy = config.legacy
        self.deberta = DebertaV2Model(config)
        if self.legacy:
            self.cls = LegacyDebertaV2OnlyMLMHead(config)
        else:  # the head reads the input embeddings directly: nothing to tie
            self._tied_weights_keys = {}
            self.lm_predictions = DebertaV2OnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder if self.legacy else self.lm_predictions.lm_head.dense

    def set_output_embeddings(self, new_embeddings):
        if self.legacy:
            self.cls.predictions.decoder = new_embeddings
            self.cls.predictions.bias = new_embeddings.bias
        else:
            self.lm_predictions.lm_head.dense = new_embeddings
            self.lm_predictions.lm_head.bias = new_embeddings.bias

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.deberta(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        if self.legacy:
            logits = self.cls(body.last_hidden_state)
        else:
            logits = self.lm_predictions(body.last_hidden_state, self.deberta.embeddings.word_embeddings)
        loss = None
        if labels is not None:  # -100 marks the tokens that are not predicted
            loss = F.cross_entropy(logits.view(-1, self.config.vocab_size), labels.to(logits.device).view(-1))
        return _finish(MaskedLMOutput, return_dict, body, loss=loss, logits=logits)


def _cls_dropout(config):
    dropout = getattr(config, "cls_dropout", None)
    return config.hidden_dropout_prob if dropout is None else dropout


def deberta_classification_loss(logits, labels, config):
    """With problem_type set, the usual losses; unset, DeBERTa's own (and problem_type stays unset):
    one label -> MSE; class ids -> cross-entropy over the rows whose label is >= 0; otherwise soft
    labels -> cross-entropy against the label distribution."""
    if config.problem_type is not None:
        return classification_loss(logits, labels, config)
    labels = labels.to(logits.device)
    if config.num_labels == 1:
        return F.mse_loss(logits.view(-1).to(labels.dtype), labels.view(-1))
    if labels.dim() == 1 or labels.shape[-1] == 1:
        labels = labels.view(-1).long()
        keep = labels >= 0
        if not bool(keep.any()):
            return torch.tensor(0).to(logits)
        return F.cross_entropy(logits[keep].view(-1, config.num_labels).float(), labels[keep])
    return -(torch.log_softmax(logits, dim=-1) * labels).sum(-1).mean()


class DebertaV2ForSequenceClassification(DebertaV2PreTrainedModel):
    def __init__(self, config: DebertaV2Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.deberta = DebertaV2Model(config)
        self.pooler = ContextPooler(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.dropout = nn.Dropout(_cls_dropout(config))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.deberta(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(self.pooler(body.last_hidden_state)))
        loss = deberta_classification_loss(logits, labels, self.config) if labels is not None else None
        return _finish(SequenceClassifierOutput, return_dict, body, loss=loss, logits=logits)


def _flatten_choices(name, tensor, trailing):
    """(batch, num_choices, seq[, hidden]) -> (batch * num_choices, seq[, hidden])."""
    if tensor is None:
        return None
    if tensor.dim() != 2 + trailing:
        raise ValueError(f"Multiple-choice models take {name} of shape (batch_size, num_choices, "
                         f"sequence_length{', hidden_size' if trailing == 2 else ''}), got "
                         f"{tuple(tensor.shape)}. Tokenize each choice and stack them along dim 1.")
    return tensor.reshape(-1, *tensor.shape[2:])


class DebertaV2ForMultipleChoice(DebertaV2PreTrainedModel):
    def __init__(self, config: DebertaV2Config):
        super().__init__(config)
        self.deberta = DebertaV2Model(config)
        self.pooler = ContextPooler(config)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.dropout = nn.Dropout(_cls_dropout(config))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        body = self.deberta(**_body_kwargs(
            _flatten_choices("input_ids", input_ids, 1), _flatten_choices("attention_mask", attention_mask, 1),
            _flatten_choices("token_type_ids", token_type_ids, 1), _flatten_choices("position_ids", position_ids, 1),
            _flatten_choices("inputs_embeds", inputs_embeds, 2), output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(self.pooler(body.last_hidden_state))).view(-1, num_choices)
        loss = F.cross_entropy(logits, labels.to(logits.device)) if labels is not None else None
        return _finish(MultipleChoiceModelOutput, return_dict, body, loss=loss, logits=logits)


class DebertaV2ForTokenClassification(DebertaV2PreTrainedModel):
    def __init__(self, config: DebertaV2Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.deberta = DebertaV2Model(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.deberta(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(body.last_hidden_state))
        loss = None
        if labels is not None:  # -100 marks sub-word and special tokens
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        return _finish(TokenClassifierOutput, return_dict, body, loss=loss, logits=logits)


class DebertaV2ForQuestionAnswering(DebertaV2PreTrainedModel):
    def __init__(self, config: DebertaV2Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.deberta = DebertaV2Model(config)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.deberta(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        start_logits, end_logits = self.qa_outputs(body.last_hidden_state).split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return _finish(QuestionAnsweringModelOutput, return_dict, body, loss=loss,
                       start_logits=start_logits, end_logits=end_logits)


TASKS = {
    "base": DebertaV2Model,
    "masked-lm": DebertaV2ForMaskedLM,
    "sequence-classification": DebertaV2ForSequenceClassification,
    "multiple-choice": DebertaV2ForMultipleChoice,
    "token-classification": DebertaV2ForTokenClassification,
    "question-answering": DebertaV2ForQuestionAnswering,
}
