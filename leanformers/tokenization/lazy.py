"""Objects that import their module on first use, so that loading a tokenizer stays cheap.

Loading tokenizer.json needs neither `logging` (nothing is logged normally) nor the `regex` module
(patterns are only matched when text is encoded), and importing them costs several milliseconds
each, compiling the patterns some more: the tokenizer modules hold these stand-ins instead.
"""

from __future__ import annotations

__all__ = ["LazyLogger", "LazyPattern"]


class LazyLogger:
    """`logging.getLogger(name)` on demand; messages go to that same named logger."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attr):  # warning, info, debug, ... of the real logger
        import logging

        return getattr(logging.getLogger(self.name), attr)


class LazyPattern:
    """`regex.compile(source)` on first use, then the compiled pattern's methods (finditer, search,
    ...) are stored on the instance, so later calls cost what calls on the pattern cost."""

    def __init__(self, source: str):
        self.source = source

    def __getattr__(self, attr):  # only called for what the instance does not hold yet
        if attr.startswith("__"):
            raise AttributeError(attr)
        compiled = self.__dict__.get("compiled")
        if compiled is None:
            import regex

            compiled = self.__dict__["compiled"] = regex.compile(self.source)
        if attr == "compiled":
            return compiled
        value = self.__dict__[attr] = getattr(compiled, attr)
        return value

    def __reduce__(self):  # copies and pickles carry the source only
        return LazyPattern, (self.source,)

    def __repr__(self):
        return f"LazyPattern({self.source!r})"
