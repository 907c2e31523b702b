"""Each user-facing tokenizer test runs twice: on leanformers' own engine and, to tell a layer bug
from an engine bug, on the Rust `tokenizers` engine behind the same layer."""

import pytest


@pytest.fixture(params=["tokenizers", "leanformers"])
def backend(request, monkeypatch):
    if request.param == "tokenizers":
        tokenizers = pytest.importorskip("tokenizers")
        import leanformers.tokenization.tokenizer as tokenizer_module

        monkeypatch.setattr(tokenizer_module, "_backend_tokenizer_class", lambda: tokenizers.Tokenizer)
    return request.param
