"""generate(): greedy decoding, sampling and beam search, for decoder-only and encoder-decoder models.

The model contract is in docs/internals.md ("Generation"). A call is three steps, each its own
module: :func:`~.prepare.prepare` (config precedence, lengths, processors, criteria), a
:class:`~.step.DecodeState` (the model side: buffers, encoder run once, one forward per step), and
a loop — :func:`_sample_loop` here or :func:`~.beam_search.beam_search`. The loop is written for
speed on small batches, where per-step overhead matters as much as the matmuls:

- the output sequences, the attention mask and the position ids live in buffers of the final
  length, allocated once; each step writes one column and passes views (no ``torch.cat``);
- the KV cache is preallocated to the final length after the prompt (``DynamicCache.reserve``),
  or is a ``StaticCache`` with ``cache_implementation="static"``; no buffer is ever larger than
  the model's context (``max_length`` stops there);
- the LM head runs on the last position only (``logits_to_keep=1``);
- the loop runs inside ``leanformers.projections.decoding``, which picks the thread count from
  the cores other processes leave idle (the weights are used as they are: one copy);
- the only host/device sync per step is the "is every row finished?" check, and only when an
  eos token can end rows early.

Results follow the reference's algorithms step for step (processor order, beam bookkeeping,
``torch.multinomial`` on the same probabilities), so tokens match it for the same inputs and seed.
"""

from __future__ import annotations

import torch

from ..projections import decoding
from .beam_search import beam_search
from .outputs import (
    GenerateBeamDecoderOnlyOutput, GenerateBeamEncoderDecoderOutput, GenerateDecoderOnlyOutput,
    GenerateEncoderDecoderOutput, collect_step_outputs, dict_output,
)
from .prepare import prepare
from .step import DecodeState, Finished, choose_tokens

__all__ = ["generate", "GenerateDecoderOnlyOutput", "GenerateBeamDecoderOnlyOutput",
           "GenerateEncoderDecoderOutput", "GenerateBeamEncoderDecoderOutput"]


def generate(model, inputs: torch.Tensor | None = None, generation_config=None, logits_processor=None,
             stopping_criteria=None, prefix_allowed_tokens_fn=None, synced_gpus=None, assistant_model=None,
             streamer=None, negative_prompt_ids=None, negative_prompt_attention_mask=None, **kwargs):
    """Generate token ids after ``inputs``.

    Decoder-only models: ``inputs`` are the prompt's ``input_ids`` (left-padded when batched); the
    result holds the prompt and the new tokens. Encoder-decoder models: ``inputs`` are what the
    encoder reads; the result holds the decoder's tokens (the start token first).

    Returns a LongTensor (batch * num_return_sequences, length), or a ``Generate*Output`` with
    ``return_dict_in_generate=True``. Keyword arguments are GenerationConfig fields (max_new_tokens,
    do_sample, num_beams, ...) or model inputs (attention_mask, decoder_input_ids, tokenizer, ...).
    """
    for name, value in (("prefix_allowed_tokens_fn", prefix_allowed_tokens_fn), ("assistant_model", assistant_model),
                        ("negative_prompt_ids", negative_prompt_ids),
                        ("negative_prompt_attention_mask", negative_prompt_attention_mask)):
        if value is not None:
            raise NotImplementedError(f"generate(..., {name}=...) is not supported by leanformers.")
    # Inference mode, not only no_grad: each of the ~5,000 tensor operations of a decoding step skips
    # autograd's bookkeeping (version counters, view records), worth 10-20 % of a quantized step on a
    # small model. What leaves generate() (the result, the cache) is copied out of inference mode so
    # that it behaves as no_grad's tensors did (usable in a later training step, updated in place).
    with torch.inference_mode():
        plan = prepare(model, inputs, generation_config, logits_processor, stopping_criteria, streamer, kwargs)
        # the steps multiply `rows` rows by every weight: let the projections use their decoding kernels
        with decoding(plan.rows):
            state = DecodeState(model, plan)
            result = beam_search(state, plan) if plan.num_beams > 1 else _sample_loop(state, plan, streamer)
    if plan.cache is not None:
        _leave_inference_mode(plan.cache)  # the caller's own cache object, when one was passed in
    return _leave_inference_mode(result)


def _leave_inference_mode(obj, _seen=None):
    """``obj`` with every inference-mode tensor inside it (in tuples, lists, dicts, outputs and cache
    objects) replaced by an ordinary copy; containers are updated in place where they are mutable."""
    seen = set() if _seen is None else _seen
    if isinstance(obj, torch.Tensor):
        return obj.clone() if obj.is_inference() else obj
    if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
        return obj
    seen.add(id(obj))
    if isinstance(obj, tuple):
        return type(obj)(_leave_inference_mode(v, seen) for v in obj) if not hasattr(obj, "_fields") else \
            type(obj)(*(_leave_inference_mode(v, seen) for v in obj))
    if isinstance(obj, list):
        obj[:] = [_leave_inference_mode(v, seen) for v in obj]
        return obj
    if isinstance(obj, dict):  # ModelOutput too: its __setitem__ keeps the attribute in step
        for key in list(obj):
            obj[key] = _leave_inference_mode(obj[key], seen)
        return obj
    if type(obj).__module__.startswith("leanformers."):  # caches and their layers (some with __slots__)
        names = list(getattr(obj, "__dict__", ()))
        for cls in type(obj).__mro__:
            slots = getattr(cls, "__slots__", ())
            names += [n for n in ([slots] if isinstance(slots, str) else slots) if hasattr(obj, n)]
        for key in names:
            value = getattr(obj, key)
            new = _leave_inference_mode(value, seen)
            if new is not value:
                setattr(obj, key, new)
    return obj


def _sample_loop(state: DecodeState, plan, streamer):
    """Greedy decoding (argmax) or sampling, one token per row per step."""
    get = plan.config.get
    want_dict = get("return_dict_in_generate")
    keep_scores = want_dict and get("output_scores")
    keep_logits = want_dict and get("output_logits")
    keep_extra = want_dict and (get("output_attentions") or get("output_hidden_states"))
    scores_out, logits_out, extra_out = [], [], []
    processors, do_sample = plan.processors, plan.do_sample
    finished = Finished(plan, state.sequences.device)
    if streamer is not None:
        streamer.put(state.sequences[:, :state.length].cpu())

    out = state.prefill()
    while True:
        logits = out.logits[:, -1, :].float()
        scores = processors(state.sequences[:, :state.length], logits) if processors else logits
        if keep_scores:
            scores_out.append(scores)
        if keep_logits:
            logits_out.append(logits)
        if keep_extra:
            extra_out.append(collect_step_outputs(out, state.is_encoder_decoder))
        del out
        tokens = finished.hold(choose_tokens(scores, do_sample))
        state.append(tokens)
        if streamer is not None:
            streamer.put(tokens.cpu())
        if finished.update(state, tokens, tuple(scores_out) if keep_scores else None):
            break
        out = state.step()

    if streamer is not None:
        streamer.end()
    sequences = state.sequences[:, :state.length]
    if not want_dict:
        return sequences
    return dict_output(state, sequences, scores_out if keep_scores else None, logits_out if keep_logits else None,
                        extra_out, beam=None)
