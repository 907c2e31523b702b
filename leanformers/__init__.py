"""leanformers: load, run, train and save pretrained Transformer models with the 🤗 Transformers API.

Public names resolve lazily (PEP 562), so `import leanformers` costs milliseconds and imports no
torch; the first touch of a name imports only the module that defines it.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    # configuration, models, outputs
    "PretrainedConfig": "leanformers.configuration",
    "PreTrainedConfig": "leanformers.configuration",
    "PreTrainedModel": "leanformers.modeling",
    "ModelOutput": "leanformers.outputs",
    # auto classes
    "AutoConfig": "leanformers.auto",
    "AutoTokenizer": "leanformers.auto",
    "AutoModel": "leanformers.auto",
    "AutoModelForSequenceClassification": "leanformers.auto",
    "AutoModelForTokenClassification": "leanformers.auto",
    "AutoModelForQuestionAnswering": "leanformers.auto",
    "AutoModelForMaskedLM": "leanformers.auto",
    "AutoModelForMultipleChoice": "leanformers.auto",
    "AutoModelForPreTraining": "leanformers.auto",
    "AutoModelForNextSentencePrediction": "leanformers.auto",
    "AutoModelForCausalLM": "leanformers.auto",
    # tokenizers
    "PreTrainedTokenizerFast": "leanformers.tokenization",
    "PreTrainedTokenizer": "leanformers.tokenization",
    "PreTrainedTokenizerBase": "leanformers.tokenization",
    "BatchEncoding": "leanformers.tokenization",
    "AddedToken": "leanformers.tokenization",
    "BertTokenizer": "leanformers.tokenization",
    "BertTokenizerFast": "leanformers.tokenization",
    "DistilBertTokenizer": "leanformers.tokenization",
    "DistilBertTokenizerFast": "leanformers.tokenization",
    "RobertaTokenizer": "leanformers.tokenization",
    "RobertaTokenizerFast": "leanformers.tokenization",
    "GPT2Tokenizer": "leanformers.tokenization",
    "GPT2TokenizerFast": "leanformers.tokenization",
    "LlamaTokenizer": "leanformers.tokenization",
    "LlamaTokenizerFast": "leanformers.tokenization",
    "T5Tokenizer": "leanformers.tokenization",
    "T5TokenizerFast": "leanformers.tokenization",
    "XLMRobertaTokenizer": "leanformers.tokenization",
    "XLMRobertaTokenizerFast": "leanformers.tokenization",
    "AlbertTokenizer": "leanformers.tokenization",
    "AlbertTokenizerFast": "leanformers.tokenization",
    "Qwen2Tokenizer": "leanformers.tokenization",
    "Qwen2TokenizerFast": "leanformers.tokenization",
    # pipelines
    "pipeline": "leanformers.pipelines",
    "Pipeline": "leanformers.pipelines",
    "TextClassificationPipeline": "leanformers.pipelines",
    "FeatureExtractionPipeline": "leanformers.pipelines",
    "TextGenerationPipeline": "leanformers.pipelines",
    # generation
    "GenerationConfig": "leanformers.generation",
    "TextStreamer": "leanformers.generation",
    "TextIteratorStreamer": "leanformers.generation",
    "LogitsProcessor": "leanformers.generation",
    "LogitsProcessorList": "leanformers.generation",
    "StoppingCriteria": "leanformers.generation",
    "StoppingCriteriaList": "leanformers.generation",
    "Cache": "leanformers.cache",
    "DynamicCache": "leanformers.cache",
    "StaticCache": "leanformers.cache",
    # training
    "Trainer": "leanformers.training",
    "TrainingArguments": "leanformers.training",
    "TrainerCallback": "leanformers.training",
    "EvalPrediction": "leanformers.training",
    "DataCollatorWithPadding": "leanformers.training",
    "DataCollatorForLanguageModeling": "leanformers.training",
    "DataCollatorForTokenClassification": "leanformers.training",
    "default_data_collator": "leanformers.training",
    "set_seed": "leanformers.training",
}

# Model classes are named after their file: BertModel, BertForMaskedLM, ... live in models/bert.py.
_MODEL_PREFIXES = {
    "Bert": "bert",
    "DistilBert": "distilbert",
    "Roberta": "roberta",
    "GPT2": "gpt2",
    "Llama": "llama",
    "Mistral": "mistral",
    "Qwen2": "qwen2",
}


def _module_for(name: str) -> str | None:
    if name in _LAZY:
        return _LAZY[name]
    # longest prefix first, so "DistilBert..." is not taken for a "Bert..." name
    for prefix in sorted(_MODEL_PREFIXES, key=len, reverse=True):
        if name.startswith(prefix) and (name.endswith("Config") or "Model" in name[len(prefix):]
                                        or name[len(prefix):].startswith("For")):
            return f"leanformers.models.{_MODEL_PREFIXES[prefix]}"
    return None


# submodules reachable as attributes without importing them first: leanformers.logging.set_verbosity_info()
_SUBMODULES = ("logging", "utils")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"leanformers.{name}")
    module_name = _module_for(name)
    if module_name is None:
        raise AttributeError(f"module 'leanformers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = sorted(_LAZY)
