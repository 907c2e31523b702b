"""Tokenization: the tokenizer.json engine (engine.py and its components) and the user-facing tokenizer.

Names resolve lazily so that `import leanformers.tokenization` stays cheap.
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
    "BertTokenizer": "model_tokenizers",
    "BertTokenizerFast": "model_tokenizers",
    "DistilBertTokenizer": "model_tokenizers",
    "DistilBertTokenizerFast": "model_tokenizers",
    "RobertaTokenizer": "model_tokenizers",
    "RobertaTokenizerFast": "model_tokenizers",
    "GPT2Tokenizer": "model_tokenizers",
    "GPT2TokenizerFast": "model_tokenizers",
    "LlamaTokenizer": "model_tokenizers",
    "LlamaTokenizerFast": "model_tokenizers",
    "T5Tokenizer": "model_tokenizers",
    "T5TokenizerFast": "model_tokenizers",
    "XLMRobertaTokenizer": "model_tokenizers",
    "XLMRobertaTokenizerFast": "model_tokenizers",
    "AlbertTokenizer": "model_tokenizers",
    "AlbertTokenizerFast": "model_tokenizers",
    "Qwen2Tokenizer": "model_tokenizers",
    "Qwen2TokenizerFast": "model_tokenizers",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
