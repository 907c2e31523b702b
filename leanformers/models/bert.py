"""BERT (Devlin et al., 2018): a bidirectional Transformer encoder, its pooler and its task heads.

Module names mirror the checkpoint keys (``bert.encoder.layer.0.attention.self.query``,
``cls.predictions.transform.dense``, ...), so loading a Hub checkpoint is an identity map.
Attention runs through torch's SDPA; the attention probabilities are computed explicitly only when
``output_attentions`` asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import PretrainedConfig
from ..layers import (ACT2FN, causal_padding_mask, check_input_ids, classification_loss, padding_mask, sdpa_attention,
                      span_loss)
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutputWithPoolingAndCrossAttentions, MaskedLMOutput, ModelOutput,
                       MultipleChoiceModelOutput, NextSentencePredictorOutput,
                       QuestionAnsweringModelOutput, SequenceClassifierOutput, TokenClassifierOutput)

__all__ = [
    "BertConfig", "BertPreTrainedModel", "BertModel", "BertForPreTraining", "BertForMaskedLM",
    "BertForNextSentencePrediction", "BertForSequenceClassification", "BertForMultipleChoice",
    "BertForTokenClassification", "BertForQuestionAnswering", "BertForPreTrainingOutput",
]


class BertConfig(PretrainedConfig):
    model_type = "bert"

    def __init__(self, vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                 initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0, use_cache=True,
                 classifier_dropout=None, is_decoder=False, add_cross_attention=False,
                 bos_token_id=None, eos_token_id=None, tie_word_embeddings=True, **kwargs):
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
        self.pad_token_id = pad_token_id
        self.use_cache = use_cache
        self.classifier_dropout = classifier_dropout
        self.is_decoder = is_decoder
        self.add_cross_attention = add_cross_attention
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.tie_word_embeddings = tie_word_embeddings
        super().__init__(**kwargs)


def _check_config(config):
    """Fail at construction, with a fix, on configs this implementation does not cover."""
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                         f"({config.num_attention_heads}).")
    kind = getattr(config, "position_embedding_type", "absolute")
    if kind not in (None, "absolute"):
        raise ValueError(f"position_embedding_type={kind!r} is not supported (only 'absolute', as in "
                         f"transformers 5). Set it to 'absolute' only if the checkpoint was trained so.")
    if config.add_cross_attention:
        raise ValueError("add_cross_attention=True (BERT as a seq2seq decoder) is not supported; "
                         "leanformers' BERT is an encoder, or a causal decoder with is_decoder=True.")


# ---------------------------------------------------------------------------------------------
# layers


class BertEmbeddings(nn.Module):
    """word + token type + position embeddings, then LayerNorm and dropout."""

    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # Not in checkpoints (persistent=False), as in the reference; kept for code that reads them.
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                             persistent=False)
        self.register_buffer("token_type_ids", torch.zeros(1, config.max_position_embeddings, dtype=torch.long),
                             persistent=False)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        seq_len = inputs_embeds.shape[1]
        # The defaults (all type 0, positions 0..n-1) are the same rows for every sequence: add them
        # by broadcasting instead of gathering one row per token.
        if token_type_ids is None:
            embeddings = inputs_embeds + self.token_type_embeddings.weight[0]
        else:
            embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if position_ids is None:
            embeddings = embeddings + self.position_embeddings.weight[:seq_len]
        else:
            embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob
        self.is_causal = bool(config.is_decoder)

    def forward(self, hidden_states, mask=None, output_attentions=False, first_token_only=False):
        batch, seq_len, _ = hidden_states.shape
        heads = (batch, -1, self.num_heads, self.head_dim)
        queries = hidden_states[:, :1] if first_token_only else hidden_states
        query = self.query(queries).view(heads).transpose(1, 2)
        key = self.key(hidden_states).view(heads).transpose(1, 2)
        value = self.value(hidden_states).view(heads).transpose(1, 2)
        context, weights = sdpa_attention(query, key, value, mask, is_causal=self.is_causal,
                                          dropout=self.dropout_prob if self.training else 0.0,
                                          need_weights=output_attentions)
        return context.transpose(1, 2).reshape(batch, queries.shape[1], -1), weights


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, mask=None, output_attentions=False, first_token_only=False):
        context, weights = self.self(hidden_states, mask, output_attentions, first_token_only)
        residual = hidden_states[:, :1] if first_token_only else hidden_states
        return self.output(context, residual), weights


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, mask=None, output_attentions=False, first_token_only=False):
        attention_output, weights = self.attention(hidden_states, mask, output_attentions, first_token_only)
        return self.output(self.intermediate(attention_output), attention_output), weights


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, hidden_states, mask=None, output_attentions=False, output_hidden_states=False,
                first_token_only=False):
        """-> (last hidden state, all hidden states or None, all attentions or None)

        ``first_token_only``: the caller reads only the first ([CLS]) position of the last layer
        (the pooler does), so that layer computes keys and values for every token but its
        queries, attention output and feed-forward for the first token alone.
        """
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        last = len(self.layer) - 1
        for i, layer in enumerate(self.layer):
            first_only = first_token_only and i == last
            if self.gradient_checkpointing and self.training:
                from torch.utils.checkpoint import checkpoint

                hidden_states, weights = checkpoint(layer, hidden_states, mask, output_attentions, first_only,
                                                    use_reentrant=False)
            else:
                hidden_states, weights = layer(hidden_states, mask, output_attentions, first_only)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return hidden_states, all_hidden, all_attentions


class BertPooler(nn.Module):
    """tanh(dense(hidden state of the first token)): the [CLS] summary the NSP task trained."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """Transform, then project onto the vocabulary. ``decoder.weight`` is tied to the input
    embeddings and ``decoder.bias`` *is* ``bias`` (checkpoints store it under ``cls.predictions.bias``)."""

    def __init__(self, config):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


class BertOnlyNSPHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled_output):
        return self.seq_relationship(pooled_output)


class BertPreTrainingHeads(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, sequence_output, pooled_output):
        return self.predictions(sequence_output), self.seq_relationship(pooled_output)


# ---------------------------------------------------------------------------------------------
# models


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    # older checkpoints stored the position ids buffer
    _keys_to_ignore_on_load_unexpected = [r"embeddings\.position_ids$", r"embeddings\.token_type_ids$"]

    def _init_weights(self, module):
        super()._init_weights(module)  # normal(0, initializer_range) / zeros / LayerNorm ones
        if isinstance(module, BertLMPredictionHead):
            module.bias.data.zero_()
        elif isinstance(module, BertEmbeddings):
            module.position_ids.copy_(torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
            module.token_type_ids.zero_()

    @classmethod
    def sanitize(cls, state_dict):
        state_dict = super().sanitize(state_dict)
        # Some checkpoints hold the MLM bias only as ``decoder.bias``; it is the same tensor as
        # ``cls.predictions.bias``, which is where the weights are tied from.
        key = "cls.predictions.decoder.bias"
        if key in state_dict and "cls.predictions.bias" not in state_dict:
            state_dict = dict(state_dict, **{"cls.predictions.bias": state_dict[key]})
        return state_dict

    def _outputs(self, output_attentions, output_hidden_states, return_dict):
        """Call-time flags, falling back to the config's, as the reference does."""
        config = self.config
        return (config.output_attentions if output_attentions is None else output_attentions,
                config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                config.use_return_dict if return_dict is None else return_dict)


_MLM_TIES = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}


class BertModel(BertPreTrainedModel):
    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        _check_config(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                pooled_only=False, **kwargs):
        """``pooled_only=True`` (a leanformers extra, for heads that read only ``pooler_output``) skips
        the last layer's work for every position but [CLS]: ``last_hidden_state`` then holds that
        position alone. It needs an encoder with a pooler, and no hidden states or attentions."""
        check_input_ids(input_ids, inputs_embeds)
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        batch, seq_len = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        if position_ids is None and seq_len > self.config.max_position_embeddings:
            raise ValueError(f"The input has {seq_len} tokens but this model handles at most "
                             f"max_position_embeddings={self.config.max_position_embeddings}. Truncate "
                             f"the input (tokenizer(..., truncation=True)).")
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        if self.config.is_decoder:
            mask = causal_padding_mask(attention_mask, seq_len, seq_len, hidden.device)
        else:
            mask = padding_mask(attention_mask, batch, seq_len)
        # inference only: in training the skipped positions would change how much dropout randomness
        # is drawn, and seeded runs must reproduce the reference's curve
        first_only = (pooled_only and not self.training and self.pooler is not None and not self.config.is_decoder
                      and not output_attentions and not output_hidden_states)
        hidden, all_hidden, all_attentions = self.encoder(hidden, mask, output_attentions, output_hidden_states,
                                                          first_only)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        out = BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=hidden, pooler_output=pooled, hidden_states=all_hidden, attentions=all_attentions)
        return out if return_dict else out.to_tuple()


def _body_kwargs(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                 output_attentions, output_hidden_states):
    return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                output_hidden_states=output_hidden_states, return_dict=True)


def _finish(output_cls, return_dict, body, **fields):
    out = output_cls(**fields, hidden_states=body.hidden_states, attentions=body.attentions)
    return out if return_dict else out.to_tuple()


@dataclass(repr=False, eq=False)
class BertForPreTrainingOutput(ModelOutput):
    loss: torch.Tensor | None = None
    prediction_logits: torch.Tensor | None = None
    seq_relationship_logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class _BertWithLMHead(BertPreTrainedModel):
    """Shared output-embedding accessors of the models whose ``cls`` holds ``predictions``."""

    _tied_weights_keys = _MLM_TIES

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias


class BertForPreTraining(_BertWithLMHead):
    """Masked-LM and next-sentence heads, as BERT was pretrained."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, next_sentence_label=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.bert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                        inputs_embeds, output_attentions, output_hidden_states))
        prediction_logits, nsp_logits = self.cls(body.last_hidden_state, body.pooler_output)
        loss = None
        if labels is not None and next_sentence_label is not None:
            loss = (F.cross_entropy(prediction_logits.view(-1, self.config.vocab_size), labels.view(-1))
                    + F.cross_entropy(nsp_logits.view(-1, 2), next_sentence_label.view(-1)))
        return _finish(BertForPreTrainingOutput, return_dict, body, loss=loss,
                       prediction_logits=prediction_logits, seq_relationship_logits=nsp_logits)


class BertForMaskedLM(_BertWithLMHead):
    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.bert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                        inputs_embeds, output_attentions, output_hidden_states))
        logits = self.cls(body.last_hidden_state)
        loss = None
        if labels is not None:  # -100 marks the tokens that are not predicted
            loss = F.cross_entropy(logits.view(-1, self.config.vocab_size), labels.to(logits.device).view(-1))
        return _finish(MaskedLMOutput, return_dict, body, loss=loss, logits=logits)


class BertForNextSentencePrediction(BertPreTrainedModel):
    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertOnlyNSPHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.bert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                        inputs_embeds, output_attentions, output_hidden_states),
                         pooled_only=True)
        logits = self.cls(body.pooler_output)
        loss = None
        if labels is not None:  # 0: B continues A, 1: B is random
            loss = F.cross_entropy(logits.view(-1, 2), labels.to(logits.device).view(-1))
        return _finish(NextSentencePredictorOutput, return_dict, body, loss=loss, logits=logits)


def _classifier_dropout(config):
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


class BertForSequenceClassification(BertPreTrainedModel):
    """Pooled [CLS] output -> dropout -> linear; the loss follows ``config.problem_type``."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.bert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                        inputs_embeds, output_attentions, output_hidden_states),
                         pooled_only=True)
        logits = self.classifier(self.dropout(body.pooler_output))
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
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


class BertForMultipleChoice(BertPreTrainedModel):
    """Scores each (context, choice) pair with one logit; softmax runs over the choices."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        body = self.bert(**_body_kwargs(
            _flatten_choices("input_ids", input_ids, 1), _flatten_choices("attention_mask", attention_mask, 1),
            _flatten_choices("token_type_ids", token_type_ids, 1), _flatten_choices("position_ids", position_ids, 1),
            _flatten_choices("inputs_embeds", inputs_embeds, 2), output_attentions, output_hidden_states),
            pooled_only=True)
        logits = self.classifier(self.dropout(body.pooler_output)).view(-1, num_choices)
        loss = F.cross_entropy(logits, labels.to(logits.device)) if labels is not None else None
        return _finish(MultipleChoiceModelOutput, return_dict, body, loss=loss, logits=logits)


class BertForTokenClassification(BertPreTrainedModel):
    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.bert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                        inputs_embeds, output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(body.last_hidden_state))
        loss = None
        if labels is not None:  # -100 marks sub-word and special tokens
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        return _finish(TokenClassifierOutput, return_dict, body, loss=loss, logits=logits)


class BertForQuestionAnswering(BertPreTrainedModel):
    """Extractive QA: a start and an end logit for every token."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.bert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
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
    "base": BertModel,
    "pretraining": BertForPreTraining,
    "masked-lm": BertForMaskedLM,
    "next-sentence-prediction": BertForNextSentencePrediction,
    "sequence-classification": BertForSequenceClassification,
    "multiple-choice": BertForMultipleChoice,
    "token-classification": BertForTokenClassification,
    "question-answering": BertForQuestionAnswering,
}
