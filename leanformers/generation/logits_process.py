"""Logits processors: functions of (input_ids, scores) -> scores applied before a token is chosen.

Each takes ``input_ids`` (batch, length so far) and ``scores`` (batch, vocab) float32 and returns new
scores (never modifying the input in place, so ``output_scores`` keeps what each step saw). The names
and the arithmetic are the reference's, so sampling under a seed picks the same tokens.
"""

from __future__ import annotations

import inspect
import math

import torch

__all__ = [
    "LogitsProcessor", "LogitsWarper", "LogitsProcessorList", "TemperatureLogitsWarper", "TopKLogitsWarper",
    "TopPLogitsWarper", "MinPLogitsWarper", "TypicalLogitsWarper", "RepetitionPenaltyLogitsProcessor",
    "NoRepeatNGramLogitsProcessor", "NoBadWordsLogitsProcessor", "SequenceBiasLogitsProcessor",
    "MinLengthLogitsProcessor", "MinNewTokensLengthLogitsProcessor", "SuppressTokensLogitsProcessor",
    "InfNanRemoveLogitsProcessor", "LogitNormalization", "EncoderRepetitionPenaltyLogitsProcessor",
    "EncoderNoRepeatNGramLogitsProcessor", "ForcedBOSTokenLogitsProcessor", "ForcedEOSTokenLogitsProcessor",
    "ExponentialDecayLengthPenalty", "SuppressTokensAtBeginLogitsProcessor", "EpsilonLogitsWarper",
    "EtaLogitsWarper",
]


class LogitsProcessor:
    """Base class: subclasses implement ``__call__(input_ids, scores) -> scores``."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(input_ids, scores).")


LogitsWarper = LogitsProcessor  # the reference's older name for sampling-only processors


class LogitsProcessorList(list):
    """Applies its processors in order. Extra keyword arguments reach processors that declare them."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.FloatTensor:
        for processor in self:
            params = _call_params(type(processor))
            if len(params) > 2:
                missing = [p for p in params[2:] if p not in kwargs]
                if missing:
                    raise ValueError(f"{type(processor).__name__} needs the arguments {missing}; pass them "
                                     f"to the processor list call.")
                scores = processor(input_ids, scores, **kwargs)
            else:
                scores = processor(input_ids, scores)
        return scores


_CALL_PARAMS: dict[type, list[str]] = {}


def _call_params(cls) -> list[str]:
    """The parameter names of ``cls.__call__`` after self (inspected once per class: it is slow)."""
    if cls not in _CALL_PARAMS:
        _CALL_PARAMS[cls] = list(inspect.signature(cls.__call__).parameters)[1:]
    return _CALL_PARAMS[cls]


def _as_token_tensor(ids, device=None) -> torch.Tensor:
    if isinstance(ids, torch.Tensor):
        return ids.reshape(-1)
    if isinstance(ids, int):
        ids = [ids]
    return torch.tensor(list(ids), dtype=torch.long, device=device)


class _TokenMask:
    """Sets the scores of some token ids, skipping ids outside the vocabulary as ``isin`` would. The
    in-range ids are found once per vocabulary size and device, not at every step."""

    def __init__(self, ids: torch.Tensor):
        self.ids = ids
        self._valid = {}

    def fill(self, scores: torch.Tensor, value: float) -> torch.Tensor:
        vocab, device = scores.shape[-1], scores.device
        valid = self._valid.get((vocab, device))
        if valid is None:
            ids = self.ids.to(device)
            valid = self._valid[(vocab, device)] = ids[(ids >= 0) & (ids < vocab)]
        return scores.index_fill(-1, valid, value)


def _check_min_tokens_to_keep(value):
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"min_tokens_to_keep must be a positive integer, not {value!r}.")


class TemperatureLogitsWarper(LogitsProcessor):
    """Divide the logits by ``temperature``: < 1 sharpens the distribution, > 1 flattens it."""

    def __init__(self, temperature: float):
        if not isinstance(temperature, (float, int)) or isinstance(temperature, bool) or not temperature > 0:
            hint = " For greedy decoding use do_sample=False." if temperature == 0 else ""
            raise ValueError(f"temperature must be a strictly positive float, not {temperature!r}.{hint}")
        self.temperature = float(temperature)

    def __call__(self, input_ids, scores):
        return scores / self.temperature


class TopKLogitsWarper(LogitsProcessor):
    """Keep the ``top_k`` highest-scoring tokens (ties with the k-th are kept too)."""

    def __init__(self, top_k: int, filter_value: float = -float("inf"), min_tokens_to_keep: int = 1):
        if not isinstance(top_k, int) or top_k <= 0:
            raise ValueError(f"top_k must be a strictly positive integer, not {top_k!r}.")
        self.top_k = max(top_k, min_tokens_to_keep)
        self.filter_value = filter_value

    def __call__(self, input_ids, scores):
        k = min(self.top_k, scores.shape[-1])
        kth_best = torch.topk(scores, k).values[..., -1:]
        return scores.masked_fill(scores < kth_best, self.filter_value)


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches ``top_p``."""

    def __init__(self, top_p: float, filter_value: float = -float("inf"), min_tokens_to_keep: int = 1):
        top_p = float(top_p)
        if not 0.0 <= top_p <= 1.0:
            raise ValueError(f"top_p must be a float between 0 and 1, not {top_p!r}.")
        _check_min_tokens_to_keep(min_tokens_to_keep)
        self.top_p, self.filter_value, self.min_tokens_to_keep = top_p, filter_value, min_tokens_to_keep

    def __call__(self, input_ids, scores):
        # Ascending order: the tokens whose cumulative mass stays within 1 - top_p are the unlikely tail.
        sorted_scores, order = torch.sort(scores, descending=False)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative <= 1 - self.top_p
        remove_sorted[..., -self.min_tokens_to_keep:] = False
        remove = remove_sorted.scatter(1, order, remove_sorted)
        return scores.masked_fill(remove, self.filter_value)


class MinPLogitsWarper(LogitsProcessor):
    """Drop tokens less likely than ``min_p`` times the most likely token's probability."""

    def __init__(self, min_p: float, filter_value: float = -float("inf"), min_tokens_to_keep: int = 1):
        if not 0.0 <= min_p <= 1.0:
            raise ValueError(f"min_p must be a float between 0 and 1, not {min_p!r}.")
        _check_min_tokens_to_keep(min_tokens_to_keep)
        self.min_p, self.filter_value, self.min_tokens_to_keep = min_p, filter_value, min_tokens_to_keep

    def __call__(self, input_ids, scores):
        probs = torch.softmax(scores, dim=-1)
        remove = probs < self.min_p * probs.amax(dim=-1, keepdim=True)
        keep = torch.topk(probs, min(self.min_tokens_to_keep, probs.shape[-1]), dim=-1).indices
        remove.scatter_(-1, keep, False)
        return scores.masked_fill(remove, self.filter_value)


class TypicalLogitsWarper(LogitsProcessor):
    """Typical sampling: keep tokens whose surprise is closest to the distribution's entropy, up to
    probability mass ``mass``."""

    def __init__(self, mass: float = 0.9, filter_value: float = -float("inf"), min_tokens_to_keep: int = 1):
        mass = float(mass)
        if not 0.0 < mass < 1.0:
            raise ValueError(f"typical_p must be a float strictly between 0 and 1, not {mass!r}.")
        _check_min_tokens_to_keep(min_tokens_to_keep)
        self.mass, self.filter_value, self.min_tokens_to_keep = mass, filter_value, min_tokens_to_keep

    def __call__(self, input_ids, scores):
        log_probs = torch.log_softmax(scores, dim=-1)
        entropy = -(log_probs * log_probs.exp()).nansum(-1, keepdim=True)
        distance = (-log_probs - entropy).abs()
        sorted_distance, order = torch.sort(distance, descending=False)
        cumulative = scores.gather(-1, order).softmax(dim=-1).cumsum(dim=-1)
        last = (cumulative < self.mass).sum(dim=1).clamp_(max=sorted_distance.shape[-1] - 1)
        remove_sorted = sorted_distance > sorted_distance.gather(1, last.view(-1, 1))
        remove_sorted[..., : self.min_tokens_to_keep] = False
        remove = remove_sorted.scatter(1, order, remove_sorted)
        return scores.masked_fill(remove, self.filter_value)


class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Make tokens already in the sequence less likely: positive scores are divided by ``penalty``,
    negative ones multiplied. ``prompt_ignore_length`` (int, or one per row: the left padding)
    leaves that many leading tokens out."""

    def __init__(self, penalty: float, prompt_ignore_length: int | torch.Tensor | None = None):
        if not isinstance(penalty, (float, int)) or isinstance(penalty, bool) or not penalty > 0:
            raise ValueError(f"repetition_penalty must be a strictly positive float, not {penalty!r}.")
        self.penalty = float(penalty)
        self.prompt_ignore_length = prompt_ignore_length

    def __call__(self, input_ids, scores):
        vocab_size = scores.shape[-1]
        ignore = self.prompt_ignore_length
        if isinstance(ignore, int):
            input_ids = input_ids[:, ignore:]
        elif isinstance(ignore, torch.Tensor):
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            # ignored tokens point at an extra column that is cut off below
            input_ids = input_ids.masked_fill(positions[None, :] < ignore.to(input_ids.device)[:, None], vocab_size)
        input_ids = input_ids.clamp(max=vocab_size)
        padded = torch.nn.functional.pad(scores, (0, 1))
        seen = padded.gather(1, input_ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return padded.scatter(1, input_ids, seen)[..., :vocab_size]


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Forbid any token that would repeat an n-gram of size ``ngram_size`` already in the sequence."""

    def __init__(self, ngram_size: int):
        if not isinstance(ngram_size, int) or ngram_size <= 0:
            raise ValueError(f"no_repeat_ngram_size must be a strictly positive integer, not {ngram_size!r}.")
        self.ngram_size = ngram_size

    def __call__(self, input_ids, scores):
        n = self.ngram_size
        length = input_ids.shape[-1]
        if length < n:
            return scores
        # every window of n tokens whose first n-1 equal the last n-1 tokens bans its last token
        prefix = input_ids[:, length - n + 1:]
        windows = input_ids.unfold(1, n, 1)
        matches = (windows[..., :-1] == prefix[:, None, :]).all(dim=-1)
        vocab_size = scores.shape[-1]
        banned = torch.zeros((scores.shape[0], vocab_size + 1), dtype=torch.bool, device=scores.device)
        targets = torch.where(matches, windows[..., -1].clamp(max=vocab_size), vocab_size)
        banned.scatter_(1, targets, True)
        return scores.masked_fill(banned[:, :vocab_size], -float("inf"))


class SequenceBiasLogitsProcessor(LogitsProcessor):
    """Add a bias to a token when the tokens before it equal a given prefix.

    ``sequence_bias``: ``{(t1, ..., tn): bias}`` or ``[[[t1, ..., tn], bias], ...]``; the bias applies
    to ``tn`` whenever the sequence ends with ``t1 .. t(n-1)``.
    """

    def __init__(self, sequence_bias):
        if isinstance(sequence_bias, list):
            try:
                sequence_bias = {tuple(ids): float(bias) for ids, bias in sequence_bias}
            except (TypeError, ValueError):
                raise ValueError(f"sequence_bias as a list must hold [[token ids], bias] pairs, not "
                                 f"{sequence_bias!r}.") from None
        if not isinstance(sequence_bias, dict) or not sequence_bias:
            raise ValueError(f"sequence_bias must be a non-empty dict {{(token ids): bias}}, not {sequence_bias!r}.")
        for ids in sequence_bias:
            if not isinstance(ids, tuple) or not ids or any(not isinstance(t, int) or t < 0 for t in ids):
                raise ValueError(f"Each sequence_bias key must be a non-empty tuple of token ids, not {ids!r}.")
        self.sequence_bias = sequence_bias
        self._prepared = None

    def _prepare(self, scores):
        vocab_size = scores.shape[-1]
        too_big = sorted({t for ids in self.sequence_bias for t in ids if t >= vocab_size})
        if too_big:
            raise ValueError(f"The model's vocabulary has {vocab_size} tokens, but these biased token ids are "
                             f"outside it: {too_big}.")
        single = torch.zeros(vocab_size, dtype=torch.float, device=scores.device)
        groups: dict[int, list] = {}
        for ids, bias in self.sequence_bias.items():
            if len(ids) == 1:
                single[ids[0]] = bias
            else:
                groups.setdefault(len(ids) - 1, []).append((ids, bias))
        multi = [(torch.tensor([ids[:-1] for ids, _ in g], device=scores.device),
                  torch.tensor([ids[-1] for ids, _ in g], device=scores.device),
                  torch.tensor([b for _, b in g], dtype=torch.float, device=scores.device)) for g in groups.values()]
        self._prepared = (single, multi)

    def __call__(self, input_ids, scores):
        if self._prepared is None:
            self._prepare(scores)
        single, multi = self._prepared
        bias = torch.zeros_like(scores) + single
        for prefixes, last_tokens, biases in multi:
            n = prefixes.shape[1]
            if n > input_ids.shape[1]:
                continue
            hit = (input_ids[:, None, -n:] == prefixes).all(dim=-1)  # (batch, sequences)
            bias.index_add_(1, last_tokens, torch.where(hit, biases, 0.0).to(bias.dtype))
        return scores + bias


class NoBadWordsLogitsProcessor(SequenceBiasLogitsProcessor):
    """Forbid token sequences: the last token of each ``bad_words_ids`` entry gets -inf after its prefix.
    A bad word that is exactly an eos token is skipped, so generation can still end."""

    def __init__(self, bad_words_ids: list[list[int]], eos_token_id=None):
        if not isinstance(bad_words_ids, list) or not bad_words_ids or \
                any(not isinstance(w, list) for w in bad_words_ids):
            raise ValueError(f"bad_words_ids must be a non-empty list of lists of token ids, not {bad_words_ids!r}.")
        if any(not isinstance(t, int) or t < 0 for w in bad_words_ids for t in w):
            raise ValueError(f"bad_words_ids must hold non-negative integer token ids, not {bad_words_ids!r}.")
        self.bad_word_ids = bad_words_ids
        if eos_token_id is not None:
            eos = _as_token_tensor(eos_token_id).tolist()
            bad_words_ids = [w for w in bad_words_ids if all(w != [e] for e in eos)]
        super().__init__({tuple(w): float("-inf") for w in bad_words_ids})


class MinLengthLogitsProcessor(LogitsProcessor):
    """Forbid eos while the whole sequence is shorter than ``min_length``."""

    def __init__(self, min_length: int, eos_token_id, device="cpu"):
        if not isinstance(min_length, int) or min_length < 0:
            raise ValueError(f"min_length must be a non-negative integer, not {min_length!r}.")
        self.min_length = min_length
        self.eos_token_id = _as_token_tensor(eos_token_id, device)
        self._eos = _TokenMask(self.eos_token_id)

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] >= self.min_length:
            return scores.clone()
        return self._eos.fill(scores, -math.inf)


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """Forbid eos until ``min_new_tokens`` tokens follow the prompt (``prompt_length_to_skip`` long)."""

    def __init__(self, prompt_length_to_skip: int, min_new_tokens: int, eos_token_id, device="cpu"):
        for name, value in (("prompt_length_to_skip", prompt_length_to_skip), ("min_new_tokens", min_new_tokens)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}.")
        self.prompt_length_to_skip = prompt_length_to_skip
        self.min_new_tokens = min_new_tokens
        self.eos_token_id = _as_token_tensor(eos_token_id, device)
        self._eos = _TokenMask(self.eos_token_id)

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] - self.prompt_length_to_skip >= self.min_new_tokens:
            return scores.clone()
        return self._eos.fill(scores, -math.inf)


class SuppressTokensLogitsProcessor(LogitsProcessor):
    """Never generate the given tokens."""

    def __init__(self, suppress_tokens, device="cpu"):
        self.suppress_tokens = _as_token_tensor(suppress_tokens, device)
        self._tokens = _TokenMask(self.suppress_tokens)

    def __call__(self, input_ids, scores):
        return self._tokens.fill(scores, -float("inf"))


class InfNanRemoveLogitsProcessor(LogitsProcessor):
    """Replace NaN by 0 and +-inf by the dtype's extremes, so sampling never fails on them."""

    def __call__(self, input_ids, scores):
        scores = torch.where(scores != scores, 0.0, scores)
        info = torch.finfo(scores.dtype)
        return scores.clamp(min=info.min, max=info.max)


class LogitNormalization(LogitsProcessor):
    """Turn scores into log-probabilities (the reference's ``renormalize_logits``)."""

    def __call__(self, input_ids, scores):
        return scores.log_softmax(dim=-1)


# ---- processors that read the encoder input or the position in the sequence -------------------------
def _per_row(encoder_input_ids: torch.Tensor, rows: int) -> torch.Tensor:
    """The encoder rows matching ``rows`` decoder rows (each prompt repeated for its beams/samples)."""
    if rows > encoder_input_ids.shape[0]:
        return encoder_input_ids.repeat_interleave(rows // encoder_input_ids.shape[0], dim=0)
    return encoder_input_ids


class EncoderRepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Make tokens of the encoder input *more* likely (``penalty`` > 1) or less (< 1): the
    reference's hallucination penalty, the inverse of the repetition penalty on those tokens."""

    def __init__(self, penalty: float, encoder_input_ids: torch.LongTensor):
        if not isinstance(penalty, float) or not penalty > 0:
            raise ValueError(f"encoder_repetition_penalty must be a strictly positive float, not {penalty!r}.")
        self.penalty = 1 / penalty
        self.encoder_input_ids = encoder_input_ids

    def __call__(self, input_ids, scores):
        ids = _per_row(self.encoder_input_ids, scores.shape[0]).to(scores.device)
        seen = scores.gather(1, ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return scores.scatter(1, ids, seen)


class EncoderNoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Forbid a token that would copy an n-gram of size ``encoder_ngram_size`` of the encoder input."""

    def __init__(self, encoder_ngram_size: int, encoder_input_ids: torch.LongTensor):
        if not isinstance(encoder_ngram_size, int) or encoder_ngram_size <= 0:
            raise ValueError(f"encoder_no_repeat_ngram_size must be a strictly positive integer, not "
                             f"{encoder_ngram_size!r}.")
        self.ngram_size = encoder_ngram_size
        if encoder_input_ids.dim() == 1:
            encoder_input_ids = encoder_input_ids.unsqueeze(0)
        self.batch_size = encoder_input_ids.shape[0]
        self.encoder_input_ids = encoder_input_ids

    def __call__(self, input_ids, scores):
        n = self.ngram_size
        length = input_ids.shape[-1]
        encoder = self.encoder_input_ids.to(scores.device)
        if length < n - 1 or encoder.shape[-1] < n:
            return scores.clone()
        # every encoder window whose first n-1 tokens equal the decoder's last n-1 bans its last token
        windows = _per_row(encoder, scores.shape[0]).unfold(1, n, 1)  # (rows, windows, n)
        prefix = input_ids[:, length - n + 1:]
        matches = (windows[..., :-1] == prefix[:, None, :]).all(dim=-1)
        vocab_size = scores.shape[-1]
        banned = torch.zeros((scores.shape[0], vocab_size + 1), dtype=torch.bool, device=scores.device)
        banned.scatter_(1, torch.where(matches, windows[..., -1].clamp(max=vocab_size), vocab_size), True)
        return scores.masked_fill(banned[:, :vocab_size], -float("inf"))


class ForcedBOSTokenLogitsProcessor(LogitsProcessor):
    """Force ``bos_token_id`` as the first generated token (when the sequence holds one token)."""

    def __init__(self, bos_token_id: int):
        self.bos_token_id = bos_token_id

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != 1:
            return scores
        forced = torch.full_like(scores, -math.inf)
        forced[:, self.bos_token_id] = 0
        return forced


class ForcedEOSTokenLogitsProcessor(LogitsProcessor):
    """Force an eos token as the last token, when ``max_length`` is reached."""

    def __init__(self, max_length: int, eos_token_id, device="cpu"):
        self.max_length = max_length
        self.eos_token_id = _as_token_tensor(eos_token_id, device)
        if torch.is_floating_point(self.eos_token_id) or bool((self.eos_token_id < 0).any()):
            raise ValueError(f"forced_eos_token_id must be non-negative token ids, not {eos_token_id!r}.")

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.max_length - 1:
            return scores
        forced = torch.full_like(scores, -math.inf)
        forced[:, self.eos_token_id.to(scores.device)] = 0
        return forced


class ExponentialDecayLengthPenalty(LogitsProcessor):
    """Past ``start`` generated tokens, raise the eos scores by ``factor ** (tokens past start)``:
    ``exponential_decay_length_penalty = (start, factor)``."""

    def __init__(self, exponential_decay_length_penalty, eos_token_id, input_ids_seq_length: int):
        start, factor = exponential_decay_length_penalty
        self.regulation_start = start + input_ids_seq_length
        self.regulation_factor = factor
        self.eos_token_id = _as_token_tensor(eos_token_id)

    def __call__(self, input_ids, scores):
        length = input_ids.shape[-1]
        if length <= self.regulation_start:
            return scores
        eos = self.eos_token_id.to(scores.device)
        penalty = scores[:, eos].abs() * (pow(self.regulation_factor, length - self.regulation_start) - 1)
        penalty = penalty.masked_fill(~torch.isfinite(scores[:, eos]), 0.0)
        penalties = torch.zeros_like(scores)
        penalties[:, eos] = penalty
        return scores + penalties


class SuppressTokensAtBeginLogitsProcessor(LogitsProcessor):
    """Forbid the given tokens at the step where the sequence is ``begin_index`` long."""

    def __init__(self, begin_suppress_tokens, begin_index: int, device="cpu"):
        self.begin_suppress_tokens = _as_token_tensor(begin_suppress_tokens, device)
        self.begin_index = begin_index
        self._tokens = _TokenMask(self.begin_suppress_tokens)

    def set_begin_index(self, begin_index: int):
        self.begin_index = begin_index

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.begin_index:
            return scores
        return self._tokens.fill(scores, -float("inf"))


class EpsilonLogitsWarper(LogitsProcessor):
    """Drop tokens whose probability is below ``epsilon`` (epsilon sampling)."""

    def __init__(self, epsilon: float, filter_value: float = -float("inf"), min_tokens_to_keep: int = 1):
        epsilon = float(epsilon)
        if not 0 < epsilon < 1:
            raise ValueError(f"epsilon_cutoff must be strictly between 0 and 1, not {epsilon!r}.")
        _check_min_tokens_to_keep(min_tokens_to_keep)
        self.epsilon, self.filter_value, self.min_tokens_to_keep = epsilon, filter_value, min_tokens_to_keep

    def __call__(self, input_ids, scores):
        remove = scores.softmax(dim=-1) < self.epsilon
        k = min(self.min_tokens_to_keep, scores.shape[-1])
        remove = remove & (scores < torch.topk(scores, k)[0][..., -1, None])
        return scores.masked_fill(remove, self.filter_value)


class EtaLogitsWarper(LogitsProcessor):
    """Eta sampling: drop tokens less likely than min(eta, sqrt(eta) * exp(-entropy))."""

    def __init__(self, epsilon: float, filter_value: float = -float("inf"), min_tokens_to_keep: int = 1,
                 device="cpu"):
        epsilon = float(epsilon)
        if not 0 < epsilon < 1:
            raise ValueError(f"eta_cutoff must be strictly between 0 and 1, not {epsilon!r}.")
        _check_min_tokens_to_keep(min_tokens_to_keep)
        self.epsilon = torch.tensor(epsilon, device=device)
        self.filter_value, self.min_tokens_to_keep = filter_value, min_tokens_to_keep

    def __call__(self, input_ids, scores):
        probabilities = scores.softmax(dim=-1)
        entropy = torch.distributions.Categorical(logits=scores).entropy()
        eta = torch.min(self.epsilon.to(scores.device), torch.sqrt(self.epsilon.to(scores.device)) *
                        torch.exp(-entropy))[..., None]
        remove = probabilities < eta
        k = min(self.min_tokens_to_keep, scores.shape[-1])
        remove = remove & (scores < torch.topk(scores, k)[0][..., -1, None])
        return scores.masked_fill(remove, self.filter_value)
