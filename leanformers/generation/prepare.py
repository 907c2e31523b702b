"""Step 1 of generate(): from the call's arguments to a :class:`Plan` (what to run, for how long,
with which logits processors and stopping criteria). Nothing here runs the model.

The same plan serves decoder-only and encoder-decoder models: for an encoder-decoder model
``input_ids`` of the plan are the *decoder* prompt (the start token, or ``decoder_input_ids``) and
``encoder_input_ids`` / ``encoder_attention_mask`` what the encoder reads.
"""

from __future__ import annotations

import copy
import inspect
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from ..cache import Cache, DynamicCache, EncoderDecoderCache
from .config import GenerationConfig, check_supported
from .logits_process import (
    EncoderNoRepeatNGramLogitsProcessor, EncoderRepetitionPenaltyLogitsProcessor, EpsilonLogitsWarper,
    EtaLogitsWarper, ExponentialDecayLengthPenalty, ForcedBOSTokenLogitsProcessor, ForcedEOSTokenLogitsProcessor,
    InfNanRemoveLogitsProcessor, LogitNormalization, LogitsProcessorList, MinLengthLogitsProcessor,
    MinNewTokensLengthLogitsProcessor, MinPLogitsWarper, NoBadWordsLogitsProcessor, NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor, SequenceBiasLogitsProcessor, SuppressTokensAtBeginLogitsProcessor,
    SuppressTokensLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
    TypicalLogitsWarper,
)
from .stopping import EosTokenCriteria, MaxLengthCriteria, MaxTimeCriteria, StoppingCriteriaList, StopStringCriteria

__all__ = ["Plan", "prepare", "forward_params", "context_length"]

logger = logging.getLogger("leanformers")

# Keyword arguments generate() understands besides GenerationConfig fields and forward() inputs.
_GENERATE_KWARGS = {"attention_mask", "input_ids", "past_key_values", "cache", "position_ids", "tokenizer",
                    "inputs_embeds", "token_type_ids", "use_model_defaults", "logits_to_keep",
                    "assistant_tokenizer", "decoder_input_ids", "decoder_attention_mask", "encoder_outputs"}
_FORWARD_PARAMS: dict[type, set] = {}


def forward_params(model) -> set:
    cls = type(model)
    if cls not in _FORWARD_PARAMS:
        _FORWARD_PARAMS[cls] = set(inspect.signature(model.forward).parameters)
    return _FORWARD_PARAMS[cls]


def context_length(config) -> int | None:
    """The most positions the model can read (None: no fixed limit, e.g. relative positions)."""
    for name in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


@dataclass
class Plan:
    """Everything a decoding loop needs besides the model: built once per generate() call."""

    config: GenerationConfig
    batch_size: int  # prompts
    rows: int  # sequences decoded side by side: batch_size * max(num_beams, num_return_sequences)
    input_ids: torch.Tensor  # (rows, prompt_length): the (decoder) prompt, expanded
    attention_mask: torch.Tensor | None  # (rows, prompt_length) of the (decoder) prompt, or None
    prompt_length: int
    max_length: int  # prompt included
    capacity: int  # the length buffers are allocated for at first (they grow past it if needed)
    eos: list[int] | None
    pad: int | None
    processors: LogitsProcessorList
    criteria: StoppingCriteriaList
    cache: Cache | None
    use_cache: bool
    num_beams: int
    num_return: int
    do_sample: bool
    extra: dict = field(default_factory=dict)  # other forward() inputs (token_type_ids, ...), expanded
    encoder_input_ids: torch.Tensor | None = None  # (batch_size, source_length), not expanded
    encoder_attention_mask: torch.Tensor | None = None  # not expanded
    encoder_outputs: Any = None  # given by the caller (then the encoder is not run)

    @property
    def is_encoder_decoder(self) -> bool:
        return self.encoder_input_ids is not None or self.encoder_outputs is not None


def _merge_config(model, generation_config, kwargs):
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
    check_supported(config)
    return config, model_kwargs, has_default_max_length


def _token_list(value) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.reshape(-1).tolist()]
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def _check_ids(name, ids):
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, not {type(ids).__name__}. Call the tokenizer with "
                        f"return_tensors='pt'.")
    if ids.dim() != 2:
        hint = " Add a batch dimension: input_ids.unsqueeze(0)." if ids.dim() == 1 else ""
        raise ValueError(f"{name} must be 2-D (batch_size, sequence_length), got shape {tuple(ids.shape)}.{hint}")


def _check_mask(name, mask, ids, device):
    if mask is None:
        return None
    if mask.dim() != 2 or mask.shape != ids.shape:
        raise ValueError(f"{name} must be 2-D and shaped like its ids {tuple(ids.shape)}, got {tuple(mask.shape)}.")
    return mask.to(device)


def build_processors(config, user_processors, prompt_length, padding_lengths, eos, device,
                     encoder_input_ids=None) -> LogitsProcessorList:
    """Logits processors in the reference's order; user processors follow the built-in ones."""
    get = config.get
    processors = LogitsProcessorList()
    if config.sequence_bias is not None:
        processors.append(SequenceBiasLogitsProcessor(config.sequence_bias))
    has_encoder_ids = encoder_input_ids is not None and not bool((encoder_input_ids < 0).any())
    for name in ("encoder_repetition_penalty", "encoder_no_repeat_ngram_size"):
        if get(name) not in (1.0, 0) and not has_encoder_ids:
            raise ValueError(f"{name} compares the output with the encoder's input_ids: it needs an "
                             f"encoder-decoder model called with input_ids.")
    if get("encoder_repetition_penalty") != 1.0:
        processors.append(EncoderRepetitionPenaltyLogitsProcessor(float(get("encoder_repetition_penalty")),
                                                                  encoder_input_ids))
    if get("repetition_penalty") != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(float(get("repetition_penalty")),
                                                           prompt_ignore_length=padding_lengths))
    if get("no_repeat_ngram_size") > 0:
        processors.append(NoRepeatNGramLogitsProcessor(get("no_repeat_ngram_size")))
    if get("encoder_no_repeat_ngram_size") > 0:
        processors.append(EncoderNoRepeatNGramLogitsProcessor(get("encoder_no_repeat_ngram_size"),
                                                              encoder_input_ids))
    if config.bad_words_ids is not None:
        processors.append(NoBadWordsLogitsProcessor(config.bad_words_ids, eos))
    if eos is not None and get("min_length") > 0:
        processors.append(MinLengthLogitsProcessor(get("min_length"), eos, device=device))
    if eos is not None and config.min_new_tokens:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_length, config.min_new_tokens, eos, device=device))
    if config.forced_bos_token_id is not None:
        processors.append(ForcedBOSTokenLogitsProcessor(config.forced_bos_token_id))
    if config.forced_eos_token_id is not None:
        processors.append(ForcedEOSTokenLogitsProcessor(config.max_length, config.forced_eos_token_id, device=device))
    if get("remove_invalid_values"):
        processors.append(InfNanRemoveLogitsProcessor())
    if config.exponential_decay_length_penalty is not None:
        if eos is None:
            raise ValueError("exponential_decay_length_penalty raises the eos scores: set eos_token_id.")
        processors.append(ExponentialDecayLengthPenalty(config.exponential_decay_length_penalty, eos, prompt_length))
    if config.suppress_tokens is not None:
        processors.append(SuppressTokensLogitsProcessor(config.suppress_tokens, device=device))
    if config.begin_suppress_tokens is not None:
        begin = prompt_length if (prompt_length > 1 or config.forced_bos_token_id is None) else prompt_length + 1
        processors.append(SuppressTokensAtBeginLogitsProcessor(config.begin_suppress_tokens, begin, device=device))
    for processor in user_processors or ():
        if any(type(p) is type(processor) for p in processors):
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
        if 0.0 < get("epsilon_cutoff") < 1.0:
            processors.append(EpsilonLogitsWarper(get("epsilon_cutoff"), min_tokens_to_keep=keep))
        if 0.0 < get("eta_cutoff") < 1.0:
            processors.append(EtaLogitsWarper(get("eta_cutoff"), min_tokens_to_keep=keep, device=device))
    if config.renormalize_logits:
        processors.append(LogitNormalization())
    return processors


def build_stopping(config, user_criteria, max_length, context, eos, tokenizer) -> StoppingCriteriaList:
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


def _capacity(prompt_length: int, max_length: int, context: int | None) -> int:
    """How long the buffers are at first: the final length, but never more than the model's context
    (or, for a model without one, than the prompt + 1024): ``max_new_tokens=1_000_000`` must not
    allocate a million slots up front. A sequence that outgrows it doubles the buffers."""
    return min(max_length, max(context if context is not None else prompt_length + 1024, prompt_length + 1))


def _decoder_prompt(model, config, batch_size, decoder_input_ids, decoder_mask, device):
    """The decoder's first tokens: ``decoder_start_token_id`` (or bos), prepended to
    ``decoder_input_ids`` when those do not start with it (the reference's rule)."""
    start = config.decoder_start_token_id
    start = start if start is not None else config.bos_token_id
    if start is None:
        raise ValueError(f"{type(model).__name__} needs a token to start decoding from: set "
                         f"decoder_start_token_id (or bos_token_id) in the generation config or pass it to "
                         f"generate().")
    start = torch.as_tensor(start, dtype=torch.long, device=device)
    if start.dim() == 1:
        if start.shape[0] != batch_size:
            raise ValueError(f"decoder_start_token_id holds {start.shape[0]} ids, but there are {batch_size} "
                             f"prompts: give one id, or one per prompt.")
        start = start.view(-1, 1)
    else:
        start = start.view(1, 1).expand(batch_size, 1)
    if decoder_input_ids is None:
        return start.clone(), None
    _check_ids("decoder_input_ids", decoder_input_ids)
    decoder_input_ids = decoder_input_ids.to(device)
    decoder_mask = _check_mask("decoder_attention_mask", decoder_mask, decoder_input_ids, device)
    if bool((decoder_input_ids[:, 0] != start[:, 0]).all()):
        decoder_input_ids = torch.cat([start, decoder_input_ids], dim=-1)
        if decoder_mask is not None:
            decoder_mask = torch.cat([torch.ones_like(decoder_mask[:, :1]), decoder_mask], dim=-1)
    return decoder_input_ids, decoder_mask


def prepare(model, inputs, generation_config, logits_processor, stopping_criteria, streamer, kwargs) -> Plan:
    config, model_kwargs, has_default_max_length = _merge_config(model, generation_config, kwargs)
    get = config.get
    is_encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
    params = forward_params(model)
    unknown = [k for k in model_kwargs if k not in _GENERATE_KWARGS and k not in params]
    if unknown:
        raise ValueError(f"generate() got arguments that are neither generation options nor inputs of "
                         f"{type(model).__name__}.forward: {unknown} (check for typos).")
    tokenizer = model_kwargs.pop("tokenizer", None)
    for name in ("assistant_tokenizer", "use_model_defaults", "logits_to_keep"):
        model_kwargs.pop(name, None)
    if model_kwargs.pop("inputs_embeds", None) is not None:
        raise NotImplementedError("generate(inputs_embeds=...) is not supported by leanformers; pass input_ids.")
    device = model.device

    # ---- inputs ---------------------------------------------------------------------------------
    input_ids = inputs if inputs is not None else model_kwargs.pop("input_ids", None)
    model_kwargs.pop("input_ids", None)
    attention_mask = model_kwargs.pop("attention_mask", None)
    encoder_ids = encoder_mask = encoder_outputs = None
    if is_encoder_decoder:
        encoder_outputs = model_kwargs.pop("encoder_outputs", None)
        if input_ids is None and encoder_outputs is None:
            raise ValueError(f"{type(model).__name__} is an encoder-decoder model: pass the text to encode "
                             f"as input_ids (or precomputed encoder_outputs).")
        if input_ids is not None:
            _check_ids("input_ids", input_ids)
            encoder_ids = input_ids.to(device)
            batch_size = encoder_ids.shape[0]
        else:
            batch_size = encoder_outputs[0].shape[0]
        encoder_mask = _check_mask("attention_mask", attention_mask, encoder_ids, device) \
            if encoder_ids is not None else attention_mask
        input_ids, attention_mask = _decoder_prompt(model, config, batch_size, model_kwargs.pop("decoder_input_ids", None),
                                                    model_kwargs.pop("decoder_attention_mask", None), device)
    else:
        for name in ("decoder_input_ids", "decoder_attention_mask", "encoder_outputs"):
            if model_kwargs.get(name) is not None:
                raise ValueError(f"{name} is an input of encoder-decoder models; {type(model).__name__} is a "
                                 f"decoder-only model.")
        bos = get("bos_token_id")
        if input_ids is None:
            if bos is None:
                raise ValueError("Pass input_ids to generate() (the model has no bos_token_id to start from).")
            input_ids = torch.full((1, 1), bos, dtype=torch.long, device=device)
        _check_ids("input_ids", input_ids)
        input_ids = input_ids.to(device)
        batch_size = input_ids.shape[0]
        attention_mask = _check_mask("attention_mask", attention_mask, input_ids, device)
    prompt_length = input_ids.shape[1]

    eos = _token_list(get("eos_token_id"))
    pad = get("pad_token_id")
    if pad is None and eos:
        pad = eos[0]  # open-ended generation: finished rows are filled with eos
    if not is_encoder_decoder:
        if attention_mask is None and pad is not None and not (eos and pad in eos) and bool((input_ids == pad).any()):
            attention_mask = (input_ids != pad).long()  # infer the padding, as the reference does
        if pad is not None and batch_size > 1:
            right_padded = (bool((attention_mask[:, -1] == 0).any()) if attention_mask is not None
                            else bool((input_ids[:, -1] == pad).any()))
            if right_padded:
                logger.warning("A decoder-only model got right-padded inputs: generated text will be wrong. "
                               "Pad on the left: tokenizer.padding_side = 'left'.")

    # ---- lengths --------------------------------------------------------------------------------
    context = context_length(model.config)
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
        cache = (EncoderDecoderCache if is_encoder_decoder else DynamicCache).from_legacy_cache(cache)
    if cache is not None and not isinstance(cache, Cache):
        raise TypeError(f"past_key_values must be a leanformers Cache (DynamicCache, StaticCache), not "
                        f"{type(cache).__name__}.")
    if is_encoder_decoder and (config.cache_implementation == "static" or (cache is not None and cache.is_static)):
        raise ValueError("A static cache is not supported for encoder-decoder models yet; leave "
                         "cache_implementation unset (the dynamic cache is preallocated anyway).")
    model_kwargs.pop("position_ids", None)  # derived from the attention mask, as the reference does
    expand = max(num_beams, num_return)
    if expand > 1:
        input_ids = input_ids.repeat_interleave(expand, dim=0)
        if attention_mask is not None:
            attention_mask = attention_mask.repeat_interleave(expand, dim=0)
        model_kwargs = {k: (v.repeat_interleave(expand, dim=0) if isinstance(v, torch.Tensor) else v)
                        for k, v in model_kwargs.items()}
    past_length = cache.get_seq_length() if cache is not None else 0
    if past_length >= prompt_length:
        raise ValueError(f"past_key_values already holds {past_length} tokens but input_ids has only "
                         f"{prompt_length}: pass the whole sequence so far (cached tokens included).")

    # ---- processors and criteria ----------------------------------------------------------------
    padding_lengths = None
    if attention_mask is not None and not bool(attention_mask.all()):
        padding_lengths = (attention_mask != 0).int().argmax(dim=1)
    processors = build_processors(config, logits_processor, prompt_length, padding_lengths, eos, device,
                                  encoder_input_ids=encoder_ids)
    criteria = build_stopping(config, stopping_criteria, max_length, context, eos, tokenizer)
    return Plan(config=config, batch_size=batch_size, rows=input_ids.shape[0], input_ids=input_ids,
                attention_mask=attention_mask, prompt_length=prompt_length, max_length=max_length,
                capacity=_capacity(prompt_length, max_length, context), eos=eos,
                pad=pad, processors=processors, criteria=criteria, cache=cache, use_cache=bool(use_cache),
                num_beams=num_beams, num_return=num_return, do_sample=do_sample, extra=model_kwargs,
                encoder_input_ids=encoder_ids, encoder_attention_mask=encoder_mask, encoder_outputs=encoder_outputs)
