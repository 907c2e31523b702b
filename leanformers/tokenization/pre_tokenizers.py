"""Pre-tokenizers: cut normalized text into the words the model sees.

Each takes the list of Pieces (normalized.Piece) and returns the new list; pieces that already hold
tokens (matched added tokens) pass through untouched, and empty pieces are dropped, as in the
reference's PreTokenizedString. Word-finding is one precompiled `regex` scan per piece.
"""

from __future__ import annotations

import re

from .lazy import LazyPattern
from .normalized import (
    ASCII_TO_BYTE_CHARS, BYTES_TO_CHARS, PUNCT_CLASS, WS_CLASS, Piece, behavior_from_json, behavior_to_json,
    regex_matches, split_piece,
)
from .schema import Component, ComponentSequence, field, make_pattern, pattern_to_json, registry
from .unicode_tables import TablePattern, script_of

__all__ = [
    "PreTokenizer", "ByteLevel", "Metaspace", "Whitespace", "WhitespaceSplit", "BertPreTokenizer", "Punctuation",
    "Digits", "Split", "CharDelimiterSplit", "UnicodeScripts", "FixedLength", "Sequence", "pre_tokenizer_from_dict",
    "byte_level_map", "GPT2_PATTERN",
]

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# (TablePattern: the classes are the reference's own, for every code point; see unicode_tables.py)
_GPT2_RE = TablePattern(GPT2_PATTERN)
_WHITESPACE_RE = TablePattern(rf"[\p{{regex_crate_word}}]+|[^\p{{regex_crate_word}}{WS_CLASS}]+")
_WHITESPACE_SPLIT_RE = LazyPattern(rf"[^{WS_CLASS}]+")
_BERT_RE = TablePattern(rf"[^{WS_CLASS}{PUNCT_CLASS}]+|[{PUNCT_CLASS}]")
_PUNCT_RE = TablePattern(rf"[{PUNCT_CLASS}]")
_DIGIT_RE = TablePattern(r"[\p{numeric}]")


class PreTokenizer(Component):
    # True when words never span whitespace (which is dropped): pre-tokenizing a text cut after an
    # ASCII space or newline gives the same words as the whole (the engine works in chunks then).
    splits_at_whitespace = False

    def pre_tokenize(self, pieces: list) -> list:
        out = []
        for p in pieces:
            if p.tokens is not None:
                out.append(p)
            else:
                out.extend(self.split(p))
        return out

    def split(self, piece: Piece) -> list:
        raise NotImplementedError

    def fast_words(self, text: str):
        """For plain text (no alignment to carry): (words, contiguous) or None when unsupported.
        The engine locates each word itself: consecutive when `contiguous`, else with str.find
        from the previous word's end (the gaps hold only characters no word contains)."""
        return None

    def pre_tokenize_str(self, text: str) -> list:
        """[(word, (start, end)), ...] with offsets into `text` (as the reference's helper)."""
        return [(p.text, p.original_span(0, len(p.text))) for p in self.pre_tokenize([Piece(text)])]



def _regex_words(piece: Piece, pattern) -> list:
    """The matches of `pattern` as pieces (the reference's split with Invert(pattern), Removed)."""
    text = piece.text
    if piece.align is None:
        b = piece.base
        return [Piece(m.group(), None, b + m.start()) for m in pattern.finditer(text)]
    return [piece.slice(*m.span()) for m in pattern.finditer(text)]


# ---- byte level ------------------------------------------------------------------------------------
_BYTE_CHAR_CACHE: dict = {}


def _byte_chars(c: str) -> str:
    s = _BYTE_CHAR_CACHE.get(c)
    if s is None:
        s = "".join(BYTES_TO_CHARS[b] for b in c.encode("utf-8", "surrogatepass"))
        _BYTE_CHAR_CACHE[c] = s
    return s


def byte_level_map(piece: Piece) -> None:
    """Replace each character by the byte-level characters of its UTF-8 bytes."""
    text = piece.text
    if text.isascii():
        piece.text = text.translate(ASCII_TO_BYTE_CHARS)  # one byte per character: alignment kept
    else:
        piece.expand([_byte_chars(c) for c in text])


class ByteLevel(PreTokenizer):
    type_name = "ByteLevel"

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True):
        self.add_prefix_space = bool(add_prefix_space)
        self.trim_offsets = bool(trim_offsets)
        self.use_regex = bool(use_regex)

    @staticmethod
    def alphabet() -> list:
        return sorted(BYTES_TO_CHARS.values())

    def split(self, piece):
        if self.add_prefix_space and not piece.text.startswith(" "):
            piece.prepend(" ")
        if not self.use_regex:
            byte_level_map(piece)
            return [piece] if piece.text else []
        text = piece.text
        if piece.align is None and text.isascii():
            # Map once, then cut: ASCII maps one character to one character.
            mapped = text.translate(ASCII_TO_BYTE_CHARS)
            b = piece.base
            return [Piece(mapped[s:e], None, b + s) for s, e, _ in regex_matches(_GPT2_RE, text) if e > s]
        out = split_piece(piece, regex_matches(_GPT2_RE, text), "isolated")
        for p in out:
            byte_level_map(p)
        return out

    def fast_words(self, text):
        if self.add_prefix_space or not self.use_regex or not text.isascii():
            return None
        # the GPT-2 pattern leaves no gaps, and ASCII maps one character to one character
        return [w.translate(ASCII_TO_BYTE_CHARS) for w in _GPT2_RE.findall(text)], True

    def to_dict(self):
        return {"type": self.type_name, "add_prefix_space": self.add_prefix_space, "trim_offsets": self.trim_offsets,
                "use_regex": self.use_regex}

    @classmethod
    def from_dict(cls, d):
        n = "ByteLevel pre-tokenizer"
        return cls(field(d, "add_prefix_space", n, bool, True), field(d, "trim_offsets", n, bool, True),
                   field(d, "use_regex", n, bool, True))


# ---- SentencePiece style ---------------------------------------------------------------------------
_PREPEND_SCHEMES = ("always", "never", "first")


class Metaspace(PreTokenizer):
    """Spaces become `replacement` (▁), a ▁ is prepended per `prepend_scheme`, and with `split`
    every ▁ starts a new word."""

    type_name = "Metaspace"

    def __init__(self, replacement: str = "▁", prepend_scheme: str = "always", split: bool = True):
        if not isinstance(replacement, str) or len(replacement) != 1:
            raise ValueError(f"Metaspace: field 'replacement' must be a single character, got {replacement!r}")
        if prepend_scheme not in _PREPEND_SCHEMES:
            raise ValueError(f"Metaspace: field 'prepend_scheme' must be one of {_PREPEND_SCHEMES}, got {prepend_scheme!r}")
        self.replacement = replacement
        self.prepend_scheme = prepend_scheme
        self.split_words = bool(split)
        self._split_re = LazyPattern(re.escape(replacement))

    def split(self, piece):
        r = self.replacement
        if " " in piece.text:
            piece.text = piece.text.replace(" ", r)  # one character for one: alignment kept
        if self.prepend_scheme == "always" or (self.prepend_scheme == "first" and piece.start == 0):
            if not piece.text.startswith(r):
                piece.prepend(r)
        if not self.split_words:
            return [piece] if piece.text else []
        return split_piece(piece, regex_matches(self._split_re, piece.text), "merged_with_next")

    def to_dict(self):
        return {"type": self.type_name, "replacement": self.replacement, "prepend_scheme": self.prepend_scheme,
                "split": self.split_words}

    @classmethod
    def from_dict(cls, d):
        n = "Metaspace pre-tokenizer"
        scheme = d.get("prepend_scheme")
        if scheme is None:  # files written before prepend_scheme existed
            scheme = "always" if d.get("add_prefix_space", True) else "never"
        return cls(field(d, "replacement", n, str), scheme, field(d, "split", n, bool, True))


# ---- whitespace and punctuation ----------------------------------------------------------------------
class Whitespace(PreTokenizer):
    """Words are runs of word characters or runs of other non-space characters (\\w+|[^\\w\\s]+)."""

    type_name = "Whitespace"
    splits_at_whitespace = True

    def split(self, piece):
        return _regex_words(piece, _WHITESPACE_RE)

    def fast_words(self, text):
        return _WHITESPACE_RE.findall(text), False


class WhitespaceSplit(PreTokenizer):
    type_name = "WhitespaceSplit"
    splits_at_whitespace = True

    def split(self, piece):
        return _regex_words(piece, _WHITESPACE_SPLIT_RE)

    def fast_words(self, text):
        return _WHITESPACE_SPLIT_RE.findall(text), False


class BertPreTokenizer(PreTokenizer):
    """Split on whitespace (removed), then isolate every punctuation character."""

    type_name = "BertPreTokenizer"
    splits_at_whitespace = True

    def split(self, piece):
        return _regex_words(piece, _BERT_RE)

    def fast_words(self, text):
        return _BERT_RE.findall(text), False


class Punctuation(PreTokenizer):
    type_name = "Punctuation"

    def __init__(self, behavior: str = "isolated"):
        self.behavior = behavior_from_json(behavior, "Punctuation")

    def split(self, piece):
        return split_piece(piece, regex_matches(_PUNCT_RE, piece.text), self.behavior)

    def to_dict(self):
        return {"type": self.type_name, "behavior": behavior_to_json(self.behavior)}

    @classmethod
    def from_dict(cls, d):
        return cls(field(d, "behavior", "Punctuation", str, "Isolated"))


class Digits(PreTokenizer):
    type_name = "Digits"

    def __init__(self, individual_digits: bool = False):
        self.individual_digits = bool(individual_digits)

    def split(self, piece):
        return split_piece(piece, regex_matches(_DIGIT_RE, piece.text),
                           "isolated" if self.individual_digits else "contiguous")

    def to_dict(self):
        return {"type": self.type_name, "individual_digits": self.individual_digits}

    @classmethod
    def from_dict(cls, d):
        return cls(field(d, "individual_digits", "Digits", bool, False))


class Split(PreTokenizer):
    type_name = "Split"

    def __init__(self, pattern, behavior: str = "isolated", invert: bool = False):
        self.pattern_json, self.regex = make_pattern(pattern, "Split")
        self.behavior = behavior_from_json(behavior, "Split")
        self.invert = bool(invert)

    def split(self, piece):
        matches = regex_matches(self.regex, piece.text)
        if self.invert:
            matches = [(s, e, not m) for s, e, m in matches]
        return split_piece(piece, matches, self.behavior)

    def to_dict(self):
        return {"type": self.type_name, "pattern": self.pattern_json, "behavior": behavior_to_json(self.behavior),
                "invert": self.invert}

    @classmethod
    def from_dict(cls, d):
        return cls(pattern_to_json(field(d, "pattern", "Split", dict), "Split"), field(d, "behavior", "Split", str),
                   field(d, "invert", "Split", bool, False))


class CharDelimiterSplit(PreTokenizer):
    type_name = "CharDelimiterSplit"

    def __init__(self, delimiter: str):
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise ValueError(f"CharDelimiterSplit: field 'delimiter' must be a single character, got {delimiter!r}")
        self.delimiter = delimiter
        self._re = LazyPattern(re.escape(delimiter))

    def split(self, piece):
        return split_piece(piece, regex_matches(self._re, piece.text), "removed")

    def to_dict(self):
        return {"type": self.type_name, "delimiter": self.delimiter}

    @classmethod
    def from_dict(cls, d):
        return cls(field(d, "delimiter", "CharDelimiterSplit", str))


class FixedLength(PreTokenizer):
    type_name = "FixedLength"

    def __init__(self, length: int = 5):
        if not isinstance(length, int) or length <= 0:
            raise ValueError(f"FixedLength: field 'length' must be a positive integer, got {length!r}")
        self.length = length

    def split(self, piece):
        n = len(piece.text)
        return [piece.slice(s, min(s + self.length, n)) for s in range(0, n, self.length)]

    def to_dict(self):
        return {"type": self.type_name, "length": self.length}

    @classmethod
    def from_dict(cls, d):
        return cls(field(d, "length", "FixedLength", int, 5))


# ---- Unicode scripts -----------------------------------------------------------------------------------
_SCRIPT_CACHE: dict = {}


def _script_of(c: str) -> int:
    """The character's script as the reference's UnicodeScripts sees it (a number; 0: any script)."""
    s = _SCRIPT_CACHE.get(c)
    if s is None:
        s = _SCRIPT_CACHE[c] = script_of(c)
    return s


class UnicodeScripts(PreTokenizer):
    type_name = "UnicodeScripts"

    def split(self, piece):
        text = piece.text
        cuts = []
        last = None
        for i, c in enumerate(text):
            script = _script_of(c)
            if script and last != script:
                cuts.append(i)
                last = script
        cuts.append(len(text))
        return [piece.slice(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


class Sequence(ComponentSequence, PreTokenizer):
    items_key = "pretokenizers"
    kind = "pre-tokenizer"

    @staticmethod
    def item_from_dict(d):
        return pre_tokenizer_from_dict(d)

    @property
    def splits_at_whitespace(self):
        # later steps only ever see the first step's words
        return bool(self.pretokenizers) and self.pretokenizers[0].splits_at_whitespace

    def pre_tokenize(self, pieces):
        for p in self.pretokenizers:
            pieces = p.pre_tokenize(pieces)
        return pieces


_TYPES = {c.type_name: c for c in (
    ByteLevel, Metaspace, Whitespace, WhitespaceSplit, BertPreTokenizer, Punctuation, Digits, Split,
    CharDelimiterSplit, UnicodeScripts, FixedLength, Sequence,
)}


def pre_tokenizer_from_dict(d):
    return registry(d, _TYPES, "pre_tokenizer")
