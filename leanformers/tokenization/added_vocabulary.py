"""Added tokens: strings matched whole in the input before normalization and pre-tokenization.

Tokens with `normalized=False` are found in the raw text; the rest of the text is normalized and
tokens with `normalized=True` are then found in the normalized text (their own content normalized
the same way). At each position the longest token wins. `lstrip` / `rstrip` swallow the spaces
around a match, `single_word` accepts only matches not glued to word characters.
"""

from __future__ import annotations

import re

from .lazy import LazyPattern
from .normalized import WHITESPACE, WHITESPACE_CHARS, Piece, cut_after_spaces

__all__ = ["AddedToken", "AddedVocabulary"]

_WORD_CHAR = LazyPattern(r"\w")


class AddedToken:
    """An added token (the `tokenizers.AddedToken` counterpart). `normalized` defaults to
    `not special`."""

    __slots__ = ("content", "single_word", "lstrip", "rstrip", "_normalized", "special")

    def __init__(self, content: str = "", single_word: bool = False, lstrip: bool = False, rstrip: bool = False,
                 normalized: bool | None = None, special: bool = False):
        if not isinstance(content, str):
            raise TypeError(f"AddedToken content must be a string, got {type(content).__name__}")
        self.content = content
        self.single_word = bool(single_word)
        self.lstrip = bool(lstrip)
        self.rstrip = bool(rstrip)
        self._normalized = None if normalized is None else bool(normalized)
        self.special = bool(special)

    @property
    def normalized(self) -> bool:
        return (not self.special) if self._normalized is None else self._normalized

    @normalized.setter
    def normalized(self, value: bool) -> None:
        self._normalized = bool(value)

    def _fixed(self, special: bool | None = None) -> "AddedToken":
        """A copy with every flag resolved (what the vocabulary stores)."""
        sp = self.special if special is None else special
        norm = (not sp) if self._normalized is None else self._normalized
        return AddedToken(self.content, self.single_word, self.lstrip, self.rstrip, norm, sp)

    def __getstate__(self):
        return {"content": self.content, "single_word": self.single_word, "lstrip": self.lstrip, "rstrip": self.rstrip,
                "normalized": self.normalized, "special": self.special}

    def __setstate__(self, state):
        self.__init__(**state)

    def __str__(self):
        return self.content

    def __repr__(self):
        b = lambda v: "True" if v else "False"  # noqa: E731
        return (f'AddedToken("{self.content}", rstrip={b(self.rstrip)}, lstrip={b(self.lstrip)}, '
                f"single_word={b(self.single_word)}, normalized={b(self.normalized)}, special={b(self.special)})")

    def _key(self):
        return (self.content, self.single_word, self.lstrip, self.rstrip, self.normalized, self.special)

    def __eq__(self, other):
        if isinstance(other, AddedToken):
            return self._key() == other._key()
        return NotImplemented

    def __hash__(self):
        return hash(self.content)

    def to_dict(self, id_: int) -> dict:
        return {"id": id_, "content": self.content, "single_word": self.single_word, "lstrip": self.lstrip,
                "rstrip": self.rstrip, "normalized": self.normalized, "special": self.special}


class AddedVocabulary:
    def __init__(self):
        self.by_content = {}  # content -> id
        self.by_id = {}  # id -> AddedToken
        self.special_contents = set()
        self._order = []  # contents in insertion order: specials first as the reference partitions them
        self._plain = None  # (regex, {text: id}) for normalized=False tokens
        self._normalized = None
        self.display = {}  # id -> the string id_to_token gives (normalized content for normalized tokens)
        self._cut_safe = True

    def __len__(self):
        return len(self.by_content)

    def add(self, tokens, model, normalizer) -> int:
        for t in tokens:
            if t.special and t.content and t.content not in self.special_contents:
                self.special_contents.add(t.content)
        ignored = 0
        for t in tokens:
            if not t.content or any(v == t for v in self.by_id.values()):
                ignored += 1
                continue
            new_id = self.by_content.get(t.content)
            if new_id is None:
                new_id = model.token_to_id(t.content)
            if new_id is None:
                size = model.get_vocab_size()
                top = max(self.by_content.values(), default=None)
                new_id = size if top is None else (top + 1 if top >= size or size == 0 else size)
            old = self.by_content.get(t.content)
            if old is not None and old != new_id:
                self.by_id.pop(old, None)
            self.by_content[t.content] = new_id
            self.by_id[new_id] = t
            if t.content not in self._order:
                self._order.append(t.content)
        self.refresh(normalizer)
        return len(tokens) - ignored

    def refresh(self, normalizer) -> None:
        plain, normed = {}, {}
        self.display = {}
        specials_first = [c for c in self._order if c in self.special_contents] + \
                         [c for c in self._order if c not in self.special_contents]
        for content in specials_first:
            i = self.by_content[content]
            tok = self.by_id.get(i)
            if tok is None:
                continue
            if tok.normalized:
                key = normalizer.normalize_str(content) if normalizer is not None else content
                self.display[i] = key
                if key:
                    normed.setdefault(key, i)
            else:
                plain.setdefault(content, i)
        self._plain = _compile(plain)
        self._normalized = _compile(normed)
        self._cut_safe = all(not (self.by_id[i].lstrip or self.by_id[i].rstrip) and WHITESPACE.isdisjoint(key)
                             for key, i in normed.items())

    # ---- splitting the input -------------------------------------------------------------------------
    def extract_and_normalize(self, normalizer, text: str, chunk_chars: int = 0) -> list:
        """The text as pieces: added tokens (with `tokens` set) and normalized text between them.
        With `chunk_chars`, long stretches of text are normalized in parts of about that many
        characters cut after a space or newline (only valid for a char_local normalizer, see
        Tokenizer._chunk_chars): alignment lists then stay small and ASCII parts stay cheap."""
        root = Piece(text)
        if not self.by_content:
            if normalizer is None:
                return [root] if root.text else []
            return [p for p in _normalize(normalizer, root, chunk_chars) if p.text]
        out = []
        for piece in self._split(root, self._plain):
            if piece.tokens is not None:
                out.append(piece)
            elif normalizer is None:
                out.extend(self._split(piece, self._normalized))
            else:
                for part in _normalize(normalizer, piece, chunk_chars):
                    out.extend(self._split(part, self._normalized))
        return out

    def cut_safe(self) -> bool:
        """Whether no normalized added token can match across a cut after a space: none contains
        whitespace or swallows the spaces around it (lstrip / rstrip)."""
        return self._cut_safe

    def _split(self, piece: Piece, matcher) -> list:
        text = piece.text
        if not text:
            return []
        if matcher is None:
            return [piece]
        pattern, ids = matcher
        splits = []
        prev = 0
        for m in pattern.finditer(text):
            s, e = m.span()
            i = ids[m.group()]
            tok = self.by_id[i]
            if tok.single_word:
                if (s > 0 and _WORD_CHAR.match(text[s - 1])) or (e < len(text) and _WORD_CHAR.match(text[e])):
                    continue
            if tok.lstrip:
                s = max(len(text[:s].rstrip(WHITESPACE_CHARS)), prev)
            if tok.rstrip:
                e += len(text[e:]) - len(text[e:].lstrip(WHITESPACE_CHARS))
            if prev < s:
                splits.append((None, prev, s))
            splits.append((i, s, e))
            prev = e
        if not splits:
            return [piece]
        if prev != len(text):
            splits.append((None, prev, len(text)))
        out = []
        for i, s, e in splits:
            if e <= s:
                continue
            sl = piece.slice(s, e)
            if i is not None:
                sl.tokens = ((i, sl.text, (0, len(sl.text))),)
            out.append(sl)
        return out


def _normalize(normalizer, piece: Piece, chunk_chars: int) -> list:
    parts = cut_after_spaces(piece, chunk_chars) if chunk_chars else [piece]
    for part in parts:
        normalizer.normalize(part)
        _reslice(part)
    return parts


def _reslice(piece: Piece) -> None:
    """The reference slices the normalized text again (to look for normalized added tokens), which
    moves the piece's start to where its first normalized character comes from."""
    if piece.text and piece.align is not None:
        piece.start = piece.align[0][0]


def _compile(table: dict):
    if not table:
        return None
    alternatives = sorted(table, key=len, reverse=True)  # longest first: leftmost-longest matching
    # compiled when first matched (re.escape's escapes mean the same to `regex`)
    return LazyPattern("|".join(re.escape(a) for a in alternatives)), table
