"""ELECTRA (Clark et al., 2020): a BERT encoder pre-trained as a discriminator of replaced tokens.

Two things differ from BERT. The embeddings may be narrower than the encoder (``embedding_size`` <
``hidden_size``, the small and generator checkpoints): an ``embeddings_project`` linear layer then maps
them up, and the masked-LM head maps back down to ``embedding_size`` before the tied vocabulary
projection. And there is no pooler: sequence classification reads the first token through a
dense -> GELU head, multiple choice through a "sequence summary" (first token -> dense -> GELU).
``ElectraForPreTraining`` is the discriminator: one logit per token, "was this token replaced?".
Module names mirror the checkpoint keys (``electra.*``, ``discriminator_predictions.*``,
``generator_predictions.*``, ``generator_lm_head``): loading is an identity map.
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
from ..outputs import (BaseModelOutput, MaskedLMOutput, ModelOutput, MultipleChoiceModelOutput,
                       QuestionAnsweringModelOutput, SequenceClassifierOutput, TokenClassifierOutput)

__all__ = [
    "ElectraConfig", "ElectraPreTrainedModel", "ElectraModel", "ElectraForPreTraining", "ElectraForMaskedLM",
    "ElectraForSequenceClassification", "ElectraForMultipleChoice", "ElectraForTokenClassification",
    "ElectraForQuestionAnswering", "ElectraForPreTrainingOutput",
]


class ElectraConfig(PretrainedConfig):
    model_type = "electra"

    def __init__(self, vocab_size=30522, embedding_size=128, hidden_size=256, num_hidden_layers=12,
                 num_attention_heads=4, intermediate_size=1024, hidden_act="gelu", hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                 initializer_range=0.02, layer_norm_eps=1e-12, summary_type="first", summary_use_proj=True,
                 summary_activation="gelu", summary_last_dropout=0.1, pad_token_id=0, use_cache=True,
                 classifier_dropout=None, is_decoder=False, add_cross_attention=False, bos_token_id=None,
                 eos_token_id=None, tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
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
        self.summary_type = summary_type
        self.summary_use_proj = summary_use_proj
        self.summary_activation = summary_activation
        self.summary_last_dropout = summary_last_dropout
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
        raise ValueError("add_cross_attention=True (ELECTRA as a seq2seq decoder) is not supported; "
                         "leanformers' ELECTRA is an encoder, or a causal decoder with is_decoder=True.")


# ---------------------------------------------------------------------------------------------
# layers


class ElectraEmbeddings(nn.Module):
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


class ElectraSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob
        self.is_causal = bool(config.is_decoder)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        batch, seq_len, _ = hidden_states.shape
        heads = (batch, seq_len, self.num_heads, self.head_dim)
        query = self.query(hidden_states).view(heads).transpose(1, 2)
        key = self.key(hidden_states).view(heads).transpose(1, 2)
        value = self.value(hidden_states).view(heads).transpose(1, 2)
        context, weights = sdpa_attention(query, key, value, mask, is_causal=self.is_causal,
                                          dropout=self.dropout_prob if self.training else 0.0,
                                          need_weights=output_attentions)
        return context.transpose(1, 2).reshape(batch, seq_len, -1), weights


class ElectraSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class ElectraAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = ElectraSelfAttention(config)
        self.output = ElectraSelfOutput(config)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        context, weights = self.self(hidden_states, mask, output_attentions)
        return self.output(context, hidden_states), weights


class ElectraIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class ElectraOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class ElectraLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = ElectraAttention(config)
        self.intermediate = ElectraIntermediate(config)
        self.output = ElectraOutput(config)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        attention_output, weights = self.attention(hidden_states, mask, output_attentions)
        return self.output(self.intermediate(attention_output), attention_output), weights


class ElectraEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(ElectraLayer(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, hidden_states, mask=None, output_attentions=False, output_hidden_states=False):
        """-> (last hidden state, all hidden states or None, all attentions or None)"""
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layer:
            if self.gradient_checkpointing and self.training:
                from torch.utils.checkpoint import checkpoint

                hidden_states, weights = checkpoint(layer, hidden_states, mask, output_attentions,
                                                    use_reentrant=False)
            else:
                hidden_states, weights = layer(hidden_states, mask, output_attentions)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return hidden_states, all_hidden, all_attentions


class ElectraDiscriminatorPredictions(nn.Module):
    """dense -> hidden_act -> one logit per token (replaced or original)."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.dense_prediction = nn.Linear(config.hidden_size, 1)

    def forward(self, hidden_states):
        return self.dense_prediction(self.activation(self.dense(hidden_states))).squeeze(-1)


class ElectraGeneratorPredictions(nn.Module):
    """dense down to embedding_size -> GELU -> LayerNorm (the vocabulary projection follows)."""

    def __init__(self, config):
        super().__init__()
        self.activation = ACT2FN["gelu"]
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)

    def forward(self, hidden_states):
        return self.LayerNorm(self.activation(self.dense(hidden_states)))


class ElectraClassificationHead(nn.Module):
    """first token -> dropout -> dense -> GELU (BERT's pooler has tanh) -> dropout -> out_proj."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACT2FN["gelu"]
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, features):
        x = self.dropout(features[:, 0])
        x = self.dropout(self.activation(self.dense(x)))
        return self.out_proj(x)


class ElectraSequenceSummary(nn.Module):
    """One vector per sequence (multiple choice): the token ``summary_type`` names, then the optional
    projection (``summary``), activation and dropouts, as the config asks."""

    def __init__(self, config):
        super().__init__()
        self.summary_type = getattr(config, "summary_type", "last")
        if self.summary_type not in ("first", "last", "mean"):
            raise ValueError(f"summary_type={self.summary_type!r} is not supported: use 'first' (ELECTRA's "
                             f"checkpoints), 'last' or 'mean'.")
        self.summary = nn.Identity()
        if getattr(config, "summary_use_proj", False):
            to_labels = getattr(config, "summary_proj_to_labels", False) and config.num_labels > 0
            self.summary = nn.Linear(config.hidden_size, config.num_labels if to_labels else config.hidden_size)
        activation = getattr(config, "summary_activation", None)
        self.activation = ACT2FN[activation] if activation else nn.Identity()
        first = getattr(config, "summary_first_dropout", 0) or 0
        last = getattr(config, "summary_last_dropout", 0) or 0
        self.first_dropout = nn.Dropout(first) if first > 0 else nn.Identity()
        self.last_dropout = nn.Dropout(last) if last > 0 else nn.Identity()

    def forward(self, hidden_states):
        if self.summary_type == "first":
            output = hidden_states[:, 0]
        elif self.summary_type == "last":
            output = hidden_states[:, -1]
        else:
            output = hidden_states.mean(dim=1)
        return self.last_dropout(self.activation(self.summary(self.first_dropout(output))))


def _classifier_dropout(config):
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


# ---------------------------------------------------------------------------------------------
# models


class ElectraPreTrainedModel(PreTrainedModel):
    config_class = ElectraConfig
    base_model_prefix = "electra"
    _keys_to_ignore_on_load_unexpected = [r"embeddings\.position_ids$", r"embeddings\.token_type_ids$"]

    def _init_weights(self, module):
        super()._init_weights(module)  # normal(0, initializer_range) / zeros / LayerNorm ones
        if isinstance(module, ElectraEmbeddings):
            module.position_ids.copy_(torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
            module.token_type_ids.zero_()

    def _outputs(self, output_attentions, output_hidden_states, return_dict):
        """Call-time flags, falling back to the config's, as the reference does."""
        config = self.config
        return (config.output_attentions if output_attentions is None else output_attentions,
                config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                config.use_return_dict if return_dict is None else return_dict)


class ElectraModel(ElectraPreTrainedModel):
    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        _check_config(config)
        self.embeddings = ElectraEmbeddings(config)
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = nn.Linear(config.embedding_size, config.hidden_size)
        self.encoder = ElectraEncoder(config)
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
        if hasattr(self, "embeddings_project"):
            hidden = self.embeddings_project(hidden)
        if self.config.is_decoder:
            mask = causal_padding_mask(attention_mask, seq_len, seq_len, hidden.device)
        else:
            mask = padding_mask(attention_mask, batch, seq_len)
        hidden, all_hidden, all_attentions = self.encoder(hidden, mask, output_attentions, output_hidden_states)
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


@dataclass(repr=False, eq=False)
class ElectraForPreTrainingOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class ElectraForPreTraining(ElectraPreTrainedModel):
    """The discriminator: per token, the logit of "this token was replaced"."""

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.electra(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        logits = self.discriminator_predictions(body.last_hidden_state)
        loss = None
        if labels is not None:  # labels: 1 = replaced, 0 = original; padding does not count
            labels = labels.to(logits.device).float()
            if attention_mask is not None:
                active = attention_mask.to(logits.device).view(logits.shape) == 1
                loss = F.binary_cross_entropy_with_logits(logits[active], labels[active])
            else:
                loss = F.binary_cross_entropy_with_logits(logits, labels.view(logits.shape))
        return _finish(ElectraForPreTrainingOutput, return_dict, body, loss=loss, logits=logits)


class ElectraForMaskedLM(ElectraPreTrainedModel):
    """The generator: its vocabulary projection (``generator_lm_head``, with its own bias) is tied to the
    input embeddings, both ``embedding_size`` wide."""

    _tied_weights_keys = {"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"}

    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head = nn.Linear(config.embedding_size, config.vocab_size)
        self.post_init()

    def get_output_embeddings(self):
        return self.generator_lm_head

    def set_output_embeddings(self, new_embeddings):
        self.generator_lm_head = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.electra(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        logits = self.generator_lm_head(self.generator_predictions(body.last_hidden_state))
        loss = None
        if labels is not None:  # -100 marks the tokens that are not predicted
            loss = F.cross_entropy(logits.view(-1, self.config.vocab_size), labels.to(logits.device).view(-1))
        return _finish(MaskedLMOutput, return_dict, body, loss=loss, logits=logits)


class ElectraForSequenceClassification(ElectraPreTrainedModel):
    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = ElectraModel(config)
        self.classifier = ElectraClassificationHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.electra(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        logits = self.classifier(body.last_hidden_state)
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


class ElectraForMultipleChoice(ElectraPreTrainedModel):
    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.sequence_summary = ElectraSequenceSummary(config)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        body = self.electra(**_body_kwargs(
            _flatten_choices("input_ids", input_ids, 1), _flatten_choices("attention_mask", attention_mask, 1),
            _flatten_choices("token_type_ids", token_type_ids, 1), _flatten_choices("position_ids", position_ids, 1),
            _flatten_choices("inputs_embeds", inputs_embeds, 2), output_attentions, output_hidden_states))
        logits = self.classifier(self.sequence_summary(body.last_hidden_state)).view(-1, num_choices)
        loss = F.cross_entropy(logits, labels.to(logits.device)) if labels is not None else None
        return _finish(MultipleChoiceModelOutput, return_dict, body, loss=loss, logits=logits)


class ElectraForTokenClassification(ElectraPreTrainedModel):
    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = ElectraModel(config)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.electra(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(body.last_hidden_state))
        loss = None
        if labels is not None:  # -100 marks sub-word and special tokens
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        return _finish(TokenClassifierOutput, return_dict, body, loss=loss, logits=logits)


class ElectraForQuestionAnswering(ElectraPreTrainedModel):
    def __init__(self, config: ElectraConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.electra = ElectraModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.electra(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
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
    "base": ElectraModel,
    "pretraining": ElectraForPreTraining,
    "masked-lm": ElectraForMaskedLM,
    "sequence-classification": ElectraForSequenceClassification,
    "multiple-choice": ElectraForMultipleChoice,
    "token-classification": ElectraForTokenClassification,
    "question-answering": ElectraForQuestionAnswering,
}
