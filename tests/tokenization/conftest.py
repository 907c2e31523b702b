"""Each user-facing tokenizer test runs twice: on leanformers' own engine and, to tell a layer bug
from an engine bug, on the Rust `tokenizers` engine behind the same layer.

The layer builds its engines through one module attribute, `leanformers.tokenization.tokenizer.Engine`;
the `backend` fixture swaps in `RustEngine`, which gives the `tokenizers` library's Tokenizer the few
things our engine has beyond it (building from / returning a tokenizer.json dict, our components as
its post-processor, our AddedToken objects)."""

import json

import pytest


class RustEngine:
    """A `tokenizers.Tokenizer` with our engine's interface (test-only adapter)."""

    def __init__(self, rust):
        object.__setattr__(self, "_rust", rust)

    @classmethod
    def from_str(cls, text):
        import tokenizers

        return cls(tokenizers.Tokenizer.from_str(text))

    @classmethod
    def from_dict(cls, state):
        return cls.from_str(json.dumps(state))

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_str(f.read())

    def to_dict(self):
        return json.loads(self._rust.to_str())

    @property
    def post_processor(self):  # ours, built from the same JSON, so that the layer can read it
        from leanformers.tokenization.processors import post_processor_from_dict

        return post_processor_from_dict(self.to_dict().get("post_processor"))

    @post_processor.setter
    def post_processor(self, component):
        state = self.to_dict()
        state["post_processor"] = None if component is None else component.to_dict()
        object.__setattr__(self, "_rust", type(self).from_dict(state)._rust)

    def _rust_tokens(self, tokens):
        import tokenizers

        return [t if isinstance(t, str) else tokenizers.AddedToken(
            t.content, single_word=t.single_word, lstrip=t.lstrip, rstrip=t.rstrip, normalized=t.normalized,
            special=t.special) for t in tokens]

    def add_tokens(self, tokens):
        return self._rust.add_tokens(self._rust_tokens(tokens))

    def add_special_tokens(self, tokens):
        return self._rust.add_special_tokens(self._rust_tokens(tokens))

    def __getattr__(self, name):
        return getattr(self._rust, name)

    def __setattr__(self, name, value):
        if name in type(self).__dict__:  # post_processor: the property above
            object.__setattr__(self, name, value)
        else:
            setattr(self._rust, name, value)


@pytest.fixture(params=["tokenizers", "leanformers"])
def backend(request, monkeypatch):
    if request.param == "tokenizers":
        pytest.importorskip("tokenizers")
        import leanformers.tokenization.tokenizer as tokenizer_module

        monkeypatch.setattr(tokenizer_module, "Engine", RustEngine)
    return request.param
