"""Decoders: turn a list of token strings back into text.

Each decoder maps the token list to a new token list (`decode_chain`, so they compose in a
Sequence), and `decode` joins the final list.
"""

from __future__ import annotations

from .lazy import LazyPattern
from .normalized import CHARS_TO_BYTES
from .schema import Component, ComponentSequence, field, make_pattern, pattern_to_json, registry

__all__ = ["Decoder", "ByteLevel", "WordPiece", "Metaspace", "BPEDecoder", "ByteFallback", "Fuse", "Strip", "Replace",
           "CTC", "Sequence", "decoder_from_dict"]


class Decoder(Component):

    def decode_chain(self, tokens: list) -> list:
        raise NotImplementedError

    def decode(self, tokens) -> str:
        return "".join(self.decode_chain(list(tokens)))


class ByteLevel(Decoder):
    """Byte-level characters back to bytes, decoded as UTF-8 (invalid sequences become U+FFFD)."""

    type_name = "ByteLevel"

    def __init__(self, add_prefix_space=True, trim_offsets=True, use_regex=True):
        self.add_prefix_space = bool(add_prefix_space)
        self.trim_offsets = bool(trim_offsets)
        self.use_regex = bool(use_regex)

    def decode_chain(self, tokens):
        data = bytearray()
        table = CHARS_TO_BYTES
        for t in tokens:
            try:
                data.extend([table[c] for c in t])
            except KeyError:  # not a byte-level token (e.g. an added token): keep its own UTF-8
                data.extend(t.encode("utf-8", "surrogatepass"))
        return [data.decode("utf-8", "replace")]

    def to_dict(self):
        return {"type": self.type_name, "add_prefix_space": self.add_prefix_space, "trim_offsets": self.trim_offsets,
                "use_regex": self.use_regex}

    @classmethod
    def from_dict(cls, d):
        n = "ByteLevel decoder"
        return cls(field(d, "add_prefix_space", n, bool, True), field(d, "trim_offsets", n, bool, True),
                   field(d, "use_regex", n, bool, True))


_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def cleanup(text: str) -> str:
    """Remove the spaces tokenization put before punctuation and English contractions."""
    for a, b in _CLEANUP:
        text = text.replace(a, b)
    return text


class WordPiece(Decoder):
    type_name = "WordPiece"

    def __init__(self, prefix="##", cleanup=True):
        self.prefix = prefix
        self.cleanup = bool(cleanup)

    def decode_chain(self, tokens):
        out = []
        for i, t in enumerate(tokens):
            if i != 0:
                t = t.replace(self.prefix, "", 1) if t.startswith(self.prefix) else " " + t
            if self.cleanup:
                t = cleanup(t)
            out.append(t)
        return out

    def to_dict(self):
        return {"type": self.type_name, "prefix": self.prefix, "cleanup": self.cleanup}

    @classmethod
    def from_dict(cls, d):
        return cls(field(d, "prefix", "WordPiece decoder", str, "##"), field(d, "cleanup", "WordPiece decoder", bool, True))


class Metaspace(Decoder):
    type_name = "Metaspace"

    def __init__(self, replacement="▁", prepend_scheme="always", split=True):
        if not isinstance(replacement, str) or len(replacement) != 1:
            raise ValueError(f"Metaspace decoder: field 'replacement' must be a single character, got {replacement!r}")
        if prepend_scheme not in ("always", "never", "first"):
            raise ValueError(f"Metaspace decoder: field 'prepend_scheme' must be always, never or first, got {prepend_scheme!r}")
        self.replacement = replacement
        self.prepend_scheme = prepend_scheme
        self.split = bool(split)

    def decode_chain(self, tokens):
        r = self.replacement
        out = []
        for i, t in enumerate(tokens):
            if i == 0 and self.prepend_scheme != "never":
                out.append(t.replace(r, ""))  # the prepended ▁ (and any in the first token) goes away
            else:
                out.append(t.replace(r, " "))
        return out

    def to_dict(self):
        return {"type": self.type_name, "replacement": self.replacement, "prepend_scheme": self.prepend_scheme,
                "split": self.split}

    @classmethod
    def from_dict(cls, d):
        n = "Metaspace decoder"
        scheme = d.get("prepend_scheme")
        if scheme is None:
            scheme = "always" if d.get("add_prefix_space", True) else "never"
        return cls(field(d, "replacement", n, str), scheme, field(d, "split", n, bool, True))


class BPEDecoder(Decoder):
    type_name = "BPEDecoder"

    def __init__(self, suffix="</w>"):
        self.suffix = suffix

    def decode_chain(self, tokens):
        last = len(tokens) - 1
        return [t.replace(self.suffix, "" if i == last else " ") for i, t in enumerate(tokens)]

    def to_dict(self):
        return {"type": self.type_name, "suffix": self.suffix}

    @classmethod
    def from_dict(cls, d):
        return cls(field(d, "suffix", "BPEDecoder", str, "</w>"))


_BYTE_TOKEN = LazyPattern(r"<0x([0-9A-Fa-f]{2})>")


class ByteFallback(Decoder):
    """<0xNN> tokens back to bytes; a run that is not valid UTF-8 gives one U+FFFD per byte."""

    type_name = "ByteFallback"

    def decode_chain(self, tokens):
        out = []
        pending = bytearray()

        def flush():
            if pending:
                try:
                    out.append(pending.decode("utf-8"))
                except UnicodeDecodeError:
                    out.extend(["\ufffd"] * len(pending))
                pending.clear()

        for t in tokens:
            m = _BYTE_TOKEN.fullmatch(t) if len(t) == 6 else None
            if m:
                pending.append(int(m.group(1), 16))
            else:
                flush()
                out.append(t)
        flush()
        return out


class Fuse(Decoder):
    type_name = "Fuse"

    def decode_chain(self, tokens):
        return ["".join(tokens)]


class Strip(Decoder):
    """Remove up to `start` leading and `stop` trailing `content` characters from each token."""

    type_name = "Strip"

    def __init__(self, content=" ", left=0, right=0):
        if not isinstance(content, str) or len(content) != 1:
            raise ValueError(f"Strip decoder: field 'content' must be a single character, got {content!r}")
        self.content, self.start, self.stop = content, int(left), int(right)

    def decode_chain(self, tokens):
        out = []
        for t in tokens:
            a = 0
            while a < min(self.start, len(t)) and t[a] == self.content:
                a += 1
            b = len(t)
            for _ in range(self.stop):
                if b > a and t[b - 1] == self.content:
                    b -= 1
                else:
                    break
            out.append(t[a:b])
        return out

    def to_dict(self):
        return {"type": self.type_name, "content": self.content, "start": self.start, "stop": self.stop}

    @classmethod
    def from_dict(cls, d):
        n = "Strip decoder"
        return cls(field(d, "content", n, str), field(d, "start", n, int), field(d, "stop", n, int))


class Replace(Decoder):
    type_name = "Replace"

    def __init__(self, pattern, content):
        self.pattern_json, self.regex = make_pattern(pattern, "Replace decoder")
        self.content = content

    def decode_chain(self, tokens):
        content = self.content
        return [self.regex.sub(lambda m: content, t) for t in tokens]

    def to_dict(self):
        return {"type": self.type_name, "pattern": self.pattern_json, "content": self.content}

    @classmethod
    def from_dict(cls, d):
        n = "Replace decoder"
        return cls(pattern_to_json(field(d, "pattern", n, dict), n), field(d, "content", n, str))


class CTC(Decoder):
    """CTC output: collapse repeats, drop the pad token, word delimiter becomes a space."""

    type_name = "CTC"

    def __init__(self, pad_token="<pad>", word_delimiter_token="|", cleanup=True):
        self.pad_token, self.word_delimiter_token, self.cleanup = pad_token, word_delimiter_token, bool(cleanup)

    def decode_chain(self, tokens):
        out = []
        prev = object()
        for t in tokens:
            if t == prev:
                continue
            prev = t
            r = t.replace(self.pad_token, "")
            if self.cleanup:
                r = cleanup(r).replace(self.word_delimiter_token, " ")
            if r:
                out.append(r)
        return out

    def to_dict(self):
        return {"type": self.type_name, "pad_token": self.pad_token, "word_delimiter_token": self.word_delimiter_token,
                "cleanup": self.cleanup}

    @classmethod
    def from_dict(cls, d):
        n = "CTC decoder"
        return cls(field(d, "pad_token", n, str, "<pad>"), field(d, "word_delimiter_token", n, str, "|"),
                   field(d, "cleanup", n, bool, True))


class Sequence(ComponentSequence, Decoder):
    items_key = "decoders"
    kind = "decoder"

    @staticmethod
    def item_from_dict(d):
        return decoder_from_dict(d)

    def decode_chain(self, tokens):
        for d in self.decoders:
            tokens = d.decode_chain(tokens)
        return tokens


_TYPES = {c.type_name: c for c in (ByteLevel, WordPiece, Metaspace, BPEDecoder, ByteFallback, Fuse, Strip, Replace, CTC,
                                    Sequence)}


def decoder_from_dict(d):
    return registry(d, _TYPES, "decoder")
