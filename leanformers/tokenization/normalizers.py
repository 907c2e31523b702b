"""Normalizers: clean up text before it is split (lower-casing, Unicode forms, accents, SentencePiece
character maps), keeping every character aligned to the original string (see normalized.Piece).

Each class reads and writes its tokenizer.json form (`from_dict` / `to_dict`, fields in the order
the reference writes them) and normalizes a Piece in place. The checks up front (`isascii`, a regex
search) skip the per-character work for text the normalizer would leave alone.
"""

from __future__ import annotations

import base64
import struct
import unicodedata

from .lazy import LazyPattern
from .normalized import WS_CLASS, WHITESPACE, Piece
from .schema import Component, ComponentSequence, field, make_pattern, pattern_to_json, registry

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
def _is_hangul_jamo_vt(c: str) -> bool:
    return 0x1161 <= ord(c) <= 0x11C2


def _unicode_normalize(piece: Piece, form: str) -> None:
    """Apply a Unicode normalization form, aligning like the reference: each character's
    decomposition is (first char, change 0) + (others, change 1); canonical reordering moves the
    (char, change) pairs; a composition absorbs the marks' changes into the composed character.
    The pairs then go through the reference's transform protocol (Piece.transform)."""
    text = piece.text
    if text.isascii():
        return
    target = unicodedata.normalize(form, text)
    if target == text:
        return
    decompose = "NFD" if form in ("NFD", "NFC") else "NFKD"
    pairs = []
    for c in text:
        d = unicodedata.normalize(decompose, c) if not c.isascii() else c
        pairs.append((d[0], 0))
        pairs.extend((x, 1) for x in d[1:])
    # canonical ordering: stable sort of each run of combining characters by class
    k = 0
    while k < len(pairs):
        if unicodedata.combining(pairs[k][0]):
            j = k
            while j < len(pairs) and unicodedata.combining(pairs[j][0]):
                j += 1
            pairs[k:j] = sorted(pairs[k:j], key=lambda p: unicodedata.combining(p[0]))
            k = j
        else:
            k += 1
    if form in ("NFC", "NFKC"):
        pairs = _compose(pairs)
    if "".join(c for c, _ in pairs) != target:  # unusual input: keep the text right, align roughly
        n = len(text)
        piece.set_text_mapped(target, [min(k, n - 1) for k in range(len(target))])
        return
    piece.transform(pairs, 0)


def _compose(pairs: list) -> list:
    segments = []
    for ch, change in pairs:
        if segments:
            seg = "".join(c for c, _ in segments[-1])
            if unicodedata.combining(ch) or _is_hangul_jamo_vt(ch) or \
                    len(unicodedata.normalize("NFC", seg + ch)) <= len(unicodedata.normalize("NFC", seg)):
                segments[-1].append((ch, change))
                continue
        segments.append([(ch, change)])
    out = []
    for seg in segments:
        composed = unicodedata.normalize("NFC", "".join(c for c, _ in seg))
        if len(composed) == len(seg):
            out.extend(seg)
            continue
        kept = []
        pos = 1
        absorbed_changes = 0
        absorbed = 0
        for ch in composed[1:]:
            while pos < len(seg) and seg[pos][0] != ch:
                absorbed_changes += seg[pos][1]
                absorbed += 1
                pos += 1
            if pos < len(seg):
                kept.append(seg[pos])
                pos += 1
        for _, change in seg[pos:]:
            absorbed_changes += change
            absorbed += 1
        out.append((composed[0], seg[0][1] + absorbed_changes - absorbed))
        out.extend(kept)
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
    # Python's str.lower applies the Final_Sigma rule; the reference lowercases char by char.
    if "Σ" not in text:
        low = text.lower()
        if len(low) == len(text):  # lower-casing never shrinks, so this is 1:1
            piece.text = low
            return
    piece.expand([c.lower() for c in text])


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


_MARKS = LazyPattern(r"\p{M}")
_GRAPHEME = LazyPattern(r"\X")


class StripAccents(Normalizer):
    """Removes every combining mark (Mn, Mc, Me); usually after NFD."""

    type_name = "StripAccents"
    char_local = True

    def normalize(self, piece):
        text = piece.text
        if text.isascii() or not _MARKS.search(text):
            return
        piece.expand(["" if _MARKS.match(c) else c for c in text])


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
_BERT_CLEAN = LazyPattern(r"[\p{Cc}\p{Cf}\p{Co}\p{Cs}\ufffd" + WS_CLASS.replace(r"\u0020", "") + "]")
_BERT_REMOVE = LazyPattern(r"[\p{Cf}\p{Co}\p{Cs}\ufffd\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CJK = (
    r"\U00004E00-\U00009FFF\U00003400-\U00004DBF\U00020000-\U0002A6DF\U0002A700-\U0002B73F\U0002B740-\U0002B81F"
    r"\U0002B920-\U0002CEAF\U0000F900-\U0000FAFF\U0002F800-\U0002FA1F"
)
_CJK_RE = LazyPattern(f"[{_CJK}]")
_NONSPACING = LazyPattern(r"\p{Mn}")


def _clean_char(c: str) -> str:
    """BertNormalizer's clean_text for one character: whitespace -> " ", control characters -> ""."""
    if c in "\t\n\r":
        return " "
    if _BERT_REMOVE.match(c):
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
            if _NONSPACING.search(piece.text):
                piece.expand(["" if _NONSPACING.match(c) else c for c in piece.text])
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
