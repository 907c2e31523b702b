"""leanformers: load, run, train and save pretrained Transformer models with the 🤗 Transformers API.

Public names resolve lazily (PEP 562), so `import leanformers` costs milliseconds and imports no
torch; the first touch of a name imports only the module that defines it.
"""

from __future__ import annotations

import importlib
import os
import re

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
    "AutoModelForSeq2SeqLM": "leanformers.auto",
    # tokenizers
    "PreTrainedTokenizerFast": "leanformers.tokenization",
    "PreTrainedTokenizer": "leanformers.tokenization",
    "PreTrainedTokenizerBase": "leanformers.tokenization",
    "BatchEncoding": "leanformers.tokenization",
    "AddedToken": "leanformers.tokenization",
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
    "EncoderDecoderCache": "leanformers.cache",
    # training
    "Trainer": "leanformers.training",
    "TrainingArguments": "leanformers.training",
    "TrainerCallback": "leanformers.training",
    "EvalPrediction": "leanformers.training",
    "DataCollatorWithPadding": "leanformers.training",
    "DataCollatorForLanguageModeling": "leanformers.training",
    "DataCollatorForTokenClassification": "leanformers.training",
    "DataCollatorForSeq2Seq": "leanformers.training",
    "Seq2SeqTrainer": "leanformers.training",
    "Seq2SeqTrainingArguments": "leanformers.training",
    "default_data_collator": "leanformers.training",
    "set_seed": "leanformers.training",
}

# Model classes live in models/<model_type>.py. Rather than a table that every new model file must
# extend, the first lookup of a name that is not in _LAZY reads the model files' text (not imports
# them: that would import torch) and indexes the public classes and aliases each defines.
_MODEL_NAMES: dict[str, str] | None = None
_DEFINITION = re.compile(r"^(?:class\s+([A-Za-z]\w*)\b|([A-Z]\w*[a-z]\w*)\s*=)", re.MULTILINE)


def _model_names() -> dict[str, str]:
    global _MODEL_NAMES
    if _MODEL_NAMES is None:
        folder = os.path.join(os.path.dirname(__file__), "models")
        names = {}
        for filename in sorted(os.listdir(folder)):
            if not filename.endswith(".py") or filename.startswith("_"):
                continue
            with open(os.path.join(folder, filename), encoding="utf-8") as f:
                for match in _DEFINITION.finditer(f.read()):
                    name = match.group(1) or match.group(2)
                    # the public surface: configs, models and heads (not layers such as BertEmbeddings)
                    if name.endswith("Config") or "Model" in name or "For" in name:
                        names.setdefault(name, f"leanformers.models.{filename[:-3]}")
        _MODEL_NAMES = names
    return _MODEL_NAMES


def _module_for(name: str) -> str | None:
    if name in _LAZY:
        return _LAZY[name]
    if name.endswith(("Tokenizer", "TokenizerFast")):  # tokenization/families/ knows every family's classes
        return "leanformers.tokenization"
    return _model_names().get(name) if not name.startswith("_") else None


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
    from .tokenization.families import public_names

    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES) | set(_model_names()) | set(public_names()))


__all__ = sorted(_LAZY)
