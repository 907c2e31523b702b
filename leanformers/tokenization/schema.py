"""Reading tokenizer.json components: field checks with clear errors, the `type` registry, and the
pattern form shared by Replace / Split ({"String": ...} or {"Regex": ...})."""

from __future__ import annotations

# (`regex` is imported where a pattern of the file's own is compiled: most tokenizers have none)

__all__ = ["Regex", "field", "registry", "make_pattern", "pattern_to_json", "Component", "ComponentSequence"]

_MISSING = object()
_TYPE_NAMES = {bool: "a boolean", int: "an integer", str: "a string", list: "a list", dict: "an object", float: "a number"}


class Regex:
    """A regular-expression pattern (the `tokenizers.Regex` counterpart), for Split and Replace."""

    def __init__(self, pattern: str):
        if not isinstance(pattern, str):
            raise TypeError(f"Regex pattern must be a string, got {type(pattern).__name__}")
        self.pattern = pattern
        self.compiled = _compile(pattern)

    def __repr__(self):
        return f"Regex({self.pattern!r})"


def field(d: dict, name: str, component: str, kind=None, default=_MISSING):
    """d[name], checked to be of `kind` (a type or tuple; None allowed when default is None)."""
    if name not in d:
        if default is _MISSING:
            raise ValueError(f"{component}: missing field '{name}' in tokenizer.json")
        return default
    value = d[name]
    if kind is None or (value is None and default is None):
        return value
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = any(
        isinstance(value, k) and not (k in (int, float) and isinstance(value, bool)) or (k is float and isinstance(value, int) and not isinstance(value, bool))
        for k in kinds
    )
    if not ok:
        want = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise ValueError(f"{component}: field '{name}' must be {want}, got {value!r:.80}")
    return value


def registry(d, types: dict, kind: str):
    """Build the component described by `d` from the class registered for d["type"]."""
    if d is None:
        return None
    if not isinstance(d, dict):
        raise ValueError(f"{kind}: expected a JSON object with a 'type' field, got {d!r:.80}")
    type_name = d.get("type")
    if type_name is None:
        raise ValueError(f"{kind}: missing field 'type' (one of {sorted(types)})")
    cls = types.get(type_name)
    if cls is None:
        raise ValueError(f"unknown {kind} type {type_name!r}; leanformers knows {sorted(types)}")
    try:
        return cls.from_dict(d)
    except ValueError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"{kind} {type_name}: malformed field ({type(exc).__name__}: {exc})") from None


class Component:
    """What every tokenizer.json component shares: its JSON `type`, (de)serialisation of a component
    without fields, and equality / repr by its JSON form. Components with fields override the two
    dict methods."""

    type_name = ""

    def to_dict(self) -> dict:
        return {"type": self.type_name}

    @classmethod
    def from_dict(cls, d: dict):
        return cls()

    def __repr__(self):
        return f"{type(self).__name__}({self.to_dict()})"

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()


class ComponentSequence:
    """The `Sequence` of each component kind: an ordered list of components stored in tokenizer.json
    under `items_key` ("normalizers", "pretokenizers", "processors", "decoders"). Subclasses add the
    component's own method (normalize, pre_tokenize, ...) and `item_from_dict`."""

    type_name = "Sequence"
    items_key = ""
    kind = ""

    def __init__(self, items):
        setattr(self, self.items_key, list(items))

    @staticmethod
    def item_from_dict(d):
        raise NotImplementedError

    def __getitem__(self, i):
        return getattr(self, self.items_key)[i]

    def __len__(self):
        return len(getattr(self, self.items_key))

    def to_dict(self):
        return {"type": self.type_name, self.items_key: [x.to_dict() for x in getattr(self, self.items_key)]}

    @classmethod
    def from_dict(cls, d):
        return cls([cls.item_from_dict(x) for x in field(d, cls.items_key, f"Sequence {cls.kind}", list)])


def _compile(pattern: str):
    """A tokenizer.json regex, its Unicode classes (\\p{L}, \\s, ...) those of the reference's Oniguruma
    (unicode_tables.TablePattern), checked now so that a bad one fails at load."""
    import regex

    from .unicode_tables import TablePattern

    compiled = TablePattern(pattern)
    try:
        compiled.pattern_for("")
    except regex.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return compiled


def make_pattern(pattern, component: str):
    """(json form, compiled regex) from a str (literal), Regex, or the JSON form."""
    import regex

    if isinstance(pattern, Regex):
        return {"Regex": pattern.pattern}, pattern.compiled
    if isinstance(pattern, str):
        return {"String": pattern}, regex.compile(regex.escape(pattern, special_only=True))
    if isinstance(pattern, dict):
        if "String" in pattern and isinstance(pattern["String"], str):
            return make_pattern(pattern["String"], component)
        if "Regex" in pattern and isinstance(pattern["Regex"], str):
            try:
                return {"Regex": pattern["Regex"]}, _compile(pattern["Regex"])
            except ValueError as exc:
                raise ValueError(f"{component}: {exc}") from None
    raise ValueError(f"{component}: field 'pattern' must be {{\"String\": ...}} or {{\"Regex\": ...}}, got {pattern!r:.80}")


def pattern_to_json(d, component: str):
    """Validate a JSON pattern object (returned unchanged for make_pattern)."""
    if not isinstance(d, dict) or not (("String" in d) ^ ("Regex" in d)):
        raise ValueError(f"{component}: field 'pattern' must be {{\"String\": ...}} or {{\"Regex\": ...}}, got {d!r:.80}")
    return d
