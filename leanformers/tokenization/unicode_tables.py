"""The reference's Unicode character data, so that every code point tokenizes as it does there.

The `tokenizers` library takes its character classes from several Rust crates, each with its own
Unicode version, none of them Python's: Oniguruma for the regexes (\\p{L}, \\s, ...), the `regex`
crate for the Whitespace pre-tokenizer, `unicode_categories` for BERT's control, punctuation and
non-spacing tests, Rust's std for whitespace, numbers and lower-casing, `unicode-normalization`
for the normalization forms, and a script table of its own for UnicodeScripts. scripts/gen_unicode_tables.py probes the library over every code point
and writes unicode_tables.json beside this module; everything here is built from it on first use.

- `TablePattern(source)`: a lazily compiled `regex` pattern whose \\p{..}, \\P{..}, \\s, \\w, \\d
  (and the \\p{table} names of `class_ranges`) mean the reference's classes;
- `onig_pattern(pattern)`: a tokenizer.json regex rewritten likewise (Split, Replace);
- `char_set(name)`: a class as a set, for per-character tests; `script_of(c)`: UnicodeScripts' script;
- `lowercase_map()`, `decompositions(compat)`, `combining_classes()`, `compose()`, `second_of_pair()`:
  what the Lowercase / NFD / NFKD / NFC / NFKC normalizers apply.
"""

from __future__ import annotations

import bisect
import functools
import json
import os

__all__ = ["TablePattern", "onig_pattern", "class_ranges", "char_set", "lowercase_map", "decompositions",
           "combining_classes", "compose", "second_of_pair", "script_of"]

_PATH = os.path.join(os.path.dirname(__file__), "unicode_tables.json")
_MAX = 0x10FFFF
# Oniguruma's names for the one-letter category groups
_GROUPS = {"L": "Letter", "M": "Mark", "N": "Number", "P": "Punctuation", "S": "Symbol", "Z": "Separator",
           "C": "Other"}
_CATEGORY_NAMES = {
    "Lu": "Uppercase_Letter", "Ll": "Lowercase_Letter", "Lt": "Titlecase_Letter", "Lm": "Modifier_Letter",
    "Lo": "Other_Letter", "Mn": "Nonspacing_Mark", "Mc": "Spacing_Mark", "Me": "Enclosing_Mark",
    "Nd": "Decimal_Number", "Nl": "Letter_Number", "No": "Other_Number", "Pc": "Connector_Punctuation",
    "Pd": "Dash_Punctuation", "Ps": "Open_Punctuation", "Pe": "Close_Punctuation", "Pi": "Initial_Punctuation",
    "Pf": "Final_Punctuation", "Po": "Other_Punctuation", "Sm": "Math_Symbol", "Sc": "Currency_Symbol",
    "Sk": "Modifier_Symbol", "So": "Other_Symbol", "Zs": "Space_Separator", "Zl": "Line_Separator",
    "Zp": "Paragraph_Separator", "Cc": "Control", "Cf": "Format", "Cs": "Surrogate", "Co": "Private_Use",
    "Cn": "Unassigned",
}
_ALIASES = {**{v.lower().replace("_", ""): k for k, v in {**_CATEGORY_NAMES, **_GROUPS}.items()},
            "l&": "LC", "lc": "LC", "casedletter": "LC", "any": "Any"}
_SHORTHANDS = {"s": "s", "w": "w", "d": "d", "S": "s", "W": "w", "D": "d"}  # onig shorthand -> table
_TABLE_CLASSES = frozenset(("whitespace", "numeric", "bert_removed", "bert_punctuation", "bert_nonspacing",
                            "combining_marks", "regex_crate_word"))


@functools.lru_cache(maxsize=1)
def _tables() -> dict:
    with open(_PATH, encoding="ascii") as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def class_ranges(name: str) -> tuple:
    """((first, last), ...) code point ranges of a class:
    a general category ("Lu") or group ("L", "LC"), as Oniguruma has them;
    "s", "w", "d": Oniguruma's shorthands; "whitespace" (char::is_whitespace), "numeric"
    (char::is_numeric), "bert_removed" (what BERT's clean_text deletes), "bert_punctuation",
    "bert_nonspacing" (what BERT's strip_accents deletes after NFD), "combining_marks" (what StripAccents
    deletes), "regex_crate_word" (\\w of the Whitespace pre-tokenizer)."""
    tables = _tables()
    if name in tables["onig_classes"]:
        return tuple(map(tuple, tables["onig_classes"][name]))
    if name in _TABLE_CLASSES:
        return tuple(map(tuple, tables[name]))
    if name == "Any":
        return ((0, _MAX),)
    wanted = {"LC": ("Lu", "Ll", "Lt")}.get(name) or ((name,) if len(name) == 2 else None)
    runs = tables["onig_categories"]
    out = []
    for k, (start, category) in enumerate(runs):
        if (category in wanted) if wanted else category[0] == name:
            end = runs[k + 1][0] - 1 if k + 1 < len(runs) else _MAX
            if out and out[-1][1] == start - 1:
                out[-1] = (out[-1][0], end)
            else:
                out.append((start, end))
    if not out and name not in _CATEGORY_NAMES and name not in _GROUPS and name != "LC":
        raise KeyError(name)
    return tuple(out)


def _complement(ranges: tuple) -> tuple:
    out = []
    at = 0
    for a, b in ranges:
        if a > at:
            out.append((at, a - 1))
        at = b + 1
    if at <= _MAX:
        out.append((at, _MAX))
    return tuple(out)


def _body(ranges: tuple) -> str:
    """The inside of a regex character class matching `ranges`."""
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


def _property(name: str):
    """A \\p{name} property name -> a class_ranges name, or None (a script, ...: left to `regex`)."""
    key = name.strip()
    if key in _CATEGORY_NAMES or key in _GROUPS or key in _TABLE_CLASSES or key in ("LC", "Any"):
        return key
    return _ALIASES.get(key.lower().replace("_", "").replace(" ", ""))


def onig_pattern(pattern: str, used: set | None = None) -> str:
    """`pattern` with every Unicode class written out as the reference's (Oniguruma's) ranges:
    \\p{X} / \\P{X} / \\p{^X} / \\pL, and \\s \\S \\w \\W \\d \\D, inside or outside [...].
    The class names met are added to `used`."""
    if "\\" not in pattern:
        return pattern
    out = []
    i = 0
    in_class = False  # inside [...] (a [ there is a literal, as for the regex module)
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            ranges = None
            end = i + 2
            if nxt in "pP":
                if end < n and pattern[end] == "{":
                    close = pattern.find("}", end)
                    if close < 0:
                        raise ValueError(f"unterminated \\{nxt}{{ in regular expression {pattern!r}")
                    name = pattern[end + 1:close]
                    end = close + 1
                else:
                    name = pattern[end:end + 1]
                    end += 1
                negate = nxt == "P"
                if name.startswith("^"):
                    name, negate = name[1:], not negate
                prop = _property(name)
            elif nxt in _SHORTHANDS:
                prop = _SHORTHANDS[nxt]
                negate = nxt.isupper()
            else:
                prop = None
            if prop is not None:
                ranges = class_ranges(prop)
                if used is not None:
                    used.add(prop)
            if ranges is None:
                out.append(pattern[i:end])
                i = end
                continue
            body = _body(_complement(ranges) if negate else ranges)
            out.append(body if in_class else f"[{body}]")
            i = end
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a leading ] is a literal
                out.append("\\]")
                i += 1
            continue
        if ch == "[" and pattern.startswith("[:", i) and pattern.find(":]", i) > 0:  # POSIX [:alpha:]: as written
            close = pattern.find(":]", i) + 2
            out.append(pattern[i:close])
            i = close
            continue
        if ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


# How the `regex` module writes each class approximately (its own, newer or older, Unicode tables):
# a pattern first runs with these, fast; text holding a character where they disagree with the
# reference runs with the exact ranges instead (about 10x slower, as `regex` scans long sets).
_NATIVE = {
    "whitespace": r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    "numeric": r"\p{N}", "bert_nonspacing": r"\p{Mn}", "combining_marks": r"\p{M}", "regex_crate_word": r"\w",
    "bert_removed": r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\p{Cf}\p{Co}\p{Cs}",
    "bert_punctuation": r"\p{P}" + "".join("\\" + c for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "LC": r"\p{Lu}\p{Ll}\p{Lt}", "Any": r"\x00-\U0010ffff",
}
_ALL_CHARS = None


def _native_body(name: str) -> str:
    if name in _NATIVE:
        return _NATIVE[name]
    return f"\\{name}" if name in ("s", "w", "d") else f"\\p{{{name}}}"


@functools.lru_cache(maxsize=None)
def disputed(name: str) -> frozenset:
    """Characters the `regex` module classes differently from the reference for class `name`."""
    import regex

    stored = _tables()["disputed"]
    if name == "Any":
        return frozenset()
    if stored["regex"] == regex.__version__:  # (classes without disputed characters are left out)
        return frozenset(chr(c) for a, b in stored["classes"].get(name, ()) for c in range(a, b + 1))
    global _ALL_CHARS
    if _ALL_CHARS is None:  # another `regex` version: compare over every code point (once, ~0.2 s)
        _ALL_CHARS = "".join(map(chr, range(0x110000)))
    native = set(regex.findall(f"[{_native_body(name)}]", _ALL_CHARS))
    return frozenset(native.symmetric_difference(chr(c) for a, b in class_ranges(name) for c in range(a, b + 1)))


def _classes_in(source: str) -> set:
    """The class_ranges names a pattern uses."""
    names = set()
    onig_pattern(source, names)
    return names


def native_pattern(pattern: str) -> str:
    """`pattern` for the `regex` module's own tables: only the table names (\\p{bert_punctuation},
    ...) are written out, as their approximations."""
    if "\\p{" not in pattern:
        return pattern
    import re

    # (our own patterns write these names inside [...] only, so the body goes in as it is)
    return re.sub(r"\\p\{(\w+)\}", lambda m: _NATIVE[m.group(1)] if m.group(1) in _TABLE_CLASSES else m.group(0),
                  pattern)


class TablePattern:
    """A `regex` pattern whose classes (\\p{..}, \\s, \\w, \\d and the table names of `class_ranges`)
    are the reference's. It runs on the `regex` module's own tables unless the text holds a character
    they class differently (rare: characters of recent Unicode versions), then on the exact ranges.
    Compiled on first use (importing `regex` and reading the tables cost milliseconds)."""

    __slots__ = ("source", "_native", "_exact", "_disputed")

    def __init__(self, source: str):
        self.source = source
        self._native = None

    def _compile(self):
        import regex

        self._disputed = frozenset().union(*map(disputed, _classes_in(self.source)))
        self._exact = None
        self._native = regex.compile(native_pattern(self.source))

    def pattern_for(self, text: str):
        """The compiled pattern that gives the reference's result on `text`."""
        if self._native is None:
            self._compile()
        if text.isascii() or self._disputed.isdisjoint(text):
            return self._native
        if self._exact is None:
            import regex

            self._exact = regex.compile(onig_pattern(self.source))
        return self._exact

    def finditer(self, text, *args):
        return self.pattern_for(text).finditer(text, *args)

    def findall(self, text, *args):
        return self.pattern_for(text).findall(text, *args)

    def search(self, text, *args):
        return self.pattern_for(text).search(text, *args)

    def match(self, text, *args):
        return self.pattern_for(text).match(text, *args)

    def sub(self, repl, text, *args):
        return self.pattern_for(text).sub(repl, text, *args)

    def __reduce__(self):  # copies and pickles carry the source only
        return TablePattern, (self.source,)

    def __repr__(self):
        return f"TablePattern({self.source!r})"


@functools.lru_cache(maxsize=1)
def _script_runs() -> tuple:
    runs = _tables()["scripts"]
    return [start for start, _ in runs], [script for _, script in runs]


def script_of(c: str) -> int:
    """The script of the reference's UnicodeScripts pre-tokenizer, as a number (0: any script, which
    never starts a new word; Hiragana and Katakana are Han there)."""
    starts, scripts = _script_runs()
    return scripts[bisect.bisect_right(starts, ord(c)) - 1]


@functools.lru_cache(maxsize=None)
def char_set(name: str) -> frozenset:
    """The characters of a class_ranges class, for per-character tests."""
    return frozenset(chr(c) for a, b in class_ranges(name) for c in range(a, b + 1))


# ---- lower-casing and normalization forms -----------------------------------------------------------
@functools.lru_cache(maxsize=1)
def lowercase_map() -> dict:
    """{code point: lower-case string} for every character Rust's to_lowercase changes (a str.translate table)."""
    return {int(k, 16): v for k, v in _tables()["lowercase"].items()}


_S_BASE, _L_BASE, _V_BASE, _T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
_V_COUNT, _T_COUNT = 21, 28
_N_COUNT = _V_COUNT * _T_COUNT


def _hangul(s: int) -> str:
    index = s - _S_BASE
    out = chr(_L_BASE + index // _N_COUNT) + chr(_V_BASE + index % _N_COUNT // _T_COUNT)
    return out + chr(_T_BASE + index % _T_COUNT) if index % _T_COUNT else out


@functools.lru_cache(maxsize=2)
def decompositions(compat: bool) -> dict:
    """{code point: full decomposition} (NFKD's when `compat`, else NFD's), a str.translate table."""
    table = {int(k, 16): v for k, v in _tables()["nfd"].items()}
    if compat:
        table.update((int(k, 16), v) for k, v in _tables()["nfkd"].items())
    table.update((s, _hangul(s)) for s in range(_S_BASE, _S_BASE + 11172))
    return table


@functools.lru_cache(maxsize=1)
def combining_classes() -> dict:
    """{character: canonical combining class} for every character whose class is not 0."""
    return {chr(int(k, 16)): v for k, v in _tables()["ccc"].items()}


@functools.lru_cache(maxsize=1)
def compositions() -> dict:
    """{(first, second): composite} of canonical composition (Hangul is computed, see `compose`)."""
    return {(chr(a), chr(b)): chr(c) for a, b, c in _tables()["compose"]}


@functools.lru_cache(maxsize=1)
def second_of_pair() -> frozenset:
    """Every character that can be absorbed by a composition (Hangul vowels and trailing consonants too)."""
    hangul = [chr(c) for c in [*range(_V_BASE, _V_BASE + _V_COUNT), *range(_T_BASE + 1, _T_BASE + _T_COUNT)]]
    return frozenset([b for _, b in compositions()] + hangul)


def compose(first: str, second: str):
    """The primary composite of two characters, or None."""
    a, b = ord(first), ord(second)
    if _L_BASE <= a < _L_BASE + 19 and _V_BASE <= b < _V_BASE + _V_COUNT:
        return chr(_S_BASE + ((a - _L_BASE) * _V_COUNT + b - _V_BASE) * _T_COUNT)
    if _S_BASE <= a < _S_BASE + 11172 and (a - _S_BASE) % _T_COUNT == 0 and _T_BASE < b < _T_BASE + _T_COUNT:
        return chr(a + b - _T_BASE)
    return compositions().get((first, second))
