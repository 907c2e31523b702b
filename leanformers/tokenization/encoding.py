"""Encoding: the result of tokenizing one input (or pair), the `tokenizers.Encoding` counterpart.

Parallel lists (ids, type_ids, tokens, offsets, word ids, special-token and attention masks), the
overflowing pieces left by truncation, and which token ranges belong to which input sequence.
Truncation, padding and merging follow the reference step for step, because their corner cases
(stride windows, overflow cross-products when merging pairs) are visible in the numbers.
"""

from __future__ import annotations

__all__ = ["Encoding"]


class Encoding:
    __slots__ = ("ids", "type_ids", "tokens", "words", "offsets", "special_tokens_mask", "attention_mask",
                 "overflowing", "sequence_ranges")

    def __init__(self, ids=None, type_ids=None, tokens=None, words=None, offsets=None, special_tokens_mask=None,
                 attention_mask=None, overflowing=None, sequence_ranges=None):
        self.ids = ids if ids is not None else []
        n = len(self.ids)
        self.type_ids = type_ids if type_ids is not None else [0] * n
        self.tokens = tokens if tokens is not None else []
        self.words = words if words is not None else [None] * n
        self.offsets = offsets if offsets is not None else []
        self.special_tokens_mask = special_tokens_mask if special_tokens_mask is not None else [0] * n
        self.attention_mask = attention_mask if attention_mask is not None else [1] * n
        self.overflowing = overflowing if overflowing is not None else []
        self.sequence_ranges = sequence_ranges if sequence_ranges is not None else {}

    # ---- read-only views -------------------------------------------------------------------
    @property
    def word_ids(self) -> list:
        return list(self.words)

    @property
    def n_sequences(self) -> int:
        return len(self.sequence_ranges) or 1

    def sequence_range(self, sequence_id: int) -> range:
        r = self.sequence_ranges.get(sequence_id)
        return range(r[0], r[1]) if r is not None else range(0, len(self.ids))

    @property
    def sequence_ids(self) -> list:
        out = [None] * len(self.ids)
        for seq in range(self.n_sequences):
            for i in self.sequence_range(seq):
                out[i] = seq
        return out

    def __len__(self):
        return len(self.ids)

    def __repr__(self):
        return (f"Encoding(num_tokens={len(self.ids)}, attributes=[ids, type_ids, tokens, offsets, attention_mask, "
                f"special_tokens_mask, overflowing])")

    def copy(self) -> "Encoding":
        return Encoding(list(self.ids), list(self.type_ids), list(self.tokens), list(self.words), list(self.offsets),
                        list(self.special_tokens_mask), list(self.attention_mask),
                        [o.copy() for o in self.overflowing], dict(self.sequence_ranges))

    def set_sequence_id(self, sequence_id: int) -> None:
        self.sequence_ranges[sequence_id] = (0, len(self.ids))

    # ---- position lookups ---------------------------------------------------------------------
    def token_to_sequence(self, token_index: int):
        if token_index > len(self.ids):
            return None
        if not self.sequence_ranges:
            return 0
        for seq, (s, e) in self.sequence_ranges.items():
            if s <= token_index < e:
                return seq
        return None

    def token_to_chars(self, token_index: int):
        if self.token_to_sequence(token_index) is None or not 0 <= token_index < len(self.offsets):
            return None
        return self.offsets[token_index]

    def token_to_word(self, token_index: int):
        if self.token_to_sequence(token_index) is None or not 0 <= token_index < len(self.words):
            return None
        return self.words[token_index]

    def char_to_token(self, char_pos: int, sequence_index: int = 0):
        r = self.sequence_range(sequence_index)
        for i in r:
            s, e = self.offsets[i]
            if s <= char_pos < e:
                return i
        return None

    def char_to_word(self, char_pos: int, sequence_index: int = 0):
        t = self.char_to_token(char_pos, sequence_index)
        return None if t is None else self.token_to_word(t)

    def word_to_tokens(self, word_index: int, sequence_index: int = 0):
        start = end = None
        for i in self.sequence_range(sequence_index):
            if self.words[i] == word_index:
                if start is None:
                    start = i
                end = i + 1
        return None if start is None else (start, end)

    def word_to_chars(self, word_index: int, sequence_index: int = 0):
        span = self.word_to_tokens(word_index, sequence_index)
        if span is None:
            return None
        return (self.offsets[span[0]][0], self.offsets[span[1] - 1][1])

    # ---- edits ------------------------------------------------------------------------------------
    def _slice(self, a: int, b: int) -> "Encoding":
        return Encoding(self.ids[a:b], self.type_ids[a:b], self.tokens[a:b], self.words[a:b], self.offsets[a:b],
                        self.special_tokens_mask[a:b], self.attention_mask[a:b], [], {})

    def truncate(self, max_length: int, stride: int = 0, direction: str = "right") -> None:
        """Keep `max_length` tokens; the rest goes to `overflowing` as windows overlapping by `stride`."""
        n = len(self.ids)
        if max_length >= n:
            return
        if max_length == 0:
            old = self._take()
            self.overflowing.append(old)
            return
        if stride >= max_length:
            raise ValueError(f"truncation stride ({stride}) must be strictly less than max_length ({max_length}); "
                             "note that max_length excludes the special tokens the post-processor adds")
        step = max_length - stride
        ranges = []
        if direction == "right":
            for start in range(0, n, step):
                stop = min(start + max_length, n)
                ranges.append((start, stop))
                if stop == n:
                    break
        elif direction == "left":
            for last in range(n - 1, -1, -step):
                stop = last + 1
                start = max(stop - max_length, 0)
                ranges.append((start, stop))
                if start == 0:
                    break
        else:
            raise ValueError(f"truncation direction must be 'right' or 'left', got {direction!r}")
        parts = [self._slice(a, b) for a, b in ranges]
        first = parts[0]
        first.overflowing = parts[1:]
        self._assign(first)

    def _take(self) -> "Encoding":
        old = Encoding(self.ids, self.type_ids, self.tokens, self.words, self.offsets, self.special_tokens_mask,
                       self.attention_mask, self.overflowing, self.sequence_ranges)
        self._assign(Encoding())
        return old

    def _assign(self, other: "Encoding") -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(other, name))

    def pad(self, length: int, direction: str = "right", pad_id: int = 0, pad_type_id: int = 0,
            pad_token: str = "[PAD]") -> None:
        for o in self.overflowing:
            o.pad(length, direction, pad_id, pad_type_id, pad_token)
        n = len(self.ids)
        if n >= length:
            return
        k = length - n
        if direction == "left":
            self.ids = [pad_id] * k + self.ids
            self.type_ids = [pad_type_id] * k + self.type_ids
            self.tokens = [pad_token] * k + self.tokens
            self.words = [None] * k + self.words
            self.attention_mask = [0] * k + self.attention_mask
            self.special_tokens_mask = [1] * k + self.special_tokens_mask
            self.offsets = [(0, 0)] * k + self.offsets
            self.sequence_ranges = {s: (a + k, b + k) for s, (a, b) in self.sequence_ranges.items()}
        elif direction == "right":
            self.ids = self.ids + [pad_id] * k
            self.type_ids = self.type_ids + [pad_type_id] * k
            self.tokens = self.tokens + [pad_token] * k
            self.words = self.words + [None] * k
            self.attention_mask = self.attention_mask + [0] * k
            self.special_tokens_mask = self.special_tokens_mask + [1] * k
            self.offsets = self.offsets + [(0, 0)] * k
        else:
            raise ValueError(f"padding direction must be 'right' or 'left', got {direction!r}")

    def merge_with(self, pair: "Encoding", growing_offsets: bool) -> None:
        """Append `pair`; overflowing pieces of either side combine with the other (the reference's
        cross product)."""
        overflowings = []
        for mine in self.overflowing:
            n_enc = mine.copy()
            n_enc.merge_with(pair.copy(), growing_offsets)
            overflowings.append(n_enc)
            for theirs in pair.overflowing:
                n_enc = mine.copy()
                n_enc.merge_with(theirs.copy(), growing_offsets)
                overflowings.append(n_enc)
        for theirs in pair.overflowing:
            n_enc = self.copy()
            n_enc.merge_with(theirs.copy(), growing_offsets)
            overflowings.append(n_enc)
        n = len(self.ids)
        for seq, (a, b) in pair.sequence_ranges.items():
            self.sequence_ranges[seq] = (a + n, b + n)
        self.ids = self.ids + pair.ids
        self.type_ids = self.type_ids + pair.type_ids
        self.tokens = self.tokens + pair.tokens
        self.words = self.words + pair.words
        shift = self.offsets[-1][1] if growing_offsets and self.offsets else 0
        self.offsets = self.offsets + ([(a + shift, b + shift) for a, b in pair.offsets] if shift else pair.offsets)
        self.special_tokens_mask = self.special_tokens_mask + pair.special_tokens_mask
        self.attention_mask = self.attention_mask + pair.attention_mask
        self.overflowing = overflowings

    @staticmethod
    def merge(encodings, growing_offsets: bool = True) -> "Encoding":
        out = Encoding()
        for e in encodings:
            out.merge_with(e, growing_offsets)
        return out
