"""ModelOutput and the standard output shapes.

A ModelOutput is a dataclass that also behaves like an ordered dict and a tuple of its non-None
fields: ``out.logits == out["logits"] == out[0]`` (when there is no loss), as in the reference.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any

import torch

__all__ = [
    "ModelOutput", "BaseModelOutput", "BaseModelOutputWithPooling", "BaseModelOutputWithPast",
    "BaseModelOutputWithPoolingAndCrossAttentions", "MaskedLMOutput", "SequenceClassifierOutput",
    "TokenClassifierOutput", "QuestionAnsweringModelOutput", "MultipleChoiceModelOutput",
    "NextSentencePredictorOutput", "CausalLMOutputWithPast", "SequenceClassifierOutputWithPast",
    "BaseModelOutputWithPastAndCrossAttentions", "CausalLMOutputWithCrossAttentions", "Seq2SeqModelOutput",
    "Seq2SeqLMOutput", "Seq2SeqSequenceClassifierOutput", "Seq2SeqQuestionAnsweringModelOutput",
]


class ModelOutput(OrderedDict):
    """Base of all outputs. Subclasses are ``@dataclass``es whose fields default to None."""

    def __post_init__(self):
        # mirror the non-None dataclass fields into the dict, in field order
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                super().__setitem__(f.name, value)

    def __getitem__(self, key):
        if isinstance(key, str):
            return dict(self.items())[key]
        return self.to_tuple()[key]

    def __setattr__(self, name, value):
        if name in self.keys() and value is not None:
            super().__setitem__(name, value)
        super().__setattr__(name, value)

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        super().__setattr__(key, value)

    def __reduce__(self):
        # pickle/deepcopy through the dataclass constructor
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self[k] for k in self.keys())

    def __delitem__(self, *args, **kwargs):
        raise TypeError(f"You cannot use ``__delitem__`` on a {type(self).__name__} instance.")

    def setdefault(self, *args, **kwargs):
        raise TypeError(f"You cannot use ``setdefault`` on a {type(self).__name__} instance.")

    def pop(self, *args, **kwargs):
        raise TypeError(f"You cannot use ``pop`` on a {type(self).__name__} instance.")


Tensor = torch.Tensor
Tuple = tuple


@dataclass(repr=False, eq=False)
class BaseModelOutput(ModelOutput):
    last_hidden_state: Tensor | None = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: Tensor | None = None
    pooler_output: Tensor | None = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class BaseModelOutputWithPoolingAndCrossAttentions(ModelOutput):
    last_hidden_state: Tensor | None = None
    pooler_output: Tensor | None = None
    hidden_states: Tuple[Tensor, ...] | None = None
    past_key_values: Any = None
    attentions: Tuple[Tensor, ...] | None = None
    cross_attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class BaseModelOutputWithPast(ModelOutput):
    last_hidden_state: Tensor | None = None
    past_key_values: Any = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class MaskedLMOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class SequenceClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class TokenClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Tensor | None = None
    start_logits: Tensor | None = None
    end_logits: Tensor | None = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class MultipleChoiceModelOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class NextSentencePredictorOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class CausalLMOutputWithPast(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: Any = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class SequenceClassifierOutputWithPast(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: Any = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class BaseModelOutputWithPastAndCrossAttentions(ModelOutput):
    last_hidden_state: Tensor | None = None
    past_key_values: Any = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None
    cross_attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class CausalLMOutputWithCrossAttentions(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: Any = None
    hidden_states: Tuple[Tensor, ...] | None = None
    attentions: Tuple[Tensor, ...] | None = None
    cross_attentions: Tuple[Tensor, ...] | None = None


# Encoder-decoder outputs: the decoder's fields first, then the encoder's (the reference's order).
@dataclass(repr=False, eq=False)
class Seq2SeqModelOutput(ModelOutput):
    last_hidden_state: Tensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: Tuple[Tensor, ...] | None = None
    decoder_attentions: Tuple[Tensor, ...] | None = None
    cross_attentions: Tuple[Tensor, ...] | None = None
    encoder_last_hidden_state: Tensor | None = None
    encoder_hidden_states: Tuple[Tensor, ...] | None = None
    encoder_attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class Seq2SeqLMOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: Tuple[Tensor, ...] | None = None
    decoder_attentions: Tuple[Tensor, ...] | None = None
    cross_attentions: Tuple[Tensor, ...] | None = None
    encoder_last_hidden_state: Tensor | None = None
    encoder_hidden_states: Tuple[Tensor, ...] | None = None
    encoder_attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class Seq2SeqSequenceClassifierOutput(ModelOutput):
    loss: Tensor | None = None
    logits: Tensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: Tuple[Tensor, ...] | None = None
    decoder_attentions: Tuple[Tensor, ...] | None = None
    cross_attentions: Tuple[Tensor, ...] | None = None
    encoder_last_hidden_state: Tensor | None = None
    encoder_hidden_states: Tuple[Tensor, ...] | None = None
    encoder_attentions: Tuple[Tensor, ...] | None = None


@dataclass(repr=False, eq=False)
class Seq2SeqQuestionAnsweringModelOutput(ModelOutput):
    loss: Tensor | None = None
    start_logits: Tensor | None = None
    end_logits: Tensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: Tuple[Tensor, ...] | None = None
    decoder_attentions: Tuple[Tensor, ...] | None = None
    cross_attentions: Tuple[Tensor, ...] | None = None
    encoder_last_hidden_state: Tensor | None = None
    encoder_hidden_states: Tuple[Tensor, ...] | None = None
    encoder_attentions: Tuple[Tensor, ...] | None = None
