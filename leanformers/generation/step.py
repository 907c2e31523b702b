"""The step API every decoding loop uses (greedy/sampling, beam search, streamers, a server).

    plan = prepare(...)                      # generation/prepare.py: lengths, processors, criteria
    state = DecodeState(model, plan)         # buffers of the final length; encodes once (enc-dec)
    logits = state.prefill()                 # the prompt -> (rows, vocab) logits of its last position
    loop:
        scores = plan.processors(state.sequences[:, :state.length], logits)
        tokens = choose_tokens(scores, plan.do_sample)
        tokens = finished.hold(tokens)       # finished rows keep emitting pad
        state.append(tokens)                 # writes column state.length, advances it
        if finished.update(state, scores): break     # the one host sync per step
        logits = state.step()                # the model on the last token, through the cache

Every per-row tensor (sequences, attention mask, positions) lives in a (rows, length) buffer,
so a row's own length and padding are data, not shape: a server that lets rows start and stop at
different times (continuous batching) keeps these buffers and swaps rows in and out of them and of
the cache (``Cache.batch_select_indices``). Beam search keeps its own (batch, beams, length)
bookkeeping and calls :meth:`DecodeState.forward` with the tokens it chose and
:meth:`DecodeState.reorder` to make the cache follow the beams.
"""

from __future__ import annotations

import torch

from ..cache import DynamicCache, EncoderDecoderCache, StaticCache
from ..outputs import BaseModelOutput
from .prepare import Plan, forward_params
from .stopping import EosTokenCriteria, MaxLengthCriteria

__all__ = ["DecodeState", "Finished", "choose_tokens", "encode"]


def encode(model, plan: Plan):
    """Run the encoder once and repeat its output for the beams/samples of each prompt (unless the
    model's decoder reads one encoder row per group of rows: ``_shares_encoder_rows``)."""
    encoder_outputs = plan.encoder_outputs
    expand = plan.rows // plan.batch_size
    if encoder_outputs is None:
        get = plan.config.get
        encoder_outputs = model.get_encoder()(
            input_ids=plan.encoder_input_ids, attention_mask=plan.encoder_attention_mask,
            output_attentions=get("output_attentions"), output_hidden_states=get("output_hidden_states"),
            return_dict=True)
    elif not isinstance(encoder_outputs, BaseModelOutput):
        encoder_outputs = BaseModelOutput(*encoder_outputs)
    mask = plan.encoder_attention_mask
    if expand > 1 and not getattr(model, "_shares_encoder_rows", False):
        encoder_outputs = BaseModelOutput(
            last_hidden_state=encoder_outputs.last_hidden_state.repeat_interleave(expand, dim=0),
            hidden_states=encoder_outputs.hidden_states, attentions=encoder_outputs.attentions)
        mask = mask.repeat_interleave(expand, dim=0) if mask is not None else None
    return encoder_outputs, mask


class DecodeState:
    """The model side of one generation: the sequences so far, the cache, and one forward per step."""

    def __init__(self, model, plan: Plan):
        self.model = model
        self.plan = plan
        self.params = forward_params(model)
        self.use_cache = plan.use_cache
        self.is_encoder_decoder = plan.is_encoder_decoder
        input_ids, attention_mask = plan.input_ids, plan.attention_mask
        max_length = plan.capacity  # the buffers' length; `grow` extends them towards plan.max_length
        rows, length = input_ids.shape
        device = input_ids.device
        self.sequences = torch.full((rows, max_length), plan.pad if plan.pad is not None else 0,
                                    dtype=torch.long, device=device)
        self.sequences[:, :length] = input_ids
        self.length = length
        self.mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            self.mask = torch.ones((rows, max_length), dtype=attention_mask.dtype, device=device)
            self.mask[:, :length] = attention_mask
        self.positions = None
        if not self.is_encoder_decoder:  # encoder-decoder models count positions from the cache
            if self.mask is not None:
                prompt_positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
                new_positions = prompt_positions[:, -1:] + 1 + torch.arange(max_length - length, device=device)
                self.positions = torch.cat([prompt_positions, new_positions], dim=1)
            else:
                self.positions = torch.arange(max_length, device=device)[None, :].expand(rows, -1)
        self.cache_positions = torch.arange(max_length, device=device)

        self.encoder_outputs = self.encoder_mask = None
        if self.is_encoder_decoder:
            self.encoder_outputs, self.encoder_mask = encode(model, plan)
        self.cache = plan.cache
        if self.cache is None and self.use_cache:
            if self.is_encoder_decoder:
                self.cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
            elif plan.config.cache_implementation == "static":
                self.cache = StaticCache(model.config, max_batch_size=rows,
                                         max_cache_len=plan.config.max_cache_len or plan.max_length,
                                         device=device, dtype=model.dtype)
            else:
                self.cache = DynamicCache()
        self.past_length = self.cache.get_seq_length() if (self.cache is not None and self.use_cache) else 0

        # extra forward() inputs: all of them for the prompt, then one column of token_type_ids per step
        get = plan.config.get
        want_dict = get("return_dict_in_generate")
        self.extra = dict(plan.extra)
        for flag in ("output_attentions", "output_hidden_states"):
            if want_dict and get(flag):
                self.extra[flag] = True
        self.step_extra = {k: v for k, v in self.extra.items() if k in ("output_attentions", "output_hidden_states")}
        self.token_types = None
        if "token_type_ids" in self.extra:
            types = self.extra["token_type_ids"]
            self.token_types = torch.cat([types, types[:, -1:].expand(-1, max_length - length)], dim=1)

    # ---- the model calls ----------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, start: int, extra: dict | None = None):
        """Run the model on ``tokens`` (rows, n) sitting at positions [start, start + n)."""
        end = start + tokens.shape[1]
        params = self.params
        kwargs = {"cache_position": self.cache_positions[start:end]}
        if self.is_encoder_decoder:
            kwargs.update(decoder_input_ids=tokens, encoder_outputs=self.encoder_outputs,
                          attention_mask=self.encoder_mask)
            if self.mask is not None:
                kwargs["decoder_attention_mask"] = self.mask[:, :end]
        else:
            kwargs.update(input_ids=tokens, attention_mask=None if self.mask is None else self.mask[:, :end],
                          position_ids=self.positions[:, start:end])
        kwargs = {k: v for k, v in kwargs.items() if k in params}
        if "logits_to_keep" in params:
            kwargs["logits_to_keep"] = 1
        if self.use_cache:
            kwargs["past_key_values"] = self.cache
        out = self.model(use_cache=self.use_cache, return_dict=True, **kwargs, **(extra or {}))
        if self.use_cache and out.past_key_values is not None:
            self.cache = out.past_key_values
        return out

    def prefill(self, tokens: torch.Tensor | None = None):
        """The prompt's forward pass (``tokens``: (rows, prompt) when not ``self.sequences``)."""
        tokens = self.sequences[:, :self.length] if tokens is None else tokens
        if self.use_cache:
            out = self.forward(tokens[:, self.past_length:self.length], self.past_length, self.extra)
            if hasattr(self.cache, "reserve"):
                self.cache.reserve(self.sequences.shape[1])
            return out
        return self.forward(tokens[:, :self.length], 0, self.extra)

    def step(self, tokens: torch.Tensor | None = None):
        """The forward pass after ``append``: the last token through the cache (or everything again
        without one). ``tokens``: (rows, length) when not ``self.sequences``."""
        tokens = self.sequences if tokens is None else tokens
        cur = self.length
        extra = self.step_extra
        if self.token_types is not None:
            extra = {**extra, "token_type_ids": self.token_types[:, cur - 1:cur] if self.use_cache
                     else self.token_types[:, :cur]}
        if self.use_cache:
            return self.forward(tokens[:, cur - 1:cur], cur - 1, extra)
        return self.forward(tokens[:, :cur], 0, extra)

    def append(self, tokens: torch.Tensor):
        if self.length == self.sequences.shape[1]:
            self.grow()
        self.sequences[:, self.length] = tokens
        self.length += 1

    def grow(self):
        """Double the buffers (at most to max_length): only when a sequence outgrows the context."""
        old = self.sequences.shape[1]
        new = min(2 * old, self.plan.max_length)
        extra = new - old
        self.sequences = torch.cat([self.sequences, self.sequences.new_full((self.sequences.shape[0], extra),
                                                                            self.plan.pad or 0)], dim=1)
        if self.mask is not None:
            self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], extra))], dim=1)
        if self.positions is not None:
            self.positions = torch.cat([self.positions, self.positions[:, -1:] + 1 + torch.arange(
                extra, device=self.positions.device)], dim=1)
        if self.token_types is not None:
            self.token_types = torch.cat([self.token_types, self.token_types[:, -1:].expand(-1, extra)], dim=1)
        self.cache_positions = torch.arange(new, device=self.cache_positions.device)

    def reorder(self, beam_idx: torch.Tensor):
        """Make the cache follow the beams (row i now continues row beam_idx[i])."""
        if not self.use_cache:
            return
        if isinstance(self.cache, EncoderDecoderCache) and self.is_encoder_decoder:
            # Beams move only within their prompt, whose rows all hold the same encoder output (it
            # was repeated per beam): the cross-attention keys/values need no reordering, which
            # saves copying (rows x source length x d_model) per layer and step.
            self.cache.self_attention_cache.reorder_cache(beam_idx)
        else:
            self.cache.reorder_cache(beam_idx)


def choose_tokens(scores: torch.Tensor, do_sample: bool) -> torch.Tensor:
    """The next token of each row: the most likely, or one drawn from softmax(scores)."""
    if do_sample:
        return torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
    return torch.argmax(scores, dim=-1)


class Finished:
    """Which rows are done. With only max-length and eos criteria (the usual case) the check is
    inline: no per-step (rows,) tensors from the criteria, and the only host sync is "is every row
    finished?", made only when an eos token can end rows early."""

    def __init__(self, plan: Plan, device):
        self.criteria = plan.criteria
        self.max_length = plan.max_length
        self.simple = all(isinstance(c, (MaxLengthCriteria, EosTokenCriteria)) for c in plan.criteria)
        self.eos = torch.tensor(plan.eos, device=device) if plan.eos else None
        self.pad = torch.tensor(plan.pad if plan.pad is not None else 0, device=device)
        self.unfinished = torch.ones(plan.rows, dtype=torch.bool, device=device)

    def hold(self, tokens: torch.Tensor) -> torch.Tensor:
        """Finished rows get pad instead of a new token."""
        if self.eos is not None or not self.simple:
            return torch.where(self.unfinished, tokens, self.pad)
        return tokens

    def update(self, state: DecodeState, tokens: torch.Tensor, scores=None) -> bool:
        """Mark the rows ``tokens`` (just appended) finished; True when every row is done."""
        if self.simple:
            if state.length >= self.max_length:
                return True
            if self.eos is not None:
                self.unfinished &= ~torch.isin(tokens, self.eos)
                return not bool(self.unfinished.any())
            return False
        self.unfinished &= ~self.criteria(state.sequences[:, :state.length], scores)
        return not bool(self.unfinished.any())
