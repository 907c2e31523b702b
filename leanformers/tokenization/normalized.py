"""The text a tokenizer works on, with its alignment back to the user's original string.

`Piece` is our NormalizedString: a normalized text plus, for each of its characters, the span of
original characters it came from — so every token can report offsets into the user's string after
lower-casing, accent stripping, byte-level mapping and so on. Offsets are character offsets (the
reference computes byte offsets and converts them at the end; working on characters gives the same
numbers because every alignment covers whole original characters).

Speed: most text goes through normalization unchanged in length (ASCII lower-casing, byte-level
mapping of ASCII), so a Piece keeps `align=None` for "character i is original character base+i" and
only builds the per-character list when a transformation changes lengths.

Also here: the character classes the components share (Rust's `char::is_whitespace`, BERT
punctuation, ...), the byte-level alphabet, and splitting a Piece by matches with one of the five
delimiter behaviours.
"""

from __future__ import annotations

import re

__all__ = ["Piece", "split_piece", "cut_after_spaces", "regex_matches", "BYTES_TO_CHARS",
           "CHARS_TO_BYTES"]


class Piece:
    """A slice of normalized text aligned to the original string.

    text:   the normalized characters
    align:  None when character i comes from original character base+i (identity), else one
            (start, end) original span per character of `text` (absolute offsets)
    base:   the original offset of text[0] when align is None
    start:  the original offset where this piece begins (the reference's `original_shift`)
    tokens: None, or the tokens already assigned (an added token matched here)
    """

    __slots__ = ("text", "align", "base", "start", "tokens")

    def __init__(self, text: str, align=None, base: int = 0, start: int | None = None, tokens=None):
        self.text = text
        self.align = align
        self.base = base
        self.start = base if start is None else start
        self.tokens = tokens

    def __repr__(self):
        return f"Piece({self.text!r}, start={self.start}, tokens={self.tokens!r})"

    def spans(self) -> list:
        """The per-character original spans, materialized."""
        if self.align is None:
            b = self.base
            return [(b + i, b + i + 1) for i in range(len(self.text))]
        return self.align

    def original_span(self, start: int, end: int) -> tuple:
        """Original offsets covered by normalized characters [start, end)."""
        if end <= start:
            return (self.start + start, self.start + end)
        if self.align is None:
            return (self.base + start, self.base + end)
        return (self.align[start][0], self.align[end - 1][1])

    def slice(self, a: int, b: int) -> "Piece":
        if self.align is None:
            return Piece(self.text[a:b], None, self.base + a)
        al = self.align[a:b]
        return Piece(self.text[a:b], al, 0, al[0][0] if al else self.start)

    # ---- transformations (in place) ----------------------------------------------------------
    def set_text_mapped(self, new_text: str, mapping: list) -> None:
        """New text whose character k comes from old character mapping[k]."""
        spans = self.spans()
        self.align = [spans[j] for j in mapping]
        self.text = new_text

    def expand(self, replacements: list) -> None:
        """Replace each character i by the string replacements[i] (possibly empty or longer)."""
        new_text = "".join(replacements)
        if len(new_text) == len(self.text) and all(len(r) == 1 for r in replacements):
            self.text = new_text
            return
        mapping = [i for i, r in enumerate(replacements) for _ in range(len(r))]
        self.set_text_mapped(new_text, mapping)

    def prepend(self, s: str) -> None:
        # The reference replaces the first character by s[0] and inserts the rest: every new
        # character shares the first character's alignment.
        if not self.text or not s:
            return
        n = len(self.text)
        self.set_text_mapped(s + self.text, [0] * len(s) + list(range(n)))

    def append(self, s: str) -> None:
        if not self.text or not s:
            return
        n = len(self.text)
        self.set_text_mapped(self.text + s, list(range(n)) + [n - 1] * len(s))

    def strip(self, left: bool, right: bool) -> None:
        text = self.text
        lead = len(text) - len(text.lstrip(WHITESPACE_CHARS)) if left else 0
        trail = len(text) - len(text.rstrip(WHITESPACE_CHARS)) if right else 0
        if not lead and not trail:
            return
        end = len(text) - trail
        if end <= lead:
            self.text = ""
            self.align = []
            return
        if self.align is None:
            self.align = self.spans()
        self.align = self.align[lead:end]
        self.text = text[lead:end]

    def transform(self, pairs, initial_offset: int = 0) -> None:
        """Apply the reference's transform protocol: `pairs` yields (new_char, change) with change
        0 = replaces the next old character, 1 = inserted (shares the previous old character's
        alignment), -N = replaces the next old character and removes the N after it.
        `initial_offset` old characters are removed at the very beginning."""
        spans = self.spans()
        n = len(spans)
        idx = initial_offset
        chars = []
        align = []
        for c, change in pairs:
            if change > 0:
                al = spans[min(idx, n) - 1] if idx >= 1 and n else (self.start, self.start)
            else:
                al = spans[idx] if idx < n else (spans[-1] if n else (self.start, self.start))
                idx += 1
                if change < 0:
                    idx -= change
            chars.append(c)
            align.append(al)
        self.text = "".join(chars)
        self.align = align

    def replace_matches(self, matches, content: str) -> None:
        """Replace each (start, end) match: new characters share the alignment of the match's
        last character (the reference inserts them after removing the matched ones)."""
        if not matches:
            return
        parts = []
        mapping = []
        prev = 0
        text = self.text
        for s, e in matches:
            parts.append(text[prev:s])
            mapping.extend(range(prev, s))
            parts.append(content)
            anchor = e - 1 if e > s else s - 1
            mapping.extend([max(anchor, 0)] * len(content))
            prev = e
        parts.append(text[prev:])
        mapping.extend(range(prev, len(text)))
        if not text:
            return
        self.set_text_mapped("".join(parts), mapping)


# ---- character classes ----------------------------------------------------------------------
# Rust's char::is_whitespace: the Unicode White_Space property.
WHITESPACE_CHARS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
WHITESPACE = frozenset(WHITESPACE_CHARS)
WS_CLASS = "".join(f"\\u{ord(c):04x}" for c in WHITESPACE_CHARS)  # for regex character classes
ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
# BERT punctuation: ASCII punctuation or any Unicode P* category.
PUNCT_CLASS = r"\p{P}" + "".join("\\" + c for c in ASCII_PUNCT)  # each one escaped, for [...]


def is_whitespace(c: str) -> bool:
    return c in WHITESPACE


# ---- byte-level alphabet (GPT-2): every byte is shown as a printable character --------------
def _bytes_to_chars() -> dict:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTES_TO_CHARS = _bytes_to_chars()
CHARS_TO_BYTES = {c: b for b, c in BYTES_TO_CHARS.items()}
# str.translate table for ASCII text, where every character is one byte.
ASCII_TO_BYTE_CHARS = {b: BYTES_TO_CHARS[b] for b in range(128)}


# ---- splitting --------------------------------------------------------------------------------
_CUT_RE = re.compile(r"[ \n]")


def cut_after_spaces(piece: Piece, size: int) -> list:
    """`piece` (not yet normalized) in consecutive parts of at least `size` characters, each cut
    just after an ASCII space or newline; the last part takes the rest."""
    text = piece.text
    if piece.align is not None or len(text) <= 2 * size:
        return [piece]
    parts = []
    start = 0
    while len(text) - start > 2 * size:
        m = _CUT_RE.search(text, start + size)
        if m is None:
            break
        parts.append(piece.slice(start, m.end()))
        start = m.end()
    parts.append(piece.slice(start, len(text)))
    return parts


def regex_matches(pattern, text: str) -> list:
    """[(start, end, is_match), ...] covering `text`, like the reference's Pattern::find_matches."""
    if not text:
        return [(0, 0, False)]
    out = []
    prev = 0
    for m in pattern.finditer(text):
        s, e = m.span()
        if prev != s:
            out.append((prev, s, False))
        out.append((s, e, True))
        prev = e
    if prev != len(text):
        out.append((prev, len(text), False))
    return out


BEHAVIORS = ("removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous")


def split_piece(piece: Piece, matches: list, behavior: str) -> list:
    """Cut `piece` at the matches, treating delimiters per `behavior` (the reference's
    SplitDelimiterBehavior); empty pieces are dropped."""
    if behavior == "isolated":
        spans = [(s, e) for s, e, _ in matches]
    elif behavior == "removed":
        spans = [(s, e) for s, e, m in matches if not m]
    elif behavior == "contiguous":
        spans = []
        prev_match = False
        for s, e, m in matches:
            if spans and m == prev_match:
                spans[-1] = (spans[-1][0], e)
            else:
                spans.append((s, e))
            prev_match = m
    elif behavior == "merged_with_previous":
        spans = []
        prev_match = False
        for s, e, m in matches:
            if m and not prev_match and spans:
                spans[-1] = (spans[-1][0], e)
            else:
                spans.append((s, e))
            prev_match = m
    elif behavior == "merged_with_next":
        spans = []
        prev_match = False
        for s, e, m in reversed(matches):
            if m and not prev_match and spans:
                spans[-1] = (s, spans[-1][1])
            else:
                spans.append((s, e))
            prev_match = m
        spans.reverse()
    else:
        raise ValueError(f"unknown split behavior {behavior!r}; expected one of {BEHAVIORS}")
    if len(spans) == 1 and spans[0] == (0, len(piece.text)):
        return [piece] if piece.text else []
    return [piece.slice(s, e) for s, e in spans if e > s]


def behavior_from_json(value, component: str) -> str:
    """'MergedWithPrevious' (JSON) or 'merged_with_previous' (Python API) -> snake case."""
    if not isinstance(value, str):
        raise ValueError(f"{component}: field 'behavior' must be a string, got {value!r}")
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", value).lower()
    if snake not in BEHAVIORS:
        raise ValueError(f"{component}: unknown behavior {value!r}; expected one of {BEHAVIORS}")
    return snake


def behavior_to_json(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))
