"""Beam search (and beam sampling), vectorised over the batch: the reference's algorithm.

Per prompt it keeps ``num_beams`` running hypotheses and the ``num_beams`` best finished ones.
Each step every running beam proposes every token; the best ``K = max(2, 1 + n_eos) * num_beams``
candidates (by summed log-probability) are taken, so that even if many of them end in eos there are
still ``num_beams`` live ones to continue. Candidates that hit a stopping criterion compete for the
finished slots with their score divided by ``generated_length ** length_penalty``. The search ends
when no live beam can beat the worst finished one (the ``early_stopping`` heuristics), when all
finished slots are full and ``early_stopping=True``, or when every candidate is stopped.
"""

from __future__ import annotations

import torch

from .outputs import collect_step_outputs, dict_output
from .step import DecodeState

__all__ = ["beam_search"]

_NEG = -1.0e9  # "impossible" score that keeps arithmetic finite


def _take(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Select along the beam dimension (dim 1) of a (batch, beams, ...) tensor."""
    while index.dim() < tensor.dim():
        index = index.unsqueeze(-1)
    return torch.take_along_dim(tensor, index, dim=1)


def _flat(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape((tensor.shape[0] * tensor.shape[1],) + tuple(tensor.shape[2:]))


def _grow(buffer: torch.Tensor, fill, length: int) -> torch.Tensor:
    """``buffer`` (batch, beams, ...) made ``length`` long, the new slots holding ``fill``."""
    extra = length - buffer.shape[2]
    return torch.cat([buffer, buffer.new_full(buffer.shape[:2] + (extra,), fill)], dim=2)


def beam_search(state: DecodeState, plan):
    config = plan.config
    get = config.get
    batch_size, num_beams, eos, pad = plan.batch_size, plan.num_beams, plan.eos, plan.pad
    prompt_length, max_length = plan.prompt_length, plan.max_length
    processors, criteria = plan.processors, plan.criteria
    do_sample = get("do_sample")
    early_stopping = get("early_stopping")
    length_penalty = get("length_penalty")
    num_return = get("num_return_sequences")
    want_dict = get("return_dict_in_generate")
    keep_scores = want_dict and get("output_scores")
    keep_logits = want_dict and get("output_logits")
    keep_extra = want_dict and (get("output_attentions") or get("output_hidden_states"))
    scores_out, logits_out, extra_out = [], [], []
    device = state.sequences.device

    n_eos = len(eos) if eos else 0
    keep = max(2, 1 + n_eos) * num_beams
    is_top_candidate = torch.arange(keep, device=device) < num_beams  # only these may finish
    # The reference fills unused slots with pad (when pad is a non-zero id) else eos, else -1.
    fill = (pad if pad else eos[0]) if eos else -1

    capacity = plan.capacity  # the buffers' length; they double when a beam outgrows it
    running = torch.full((batch_size, num_beams, capacity), fill, dtype=torch.long, device=device)
    running[:, :, :prompt_length] = state.sequences[:, :prompt_length].view(batch_size, num_beams, -1)
    finished = running.clone()
    running_scores = torch.zeros((batch_size, num_beams), dtype=torch.float, device=device)
    running_scores[:, 1:] = _NEG  # all beams start equal: only the first may propose at step one
    finished_scores = torch.full((batch_size, num_beams), _NEG, dtype=torch.float, device=device)
    is_finished = torch.zeros((batch_size, num_beams), dtype=torch.bool, device=device)
    can_improve = torch.ones((batch_size, 1), dtype=torch.bool, device=device)
    running_origin = torch.full((batch_size, num_beams, capacity - prompt_length), -1, dtype=torch.int32,
                                device=device)
    finished_origin = running_origin.clone()
    batch_offset = torch.arange(batch_size, device=device).view(-1, 1) * num_beams

    cur = prompt_length
    out = state.prefill(_flat(running[:, :, :cur]))

    while True:
        if cur == running.shape[2]:
            new = min(2 * cur, max_length)
            running, finished = _grow(running, fill, new), _grow(finished, fill, new)
            running_origin = _grow(running_origin, -1, new - prompt_length)
            finished_origin = _grow(finished_origin, -1, new - prompt_length)
            state.grow()
        logits = out.logits[:, -1, :].float()
        if keep_extra:
            extra_out.append(collect_step_outputs(out, state.is_encoder_decoder))
        del out
        log_probs = torch.log_softmax(logits, dim=-1)
        log_probs = processors(_flat(running[:, :, :cur]), log_probs) if processors else log_probs
        if keep_logits:
            logits_out.append(logits)
        if keep_scores:
            scores_out.append(log_probs)
        vocab = log_probs.shape[-1]
        totals = (log_probs.view(batch_size, num_beams, vocab) + running_scores[:, :, None]).view(batch_size, -1)

        # a. the K best continuations over all beams of each prompt
        if do_sample:
            picked = torch.multinomial(torch.softmax(totals, dim=-1), num_samples=keep)
            cand_scores = totals.gather(1, picked)
            cand_scores, order = cand_scores.sort(dim=-1, descending=True)
            picked = picked.gather(-1, order)
        else:
            cand_scores, picked = torch.topk(totals, k=keep)
        cand_beam = picked // vocab
        cand_tokens = picked % vocab
        cand_seqs = _take(running, cand_beam)
        cand_seqs[:, :, cur] = cand_tokens
        cand_origin = _take(running_origin, cand_beam)
        cand_origin[:, :, cur - prompt_length] = (cand_beam + batch_offset).to(cand_origin.dtype)

        # b. which candidates are done (eos, max length, user criteria)
        cand_done = criteria(_flat(cand_seqs[:, :, : cur + 1]), tuple(scores_out) if keep_scores else None)
        cand_done = cand_done.view(batch_size, keep)

        # c. the best num_beams candidates that are not done keep running
        live_scores = cand_scores + cand_done.to(torch.float32) * _NEG
        best_live = torch.topk(live_scores, k=num_beams).indices
        running = _take(cand_seqs, best_live)
        running_scores = _take(live_scores, best_live)
        running_origin = _take(cand_origin, best_live)

        # d. done candidates (among the top num_beams) compete for the finished slots
        just_done = cand_done & is_top_candidate[None, :]
        done_scores = cand_scores / ((cur + 1 - prompt_length) ** length_penalty)
        batch_full = is_finished.all(dim=-1, keepdim=True) & (early_stopping is True)
        done_scores = done_scores + batch_full.to(torch.float32) * _NEG
        done_scores = done_scores + (~can_improve).to(torch.float32) * _NEG
        done_scores = done_scores + (~just_done).to(torch.float32) * _NEG
        merged_scores = torch.cat([finished_scores, done_scores], dim=1)
        best = torch.topk(merged_scores, k=num_beams).indices
        finished = _take(torch.cat([finished, cand_seqs], dim=1), best)
        finished_scores = _take(merged_scores, best)
        finished_origin = _take(torch.cat([finished_origin, cand_origin], dim=1), best)
        is_finished = _take(torch.cat([is_finished, just_done], dim=1), best)

        # e. the cache follows the beams that continue
        state.reorder(_flat(running_origin[:, :, cur - prompt_length]).long())
        cur += 1
        state.length = cur

        # f. can a live beam still beat the worst finished one?
        if early_stopping == "never" and length_penalty > 0.0:
            best_length = max_length - prompt_length
        else:
            best_length = cur - prompt_length
        best_possible = running_scores[:, :1] / (best_length ** length_penalty)
        worst_done = torch.where(is_finished, finished_scores.min(dim=1, keepdim=True).values, _NEG)
        can_improve = can_improve & (best_possible > worst_done).any(dim=-1, keepdim=True)
        keep_going = bool(can_improve.any()) and \
            not (bool(is_finished.all()) and early_stopping is True) and not bool(cand_done.all())
        if not keep_going:
            break

        out = state.step(_flat(running[:, :, :cur]))

    sequences = _flat(finished[:, :num_return])
    sequence_scores = _flat(finished_scores[:, :num_return])
    origins = _flat(finished_origin[:, :num_return])
    generated = int((origins != -1).sum(dim=1).max())  # the longest kept hypothesis
    sequences = sequences[:, : prompt_length + generated]
    if not want_dict:
        return sequences
    return dict_output(state, sequences, scores_out if keep_scores else None, logits_out if keep_logits else None,
                       extra_out, beam=(sequence_scores if keep_scores else None, origins[:, :generated]))
