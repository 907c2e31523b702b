"""Tokenizer families: one module each in this folder, found by name.

A family module (bert.py, t5.py, xlm_roberta.py, ...) is the one home of a tokenizer family: its
class (and the reference's `...Fast` alias), default special tokens, vocabulary file names, the
config.json model types it serves, and how its pipeline is built from legacy files, from constructor
kwargs and around a tokenizer.json. Adding a family is adding a file here: `AutoTokenizer`,
`from leanformers import XTokenizer` and the legacy-file guess all find it through this registry.

Lookups go by name first: "XLMRobertaTokenizerFast" and model_type "xlm-roberta" both lead to
xlm_roberta.py (names compared without case, "_" or "-"), and only that module is imported. A name no
file is named after (a model type another family serves, a class defined in another family's file)
imports every family once and reads what each declares.
"""

from __future__ import annotations

import functools
import importlib
import os

from ..tokenizer import PreTrainedTokenizerFast, engine_from_state
from .. import legacy

# tokenizer_class names that mean "no family: use tokenizer.json as it is".
GENERIC_NAMES = ("PreTrainedTokenizer", "PreTrainedTokenizerFast", "TokenizersBackend")


class FamilyTokenizer(PreTrainedTokenizerFast):
    """Base of the family classes: a family sets the class attributes and overrides the builders it has.

    A builder returns a tokenizer.json dict for the engine. `added_tokens` are tokenizer.json-style
    dicts; `kwargs` are the tokenizer_config.json settings (builders may fill in defaults the reference
    derives from the files, e.g. a SentencePiece model's control pieces as extra special tokens).
    """

    model_types: tuple[str, ...] = ()  # config.json model_type values this family serves
    # Files that say a folder holds this family's legacy vocabulary when no class is named.
    legacy_files: tuple[str, ...] = ()
    # True when only the family's own class reads its files faithfully (Marian maps pieces through
    # vocab.json): such files are looked for first, and the generic class refuses them.
    only_as_itself: bool = False

    @classmethod
    def state_from_files(cls, find, added_tokens: list, kwargs: dict, name_or_path) -> dict:
        """The pipeline built from the legacy vocabulary files `find(filename)` locates (no tokenizer.json)."""
        raise OSError(f"Can't load the tokenizer: {os.fspath(name_or_path)!r} has no tokenizer.json, which "
                      f"{cls.__name__} needs (it has no legacy vocabulary format here).")

    @classmethod
    def state_from_kwargs(cls, kwargs: dict, vocab=None, merges=None) -> dict | None:
        """The pipeline built from constructor arguments (vocab=, merges=, vocab_file=, ...); None: can't."""
        return None

    @classmethod
    def rebuild_state(cls, state: dict, kwargs: dict) -> dict:
        """The reference rebuilds a family's pipeline around the vocabulary of its tokenizer.json; a file
        whose model is not the family's (e.g. a BPE file under a WordPiece class) is trusted as it is."""
        return state

    @classmethod
    def loads_tokenizer_json_as_is(cls, text: str) -> bool:
        """True when a tokenizer.json (its text) is not this family's, so that AutoTokenizer loads it
        with the generic class instead of rebuilding it (the reference does the same)."""
        return False

    def _call_with_targets(self, text, text_pair, text_target, text_pair_target, kwargs):
        """For translation families: ``text_target`` (the labels, capped by ``max_target_length``) is
        encoded in the target mode (``_switch_to_target_mode``: Marian's target.spm, mBART's target
        language code), the text in the input mode; the labels are the targets' input_ids."""
        max_target_length = kwargs.pop("max_target_length", None)
        target_kwargs = dict(kwargs, max_length=max_target_length) if max_target_length is not None else kwargs
        self._switch_to_target_mode()
        try:
            targets = super().__call__(text_target, text_pair_target, **target_kwargs)
        finally:
            self._switch_to_input_mode()
        if text is None:
            return targets
        encodings = super().__call__(text, text_pair, **kwargs)
        encodings["labels"] = targets["input_ids"]
        return encodings

    @classmethod
    def find_sentencepiece(cls, find, name_or_path) -> str:
        """The family's SentencePiece model; repos of one family sometimes carry another's file name."""
        own = cls.vocab_files_names["vocab_file"]
        path = find(own)
        for other in sentencepiece_file_names():
            path = path or find(other)
        return legacy.require_file(path, own, name_or_path)

    def _build_backend_from_kwargs(self, kwargs):
        vocab, merges = kwargs.pop("vocab", None), kwargs.pop("merges", None)
        state = self.state_from_kwargs(kwargs, vocab, merges)
        return None if state is None else engine_from_state(state)


# ---- the registry -----------------------------------------------------------------------------------
def _key(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


@functools.cache
def family_names() -> tuple[str, ...]:
    """The family modules in this folder, sorted (files starting with "_" are helpers)."""
    folder = os.path.dirname(__file__)
    return tuple(sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_")))


def load(family: str):
    """A family's module by its file name ("xlm_roberta")."""
    return importlib.import_module(f"{__name__}.{family}")


def _module_named(name: str):
    key = _key(name)
    for family in family_names():
        if _key(family) == key:
            return load(family)
    return None


def _is_family(module_name: str) -> bool:
    package, _, family = module_name.rpartition(".")
    return package == __name__ and not family.startswith("_")  # not this registry, not a helper module


def _own_classes(module):
    return [v for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, FamilyTokenizer) and v.__module__ == module.__name__]


@functools.cache
def _index() -> dict:
    """Everything every family declares (imports all of them; used when a name is not a file's name)."""
    classes, model_types, legacy_files = {}, {}, []
    for family in family_names():
        module = load(family)
        for name, value in vars(module).items():  # its classes and aliases, and those it imports from families
            if isinstance(value, type) and issubclass(value, FamilyTokenizer) and _is_family(value.__module__):
                classes.setdefault(name, value)
        for cls in _own_classes(module):
            for model_type in cls.__dict__.get("model_types", ()):
                model_types.setdefault(model_type, cls)
            legacy_files += [(filename, cls) for filename in cls.__dict__.get("legacy_files", ())]
    return {"classes": classes, "model_types": model_types, "legacy_files": legacy_files}


def find_class(name: str) -> type | None:
    """The class a tokenizer_class name ("BertTokenizerFast", "PreTrainedTokenizerFast") means; None: unknown."""
    if name in GENERIC_NAMES:
        return PreTrainedTokenizerFast
    stem = name[: -len("Fast")] if name.endswith("Fast") else name
    if stem.endswith("Tokenizer"):
        module = _module_named(stem[: -len("Tokenizer")])
        value = getattr(module, name, None) if module else None
        if isinstance(value, type) and issubclass(value, FamilyTokenizer):
            return value
    return _index()["classes"].get(name)


def class_for_model_type(model_type: str) -> type | None:
    """The family class serving a config.json model_type; None: no family does."""
    module = _module_named(model_type)
    for cls in _own_classes(module) if module else ():
        if model_type in cls.model_types:
            return cls
    return _index()["model_types"].get(model_type)


def guess_from_files(find) -> type | None:
    """For a folder without a named class or tokenizer.json: the family whose legacy file it holds."""
    for filename, cls in sorted(_index()["legacy_files"], key=lambda item: not item[1].only_as_itself):
        if find(filename):
            return cls
    return None


def legacy_file_names() -> list[str]:
    return sorted({filename for filename, _ in _index()["legacy_files"]})


def sentencepiece_file_names() -> list[str]:
    """Every family's SentencePiece model file name, in family order."""
    names = (cls.vocab_files_names.get("vocab_file", "") for cls in _index()["classes"].values())
    return list(dict.fromkeys(n for n in names if n.endswith(".model")))


def public_names() -> list[str]:
    """The tokenizer class names the families define (aliases included)."""
    return sorted(_index()["classes"])
