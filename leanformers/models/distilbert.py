"""DistilBERT (Sanh et al., 2019): BERT distilled to half the layers, without token types or pooler.

Module names mirror the checkpoint keys (``distilbert.transformer.layer.0.attention.q_lin``,
``vocab_transform``, ``vocab_projector``, ...), so loading is an identity map. The config keeps the
original names (``dim``, ``n_layers``, ``n_heads``) and answers to BERT's through ``attribute_map``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import PretrainedConfig
from ..layers import ACT2FN, check_input_ids, classification_loss, padding_mask, sdpa_attention, span_loss
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutput, MaskedLMOutput, MultipleChoiceModelOutput,
                       QuestionAnsweringModelOutput, SequenceClassifierOutput, TokenClassifierOutput)

__all__ = [
    "DistilBertConfig", "DistilBertPreTrainedModel", "DistilBertModel", "DistilBertForMaskedLM",
    "DistilBertForSequenceClassification", "DistilBertForMultipleChoice",
    "DistilBertForTokenClassification", "DistilBertForQuestionAnswering",
]


class DistilBertConfig(PretrainedConfig):
    model_type = "distilbert"
    attribute_map = {"hidden_size": "dim", "num_attention_heads": "n_heads", "num_hidden_layers": "n_layers"}

    def __init__(self, vocab_size=30522, max_position_embeddings=512, sinusoidal_pos_embds=False, n_layers=6,
                 n_heads=12, dim=768, hidden_dim=4 * 768, dropout=0.1, attention_dropout=0.1,
                 activation="gelu", initializer_range=0.02, qa_dropout=0.1, seq_classif_dropout=0.2,
                 pad_token_id=0, eos_token_id=None, bos_token_id=None, tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.sinusoidal_pos_embds = sinusoidal_pos_embds
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dim = dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation = activation
        self.initializer_range = initializer_range
        self.qa_dropout = qa_dropout
        self.seq_classif_dropout = seq_classif_dropout
        self.pad_token_id = pad_token_id
        self.eos_token_id = eos_token_id
        self.bos_token_id = bos_token_id
        self.tie_word_embeddings = tie_word_embeddings
        super().__init__(**kwargs)


def sinusoidal_positions(n_positions: int, dim: int) -> torch.Tensor:
    """The Transformer paper's fixed table: sin on even features, cos on odd, wavelength 10000^(2i/dim)."""
    position = torch.arange(n_positions, dtype=torch.float64)[:, None]
    exponent = (torch.arange(dim) // 2 * 2).to(torch.float64) / dim
    angles = position / torch.pow(10000.0, exponent)
    table = torch.empty(n_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()


# ---------------------------------------------------------------------------------------------
# layers


class Embeddings(nn.Module):
    """word + position embeddings, LayerNorm (eps 1e-12, fixed), dropout. No token types."""

    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        # _init_weights fills a sinusoidal table when the config asks for one
        self.position_embeddings.sinusoidal = bool(config.sinusoidal_pos_embds)
        self.LayerNorm = nn.LayerNorm(config.dim, eps=1e-12)
        self.dropout = nn.Dropout(config.dropout)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                             persistent=False)

    def forward(self, input_ids=None, inputs_embeds=None, position_ids=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:  # positions 0..n-1 for every row: broadcast, no gather
            embeddings = inputs_embeds + self.position_embeddings.weight[:inputs_embeds.shape[1]]
        else:
            embeddings = inputs_embeds + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class DistilBertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.dim % config.n_heads:
            raise ValueError(f"dim ({config.dim}) must be a multiple of n_heads ({config.n_heads}).")
        self.n_heads = config.n_heads
        self.head_dim = config.dim // config.n_heads
        self.q_lin = nn.Linear(config.dim, config.dim)
        self.k_lin = nn.Linear(config.dim, config.dim)
        self.v_lin = nn.Linear(config.dim, config.dim)
        self.out_lin = nn.Linear(config.dim, config.dim)
        self.dropout_prob = config.attention_dropout

    def forward(self, hidden_states, mask=None, output_attentions=False):
        batch, seq_len, _ = hidden_states.shape
        heads = (batch, seq_len, self.n_heads, self.head_dim)
        query = self.q_lin(hidden_states).view(heads).transpose(1, 2)
        key = self.k_lin(hidden_states).view(heads).transpose(1, 2)
        value = self.v_lin(hidden_states).view(heads).transpose(1, 2)
        context, weights = sdpa_attention(query, key, value, mask,
                                          dropout=self.dropout_prob if self.training else 0.0,
                                          need_weights=output_attentions)
        return self.out_lin(context.transpose(1, 2).reshape(batch, seq_len, -1)), weights


class FFN(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.lin1 = nn.Linear(config.dim, config.hidden_dim)
        self.lin2 = nn.Linear(config.hidden_dim, config.dim)
        self.activation = ACT2FN[config.activation]
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states):
        return self.dropout(self.lin2(self.activation(self.lin1(hidden_states))))


class TransformerBlock(nn.Module):
    """Post-norm block: attention + residual -> LayerNorm -> FFN + residual -> LayerNorm."""

    def __init__(self, config):
        super().__init__()
        self.attention = DistilBertSelfAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.ffn = FFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)

    def forward(self, hidden_states, mask=None, output_attentions=False):
        attention_output, weights = self.attention(hidden_states, mask, output_attentions)
        attention_output = self.sa_layer_norm(attention_output + hidden_states)
        return self.output_layer_norm(self.ffn(attention_output) + attention_output), weights


class Transformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))
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


# ---------------------------------------------------------------------------------------------
# models


class DistilBertPreTrainedModel(PreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    _keys_to_ignore_on_load_unexpected = [r"embeddings\.position_ids$"]

    def _init_weights(self, module):
        super()._init_weights(module)  # normal(0, initializer_range) / zeros / LayerNorm ones
        if isinstance(module, nn.Embedding) and getattr(module, "sinusoidal", False):
            with torch.no_grad():
                module.weight.copy_(sinusoidal_positions(*module.weight.shape))
        elif isinstance(module, Embeddings):
            module.position_ids.copy_(torch.arange(module.position_ids.shape[-1]).expand((1, -1)))

    def _outputs(self, output_attentions, output_hidden_states, return_dict):
        """Call-time flags, falling back to the config's, as the reference does."""
        config = self.config
        return (config.output_attentions if output_attentions is None else output_attentions,
                config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                config.use_return_dict if return_dict is None else return_dict)

    def get_position_embeddings(self) -> nn.Embedding:
        return self.base_model.embeddings.position_embeddings


class DistilBertModel(DistilBertPreTrainedModel):
    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.embeddings = Embeddings(config)
        self.transformer = Transformer(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        check_input_ids(input_ids, inputs_embeds)
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        batch, seq_len = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        if position_ids is None and seq_len > self.config.max_position_embeddings:
            raise ValueError(f"The input has {seq_len} tokens but this model handles at most "
                             f"max_position_embeddings={self.config.max_position_embeddings}. Truncate "
                             f"the input (tokenizer(..., truncation=True)).")
        hidden = self.embeddings(input_ids, inputs_embeds, position_ids)
        mask = padding_mask(attention_mask, batch, seq_len)
        hidden, all_hidden, all_attentions = self.transformer(hidden, mask, output_attentions,
                                                              output_hidden_states)
        out = BaseModelOutput(last_hidden_state=hidden, hidden_states=all_hidden, attentions=all_attentions)
        return out if return_dict else out.to_tuple()


def _body_kwargs(input_ids, attention_mask, inputs_embeds, position_ids, output_attentions,
                 output_hidden_states):
    return dict(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                position_ids=position_ids, output_attentions=output_attentions,
                output_hidden_states=output_hidden_states, return_dict=True)


def _finish(output_cls, return_dict, body, **fields):
    out = output_cls(**fields, hidden_states=body.hidden_states, attentions=body.attentions)
    return out if return_dict else out.to_tuple()


class DistilBertForMaskedLM(DistilBertPreTrainedModel):
    _tied_weights_keys = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.activation = ACT2FN[config.activation]
        self.distilbert = DistilBertModel(config)
        self.vocab_transform = nn.Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.vocab_projector = nn.Linear(config.dim, config.vocab_size)
        self.post_init()

    def get_output_embeddings(self):
        return self.vocab_projector

    def set_output_embeddings(self, new_embeddings):
        self.vocab_projector = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.distilbert(**_body_kwargs(input_ids, attention_mask, inputs_embeds, position_ids,
                                              output_attentions, output_hidden_states))
        hidden = self.vocab_layer_norm(self.activation(self.vocab_transform(body.last_hidden_state)))
        logits = self.vocab_projector(hidden)
        loss = None
        if labels is not None:  # -100 marks the tokens that are not predicted
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.to(logits.device).view(-1))
        return _finish(MaskedLMOutput, return_dict, body, loss=loss, logits=logits)


class DistilBertForSequenceClassification(DistilBertPreTrainedModel):
    """First token's hidden state -> pre_classifier -> ReLU -> dropout -> classifier."""

    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.seq_classif_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.distilbert(**_body_kwargs(input_ids, attention_mask, inputs_embeds, position_ids,
                                              output_attentions, output_hidden_states))
        pooled = F.relu(self.pre_classifier(body.last_hidden_state[:, 0]))
        logits = self.classifier(self.dropout(pooled))
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        return _finish(SequenceClassifierOutput, return_dict, body, loss=loss, logits=logits)


class DistilBertForQuestionAnswering(DistilBertPreTrainedModel):
    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        if config.num_labels != 2:
            raise ValueError(f"DistilBertForQuestionAnswering needs num_labels=2 (start and end logits), "
                             f"the config has {config.num_labels}.")
        self.distilbert = DistilBertModel(config)
        self.qa_outputs = nn.Linear(config.dim, config.num_labels)
        self.dropout = nn.Dropout(config.qa_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, start_positions=None,
                end_positions=None, position_ids=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.distilbert(**_body_kwargs(input_ids, attention_mask, inputs_embeds, position_ids,
                                              output_attentions, output_hidden_states))
        start_logits, end_logits = self.qa_outputs(self.dropout(body.last_hidden_state)).split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return _finish(QuestionAnsweringModelOutput, return_dict, body, loss=loss,
                       start_logits=start_logits, end_logits=end_logits)


class DistilBertForTokenClassification(DistilBertPreTrainedModel):
    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        body = self.distilbert(**_body_kwargs(input_ids, attention_mask, inputs_embeds, position_ids,
                                              output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(body.last_hidden_state))
        loss = None
        if labels is not None:  # -100 marks sub-word and special tokens
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        return _finish(TokenClassifierOutput, return_dict, body, loss=loss, logits=logits)


def _flatten_choices(name, tensor, trailing):
    """(batch, num_choices, seq[, hidden]) -> (batch * num_choices, seq[, hidden])."""
    if tensor is None:
        return None
    if tensor.dim() != 2 + trailing:
        raise ValueError(f"Multiple-choice models take {name} of shape (batch_size, num_choices, "
                         f"sequence_length{', hidden_size' if trailing == 2 else ''}), got "
                         f"{tuple(tensor.shape)}. Tokenize each choice and stack them along dim 1.")
    return tensor.reshape(-1, *tensor.shape[2:])


class DistilBertForMultipleChoice(DistilBertPreTrainedModel):
    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, 1)
        self.dropout = nn.Dropout(config.seq_classif_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, return_dict = self._outputs(
            output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        body = self.distilbert(**_body_kwargs(
            _flatten_choices("input_ids", input_ids, 1), _flatten_choices("attention_mask", attention_mask, 1),
            _flatten_choices("inputs_embeds", inputs_embeds, 2), _flatten_choices("position_ids", position_ids, 1),
            output_attentions, output_hidden_states))
        pooled = F.relu(self.pre_classifier(body.last_hidden_state[:, 0]))
        logits = self.classifier(self.dropout(pooled)).view(-1, num_choices)
        loss = F.cross_entropy(logits, labels.to(logits.device)) if labels is not None else None
        return _finish(MultipleChoiceModelOutput, return_dict, body, loss=loss, logits=logits)


TASKS = {
    "base": DistilBertModel,
    "masked-lm": DistilBertForMaskedLM,
    "sequence-classification": DistilBertForSequenceClassification,
    "multiple-choice": DistilBertForMultipleChoice,
    "token-classification": DistilBertForTokenClassification,
    "question-answering": DistilBertForQuestionAnswering,
}
