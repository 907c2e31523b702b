"""Generate leanformers/tokenization/unicode_tables.json: the Unicode character data of the reference
`tokenizers` library, probed from the library itself.

The reference is built from Rust crates that each carry their own (older or newer) Unicode tables:
Oniguruma's for the regexes of ByteLevel / Split / Replace (\\p{L}, \\s, ...), the `regex` crate's for
the Whitespace pre-tokenizer (\\w), `unicode_categories` for BERT's control / punctuation / non-spacing
mark tests, Rust's std for whitespace, is_numeric and lower-casing, `unicode-normalization` for
NFD / NFKD / NFC / NFKC and combining marks, and a script table of its own for UnicodeScripts. Python's `unicodedata` and the `regex` module follow
other Unicode versions, so leanformers reads these tables instead (tokenization/unicode_tables.py).

Every table is probed over every code point (surrogates excluded) with the reference's own components,
many code points per call. Run (takes a few minutes):

    python scripts/gen_unicode_tables.py [--check]

--check compares the probe with the committed file instead of writing it.
"""

from __future__ import annotations

import json
import os
import sys
import unicodedata

from tokenizers import Regex
from tokenizers import normalizers as N
from tokenizers import pre_tokenizers as P

import tokenizers

OUT = os.path.join(os.path.dirname(__file__), "..", "leanformers", "tokenization", "unicode_tables.json")
CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
CATEGORIES = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf",
              "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Co"]  # Cs (no probes) and Cn: the rest
CHUNK = 20_000
SEP = "\ue000"  # private use: no normalization maps to or from it, it composes with nothing


def chunks(items, size=CHUNK):
    for k in range(0, len(items), size):
        yield items[k:k + size]


def ranges(code_points) -> list:
    """Sorted code points -> [[first, last], ...]."""
    out = []
    for c in sorted(code_points):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def regex_members(pattern: str, code_points=CODE_POINTS) -> list:
    """Code points the reference's (Oniguruma) regex `pattern` matches as a single character."""
    marker = "\x00" if pattern != r"\p{Cc}" else "\x01"
    probe = N.Replace(Regex(pattern), marker)
    members = []
    for part in chunks([c for c in code_points if chr(c) != marker]):
        text = "".join(map(chr, part))
        out = probe.normalize_str(text)
        assert len(out) == len(text), pattern
        members += [c for c, o in zip(part, out) if o == marker]
    if pattern == r"\p{Cc}":
        members.append(1)  # the marker itself, a control character
    return sorted(members)


def per_char(normalizer) -> dict:
    """{code point: output} for every code point the normalizer changes, each normalized alone."""
    changed = {}
    assert normalizer.normalize_str(SEP) == SEP
    for part in chunks([c for c in CODE_POINTS if chr(c) != SEP]):
        text = SEP.join(map(chr, part))
        pieces = normalizer.normalize_str(text).split(SEP)
        assert len(pieces) == len(part)
        for c, piece in zip(part, pieces):
            if piece != chr(c):
                changed[c] = piece
    return changed


def isolated_by(pre_tokenizer) -> list:
    """Code points the pre-tokenizer cuts out as a word of their own between two 'a's."""
    members = []
    for part in chunks([c for c in CODE_POINTS if c != ord("a")]):
        text = "a" + "a".join(map(chr, part)) + "a"
        alone = {start for word, (start, end) in pre_tokenizer.pre_tokenize_str(text) if end - start == 1}
        members += [c for k, c in enumerate(part) if 2 * k + 1 in alone]
    return members


def removed_or_spaced(normalizer, sep="a"):
    """(removed, turned into a space) code points, each alone between two `sep`s; characters the
    normalizer changes otherwise (decomposes) are neither."""
    removed, spaced = [], []
    for part in chunks([c for c in CODE_POINTS if chr(c) != sep]):
        out = normalizer.normalize_str(sep + sep.join(map(chr, part)) + sep).split(sep)[1:-1]
        assert len(out) == len(part)
        for c, o in zip(part, out):
            if o == "":
                removed.append(c)
            elif o == " " and c != 0x20:
                spaced.append(c)
    return removed, spaced


def split_points(pre_tokenizer) -> list:
    """Code points at which the pre-tokenizer cuts 'a?a' (removing the character)."""
    members = []
    for part in chunks([c for c in CODE_POINTS if c != ord("a")]):
        text = "a" + "a".join(map(chr, part)) + "a"
        covered = set()
        for _, (start, end) in pre_tokenizer.pre_tokenize_str(text):
            covered.update(range(start, end))
        members += [c for k, c in enumerate(part) if 2 * k + 1 not in covered]
    return members


def compositions(nfd: dict, nfc: dict) -> list:
    """[[first, second, composite], ...]: the canonical pairs NFC composes (Hangul aside). A composite
    is a character NFC leaves alone although NFD decomposes it; its pair is its one-level canonical
    decomposition (Python's, which must agree with the reference's full decomposition)."""
    pairs = []
    for c, full in sorted(nfd.items()):
        if 0xAC00 <= c < 0xD7A4 or c in nfc:
            continue
        one_level = unicodedata.decomposition(chr(c)).split()
        assert len(one_level) == 2 and unicodedata.normalize("NFD", chr(c)) == full, hex(c)
        first, second = (int(x, 16) for x in one_level)
        assert N.NFC().normalize_str(chr(first) + chr(second)) == chr(c), hex(c)
        pairs.append([first, second, c])
    return pairs


def combining_classes(nfd: dict) -> dict:
    """{code point: canonical combining class} of unicode-normalization, found by how NFD reorders a
    character against marks of known classes (reordering is a stable sort by class)."""
    norm = N.NFD()
    candidates = [c for c in CODE_POINTS if c not in nfd and c != ord("a")]
    # A representative mark of every class Python knows, taken from Unicode 3.2 where it can be: the
    # reference may not know newer marks at all (classes themselves never change once assigned).
    by_value = {}
    for data in (unicodedata.ucd_3_2_0, unicodedata):
        for c in range(0x110000):
            v = data.combining(chr(c))
            if v and v not in by_value and not data.decomposition(chr(c)):
                by_value[v] = chr(c)
    values = sorted(by_value)

    def moved(first_mark: str, second: str, members: list) -> set:
        """Members m for which NFD('a' + x + y) swaps x and y, x/y being m and the mark."""
        out = set()
        for part in chunks(members, 5000):
            units = ["a" + (first_mark or chr(c)) + (second or chr(c)) for c in part]
            got = norm.normalize_str("".join(units))
            assert len(got) == 3 * len(part)
            out.update(c for k, c in enumerate(part) if got[3 * k:3 * k + 3] != units[k])
        return out

    top = by_value[values[-1]]
    nonzero = moved(top, None, candidates) | moved(None, by_value[values[0]], candidates)
    nonzero = sorted(nonzero)
    for v, mark in list(by_value.items()):  # a mark the reference does not know cannot stand for its class
        if ord(mark) not in nonzero and v not in (values[0], values[-1]):
            del by_value[v]
    values = sorted(by_value)
    ccc = {}
    above = {c: 0 for c in nonzero}  # the largest known class each one sorts after
    for v in values:
        for c in moved(None, by_value[v], nonzero):  # c after a class-v mark swapped: ccc(c) > v
            above[c] = max(above[c], v)
    for c in nonzero:
        later = [v for v in values if v > above[c]]
        if not later:
            raise SystemExit(f"U+{c:04X}: a combining class above every known one")
        v = later[0]
        # equal to v unless it lies strictly between above[c] and v (a class Python does not know)
        if moved(None, by_value[v], [c]) or moved(by_value[v], None, [c]):
            raise SystemExit(f"U+{c:04X}: a combining class Python does not know")
        ccc[c] = v
    return ccc


def script_runs() -> list:
    """[[first code point, script number], ...] for every run: the scripts of the reference's
    UnicodeScripts pre-tokenizer (with its own fixes: Hiragana and Katakana count as Han, a space as
    any script). Script 0 is "any" (never cut around); the others are numbered as found. A character
    is of any script when 'a?α' and 'α?a' are not cut before it; the others are grouped script by
    script: with r the first one left, 'r?r?...' is cut before every ? of another script than r's."""
    pre = P.UnicodeScripts()

    def cut_before(units, unit_len):
        """For each unit, whether the pre-tokenizer cuts just before its second character."""
        starts = {start for _, (start, _) in pre.pre_tokenize_str("".join(units))}
        return [unit_len * k + 1 in starts for k in range(len(units))]

    rest = [ord("a"), ord("α")]
    for part in chunks([c for c in CODE_POINTS if chr(c) not in "aα"]):
        after_latin = cut_before(["a" + chr(c) + "α" for c in part], 3)
        after_greek = cut_before(["α" + chr(c) + "a" for c in part], 3)
        rest += [c for c, x, y in zip(part, after_latin, after_greek) if x or y]
    rest.sort()
    script = {}
    number = 0
    while rest:
        first = chr(rest[0])
        number += 1
        others = []
        for part in chunks(rest, 50_000):
            for c, cut in zip(part, cut_before([first + chr(c) for c in part], 2)):
                if cut:
                    others.append(c)
                else:
                    script[c] = number
        rest = others
    runs = []
    for c in range(0x110000):
        v = script.get(c, 0)
        if not runs or runs[-1][1] != v:
            runs.append([c, v])
    return runs


def disputed_classes(tables: dict) -> dict:
    """{"regex": version, "classes": {class name: ranges}}: the characters the installed `regex` module
    classes differently from the reference, per class (unicode_tables.disputed recomputes them at run
    time under another `regex` version)."""
    import importlib
    import tempfile

    import regex

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    module = importlib.import_module("leanformers.tokenization.unicode_tables")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({**tables, "disputed": {"regex": "", "classes": {}}}, f)
    module._PATH = f.name
    names = list(module._GROUPS) + CATEGORIES + ["Cn", "Cs", "LC", "s", "w", "d"] + sorted(module._TABLE_CLASSES)
    classes = {name: ranges(map(ord, module.disputed(name))) for name in names}
    os.unlink(f.name)
    return {"regex": regex.__version__, "classes": {k: v for k, v in classes.items() if v}}


def main():
    check = "--check" in sys.argv
    tables = {"reference": f"tokenizers {tokenizers.__version__}"}

    # Oniguruma (ByteLevel, Split, Replace): general categories and the \s \w \d shorthands
    category = {}
    for cat in CATEGORIES:
        for c in regex_members(rf"\p{{{cat}}}"):
            assert c not in category, (hex(c), cat, category[c])
            category[c] = cat
    runs = []
    for c in range(0x110000):
        cat = "Cs" if 0xD800 <= c < 0xE000 else category.get(c, "Cn")
        if not runs or runs[-1][1] != cat:
            runs.append([c, cat])
    tables["onig_categories"] = runs  # [first code point, category] of every run (surrogates: Cs)
    tables["onig_classes"] = {name: ranges(regex_members(rf"\{name}")) for name in ("s", "w", "d")}

    # Rust std, `regex` crate and unicode_categories, as the components use them
    removed, spaced = removed_or_spaced(N.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                                         strip_accents=False, lowercase=False))
    tables["bert_removed"] = ranges(removed)  # clean_text: NUL, U+FFFD and is_other() minus \t \n \r
    tables["bert_punctuation"] = ranges(isolated_by(P.Punctuation()))
    tables["numeric"] = ranges(isolated_by(P.Digits(individual_digits=True)))  # char::is_numeric
    whitespace_re = split_points(P.WhitespaceSplit())
    tables["whitespace"] = ranges(whitespace_re)  # char::is_whitespace
    assert set(spaced) <= set(whitespace_re)  # (clean_text removes the control characters among them)
    # Whitespace: \w+|[^\w\s]+ with the `regex` crate; a word character joins the 'a's around it
    word = [ord("a")]
    for part in chunks([c for c in CODE_POINTS if c != ord("a")]):
        spans = {span for _, span in P.Whitespace().pre_tokenize_str(" ".join("a" + chr(c) + "a" for c in part))}
        word += [c for k, c in enumerate(part) if (4 * k, 4 * k + 3) in spans]
    tables["regex_crate_word"] = ranges(word)

    # unicode-normalization: decompositions, classes, and what strip_accents / StripAccents remove
    lower = per_char(N.Lowercase())
    tables["lowercase"] = {f"{c:X}": s for c, s in sorted(lower.items())}
    nfd, nfkd, nfc = (per_char(n) for n in (N.NFD(), N.NFKD(), N.NFC()))
    hangul = range(0xAC00, 0xD7A4)
    tables["nfd"] = {f"{c:X}": s for c, s in sorted(nfd.items()) if c not in hangul}
    tables["nfkd"] = {f"{c:X}": s for c, s in sorted(nfkd.items()) if c not in hangul and nfd.get(c) != s}
    tables["compose"] = compositions(nfd, nfc)
    tables["ccc"] = {f"{c:X}": v for c, v in sorted(combining_classes(nfd).items())}
    strip = N.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    tables["bert_nonspacing"] = ranges(  # filtered after NFD: only characters NFD leaves alone matter
        c for c in removed_or_spaced(strip, SEP)[0] if c not in nfd)
    tables["combining_marks"] = ranges(removed_or_spaced(N.StripAccents(), SEP)[0])

    tables["scripts"] = script_runs()

    # Where the `regex` module's own tables (the fast path of TablePattern) class differently
    tables["disputed"] = disputed_classes(tables)

    text = json.dumps(tables, separators=(",", ":"), ensure_ascii=True)
    if check:
        with open(OUT) as f:
            same = json.load(f) == json.loads(text)
        print("unicode_tables.json is", "up to date" if same else "OUT OF DATE")
        sys.exit(0 if same else 1)
    with open(OUT, "w") as f:
        f.write(text + "\n")
    print(f"wrote {OUT}: {len(text):,} bytes")


if __name__ == "__main__":
    main()
