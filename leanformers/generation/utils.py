"""generate(): greedy decoding, sampling and beam search for causal language models.

The model contract is in docs/internals.md ("Generation contract"). The decoding loop is written
for speed on small batches, where per-step overhead matters as much as the matmuls:

- the output sequences, the attention mask and the position ids live in buffers of the final
  length, allocated once; each step writes one column and passes views (no ``torch.cat``);
- the KV cache is preallocated to the final length after the prompt (``DynamicCache.reserve``),
  or is a ``StaticCache`` with ``cache_implementation="static"``;
- the LM head runs on the last position only (``logits_to_keep=1``);
- the projections multiply through kernels and weight layouts chosen for a few rows
  (``leanformers.projections.decoding``);
- the only host/device sync per step is the "is every row finished?" check, and only when an
  eos token can end rows early.

Results follow the reference's algorithms step for step (processor order, beam bookkeeping,
``torch.multinomial`` on the same probabilities), so tokens match it for the same inputs and seed.
"""

from __future__ import annotations

import copy
import inspect
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from ..cache import Cache, DynamicCache, StaticCache
from ..outputs import ModelOutput
from ..projections import decoding
from .config import GenerationConfig
from .logits_process import (
    InfNanRemoveLogitsProcessor, LogitNormalization, LogitsProcessorList, MinLengthLogitsProcessor,
    MinNewTokensLengthLogitsProcessor, MinPLogitsWarper, NoBadWordsLogitsProcessor,
    NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor, SequenceBiasLogitsProcessor,
    SuppressTokensLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
    TypicalLogitsWarper,
)
from .stopping import (
    EosTokenCriteria, MaxLengthCriteria, MaxTimeCriteria, StoppingCriteriaList, StopStringCriteria,
)

__all__ = ["generate", "GenerateDecoderOnlyOutput", "GenerateBeamDecoderOnlyOutput"]

logger = logging.getLogger("leanformers")


@dataclass(repr=False, eq=False)
class GenerateDecoderOnlyOutput(ModelOutput):
    """What greedy decoding and sampling return with ``return_dict_in_generate=True``."""

    sequences: torch.LongTensor | None = None
    scores: tuple | None = None  # processed scores per step, (batch, vocab) each
    logits: tuple | None = None  # raw logits per step
    attentions: tuple | None = None
    hidden_states: tuple | None = None
    past_key_values: Any = None

    @property
    def cache(self):  # the reference's v5 name
        return self.past_key_values


@dataclass(repr=False, eq=False)
class GenerateBeamDecoderOnlyOutput(ModelOutput):
    """What beam search returns with ``return_dict_in_generate=True``."""

    sequences: torch.LongTensor | None = None
    sequences_scores: torch.Tensor | None = None
    scores: tuple | None = None
    logits: tuple | None = None
    beam_indices: torch.LongTensor | None = None
    attentions: tuple | None = None
    hidden_states: tuple | None = None
    past_key_values: Any = None

    @property
    def cache(self):
        return self.past_key_values


# Keyword arguments generate() understands besides GenerationConfig fields.
_GENERATE_KWARGS = {"attention_mask", "input_ids", "past_key_values", "cache", "position_ids", "tokenizer",
                    "inputs_embeds", "token_type_ids", "use_model_defaults", "logits_to_keep",
                    "assistant_tokenizer"}
_FORWARD_PARAMS: dict[type, set] = {}


def _forward_params(model) -> set:
    cls = type(model)
    if cls not in _FORWARD_PARAMS:
        _FORWARD_PARAMS[cls] = set(inspect.signature(model.forward).parameters)
    return _FORWARD_PARAMS[cls]


def _context_length(config) -> int | None:
    for name in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def _prepare_config(model, generation_config, kwargs):
    """The reference's precedence: generate() kwargs > generation_config argument > the model's
    generation_config > global defaults (applied later through ``GenerationConfig.get``)."""
    model_config = model.generation_config
    if model_config is None:
        model_config = GenerationConfig.from_model_config(model.config)
    has_default_max_length = (kwargs.get("max_length") is None and model_config.max_length is None and
                              (generation_config is None or generation_config.max_length is None))
    if generation_config is not None and not isinstance(generation_config, GenerationConfig):
        raise TypeError(f"generation_config must be a GenerationConfig, not {type(generation_config).__name__}.")
    config = copy.deepcopy(generation_config) if generation_config is not None else GenerationConfig()
    for key, value in model_config.to_dict().items():
        if value is not None and getattr(config, key, None) is None:
            setattr(config, key, value)
    model_kwargs = config.update(**kwargs)
    return config, model_kwargs, has_default_max_length


def _token_list(value) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.reshape(-1).tolist()]
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def _build_processors(config, user_processors, prompt_length, padding_lengths, eos, device):
    """Logits processors in the reference's order; user processors follow the built-in ones."""
    get = config.get
    processors = LogitsProcessorList()
    if config.sequence_bias is not None:
        processors.append(SequenceBiasLogitsProcessor(config.sequence_bias))
    if get("repetition_penalty") != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(float(get("repetition_penalty")),
                                                           prompt_ignore_length=padding_lengths))
    if get("no_repeat_ngram_size") > 0:
        processors.append(NoRepeatNGramLogitsProcessor(get("no_repeat_ngram_size")))
    if config.bad_words_ids is not None:
        processors.append(NoBadWordsLogitsProcessor(config.bad_words_ids, eos))
    if eos is not None and get("min_length") > 0:
        processors.append(MinLengthLogitsProcessor(get("min_length"), eos, device=device))
    if eos is not None and config.min_new_tokens:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_length, config.min_new_tokens, eos, device=device))
    if get("remove_invalid_values"):
        processors.append(InfNanRemoveLogitsProcessor())
    if config.suppress_tokens is not None:
        processors.append(SuppressTokensLogitsProcessor(config.suppress_tokens, device=device))
    for processor in user_processors or ():
        built_in = next((p for p in processors if type(p) is type(processor)), None)
        if built_in is not None:
            raise ValueError(f"A {type(processor).__name__} is both passed to generate() and made from the "
                             f"generation config; pass it one way only.")
        processors.append(processor)
    if get("do_sample"):
        # beam sampling must keep a non-eos token alive in every beam
        keep = (len(eos) + 1 if eos else 2) if get("num_beams") > 1 else 1
        if get("temperature") != 1.0:
            processors.append(TemperatureLogitsWarper(float(get("temperature"))))
        if get("top_k") != 0:
            processors.append(TopKLogitsWarper(get("top_k"), min_tokens_to_keep=keep))
        if get("top_p") < 1.0:
            processors.append(TopPLogitsWarper(get("top_p"), min_tokens_to_keep=keep))
        if config.min_p is not None:
            processors.append(MinPLogitsWarper(config.min_p, min_tokens_to_keep=keep))
        if get("typical_p") < 1.0:
            processors.append(TypicalLogitsWarper(get("typical_p"), min_tokens_to_keep=keep))
    if config.renormalize_logits:
        processors.append(LogitNormalization())
    return processors


def _build_stopping(config, user_criteria, max_length, context, eos, tokenizer):
    criteria = StoppingCriteriaList([MaxLengthCriteria(max_length, context)])
    if config.max_time is not None:
        criteria.append(MaxTimeCriteria(config.max_time))
    if config.stop_strings is not None:
        if tokenizer is None:
            raise ValueError("stop_strings need the tokenizer to read tokens as text: call "
                             "generate(..., stop_strings=..., tokenizer=tokenizer).")
        criteria.append(StopStringCriteria(tokenizer, config.stop_strings))
    if eos is not None:
        criteria.append(EosTokenCriteria(eos))
    for criterion in user_criteria or ():
        if any(type(c) is type(criterion) for c in criteria):
            raise ValueError(f"A {type(criterion).__name__} is both passed to generate() and made from the "
                             f"generation config; pass it one way only.")
        criteria.append(criterion)
    return criteria


class _Inputs:
    """The per-row tensors of a generation call, in buffers of the final length."""

    def __init__(self, input_ids, attention_mask, max_length, pad_value):
        batch, length = input_ids.shape
        device = input_ids.device
        self.sequences = torch.full((batch, max_length), pad_value, dtype=torch.long, device=device)
        self.sequences[:, :length] = input_ids
        self.padded = attention_mask is not None and not bool(attention_mask.all())
        self.mask = None
        if self.padded:
            self.mask = torch.ones((batch, max_length), dtype=attention_mask.dtype, device=device)
            self.mask[:, :length] = attention_mask
            prompt_positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
            start = prompt_positions[:, -1:] + 1
            new_positions = start + torch.arange(max_length - length, device=device)[None, :]
            self.positions = torch.cat([prompt_positions, new_positions], dim=1)
        else:
            self.positions = torch.arange(max_length, device=device)[None, :].expand(batch, -1)
        self.cache_positions = torch.arange(max_length, device=device)

    def step_inputs(self, start: int, end: int) -> dict:
        return {"attention_mask": None if self.mask is None else self.mask[:, :end],
                "position_ids": self.positions[:, start:end],
                "cache_position": self.cache_positions[start:end]}


def _call_model(model, params, input_ids, inputs: _Inputs, start, end, cache, use_cache, extra):
    kwargs = inputs.step_inputs(start, end)
    kwargs = {k: v for k, v in kwargs.items() if k in params}
    if "logits_to_keep" in params:
        kwargs["logits_to_keep"] = 1
    if use_cache:
        kwargs["past_key_values"] = cache
    return model(input_ids=input_ids, use_cache=use_cache, return_dict=True, **kwargs, **extra)


@torch.no_grad()
def generate(model, inputs: torch.Tensor | None = None, generation_config: GenerationConfig | None = None,
             logits_processor=None, stopping_criteria=None, prefix_allowed_tokens_fn=None, synced_gpus=None,
             assistant_model=None, streamer=None, negative_prompt_ids=None,
             negative_prompt_attention_mask=None, **kwargs):
    """Generate token ids after ``inputs`` (``input_ids``, left-padded when batched).

    Returns a LongTensor (batch * num_return_sequences, length) holding the prompt and the new
    tokens, or a ``GenerateDecoderOnlyOutput`` / ``GenerateBeamDecoderOnlyOutput`` with
    ``return_dict_in_generate=True``. Keyword arguments are GenerationConfig fields (max_new_tokens,
    do_sample, num_beams, ...) or model inputs (attention_mask, past_key_values, tokenizer).
    """
    for name, value in (("prefix_allowed_tokens_fn", prefix_allowed_tokens_fn),
                        ("assistant_model", assistant_model), ("negative_prompt_ids", negative_prompt_ids)):
        if value is not None:
            raise NotImplementedError(f"generate(..., {name}=...) is not supported by leanformers.")
    config, model_kwargs, has_default_max_length = _prepare_config(model, generation_config, kwargs)
    get = config.get
    params = _forward_params(model)
    unknown = [k for k in model_kwargs if k not in _GENERATE_KWARGS and k not in params]
    if unknown:
        raise ValueError(f"generate() got arguments that are neither generation options nor inputs of "
                         f"{type(model).__name__}.forward: {unknown} (check for typos).")
    tokenizer = model_kwargs.pop("tokenizer", None)
    model_kwargs.pop("assistant_tokenizer", None)
    model_kwargs.pop("use_model_defaults", None)
    model_kwargs.pop("logits_to_keep", None)

    # ---- inputs ---------------------------------------------------------------------------------
    input_ids = inputs if inputs is not None else model_kwargs.pop("input_ids", None)
    model_kwargs.pop("input_ids", None)
    if model_kwargs.pop("inputs_embeds", None) is not None:
        raise NotImplementedError("generate(inputs_embeds=...) is not supported by leanformers; pass input_ids.")
    device = model.device
    bos = get("bos_token_id")
    if input_ids is None:
        if bos is None:
            raise ValueError("Pass input_ids to generate() (the model has no bos_token_id to start from).")
        input_ids = torch.full((1, 1), bos, dtype=torch.long, device=device)
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor, not {type(input_ids).__name__}. Call the "
                        f"tokenizer with return_tensors='pt'.")
    if input_ids.dim() != 2:
        hint = " Add a batch dimension: input_ids.unsqueeze(0)." if input_ids.dim() == 1 else ""
        raise ValueError(f"input_ids must be 2-D (batch_size, sequence_length), got shape "
                         f"{tuple(input_ids.shape)}.{hint}")
    input_ids = input_ids.to(device)
    batch_size, prompt_length = input_ids.shape

    eos = _token_list(get("eos_token_id"))
    pad = get("pad_token_id")
    if pad is None and eos:
        pad = eos[0]  # open-ended generation: finished rows are filled with eos
    attention_mask = model_kwargs.pop("attention_mask", None)
    if attention_mask is not None:
        if attention_mask.dim() != 2 or attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask must be 2-D and shaped like input_ids {tuple(input_ids.shape)}, "
                             f"got {tuple(attention_mask.shape)}.")
        attention_mask = attention_mask.to(device)
    elif pad is not None and not (eos and pad in eos) and bool((input_ids == pad).any()):
        attention_mask = (input_ids != pad).long()  # infer the padding, as the reference does
    if pad is not None and batch_size > 1:
        right_padded = (bool((attention_mask[:, -1] == 0).any()) if attention_mask is not None
                        else bool((input_ids[:, -1] == pad).any()))
        if right_padded:
            logger.warning("A decoder-only model got right-padded inputs: generated text will be wrong. "
                           "Pad on the left: tokenizer.padding_side = 'left'.")

    # ---- lengths --------------------------------------------------------------------------------
    context = _context_length(model.config)
    if context is not None and prompt_length > context:
        raise ValueError(f"The prompt is {prompt_length} tokens long, but this model reads at most {context} "
                         f"tokens (config.max_position_embeddings). Shorten the prompt, e.g. tokenize with "
                         f"truncation=True, max_length={context} (minus the tokens you want to generate).")
    if config.max_new_tokens is not None:
        max_length = config.max_new_tokens + prompt_length
    elif has_default_max_length:
        max_length = get("max_length") + prompt_length
        if context is not None:
            max_length = min(max_length, context)
        warnings.warn(f"Using the default max_length (={max_length}) to end generation; set max_new_tokens "
                      f"to choose how many tokens to generate.", UserWarning)
    else:
        max_length = config.max_length
    if prompt_length >= max_length:
        raise ValueError(f"The prompt is {prompt_length} tokens long but max_length is {max_length}: nothing "
                         f"would be generated. Set max_new_tokens (the number of tokens to add) instead.")
    config.max_length = max_length
    if config.min_new_tokens is not None:
        config.min_length = config.min_new_tokens + prompt_length

    num_beams, num_return = get("num_beams"), get("num_return_sequences")
    do_sample = get("do_sample")
    if num_return > 1 and num_beams == 1 and not do_sample:
        raise ValueError(f"Greedy decoding gives one sequence per prompt, so num_return_sequences must be 1 "
                         f"(got {num_return}); use do_sample=True or num_beams >= {num_return}.")
    if num_beams > 1 and num_return > num_beams:
        raise ValueError(f"num_return_sequences ({num_return}) cannot exceed num_beams ({num_beams}).")
    if streamer is not None and (num_beams > 1 or batch_size * num_return > 1):
        raise ValueError("A streamer shows one sequence: use batch size 1, num_beams=1, num_return_sequences=1.")

    # ---- cache ----------------------------------------------------------------------------------
    use_cache = model_kwargs.pop("use_cache", None)
    use_cache = get("use_cache") if use_cache is None else use_cache
    cache = model_kwargs.pop("past_key_values", None)
    cache = model_kwargs.pop("cache", None) if cache is None else cache
    if isinstance(cache, (tuple, list)):
        cache = DynamicCache.from_legacy_cache(cache)
    if cache is not None and not isinstance(cache, Cache):
        raise TypeError(f"past_key_values must be a leanformers Cache (DynamicCache, StaticCache), not "
                        f"{type(cache).__name__}.")
    model_kwargs.pop("position_ids", None)  # derived from the attention mask, as the reference does
    expand = max(num_beams, num_return)
    if expand > 1:
        input_ids = input_ids.repeat_interleave(expand, dim=0)
        if attention_mask is not None:
            attention_mask = attention_mask.repeat_interleave(expand, dim=0)
        model_kwargs = {k: (v.repeat_interleave(expand, dim=0) if isinstance(v, torch.Tensor) else v)
                        for k, v in model_kwargs.items()}
    rows = input_ids.shape[0]
    if cache is None and use_cache:
        if config.cache_implementation == "static":
            cache = StaticCache(model.config, max_batch_size=rows, max_cache_len=max_length,
                                device=device, dtype=model.dtype)
        else:
            cache = DynamicCache()
    past_length = cache.get_seq_length() if cache is not None else 0
    if past_length >= prompt_length:
        raise ValueError(f"past_key_values already holds {past_length} tokens but input_ids has only "
                         f"{prompt_length}: pass the whole sequence so far (cached tokens included).")

    # ---- processors and criteria ----------------------------------------------------------------
    padding_lengths = None
    if attention_mask is not None and not bool(attention_mask.all()):
        padding_lengths = (attention_mask != 0).int().argmax(dim=1)
    processors = _build_processors(config, logits_processor, prompt_length, padding_lengths, eos, device)
    criteria = _build_stopping(config, stopping_criteria, max_length, context, eos, tokenizer)
    # MaxLength and eos can be checked inline, without building (batch,) tensors each step
    simple_stop = all(isinstance(c, (MaxLengthCriteria, EosTokenCriteria)) for c in criteria)

    state = _Inputs(input_ids, attention_mask, max_length,
                    pad if pad is not None else 0)
    run = dict(model=model, params=params, config=config, inputs=state, cache=cache, use_cache=use_cache,
               prompt_length=prompt_length, past_length=past_length, max_length=max_length,
               processors=processors, criteria=criteria, simple_stop=simple_stop, eos=eos, pad=pad,
               extra=model_kwargs)
    # the steps multiply `rows` rows by every weight: let the projections use their decoding kernels
    with decoding(rows):
        if num_beams > 1:
            from .beam_search import beam_search

            return beam_search(batch_size=batch_size, num_beams=num_beams, **run)
        return _greedy_or_sample(streamer=streamer, do_sample=do_sample, **run)


def _greedy_or_sample(*, model, params, config, inputs, cache, use_cache, prompt_length, past_length,
                      max_length, processors, criteria, simple_stop, eos, pad, extra, streamer, do_sample):
    get = config.get
    want_dict = get("return_dict_in_generate")
    keep_scores = want_dict and get("output_scores")
    keep_logits = want_dict and get("output_logits")
    keep_attn = want_dict and get("output_attentions")
    keep_hidden = want_dict and get("output_hidden_states")
    scores_out, logits_out, attn_out, hidden_out = [], [], [], []
    if keep_attn:
        extra = {**extra, "output_attentions": True}
    if keep_hidden:
        extra = {**extra, "output_hidden_states": True}

    seq = inputs.sequences
    rows = seq.shape[0]
    eos_tensor = torch.tensor(eos, device=seq.device) if eos else None
    pad_tensor = torch.tensor(pad if pad is not None else 0, device=seq.device)
    unfinished = torch.ones(rows, dtype=torch.bool, device=seq.device)
    if streamer is not None:
        streamer.put(seq[:, :prompt_length].cpu())

    cur = prompt_length
    if use_cache:
        out = _call_model(model, params, seq[:, past_length:cur], inputs, past_length, cur, cache, True, extra)
        cache = out.past_key_values if out.past_key_values is not None else cache
        if isinstance(cache, DynamicCache):
            cache.reserve(max_length)
    else:
        out = _call_model(model, params, seq[:, :cur], inputs, 0, cur, None, False, extra)
    step_extra = {k: (v[:, -1:] if k == "token_type_ids" else v) for k, v in extra.items()
                  if k in ("token_type_ids", "output_attentions", "output_hidden_states")}
    if "token_type_ids" in extra:
        token_types = torch.cat([extra["token_type_ids"],
                                 extra["token_type_ids"][:, -1:].expand(-1, max_length - prompt_length)], dim=1)

    while True:
        logits = out.logits[:, -1, :].float()
        scores = processors(seq[:, :cur], logits) if processors else logits
        if keep_scores:
            scores_out.append(scores)
        if keep_logits:
            logits_out.append(logits)
        if keep_attn:
            attn_out.append(out.attentions)
        if keep_hidden:
            hidden_out.append(out.hidden_states)
        del out
        if do_sample:
            next_tokens = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
        else:
            next_tokens = torch.argmax(scores, dim=-1)
        if eos_tensor is not None or not simple_stop:
            next_tokens = torch.where(unfinished, next_tokens, pad_tensor)
        seq[:, cur] = next_tokens
        cur += 1
        if streamer is not None:
            streamer.put(next_tokens.cpu())

        if simple_stop:
            if cur >= max_length:
                break
            if eos_tensor is not None:
                unfinished &= ~torch.isin(next_tokens, eos_tensor)
                if not bool(unfinished.any()):  # the one sync per step
                    break
        else:
            unfinished &= ~criteria(seq[:, :cur], tuple(scores_out) if keep_scores else None)
            if not bool(unfinished.any()):
                break

        if "token_type_ids" in extra:
            step_extra["token_type_ids"] = token_types[:, cur - 1:cur] if use_cache else token_types[:, :cur]
        if use_cache:
            out = _call_model(model, params, seq[:, cur - 1:cur], inputs, cur - 1, cur, cache, True, step_extra)
        else:
            out = _call_model(model, params, seq[:, :cur], inputs, 0, cur, None, False, step_extra)

    if streamer is not None:
        streamer.end()
    sequences = seq[:, :cur]
    if not want_dict:
        return sequences
    return GenerateDecoderOnlyOutput(
        sequences=sequences,
        scores=tuple(scores_out) if keep_scores else None,
        logits=tuple(logits_out) if keep_logits else None,
        attentions=tuple(attn_out) if keep_attn else None,
        hidden_states=tuple(hidden_out) if keep_hidden else None,
        past_key_values=cache if use_cache else None,
    )
