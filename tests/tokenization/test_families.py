"""The tokenizer families registry: one file in tokenization/families/ per family, found by name."""

import ast
import json
import os
import subprocess
import sys
import types

import pytest

import leanformers
import leanformers.tokenization as tokenization
from leanformers.tokenization import families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(tokenization.__file__)))  # the folder holding leanformers/


def family_classes():
    out = []
    for family in families.family_names():
        module = families.load(family)
        out += [(family, name, value) for name, value in vars(module).items()
                if isinstance(value, type) and issubclass(value, families.FamilyTokenizer)
                and value.__module__ == module.__name__ and value.__name__ == name]
    return out


def test_every_family_file_is_found_by_its_names():
    found = family_classes()
    assert {family for family, _, _ in found} == set(families.family_names())
    for family, name, cls in found:
        assert families.find_class(name) is cls
        assert families.find_class(name + "Fast") is cls  # the reference's alias
        assert getattr(leanformers, name) is cls and getattr(tokenization, name + "Fast") is cls
        assert name in dir(leanformers) and name in dir(tokenization)
        for model_type in cls.model_types:
            assert families.class_for_model_type(model_type) is cls
    assert families.find_class("PreTrainedTokenizerFast") is tokenization.PreTrainedTokenizerFast
    assert families.find_class("NoSuchTokenizer") is None and families.class_for_model_type("no-such") is None
    # the registry's base classes are not families
    assert families.find_class("FamilyTokenizer") is None and families.find_class("ByteLevelBPETokenizer") is None
    assert set(families.public_names()) == {n for _, name, _ in found for n in (name, name + "Fast")}


def test_unknown_tokenizer_name_is_a_clear_attribute_error():
    with pytest.raises(AttributeError, match="no tokenizer family"):
        tokenization.NoSuchTokenizer  # noqa: B018
    with pytest.raises(AttributeError):
        leanformers.NoSuchTokenizerFast  # noqa: B018


def test_a_new_family_is_one_module(monkeypatch, tmp_path):
    """A module in families/ is all a family takes: class names, model types and the legacy-file guess."""
    module = types.ModuleType("leanformers.tokenization.families.toy_words")

    class ToyWordsTokenizer(families.FamilyTokenizer):
        model_types = ("toy-words",)
        legacy_files = ("toy_vocab.txt",)

        @classmethod
        def state_from_files(cls, find, added_tokens, kwargs, name_or_path):
            with open(find("toy_vocab.txt"), encoding="utf-8") as f:
                vocab = {line.strip(): i for i, line in enumerate(f)}
            return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
                    "normalizer": None, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None,
                    "decoder": None, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}}

    ToyWordsTokenizer.__module__ = module.__name__
    module.ToyWordsTokenizer = module.ToyWordsTokenizerFast = ToyWordsTokenizer
    monkeypatch.setitem(sys.modules, module.__name__, module)
    names = families.family_names() + ("toy_words",)
    monkeypatch.setattr(families, "family_names", lambda: names)
    families._index.cache_clear()
    try:
        assert families.find_class("ToyWordsTokenizerFast") is ToyWordsTokenizer
        assert families.class_for_model_type("toy-words") is ToyWordsTokenizer
        (tmp_path / "toy_vocab.txt").write_text("<unk>\nhello\nworld\n")
        tok = leanformers.AutoTokenizer.from_pretrained(str(tmp_path))  # no config: guessed from the file
        assert type(tok) is tokenization.PreTrainedTokenizerFast
        assert tok("hello world again")["input_ids"] == [1, 2, 0]
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "toy-words"}))
        assert type(leanformers.AutoTokenizer.from_pretrained(str(tmp_path))) is ToyWordsTokenizer
    finally:
        families._index.cache_clear()


def _imports(path, module_level_only):
    """Modules of leanformers.tokenization that the file imports (at module level only, or anywhere)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = os.path.relpath(os.path.dirname(path), ROOT).split(os.sep)  # relative imports start here
    out = set()
    for node in tree.body if module_level_only else ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            target = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            for alias in node.names:
                candidate = os.path.join(ROOT, *target, alias.name)
                is_module = os.path.exists(candidate + ".py") or os.path.isdir(candidate)
                out.add(".".join(target + [alias.name] if is_module else target))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            out.update(names)
    return {m for m in out if m.startswith("leanformers.tokenization")}


def _import_graph(module_level_only):
    graph = {}
    for folder, _, filenames in os.walk(os.path.dirname(tokenization.__file__)):
        for filename in filenames:
            if filename.endswith(".py"):
                path = os.path.join(folder, filename)
                name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                graph[name] = _imports(path, module_level_only)
    return graph


def _assert_acyclic(graph):
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_no_import_cycles_in_tokenization():
    _assert_acyclic(_import_graph(module_level_only=True))
    graph = _import_graph(module_level_only=False)
    assert graph["leanformers.tokenization.families.bert"] >= {"leanformers.tokenization.legacy",
                                                               "leanformers.tokenization.families"}
    # The one edge back: PreTrainedTokenizerFast.from_pretrained hands over to the loader, which needs
    # the class (imported when called). Everything else, function-level imports included, is one way.
    assert "leanformers.tokenization.auto" in graph["leanformers.tokenization.tokenizer"]
    graph["leanformers.tokenization.tokenizer"].discard("leanformers.tokenization.auto")
    _assert_acyclic(graph)


def test_loading_one_family_imports_only_that_family(tmp_path):
    """Lookups by name import one family module, not all of them."""
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizerFast"}))
    code = ("import sys, leanformers\n"
            f"tok = leanformers.AutoTokenizer.from_pretrained({str(tmp_path)!r})\n"
            "assert tok('hello')['input_ids'] == [2, 5, 3], tok('hello')\n"
            "print(sorted(m for m in sys.modules if m.startswith('leanformers.tokenization.families.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.stdout.strip() == "['leanformers.tokenization.families.bert']"
