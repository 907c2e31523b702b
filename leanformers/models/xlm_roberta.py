"""XLM-RoBERTa (Conneau et al., 2020): RoBERTa's architecture trained on 100 languages.

The layers are RoBERTa's (a copy of models/roberta.py, as model files never import each other); only
the model_type, the class names, the default vocabulary size and the tokenizer (SentencePiece Unigram in
fairseq's id layout) differ. As in RoBERTa, positions count only
non-padding tokens and start after ``pad_token_id`` (fairseq's ``make_positions``), so a padded row gets
the same positions as the row alone. Module names mirror the checkpoint keys (``roberta.*``,
``lm_head.dense/layer_norm/decoder``, ``classifier.dense/out_proj``): loading is an identity map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import PretrainedConfig
from ..layers import (ACT2FN, causal_padding_mask, check_input_ids, classification_loss, padding_mask, sdpa_attention,
                      span_loss)
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutputWithPoolingAndCrossAttentions, MaskedLMOutput,
                       MultipleChoiceModelOutput, QuestionAnsweringModelOutput, SequenceClassifierOutput,
                       TokenClassifierOutput)

__all__ = [
    "XLMRobertaConfig", "XLMRobertaPreTrainedModel", "XLMRobertaModel", "XLMRobertaForMaskedLM",
    "XLMRobertaForSequenceClassification", "XLMRobertaForMultipleChoice", "XLMRobertaForTokenClassification",
    "XLMRobertaForQuestionAnswering", "create_position_ids_from_input_ids",
]


class XLMRobertaConfig(PretrainedConfig):
    model_type = "xlm-roberta"

    def __init__(self, vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                 initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=1, bos_token_id=0,
                 eos_token_id=2, use_cache=True, classifier_dropout=None, is_decoder=False,
                 add_cross_attention=False, tie_word_embeddings=True, **kwargs):
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
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.use_cache = use_cache
        self.classifier_dropout = classifier_dropout
        self.is_decoder = is_decoder
        self.add_cross_attention = add_cross_attention
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
        raise ValueError("add_cross_attention=True (RoBERTa as a seq2seq decoder) is not supported; "
                         "leanformers' RoBERTa is an encoder, or a causal decoder with is_decoder=True.")


def create_position_ids_from_input_ids(input_ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """Non-padding tokens get positions padding_idx+1, padding_idx+2, ...; padding gets padding_idx."""
    not_pad = input_ids.ne(padding_idx).int()
    return (torch.cumsum(not_pad, dim=1).type_as(not_pad) * not_pad).long() + padding_idx


# ---------------------------------------------------------------------------------------------
# layers


class XLMRobertaEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.padding_idx = config.pad_token_id
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                             persistent=False)
        self.register_buffer("token_type_ids", torch.zeros(1, config.max_position_embeddings, dtype=torch.long),
                             persistent=False)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size,
                                                padding_idx=config.pad_token_id)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if token_type_ids is None:  # all type 0: one row, broadcast
            embeddings = inputs_embeds + self.token_type_embeddings.weight[0]
        else:
            embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if position_ids is not None:
            embeddings = embeddings + self.position_embeddings(position_ids)
        elif input_ids is not None:
            position_ids = create_position_ids_from_input_ids(input_ids, self.padding_idx)
            embeddings = embeddings + self.position_embeddings(position_ids)
        else:
            # embeddings alone do not say which tokens are padding: positions are sequential
            start = self.padding_idx + 1
            embeddings = embeddings + self.position_embeddings.weight[start:start + inputs_embeds.shape[1]]
        return self.dropout(self.LayerNorm(embeddings))


class XLMRobertaSelfAttention(nn.Module):
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


class XLMRobertaSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class XLMRobertaAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = XLMRobertaSelfAttention(config)
        self.output = XLMRobertaSelfOutput(config)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        context, weights = self.self(hidden_states, mask, output_attentions)
        return self.output(context, hidden_states), weights


class XLMRobertaIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class XLMRobertaOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class XLMRobertaLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = XLMRobertaAttention(config)
        self.intermediate = XLMRobertaIntermediate(config)
        self.output = XLMRobertaOutput(config)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        attention_output, weights = self.attention(hidden_states, mask, output_attentions)
        return self.output(self.intermediate(attention_output), attention_output), weights


class XLMRobertaEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(XLMRobertaLayer(config) for _ in range(config.num_hidden_layers))
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


class XLMRobertaPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class XLMRobertaLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> vocabulary projection. ``decoder.weight`` is tied to the input
    embeddings and ``decoder.bias`` *is* ``bias`` (checkpoints store it under ``lm_head.bias``)."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, features):
        return self.decoder(self.layer_norm(F.gelu(self.dense(features))))


class XLMRobertaClassificationHead(nn.Module):
    """<s> token -> dropout -> dense -> tanh -> dropout -> out_proj."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, features):
        x = self.dropout(features[:, 0])
        x = self.dropout(torch.tanh(self.dense(x)))
        return self.out_proj(x)


def _classifier_dropout(config):
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


# ---------------------------------------------------------------------------------------------
# models


class XLMRobertaPreTrainedModel(PreTrainedModel):
    config_class = XLMRobertaConfig
    base_model_prefix = "roberta"
    _keys_to_ignore_on_load_unexpected = [r"embeddings\.position_ids$", r"embeddings\.token_type_ids$"]

    def _init_weights(self, module):
        super()._init_weights(module)  # normal(0, initializer_range) / zeros / LayerNorm ones
        if isinstance(module, XLMRobertaLMHead):
            module.bias.data.zero_()
        elif isinstance(module, XLMRobertaEmbeddings):
            module.position_ids.copy_(torch.arange(module.position_ids.shape[-1]).expand((1, -1)))
            module.token_type_ids.zero_()

    @classmethod
    def sanitize(cls, state_dict):
        state_dict = super().sanitize(state_dict)
        # Some checkpoints hold the LM bias only as ``decoder.bias``; it is the same tensor as ``lm_head.bias``.
        if "lm_head.decoder.bias" in state_dict and "lm_head.bias" not in state_dict:
            state_dict = dict(state_dict, **{"lm_head.bias": state_dict["lm_head.decoder.bias"]})
        return state_dict

    def _outputs(self, output_attentions, output_hidden_states, return_dict):
        """Call-time flags, falling back to the config's, as the reference does."""
        config = self.config
        return (config.output_attentions if output_attentions is None else output_attentions,
                config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                config.use_return_dict if return_dict is None else return_dict)


class XLMRobertaModel(XLMRobertaPreTrainedModel):
    def __init__(self, config: XLMRobertaConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        _check_config(config)
        self.embeddings = XLMRobertaEmbeddings(config)
        self.encoder = XLMRobertaEncoder(config)
        self.pooler = XLMRobertaPooler(config) if add_pooling_layer else None
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
        limit = self.config.max_position_embeddings - self.config.pad_token_id - 1
        if position_ids is None and seq_len > limit:
            raise ValueError(f"The input has {seq_len} tokens but this model handles at most {limit} "
                             f"(max_position_embeddings={self.config.max_position_embeddings}, and "
                             f"positions start after pad_token_id={self.config.pad_token_id}). Truncate "
                             f"the input (tokenizer(..., truncation=True)).")
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        if self.config.is_decoder:
            mask = causal_padding_mask(attention_mask, seq_len, seq_len, hidden.device)
        else:
            mask = padding_mask(attention_mask, batch, seq_len)
        hidden, all_hidden, all_attentions = self.encoder(hidden, mask, output_attentions, output_hidden_states)
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


class XLMRobertaForMaskedLM(XLMRobertaPreTrainedModel):
    _tied_weights_keys = {
        "lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight",
        "lm_head.decoder.bias": "lm_head.bias",
    }

    def __init__(self, config: XLMRobertaConfig):
        super().__init__(config)
        self.roberta = XLMRobertaModel(config, add_pooling_layer=False)
        self.lm_head = XLMRobertaLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.lm_head.decoder = new_embeddings
        self.lm_head.bias = new_embeddings.bias

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.roberta(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        logits = self.lm_head(body.last_hidden_state)
        loss = None
        if labels is not None:  # -100 marks the tokens that are not predicted
            loss = F.cross_entropy(logits.view(-1, self.config.vocab_size), labels.to(logits.device).view(-1))
        return _finish(MaskedLMOutput, return_dict, body, loss=loss, logits=logits)


class XLMRobertaForSequenceClassification(XLMRobertaPreTrainedModel):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.roberta = XLMRobertaModel(config, add_pooling_layer=False)
        self.classifier = XLMRobertaClassificationHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.roberta(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
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


class XLMRobertaForMultipleChoice(XLMRobertaPreTrainedModel):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__(config)
        self.roberta = XLMRobertaModel(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, token_type_ids=None, attention_mask=None, labels=None, position_ids=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        body = self.roberta(**_body_kwargs(
            _flatten_choices("input_ids", input_ids, 1), _flatten_choices("attention_mask", attention_mask, 1),
            _flatten_choices("token_type_ids", token_type_ids, 1), _flatten_choices("position_ids", position_ids, 1),
            _flatten_choices("inputs_embeds", inputs_embeds, 2), output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(body.pooler_output)).view(-1, num_choices)
        loss = F.cross_entropy(logits, labels.to(logits.device)) if labels is not None else None
        return _finish(MultipleChoiceModelOutput, return_dict, body, loss=loss, logits=logits)


class XLMRobertaForTokenClassification(XLMRobertaPreTrainedModel):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.roberta = XLMRobertaModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.roberta(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
                                           inputs_embeds, output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(body.last_hidden_state))
        loss = None
        if labels is not None:  # -100 marks sub-word and special tokens
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        return _finish(TokenClassifierOutput, return_dict, body, loss=loss, logits=logits)


class XLMRobertaForQuestionAnswering(XLMRobertaPreTrainedModel):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.roberta = XLMRobertaModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.roberta(**_body_kwargs(input_ids, attention_mask, token_type_ids, position_ids,
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
    "base": XLMRobertaModel,
    "masked-lm": XLMRobertaForMaskedLM,
    "sequence-classification": XLMRobertaForSequenceClassification,
    "multiple-choice": XLMRobertaForMultipleChoice,
    "token-classification": XLMRobertaForTokenClassification,
    "question-answering": XLMRobertaForQuestionAnswering,
}
