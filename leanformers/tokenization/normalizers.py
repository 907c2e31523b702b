"""Normalizers: clean up text before it is split (lower-casing, Unicode forms, accents, SentencePiece
character maps), keeping every character aligned to the original string (see normalized.Piece).

Each class reads and writes its tokenizer.json form (`from_dict` / `to_dict`, fields in the order
the reference writes them) and normalizes a Piece in place. The checks up front (`isascii`, a regex
search) skip the per-character work for text the normalizer would leave alone.
"""

from __future__ import annotations

import base64
import struct

from . import unicode_tables
from .lazy import LazyPattern
from .normalized import WS_CLASS, WHITESPACE, Piece
from .schema import Component, ComponentSequence, field, make_pattern, pattern_to_json, registry
from .unicode_tables import TablePattern

__all__ = [
    "Normalizer", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Strip", "StripAccents", "Replace",
    "Prepend", "BertNormalizer", "Precompiled", "Sequence", "ByteLevel", "normalizer_from_dict",
]


class Normalizer(Component):
    # True when each character is normalized on its own (no context beyond a run of combining marks),
    # so a long text cut after an ASCII space or newline normalizes, piece by piece, to the same
    # characters and alignment as the whole (the engine relies on this to work in chunks).
    char_local = False

    def normalize(self, piece: Piece) -> None:
        raise NotImplementedError

    def normalize_str(self, text: str) -> str:
        piece = Piece(text)
        self.normalize(piece)
        return piece.text



# ---- Unicode normalization forms --------------------------------------------------------------
# The reference's decompositions, combining classes and compositions (unicode_tables), not Python's
# unicodedata, whose Unicode version differs.
def _unicode_normalize(piece: Piece, form: str) -> None:
    """Apply a Unicode normalization form, aligning like the reference: each character's
    decomposition is (first char, change 0) + (others, change 1); canonical reordering moves the
    (char, change) pairs; a composition absorbs the marks' changes into the composed character.
    The pairs then go through the reference's transform protocol (Piece.transform)."""
    text = piece.text
    if text.isascii():
        return
    compat = form in ("NFKD", "NFKC")
    table = unicode_tables.decompositions(compat)
    ccc = unicode_tables.combining_classes()
    composes = form in ("NFC", "NFKC")
    if text.translate(table) == text and ccc.keys().isdisjoint(text) and (
            not composes or unicode_tables.second_of_pair().isdisjoint(text)):
        return  # nothing decomposes, reorders (every character is a starter) or composes
    pairs = []
    for c in text:
        d = table.get(ord(c))
        if d is None:
            pairs.append((c, 0))
        else:
            pairs.append((d[0], 0))
            pairs.extend((x, 1) for x in d[1:])
    # canonical ordering: stable sort of each run of combining characters by class
    k = 0
    while k < len(pairs):
        if pairs[k][0] in ccc:
            j = k
            while j < len(pairs) and pairs[j][0] in ccc:
                j += 1
            if j - k > 1:
                pairs[k:j] = sorted(pairs[k:j], key=lambda p: ccc[p[0]])
            k = j
        else:
            k += 1
    if composes:
        pairs = _compose(pairs, ccc)
    if len(pairs) == len(text) and all(c == p[0] for c, p in zip(text, pairs)):
        return
    piece.transform(pairs, 0)


def _compose(pairs: list, ccc: dict) -> list:
    """Canonical composition of (char, change) pairs: a character joins the last starter when no
    character between them has a class as high as its own; a composite carries the changes of what
    it absorbed (each absorbed character, removed, counts one less)."""
    compose = unicode_tables.compose
    out = []
    starter = -1  # index in `out` of the last starter, or -1
    last_class = -1  # class of the last character kept after the starter (-1: none yet)
    for ch, change in pairs:
        cls = ccc.get(ch, 0)
        if starter >= 0 and (last_class == -1 or (last_class < cls)):
            composite = compose(out[starter][0], ch)
            if composite is not None:
                out[starter] = (composite, out[starter][1] + change - 1)
                continue
        if cls == 0:
            starter = len(out)
            last_class = -1
        else:
            last_class = cls
        out.append((ch, change))
    return out


class NFD(Normalizer):
    type_name = "NFD"
    char_local = True

    def normalize(self, piece):
        _unicode_normalize(piece, "NFD")


class NFKD(Normalizer):
    type_name = "NFKD"
    char_local = True

    def normalize(self, piece):
        _unicode_normalize(piece, "NFKD")


class NFC(Normalizer):
    type_name = "NFC"

    def normalize(self, piece):
        _unicode_normalize(piece, "NFC")


class NFKC(Normalizer):
    type_name = "NFKC"

    def normalize(self, piece):
        _unicode_normalize(piece, "NFKC")


# ---- simple normalizers -------------------------------------------------------------------------
def lowercase(piece: Piece) -> None:
    text = piece.text
    if text.isascii():
        piece.text = text.lower()
        return
    # Rust's to_lowercase, character by character (no Final_Sigma rule, the reference's Unicode)
    table = unicode_tables.lowercase_map()
    low = text.translate(table)
    if len(low) == len(text):  # every character became one character: alignment kept
        piece.text = low
        return
    piece.expand([table.get(ord(c), c) for c in text])


class Lowercase(Normalizer):
    type_name = "Lowercase"
    char_local = True

    def normalize(self, piece):
        lowercase(piece)


class Strip(Normalizer):
    type_name = "Strip"

    def __init__(self, left: bool = True, right: bool = True):
        self.strip_left = bool(left)
        self.strip_right = bool(right)

    def normalize(self, piece):
        piece.strip(self.strip_left, self.strip_right)

    def to_dict(self):
        return {"type": self.type_name, "strip_left": self.strip_left, "strip_right": self.strip_right}

    @classmethod
    def from_dict(cls, d):
        return cls(field(d, "strip_left", "Strip", bool), field(d, "strip_right", "Strip", bool))


_GRAPHEME = LazyPattern(r"\X")


class StripAccents(Normalizer):
    """Removes every combining mark (Mn, Mc, Me); usually after NFD."""

    type_name = "StripAccents"
    char_local = True

    def normalize(self, piece):
        text = piece.text
        marks = unicode_tables.char_set("combining_marks")
        if text.isascii() or marks.isdisjoint(text):
            return
        piece.expand(["" if c in marks else c for c in text])


class Replace(Normalizer):
    type_name = "Replace"

    def __init__(self, pattern, content: str):
        self.pattern_json, self.regex = make_pattern(pattern, "Replace")
        self.content = content

    def normalize(self, piece):
        matches = [m.span() for m in self.regex.finditer(piece.text)]
        matches = [m for m in matches if m[1] > m[0]]
        if matches:
            piece.replace_matches(matches, self.content)

    def to_dict(self):
        return {"type": self.type_name, "pattern": self.pattern_json, "content": self.content}

    @classmethod
    def from_dict(cls, d):
        return cls(pattern_to_json(field(d, "pattern", "Replace", dict), "Replace"), field(d, "content", "Replace", str))


class Prepend(Normalizer):
    type_name = "Prepend"

    def __init__(self, prepend: str):
        self.prepend = prepend

    def normalize(self, piece):
        piece.prepend(self.prepend)

    def to_dict(self):
        return {"type": self.type_name, "prepend": self.prepend}

    @classmethod
    def from_dict(cls, d):
        return cls(field(d, "prepend", "Prepend", str))


class ByteLevel(Normalizer):
    """Maps every UTF-8 byte to its printable byte-level character (the pre-tokenizer's mapping)."""

    type_name = "ByteLevel"

    def normalize(self, piece):
        from .pre_tokenizers import byte_level_map

        byte_level_map(piece)


# ---- BERT ----------------------------------------------------------------------------------------
# clean_text removes NUL, U+FFFD and control characters (Cc, Cf, Co, Cs except \t \n \r) and turns
# every whitespace into a plain space.
_BERT_CLEAN = TablePattern(r"[\p{bert_removed}" + WS_CLASS.replace(r"\u0020", "") + "]")
_CJK = (
    r"\U00004E00-\U00009FFF\U00003400-\U00004DBF\U00020000-\U0002A6DF\U0002A700-\U0002B73F\U0002B740-\U0002B81F"
    r"\U0002B920-\U0002CEAF\U0000F900-\U0000FAFF\U0002F800-\U0002FA1F"
)
_CJK_RE = LazyPattern(f"[{_CJK}]")


def _clean_char(c: str) -> str:
    """BertNormalizer's clean_text for one character: whitespace -> " ", control characters -> ""."""
    if c in "\t\n\r":
        return " "
    if c in unicode_tables.char_set("bert_removed"):
        return ""
    return " " if c in WHITESPACE else c


# _clean_char on ASCII as a str.translate table, one C-level pass (None deletes the character):
# tab, newline, carriage return -> space; the other C0 controls and DEL are removed (a test checks
# this against _clean_char; spelled out so that importing this module compiles no pattern).
_ASCII_CLEAN = {**{c: None for c in [*range(0x20), 0x7F]}, 0x09: " ", 0x0A: " ", 0x0D: " "}


class BertNormalizer(Normalizer):
    type_name = "BertNormalizer"
    char_local = True

    def __init__(self, clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True):
        self.clean_text = bool(clean_text)
        self.handle_chinese_chars = bool(handle_chinese_chars)
        self.strip_accents = strip_accents
        self.lowercase = bool(lowercase)
        self._strip = lowercase if strip_accents is None else bool(strip_accents)

    def normalize(self, piece):
        text = piece.text
        if text.isascii():
            # Fast path: only control characters and lower-casing can matter.
            if self.clean_text and _BERT_CLEAN.search(text):
                self._clean(piece)
            if self.lowercase:
                piece.text = piece.text.lower()
            return
        if self.clean_text and _BERT_CLEAN.search(text):
            self._clean(piece)
        if self.handle_chinese_chars and _CJK_RE.search(piece.text):
            piece.expand([" " + c + " " if _CJK_RE.match(c) else c for c in piece.text])
        if self._strip:
            _unicode_normalize(piece, "NFD")
            nonspacing = unicode_tables.char_set("bert_nonspacing")
            if not nonspacing.isdisjoint(piece.text):
                piece.expand(["" if c in nonspacing else c for c in piece.text])
        if self.lowercase:
            lowercase(piece)

    @staticmethod
    def _clean(piece):
        text = piece.text
        if text.isascii():
            cleaned = text.translate(_ASCII_CLEAN)
            if len(cleaned) == len(text):  # only whitespace became spaces: alignment unchanged
                piece.text = cleaned
                return
        piece.expand([_clean_char(c) for c in text])

    def to_dict(self):
        return {
            "type": self.type_name, "clean_text": self.clean_text, "handle_chinese_chars": self.handle_chinese_chars,
            "strip_accents": self.strip_accents, "lowercase": self.lowercase,
        }

    @classmethod
    def from_dict(cls, d):
        name = "BertNormalizer"
        strip = d.get("strip_accents")
        if strip is not None and not isinstance(strip, bool):
            raise ValueError(f"{name}: field 'strip_accents' must be true, false or null, got {strip!r}")
        return cls(
            field(d, "clean_text", name, bool, True), field(d, "handle_chinese_chars", name, bool, True),
            strip, field(d, "lowercase", name, bool, True),
        )


# ---- SentencePiece precompiled character map -----------------------------------------------------
class Precompiled(Normalizer):
    """SentencePiece's normalization rules: a double-array trie (darts-clone) from UTF-8 strings to
    offsets in a blob of NUL-terminated replacement strings.

    Blob layout: u32 little-endian trie size in bytes, the trie's u32 units, then the strings.
    Like the reference, text is looked up grapheme by grapheme (graphemes under 6 bytes whole,
    else character by character), taking the first (shortest) key that prefixes the lookup.
    """

    type_name = "Precompiled"

    def __init__(self, precompiled_charsmap):
        if isinstance(precompiled_charsmap, str):
            raw = base64.b64decode(precompiled_charsmap)
            self.charsmap_b64 = precompiled_charsmap
        else:
            raw = bytes(precompiled_charsmap)
            self.charsmap_b64 = base64.b64encode(raw).decode()
        if len(raw) < 4:
            raise ValueError("Precompiled: field 'precompiled_charsmap' is too short to hold a trie")
        (trie_size,) = struct.unpack_from("<I", raw, 0)
        if trie_size % 4 or 4 + trie_size > len(raw):
            raise ValueError("Precompiled: field 'precompiled_charsmap' has an invalid trie size")
        self._units = struct.unpack_from(f"<{trie_size // 4}I", raw, 4)
        self._blob = raw[4 + trie_size:]
        self._cache = {}

    def _lookup(self, chunk: str):
        """The replacement for `chunk` (its shortest trie-key prefix), or None."""
        cached = self._cache.get(chunk, 0)
        if cached != 0:
            return cached
        units = self._units
        node = 0
        unit = units[0]
        node ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
        result = None
        for byte in chunk.encode("utf-8"):
            if byte == 0:
                break
            node ^= byte
            if node >= len(units):
                break
            unit = units[node]
            if (unit & ((1 << 31) | 0xFF)) != byte:
                break
            node ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
            if (unit >> 8) & 1:
                value = units[node] & ((1 << 31) - 1)
                end = self._blob.find(b"\0", value)
                result = self._blob[value:end if end >= 0 else len(self._blob)].decode("utf-8", "replace")
                break
        if len(self._cache) < 100_000:
            self._cache[chunk] = result
        return result

    def normalize(self, piece):
        text = piece.text
        if not text:
            return
        if text.isascii() and all(self._lookup(c) is None for c in set(text)) and "\r\n" not in text:
            return
        pairs = []
        modified = False
        for grapheme in _GRAPHEME.findall(text):
            if len(grapheme.encode("utf-8")) < 6:
                norm = self._lookup(grapheme)
                if norm is not None:
                    modified = True
                    _spm_replace(pairs, grapheme, norm)
                    continue
            for c in grapheme:
                norm = self._lookup(c)
                if norm is not None:
                    modified = True
                    _spm_replace(pairs, c, norm)
                else:
                    pairs.append((c, 0))
        if modified:
            piece.transform(pairs, 0)

    def to_dict(self):
        return {"type": self.type_name, "precompiled_charsmap": self.charsmap_b64}

    @classmethod
    def from_dict(cls, d):
        return cls(field(d, "precompiled_charsmap", "Precompiled", str))


def _spm_replace(pairs: list, old: str, new: str) -> None:
    diff = len(new) - len(old)
    pairs.extend((c, 0) for c in new)
    if diff > 0:
        for k in range(len(pairs) - diff, len(pairs)):
            pairs[k] = (pairs[k][0], 1)
    elif diff < 0 and pairs:
        pairs[-1] = (pairs[-1][0], pairs[-1][1] + diff)


class Sequence(ComponentSequence, Normalizer):
    items_key = "normalizers"
    kind = "normalizer"

    @staticmethod
    def item_from_dict(d):
        return normalizer_from_dict(d)

    @property
    def char_local(self):
        return all(n.char_local for n in self.normalizers)

    def normalize(self, piece):
        for n in self.normalizers:
            n.normalize(piece)


_TYPES = {c.type_name: c for c in (
    NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, BertNormalizer, Precompiled, Sequence,
    ByteLevel,
)}


def normalizer_from_dict(d):
    return registry(d, _TYPES, "normalizer")
