"""What generate() returns with ``return_dict_in_generate=True`` (the reference's four classes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..outputs import ModelOutput

__all__ = ["GenerateDecoderOnlyOutput", "GenerateBeamDecoderOnlyOutput", "GenerateEncoderDecoderOutput",
           "GenerateBeamEncoderDecoderOutput", "collect_step_outputs", "dict_output"]


class _WithCache:
    @property
    def cache(self):  # the reference's v5 name
        return self.past_key_values


@dataclass(repr=False, eq=False)
class GenerateDecoderOnlyOutput(_WithCache, ModelOutput):
    """Greedy decoding and sampling of a decoder-only model."""

    sequences: torch.LongTensor | None = None
    scores: tuple | None = None  # processed scores per step, (batch, vocab) each
    logits: tuple | None = None  # raw logits per step
    attentions: tuple | None = None
    hidden_states: tuple | None = None
    past_key_values: Any = None


@dataclass(repr=False, eq=False)
class GenerateBeamDecoderOnlyOutput(_WithCache, ModelOutput):
    """Beam search of a decoder-only model."""

    sequences: torch.LongTensor | None = None
    sequences_scores: torch.Tensor | None = None
    scores: tuple | None = None
    logits: tuple | None = None
    beam_indices: torch.LongTensor | None = None
    attentions: tuple | None = None
    hidden_states: tuple | None = None
    past_key_values: Any = None


@dataclass(repr=False, eq=False)
class GenerateEncoderDecoderOutput(_WithCache, ModelOutput):
    """Greedy decoding and sampling of an encoder-decoder model (``sequences`` are decoder ids)."""

    sequences: torch.LongTensor | None = None
    scores: tuple | None = None
    logits: tuple | None = None
    encoder_attentions: tuple | None = None
    encoder_hidden_states: tuple | None = None
    decoder_attentions: tuple | None = None
    cross_attentions: tuple | None = None
    decoder_hidden_states: tuple | None = None
    past_key_values: Any = None


@dataclass(repr=False, eq=False)
class GenerateBeamEncoderDecoderOutput(_WithCache, ModelOutput):
    """Beam search of an encoder-decoder model."""

    sequences: torch.LongTensor | None = None
    sequences_scores: torch.Tensor | None = None
    scores: tuple | None = None
    logits: tuple | None = None
    beam_indices: torch.LongTensor | None = None
    encoder_attentions: tuple | None = None
    encoder_hidden_states: tuple | None = None
    decoder_attentions: tuple | None = None
    cross_attentions: tuple | None = None
    decoder_hidden_states: tuple | None = None
    past_key_values: Any = None


def collect_step_outputs(out, is_encoder_decoder):
    """The per-step attentions / hidden states of a model output, under generate()'s names."""
    if is_encoder_decoder:
        return {"decoder_attentions": out.get("decoder_attentions"), "cross_attentions": out.get("cross_attentions"),
                "decoder_hidden_states": out.get("decoder_hidden_states")}
    return {"attentions": out.get("attentions"), "hidden_states": out.get("hidden_states")}


def dict_output(state, sequences, scores, logits, extra_out, beam):
    """The ``return_dict_in_generate`` result; ``beam``: (sequences_scores, beam_indices) or None."""
    per_step = {}
    for name in (extra_out[0] if extra_out else ()):
        values = tuple(step[name] for step in extra_out)
        per_step[name] = values if any(v is not None for v in values) else None
    common = dict(sequences=sequences, scores=tuple(scores) if scores is not None else None,
                  logits=tuple(logits) if logits is not None else None,
                  past_key_values=state.cache if state.use_cache else None, **per_step)
    if beam is not None:
        common.update(sequences_scores=beam[0], beam_indices=beam[1])
    if state.is_encoder_decoder:
        encoder = state.encoder_outputs
        cls = GenerateBeamEncoderDecoderOutput if beam is not None else GenerateEncoderDecoderOutput
        return cls(encoder_attentions=encoder.attentions, encoder_hidden_states=encoder.hidden_states, **common)
    cls = GenerateBeamDecoderOnlyOutput if beam is not None else GenerateDecoderOnlyOutput
    return cls(**common)
