"""Post-processors: add the model's special tokens around one sequence or a pair ([CLS] A [SEP] B
[SEP], <s> A </s></s> B </s>, ...), set type ids, and trim byte-level offsets.

As in the reference, `process` gives each encoding its sequence id, lets `process_encodings` turn
the list of encodings into the pieces to concatenate, and merges them (which also combines the
overflowing windows of truncation with the special tokens).
"""

from __future__ import annotations

from .encoding import Encoding
from .normalized import WHITESPACE
from .schema import Component, ComponentSequence, field, registry

__all__ = ["PostProcessor", "TemplateProcessing", "BertProcessing", "RobertaProcessing", "ByteLevel", "Sequence",
           "post_processor_from_dict"]


class PostProcessor(Component):

    def num_special_tokens_to_add(self, is_pair: bool) -> int:
        return self.added_tokens(is_pair)

    def added_tokens(self, is_pair: bool) -> int:
        return 0

    def process_encodings(self, encodings: list, add_special_tokens: bool) -> list:
        raise NotImplementedError

    def process(self, encoding: Encoding, pair: Encoding | None = None, add_special_tokens: bool = True) -> Encoding:
        encodings = [encoding] if pair is None else [encoding, pair]
        for i, e in enumerate(encodings):
            _set_sequence_id(e, i)
        encodings = self.process_encodings(encodings, add_special_tokens)
        if len(encodings) == 1:
            return encodings[0]
        return Encoding.merge(encodings, False)


def _set_sequence_id(e: Encoding, i: int) -> None:
    e.set_sequence_id(i)
    for o in e.overflowing:
        o.set_sequence_id(i)


def _special(ids, tokens, type_id) -> Encoding:
    n = len(ids)
    return Encoding(list(ids), [type_id] * n, list(tokens), [None] * n, [(0, 0)] * n, [1] * n, [1] * n, [], {})


class TemplateProcessing(PostProcessor):
    """Templates like "[CLS] $A [SEP]" / "[CLS] $A [SEP] $B:1 [SEP]:1" (piece:type_id)."""

    type_name = "TemplateProcessing"

    def __init__(self, single=None, pair=None, special_tokens=None):
        self.single = _parse_template(single if single is not None else "$0", "single")
        self.pair = _parse_template(pair if pair is not None else "$A:0 $B:1", "pair")
        self.special_tokens = _parse_special_tokens(special_tokens or [])
        missing = sorted({p[1] for p in self.single + self.pair if p[0] == "special" and p[1] not in self.special_tokens})
        if missing:
            raise ValueError(f"TemplateProcessing: the template uses special tokens {missing} that are not listed in "
                             "special_tokens (give each one with its id)")
        self._counts = {
            False: sum(len(self.special_tokens[p[1]]["ids"]) for p in self.single if p[0] == "special"),
            True: sum(len(self.special_tokens[p[1]]["ids"]) for p in self.pair if p[0] == "special"),
        }

    def added_tokens(self, is_pair):
        return self._counts[bool(is_pair)]

    def process(self, encoding, pair=None, add_special_tokens=True):
        if encoding.overflowing or (pair is not None and pair.overflowing):
            return super().process(encoding, pair, add_special_tokens)
        # Fast path (no truncation windows): build the final lists in one pass.
        encodings = (encoding,) if pair is None else (encoding, pair)
        template = self.single if pair is None else self.pair
        ids, type_ids, tokens, words, offsets, special, ranges = [], [], [], [], [], [], {}
        for kind, name, type_id in template:
            if kind == "sequence":
                i = 0 if name == "A" else 1
                if i >= len(encodings):
                    raise ValueError("TemplateProcessing: the single-sequence template mentions $B")
                e = encodings[i]
                n = len(e.ids)
                ranges[i] = (len(ids), len(ids) + n)
                ids += e.ids
                type_ids += [type_id] * n
                tokens += e.tokens
                words += e.words
                offsets += e.offsets
                special += [0] * n
            elif add_special_tokens:
                tok = self.special_tokens[name]
                n = len(tok["ids"])
                ids += tok["ids"]
                type_ids += [type_id] * n
                tokens += tok["tokens"]
                words += [None] * n
                offsets += [(0, 0)] * n
                special += [1] * n
        return Encoding(ids, type_ids, tokens, words, offsets, special, [1] * len(ids), [], ranges)

    def process_encodings(self, encodings, add_special_tokens):
        if len(encodings) not in (1, 2):
            raise ValueError("TemplateProcessing handles one sequence or a pair")
        template = self.pair if len(encodings) == 2 else self.single
        out = []
        for kind, name, type_id in template:
            if kind == "sequence":
                i = 0 if name == "A" else 1
                if i >= len(encodings):
                    raise ValueError("TemplateProcessing: the single-sequence template mentions $B")
                e = encodings[i]
                e.type_ids = [type_id] * len(e.ids)
                _set_sequence_id(e, i)
                out.append(e.copy())
            elif add_special_tokens:
                tok = self.special_tokens[name]
                out.append(_special(tok["ids"], tok["tokens"], type_id))
        return out

    def to_dict(self):
        return {"type": self.type_name, "single": _template_to_json(self.single), "pair": _template_to_json(self.pair),
                "special_tokens": {k: {"id": k, "ids": list(v["ids"]), "tokens": list(v["tokens"])}
                                   for k, v in sorted(self.special_tokens.items())}}

    @classmethod
    def from_dict(cls, d):
        n = "TemplateProcessing"
        specials = field(d, "special_tokens", n, dict)
        return cls(field(d, "single", n, list), field(d, "pair", n, list), list(specials.values()))


def _parse_piece(text: str, where: str):
    parts = text.split(":")
    if len(parts) > 2 or not parts[0]:
        raise ValueError(f"TemplateProcessing: cannot read piece {text!r} of the {where} template")
    type_id = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError(f"TemplateProcessing: piece {text!r} of the {where} template has a non-numeric type id")
        type_id = int(parts[1])
    name = parts[0]
    if name.startswith("$"):
        rest = name[1:]
        if rest in ("", "A", "a"):
            return ("sequence", "A", type_id)
        if rest in ("B", "b"):
            return ("sequence", "B", type_id)
        if rest.isdigit() and len(parts) == 1:
            return ("sequence", "A", int(rest))
        raise ValueError(f"TemplateProcessing: cannot read piece {text!r} of the {where} template")
    return ("special", name, type_id)


def _parse_template(template, where: str) -> list:
    if isinstance(template, str):
        return [_parse_piece(t, where) for t in template.split()]
    pieces = []
    for item in template:
        if isinstance(item, str):
            pieces.append(_parse_piece(item, where))
        elif isinstance(item, dict) and len(item) == 1:
            (kind, body), = item.items()
            if not isinstance(body, dict) or "id" not in body:
                raise ValueError(f"TemplateProcessing: malformed {where} template piece {item!r:.80}")
            type_id = body.get("type_id", 0)
            if kind == "Sequence":
                if body["id"] not in ("A", "B"):
                    raise ValueError(f"TemplateProcessing: sequence id must be 'A' or 'B', got {body['id']!r}")
                pieces.append(("sequence", body["id"], type_id))
            elif kind == "SpecialToken":
                pieces.append(("special", body["id"], type_id))
            else:
                raise ValueError(f"TemplateProcessing: unknown {where} template piece kind {kind!r}")
        else:
            raise ValueError(f"TemplateProcessing: malformed {where} template piece {item!r:.80}")
    return pieces


def _template_to_json(pieces) -> list:
    return [{"Sequence" if k == "sequence" else "SpecialToken": {"id": name, "type_id": t}} for k, name, t in pieces]


def _parse_special_tokens(items) -> dict:
    out = {}
    for item in items:
        if isinstance(item, dict):
            if not {"id", "ids", "tokens"} <= set(item):
                raise ValueError(f"TemplateProcessing: a special token needs 'id', 'ids' and 'tokens', got {item!r:.80}")
            if len(item["ids"]) != len(item["tokens"]):
                raise ValueError(f"TemplateProcessing: special token {item['id']!r} has {len(item['ids'])} ids "
                                 f"but {len(item['tokens'])} tokens")
            out[item["id"]] = {"ids": list(item["ids"]), "tokens": list(item["tokens"])}
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            a, b = item
            token, id_ = (a, b) if isinstance(a, str) else (b, a)
            if not isinstance(token, str) or not isinstance(id_, int):
                raise ValueError(f"TemplateProcessing: a special token is (token, id), got {item!r}")
            out[token] = {"ids": [id_], "tokens": [token]}
        else:
            raise ValueError(f"TemplateProcessing: a special token is (token, id) or a dict, got {item!r:.80}")
    return out


# ---- BERT / RoBERTa --------------------------------------------------------------------------------
def _wrap(e: Encoding, front, back, type_front: int, type_back: int, seq_id: int) -> Encoding:
    """front + e + back, with e's tokens forming sequence `seq_id`."""
    nf, nb = len(front), len(back)
    n = len(e.ids)
    out = Encoding(
        [i for i, _ in front] + e.ids + [i for i, _ in back],
        [type_front] * nf + e.type_ids + [type_back] * nb,
        [t for _, t in front] + e.tokens + [t for _, t in back],
        [None] * nf + e.words + [None] * nb,
        [(0, 0)] * nf + e.offsets + [(0, 0)] * nb,
        [1] * nf + [0] * n + [1] * nb,
        [1] * (nf + n + nb),
        [],
        {seq_id: (nf, nf + n)},
    )
    out.overflowing = [_wrap(o, front, back, type_front, type_back, seq_id) for o in e.overflowing]
    return out


class BertProcessing(PostProcessor):
    type_name = "BertProcessing"

    def __init__(self, sep=("[SEP]", 102), cls=("[CLS]", 101)):
        self.sep = (str(sep[0]), int(sep[1]))
        self.cls = (str(cls[0]), int(cls[1]))

    def added_tokens(self, is_pair):
        return 3 if is_pair else 2

    def process_encodings(self, encodings, add_special_tokens):
        if not add_special_tokens:
            return encodings
        cls, sep = (self.cls[1], self.cls[0]), (self.sep[1], self.sep[0])
        out = []
        for i, e in enumerate(encodings):
            if i == 0:
                out.append(_wrap(e, [cls], [sep], 0, 0, 0))
            else:
                out.append(_wrap(e, [], [sep], 1, 1, 1))
        return out

    def to_dict(self):
        return {"type": self.type_name, "sep": list(self.sep), "cls": list(self.cls)}

    @classmethod
    def from_dict(cls, d):
        return cls(_token_pair(d, "sep", "BertProcessing"), _token_pair(d, "cls", "BertProcessing"))


def _token_pair(d, name, component):
    v = field(d, name, component, list)
    if len(v) != 2 or not isinstance(v[0], str) or not isinstance(v[1], int):
        raise ValueError(f"{component}: field '{name}' must be [token, id], got {v!r}")
    return tuple(v)


def trim_byte_level_offsets(e: Encoding, add_prefix_space: bool) -> None:
    """Offsets that exclude the leading/trailing spaces (Ġ) a byte-level token carries."""
    space = "Ġ"
    offsets = e.offsets
    for i, tok in enumerate(e.tokens):
        lead = len(tok) - len(tok.lstrip(space + "".join(WHITESPACE)))
        trail = len(tok) - len(tok.rstrip(space + "".join(WHITESPACE)))
        if not lead and not trail:
            continue
        s, t = offsets[i]
        if lead:
            if (i == 0 or s == 0) and add_prefix_space and lead == 1:
                lead = 0
            s = min(s + lead, t)
        if trail and t >= trail:
            t = max(t - trail, s)
        offsets[i] = (s, t)
    for o in e.overflowing:
        trim_byte_level_offsets(o, add_prefix_space)


class RobertaProcessing(PostProcessor):
    type_name = "RobertaProcessing"

    def __init__(self, sep=("</s>", 2), cls=("<s>", 0), trim_offsets=True, add_prefix_space=True):
        self.sep = (str(sep[0]), int(sep[1]))
        self.cls = (str(cls[0]), int(cls[1]))
        self.trim_offsets = bool(trim_offsets)
        self.add_prefix_space = bool(add_prefix_space)

    def added_tokens(self, is_pair):
        return 4 if is_pair else 2

    def process_encodings(self, encodings, add_special_tokens):
        if self.trim_offsets:
            for e in encodings:
                trim_byte_level_offsets(e, self.add_prefix_space)
        for e in encodings:  # RoBERTa uses type id 0 everywhere
            e.type_ids = [0] * len(e.ids)
            for o in e.overflowing:
                o.type_ids = [0] * len(o.ids)
        if not add_special_tokens:
            return encodings
        cls, sep = (self.cls[1], self.cls[0]), (self.sep[1], self.sep[0])
        return [_wrap(e, [cls], [sep], 0, 0, 0) if i == 0 else _wrap(e, [sep], [sep], 0, 0, 1)
                for i, e in enumerate(encodings)]

    def to_dict(self):
        return {"type": self.type_name, "sep": list(self.sep), "cls": list(self.cls), "trim_offsets": self.trim_offsets,
                "add_prefix_space": self.add_prefix_space}

    @classmethod
    def from_dict(cls, d):
        n = "RobertaProcessing"
        return cls(_token_pair(d, "sep", n), _token_pair(d, "cls", n), field(d, "trim_offsets", n, bool, True),
                   field(d, "add_prefix_space", n, bool, True))


class ByteLevel(PostProcessor):
    type_name = "ByteLevel"

    def __init__(self, add_prefix_space=True, trim_offsets=True, use_regex=True):
        self.add_prefix_space = bool(add_prefix_space)
        self.trim_offsets = bool(trim_offsets)
        self.use_regex = bool(use_regex)

    def process_encodings(self, encodings, add_special_tokens):
        if self.trim_offsets:
            for e in encodings:
                trim_byte_level_offsets(e, self.add_prefix_space)
        for i, e in enumerate(encodings):
            e.set_sequence_id(i)
        return encodings

    def to_dict(self):
        return {"type": self.type_name, "add_prefix_space": self.add_prefix_space, "trim_offsets": self.trim_offsets,
                "use_regex": self.use_regex}

    @classmethod
    def from_dict(cls, d):
        n = "ByteLevel post-processor"
        return cls(field(d, "add_prefix_space", n, bool, True), field(d, "trim_offsets", n, bool, True),
                   field(d, "use_regex", n, bool, True))


class Sequence(ComponentSequence, PostProcessor):
    items_key = "processors"
    kind = "post-processor"

    @staticmethod
    def item_from_dict(d):
        return post_processor_from_dict(d)

    def added_tokens(self, is_pair):
        return sum(p.added_tokens(is_pair) for p in self.processors)

    def process_encodings(self, encodings, add_special_tokens):
        for p in self.processors:
            encodings = p.process_encodings(encodings, add_special_tokens)
        return encodings


_TYPES = {c.type_name: c for c in (TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)}


def post_processor_from_dict(d):
    return registry(d, _TYPES, "post_processor")
