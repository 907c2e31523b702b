"""Stopping criteria: functions of (input_ids, scores) -> a bool per row, True = this row is done."""

from __future__ import annotations

import json
import logging
import time

import torch

__all__ = ["StoppingCriteria", "StoppingCriteriaList", "MaxLengthCriteria", "MaxTimeCriteria",
           "EosTokenCriteria", "StopStringCriteria"]

logger = logging.getLogger("leanformers")


class StoppingCriteria:
    """Base class: ``__call__(input_ids, scores, **kwargs)`` returns a (batch,) bool tensor."""

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(input_ids, scores).")


class StoppingCriteriaList(list):
    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for criterion in self:
            result = criterion(input_ids, scores, **kwargs)
            if isinstance(result, bool):
                result = torch.full_like(done, result)
            done = done | result.to(done.device)
        return done

    @property
    def max_length(self) -> int | None:
        for criterion in self:
            if isinstance(criterion, MaxLengthCriteria):
                return criterion.max_length
        return None


class MaxLengthCriteria(StoppingCriteria):
    """Done once the sequence (prompt included) has ``max_length`` tokens."""

    _warned = False

    def __init__(self, max_length: int, max_position_embeddings: int | None = None):
        self.max_length = max_length
        self.max_position_embeddings = max_position_embeddings

    def __call__(self, input_ids, scores, **kwargs):
        length = input_ids.shape[1]
        done = length >= self.max_length
        if (self.max_position_embeddings is not None and not done and length > self.max_position_embeddings
                and not MaxLengthCriteria._warned):
            MaxLengthCriteria._warned = True
            logger.warning(f"Generation has gone past the model's context length ({self.max_position_embeddings} "
                           f"tokens); the model may fail or produce poor text from here on.")
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class MaxTimeCriteria(StoppingCriteria):
    """Done once ``max_time`` seconds have passed since the criterion was made."""

    def __init__(self, max_time: float, initial_timestamp: float | None = None):
        self.max_time = max_time
        self.initial_timestamp = time.time() if initial_timestamp is None else initial_timestamp

    def __call__(self, input_ids, scores, **kwargs):
        done = time.time() - self.initial_timestamp > self.max_time
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class EosTokenCriteria(StoppingCriteria):
    """Done when the last token is one of ``eos_token_id`` (an int or a list)."""

    def __init__(self, eos_token_id):
        if not isinstance(eos_token_id, torch.Tensor):
            eos_token_id = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        self.eos_token_id = eos_token_id.reshape(-1)

    def __call__(self, input_ids, scores, new_token_length: int = 1, **kwargs):
        self.eos_token_id = self.eos_token_id.to(input_ids.device)
        return torch.isin(input_ids[:, -new_token_length:], self.eos_token_id).any(dim=-1)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (byte-level BPE vocabularies are written in it)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, map(chr, chars)))


def _is_byte_level(tokenizer) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    if decoder is not None and type(decoder).__name__ == "ByteLevel":
        return True
    to_str = getattr(backend, "to_str", None)
    if to_str is not None:
        try:
            decoder_json = json.loads(to_str()).get("decoder")
        except (ValueError, TypeError, AttributeError):
            decoder_json = None
        return '"ByteLevel"' in json.dumps(decoder_json)
    return False


class StopStringCriteria(StoppingCriteria):
    """Done when the text ends in one of ``stop_strings`` (which may span several tokens).

    As in the reference, a stop string counts only if it overlaps the *last* token: it is caught the
    step it is completed, and an older occurrence does not stop generation again. A token may run
    past either end of the stop string ("st" + "opper" completes "stop"). Matching is on the bytes
    each token yields, so byte-level vocabularies match pieces of multi-byte characters too.
    """

    def __init__(self, tokenizer, stop_strings):
        if isinstance(stop_strings, str):
            stop_strings = [stop_strings]
        if not stop_strings or any(not isinstance(s, str) or not s for s in stop_strings):
            raise ValueError(f"stop_strings must be a non-empty string or list of them, not {stop_strings!r}.")
        self.stop_strings = tuple(stop_strings)
        self._targets = tuple(s.encode("utf-8") for s in stop_strings)
        self.tokenizer = tokenizer
        self._byte_decoder = ({c: b for b, c in _bytes_to_unicode().items()} if _is_byte_level(tokenizer)
                              else None)
        self._prefix = "abcdef"
        self._prefix_tokens = None
        self._token_bytes: dict[int, bytes] = {}
        self._longest = max(len(t) for t in self._targets)

    def _bytes_of(self, token_id: int) -> bytes:
        """The bytes a token yields in decoded text (cached per id)."""
        cached = self._token_bytes.get(token_id)
        if cached is not None:
            return cached
        token = self.tokenizer.convert_ids_to_tokens(token_id)
        if token is None:
            out = b""
        elif self._byte_decoder is not None and all(c in self._byte_decoder for c in token):
            out = bytes(self._byte_decoder[c] for c in token)
        else:
            # Decoding a token alone may drop a leading space ("▁the" -> "the"); decode it after a
            # fixed prefix and cut the prefix off instead.
            if self._prefix_tokens is None:
                ids = self.tokenizer(self._prefix, add_special_tokens=False)["input_ids"]
                self._prefix_tokens = self.tokenizer.convert_ids_to_tokens(ids)
            text = self.tokenizer.convert_tokens_to_string(self._prefix_tokens + [token])
            at = text.find(self._prefix)
            out = (text[at + len(self._prefix):] if at >= 0 else text).encode("utf-8")
        self._token_bytes[token_id] = out
        return out

    def _row_matches(self, ids: list[int]) -> bool:
        last = self._bytes_of(ids[-1])
        if not last:
            return False
        # gather enough earlier tokens to hold the longest stop string before the last token
        pieces, before = [last], 0
        for token_id in reversed(ids[:-1]):
            if before >= self._longest:
                break
            piece = self._bytes_of(token_id)
            pieces.append(piece)
            before += len(piece)
        text = b"".join(reversed(pieces))
        last_start = len(text) - len(last)
        for target in self._targets:
            # an occurrence that ends inside the last token
            start = max(0, last_start - len(target) + 1)
            if text.find(target, start) != -1:
                return True
        return False

    def __call__(self, input_ids, scores, **kwargs):
        window = input_ids[:, -(self._longest + 1):].tolist()
        return torch.tensor([self._row_matches(row) for row in window], dtype=torch.bool, device=input_ids.device)
