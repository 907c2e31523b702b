"""Tokenization: the tokenizer.json engine (engine.py and its components) and the user-facing tokenizer.

Names resolve lazily so that `import leanformers.tokenization` stays cheap. The family classes
(BertTokenizer, T5TokenizerFast, ...) are found in families/ by name: no list here names them.
"""

_LAZY = {
    "PreTrainedTokenizerFast": "tokenizer",
    "PreTrainedTokenizer": "tokenizer",
    "PreTrainedTokenizerBase": "tokenizer",
    "BatchEncoding": "batch_encoding",
    "CharSpan": "batch_encoding",
    "TokenSpan": "batch_encoding",
    "AddedToken": "engine",
    "load_tokenizer": "auto",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    elif name.endswith(("Tokenizer", "TokenizerFast")):
        from .families import find_class

        value = find_class(name)
        if value is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r} (no tokenizer family in "
                                 "leanformers/tokenization/families/ defines it)")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    from .families import public_names

    return sorted(set(globals()) | set(_LAZY) | set(public_names()))
