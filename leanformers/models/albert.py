"""ALBERT (Lan et al., 2019): BERT with factorised embeddings and parameters shared across layers.

Embeddings are ``embedding_size`` wide and mapped up to ``hidden_size`` by
``encoder.embedding_hidden_mapping_in``. The encoder holds ``num_hidden_groups`` groups of
``inner_group_num`` layers; its ``num_hidden_layers`` steps each run a whole group, layer ``i`` using
group ``int(i / (num_hidden_layers / num_hidden_groups))`` (so the released checkpoints, with one group,
run the same layer 12 or 24 times). Hidden states and attentions are reported per layer *call*: one per
inner layer of every step. The masked-LM head maps back down to ``embedding_size`` before the tied
vocabulary projection. Module names mirror the checkpoint keys (``albert.*``, ``predictions.*``,
``sop_classifier.*``): loading is an identity map.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import PretrainedConfig
from ..layers import ACT2FN, check_input_ids, classification_loss, padding_mask, sdpa_attention, span_loss
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutputWithPooling, MaskedLMOutput, ModelOutput, MultipleChoiceModelOutput,
                       QuestionAnsweringModelOutput, SequenceClassifierOutput, TokenClassifierOutput)

__all__ = [
    "AlbertConfig", "AlbertPreTrainedModel", "AlbertModel", "AlbertForPreTraining", "AlbertForMaskedLM",
    "AlbertForSequenceClassification", "AlbertForMultipleChoice", "AlbertForTokenClassification",
    "AlbertForQuestionAnswering", "AlbertForPreTrainingOutput",
]


class AlbertConfig(PretrainedConfig):
    model_type = "albert"

    def __init__(self, vocab_size=30000, embedding_size=128, hidden_size=4096, num_hidden_layers=12,
                 num_hidden_groups=1, num_attention_heads=64, intermediate_size=16384, inner_group_num=1,
                 hidden_act="gelu_new", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                 max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12,
                 classifier_dropout_prob=0.1, pad_token_id=0, bos_token_id=2, eos_token_id=3,
                 tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_hidden_groups = num_hidden_groups
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.inner_group_num = inner_group_num
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.classifier_dropout_prob = classifier_dropout_prob
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.tie_word_embeddings = tie_word_embeddings
        super().__init__(**kwargs)


def _check_config(config):
    """Fail at construction, with a fix, on configs this implementation does not cover."""
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                         f"({config.num_attention_heads}).")
    if not 1 <= config.num_hidden_groups <= config.num_hidden_layers:
        raise ValueError(f"num_hidden_groups ({config.num_hidden_groups}) must be between 1 and "
                         f"num_hidden_layers ({config.num_hidden_layers}).")
    kind = getattr(config, "position_embedding_type", "absolute")
    if kind not in (None, "absolute"):
        raise ValueError(f"position_embedding_type={kind!r} is not supported (only 'absolute', as in "
                         f"transformers 5). Set it to 'absolute' only if the checkpoint was trained so.")


# ---------------------------------------------------------------------------------------------
# layers


class AlbertEmbeddings(nn.Module):
    """word + token type + position embeddings (all ``embedding_size`` wide), LayerNorm, dropout."""

    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
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
        # the defaults (all type 0, positions 0..n-1) are the same rows for every sequence: broadcast
        if token_type_ids is None:
            embeddings = inputs_embeds + self.token_type_embeddings.weight[0]
        else:
            embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if position_ids is None:
            embeddings = embeddings + self.position_embeddings.weight[:seq_len]
        else:
            embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class AlbertAttention(nn.Module):
    """Self-attention with its output projection (``dense``), dropout and residual LayerNorm in one module."""

    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout_prob = config.attention_probs_dropout_prob
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        batch, seq_len, _ = hidden_states.shape
        heads = (batch, seq_len, self.num_heads, self.head_dim)
        query = self.query(hidden_states).view(heads).transpose(1, 2)
        key = self.key(hidden_states).view(heads).transpose(1, 2)
        value = self.value(hidden_states).view(heads).transpose(1, 2)
        context, weights = sdpa_attention(query, key, value, mask,
                                          dropout=self.dropout_prob if self.training else 0.0,
                                          need_weights=output_attentions)
        context = context.transpose(1, 2).reshape(batch, seq_len, -1)
        return self.LayerNorm(hidden_states + self.output_dropout(self.dense(context))), weights


class AlbertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.full_layer_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = AlbertAttention(config)
        self.ffn = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        attention_output, weights = self.attention(hidden_states, mask, output_attentions)
        ffn_output = self.ffn_output(self.activation(self.ffn(attention_output)))
        return self.full_layer_layer_norm(ffn_output + attention_output), weights


class AlbertLayerGroup(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.albert_layers = nn.ModuleList(AlbertLayer(config) for _ in range(config.inner_group_num))

    def forward(self, hidden_states, mask=None, output_attentions=False):
        """-> (output, each inner layer's output, each inner layer's attention weights or None)"""
        states, attentions = (), ()
        for layer in self.albert_layers:
            hidden_states, weights = layer(hidden_states, mask, output_attentions)
            states += (hidden_states,)
            attentions += (weights,)
        return hidden_states, states, attentions


class AlbertTransformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_hidden_layers = config.num_hidden_layers
        self.num_hidden_groups = config.num_hidden_groups
        self.embedding_hidden_mapping_in = nn.Linear(config.embedding_size, config.hidden_size)
        self.albert_layer_groups = nn.ModuleList(AlbertLayerGroup(config) for _ in range(config.num_hidden_groups))
        self.gradient_checkpointing = False

    def forward(self, hidden_states, mask=None, output_attentions=False, output_hidden_states=False):
        """-> (last hidden state, all hidden states or None, all attentions or None)"""
        hidden_states = self.embedding_hidden_mapping_in(hidden_states)
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for i in range(self.num_hidden_layers):
            # the reference's float division, so uneven splits pick the same groups
            group = self.albert_layer_groups[int(i / (self.num_hidden_layers / self.num_hidden_groups))]
            if self.gradient_checkpointing and self.training:
                from torch.utils.checkpoint import checkpoint

                hidden_states, states, weights = checkpoint(group, hidden_states, mask, output_attentions,
                                                            use_reentrant=False)
            else:
                hidden_states, states, weights = group(hidden_states, mask, output_attentions)
            if output_hidden_states:
                all_hidden += states
            if output_attentions:
                all_attentions += weights
        return hidden_states, all_hidden, all_attentions


class AlbertMLMHead(nn.Module):
    """dense down to embedding_size -> hidden_act -> LayerNorm -> vocabulary projection. ``decoder.weight``
    is tied to the input embeddings and ``decoder.bias`` *is* ``bias`` (checkpoints store ``predictions.bias``)."""

    def __init__(self, config):
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.decoder = nn.Linear(config.embedding_size, config.vocab_size)
        self.activation = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden_states))))


class AlbertSOPHead(nn.Module):
    """Sentence-order prediction from the pooled output: dropout -> classifier."""

    def __init__(self, config):
        super().__init__()
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled_output):
        return self.classifier(self.dropout(pooled_output))


# ---------------------------------------------------------------------------------------------
# models


class AlbertPreTrainedModel(PreTrainedModel):
    config_class = AlbertConfig
    base_model_prefix = "albert"
    _keys_to_ignore_on_load_unexpected = [r"embeddings\.position_ids$", r"embeddings\.token_type_ids$"]

    def _init_weights(self, module):
        super()._init_weights(module)  # normal(0, initializer_range) / zeros / LayerNorm ones
        if isinstance(module, AlbertMLMHead):
            module.bias.data.zero_()
        elif isinstance(module, AlbertEmbeddings):
            module.position_ids.copy_(torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
            module.token_type_ids.zero_()

    @classmethod
    def sanitize(cls, state_dict):
        state_dict = super().sanitize(state_dict)
        # Some checkpoints hold the LM bias only as ``decoder.bias``; it is the same tensor as ``predictions.bias``.
        if "predictions.decoder.bias" in state_dict and "predictions.bias" not in state_dict:
            state_dict = dict(state_dict, **{"predictions.bias": state_dict["predictions.decoder.bias"]})
        return state_dict

    def _outputs(self, output_attentions, output_hidden_states, return_dict):
        """Call-time flags, falling back to the config's, as the reference does."""
        config = self.config
        return (config.output_attentions if output_attentions is None else output_attentions,
                config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                config.use_return_dict if return_dict is None else return_dict)


class AlbertModel(AlbertPreTrainedModel):
    def __init__(self, config: AlbertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        _check_config(config)
        self.embeddings = AlbertEmbeddings(config)
        self.encoder = AlbertTransformer(config)
        # the pooler is a bare Linear + tanh (checkpoint keys albert.pooler.weight/bias)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.pooler_activation = nn.Tanh() if add_pooling_layer else None
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
        if position_ids is None and seq_len > self.config.max_position_embeddings:
            raise ValueError(f"The input has {seq_len} tokens but this model handles at most "
                             f"max_position_embeddings={self.config.max_position_embeddings}. Truncate "
                             f"the input (tokenizer(..., truncation=True)).")
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        mask = padding_mask(attention_mask, batch, seq_len)
        hidden, all_hidden, all_attentions = self.encoder(hidden, mask, output_attentions, output_hidden_states)
        pooled = self.pooler_activation(self.pooler(hidden[:, 0])) if self.pooler is not None else None
        out = BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled, hidden_states=all_hidden,
                                         attentions=all_attentions)
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
class AlbertForPreTrainingOutput(ModelOutput):
    loss: torch.Tensor | None = None
    prediction_logits: torch.Tensor | None = None
    sop_logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class _AlbertWithLMHead(AlbertPreTrainedModel):
    _tied_weights_keys = {
        "predictions.decoder.weight": "albert.embeddings.word_embeddings.weight",
        "predictions.decoder.bias": "predictions.bias",
    }

    def get_output_embeddings(self):
        return self.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.predictions.decoder = new_embeddings
        self.predictions.bias = new_embeddings.bias


class AlbertForPreTraining(_AlbertWithLMHead):
    """Masked LM and sentence-order prediction; the loss is their sum (both labels needed)."""

    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.predictions = AlbertMLMHead(config)
        self.sop_classifier = AlbertSOPHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, sentence_order_label=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.albert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                          inputs_embeds, output_attentions, output_hidden_states))
        prediction_logits = self.predictions(body.last_hidden_state)
        sop_logits = self.sop_classifier(body.pooler_output)
        loss = None
        if labels is not None and sentence_order_label is not None:
            loss = (F.cross_entropy(prediction_logits.view(-1, self.config.vocab_size),
                                    labels.to(prediction_logits.device).view(-1))
                    + F.cross_entropy(sop_logits.view(-1, 2), sentence_order_label.to(sop_logits.device).view(-1)))
        return _finish(AlbertForPreTrainingOutput, return_dict, body, loss=loss,
                       prediction_logits=prediction_logits, sop_logits=sop_logits)


class AlbertForMaskedLM(_AlbertWithLMHead):
    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.predictions = AlbertMLMHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.albert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                          inputs_embeds, output_attentions, output_hidden_states))
        logits = self.predictions(body.last_hidden_state)
        loss = None
        if labels is not None:  # -100 marks the tokens that are not predicted
            loss = F.cross_entropy(logits.view(-1, self.config.vocab_size), labels.to(logits.device).view(-1))
        return _finish(MaskedLMOutput, return_dict, body, loss=loss, logits=logits)


class AlbertForSequenceClassification(AlbertPreTrainedModel):
    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.albert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                          inputs_embeds, output_attentions, output_hidden_states))
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


class AlbertForMultipleChoice(AlbertPreTrainedModel):
    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        body = self.albert(**_body_kwargs(
            _flatten_choices("input_ids", input_ids, 1), _flatten_choices("attention_mask", attention_mask, 1),
            _flatten_choices("token_type_ids", token_type_ids, 1), _flatten_choices("position_ids", position_ids, 1),
            _flatten_choices("inputs_embeds", inputs_embeds, 2), output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(body.pooler_output)).view(-1, num_choices)
        loss = F.cross_entropy(logits, labels.to(logits.device)) if labels is not None else None
        return _finish(MultipleChoiceModelOutput, return_dict, body, loss=loss, logits=logits)


class AlbertForTokenClassification(AlbertPreTrainedModel):
    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout_prob
        self.dropout = nn.Dropout(dropout if dropout is not None else config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.albert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                          inputs_embeds, output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(body.last_hidden_state))
        loss = None
        if labels is not None:  # -100 marks sub-word and special tokens
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        return _finish(TokenClassifierOutput, return_dict, body, loss=loss, logits=logits)


class AlbertForQuestionAnswering(AlbertPreTrainedModel):
    def __init__(self, config: AlbertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.albert(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
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
    "base": AlbertModel,
    "pretraining": AlbertForPreTraining,
    "masked-lm": AlbertForMaskedLM,
    "sequence-classification": AlbertForSequenceClassification,
    "multiple-choice": AlbertForMultipleChoice,
    "token-classification": AlbertForTokenClassification,
    "question-answering": AlbertForQuestionAnswering,
}
