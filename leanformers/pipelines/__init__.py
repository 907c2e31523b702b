"""``pipeline()``: a task name (and a model) in, a ready-to-call pipeline out.

This module is imported by ``leanformers.pipeline``, so it stays cheap: no torch, no models, no
tokenizers at import time. Everything heavy is imported inside ``pipeline()`` and the lazy class
names below.

Tasks live in one table, ``SUPPORTED_TASKS``: each names its pipeline class by a lazy
``"module:Class"`` path, the Auto class that loads its model, and its default model (if any).
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

__all__ = [
    "pipeline", "Pipeline", "TextClassificationPipeline", "FeatureExtractionPipeline",
    "TextGenerationPipeline", "FillMaskPipeline", "TokenClassificationPipeline", "NerPipeline",
    "QuestionAnsweringPipeline", "ZeroShotClassificationPipeline", "ChunkPipeline", "SummarizationPipeline",
    "TranslationPipeline", "Text2TextGenerationPipeline", "SUPPORTED_TASKS", "TASK_ALIASES", "get_supported_tasks",
    "check_task",
]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Embedded default models, shipped inside the package (task -> folder). A test may point these
# elsewhere; a build without the folder gives a clear error instead of a download.
DEFAULT_MODELS = {
    "text-classification": os.path.join(_PACKAGE_DIR, "default_models", "sentiment"),
}
_DEFAULT_MODEL_DESCRIPTIONS = {
    "text-classification": "leanformers' embedded default sentiment model "
                           "(all-MiniLM-L6-v2 fine-tuned for English sentiment, NEGATIVE/POSITIVE)",
}

SUPPORTED_TASKS = {
    "text-classification": {
        "impl": "leanformers.pipelines.text_classification:TextClassificationPipeline",
        "auto_model": "AutoModelForSequenceClassification",
        "has_default": True,
    },
    "feature-extraction": {
        "impl": "leanformers.pipelines.feature_extraction:FeatureExtractionPipeline",
        "auto_model": "AutoModel",
        "has_default": False,
    },
    "text-generation": {
        "impl": "leanformers.pipelines.text_generation:TextGenerationPipeline",
        "auto_model": "AutoModelForCausalLM",
        "has_default": False,
    },
    # beyond the reference: pooled as the checkpoint's sentence-transformers files say
    "sentence-embeddings": {
        "impl": "leanformers.pipelines.sentence_embeddings:SentenceEmbeddingsPipeline",
        "auto_model": "AutoModel",
        "has_default": False,
    },
    # default_hub: the reference's (transformers 4.57) default checkpoint and revision for the task
    "fill-mask": {
        "impl": "leanformers.pipelines.fill_mask:FillMaskPipeline",
        "auto_model": "AutoModelForMaskedLM",
        "has_default": True,
        "default_hub": ("distilbert/distilroberta-base", "fb53ab8"),
    },
    "token-classification": {
        "impl": "leanformers.pipelines.token_classification:TokenClassificationPipeline",
        "auto_model": "AutoModelForTokenClassification",
        "has_default": True,
        "default_hub": ("dbmdz/bert-large-cased-finetuned-conll03-english", "4c53496"),
    },
    "question-answering": {
        "impl": "leanformers.pipelines.question_answering:QuestionAnsweringPipeline",
        "auto_model": "AutoModelForQuestionAnswering",
        "has_default": True,
        "default_hub": ("distilbert/distilbert-base-cased-distilled-squad", "564e9b5"),
    },
    "zero-shot-classification": {
        "impl": "leanformers.pipelines.zero_shot_classification:ZeroShotClassificationPipeline",
        "auto_model": "AutoModelForSequenceClassification",
        "has_default": True,
        "default_hub": ("facebook/bart-large-mnli", "d7645e1"),
    },
    "summarization": {
        "impl": "leanformers.pipelines.text2text_generation:SummarizationPipeline",
        "auto_model": "AutoModelForSeq2SeqLM",
        "has_default": True,
        "default_hub": ("sshleifer/distilbart-cnn-12-6", "a4f8f3e"),
    },
    # also "translation_XX_to_YY" (see check_task): the languages pick the default and the T5 prefix
    "translation": {
        "impl": "leanformers.pipelines.text2text_generation:TranslationPipeline",
        "auto_model": "AutoModelForSeq2SeqLM",
        "has_default": True,
        "default_hub_by_languages": {pair: ("google-t5/t5-base", "a9723ea")
                                     for pair in (("en", "fr"), ("en", "de"), ("en", "ro"))},
    },
    "text2text-generation": {
        "impl": "leanformers.pipelines.text2text_generation:Text2TextGenerationPipeline",
        "auto_model": "AutoModelForSeq2SeqLM",
        "has_default": True,
        "default_hub": ("google-t5/t5-base", "a9723ea"),
    },
}
TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}

# Lazy public classes: name -> "module:Class".
_LAZY_CLASSES = {
    "Pipeline": "leanformers.pipelines.base:Pipeline",
    "PipelineException": "leanformers.pipelines.base:PipelineException",
    "TextClassificationPipeline": SUPPORTED_TASKS["text-classification"]["impl"],
    "FeatureExtractionPipeline": SUPPORTED_TASKS["feature-extraction"]["impl"],
    "TextGenerationPipeline": SUPPORTED_TASKS["text-generation"]["impl"],
    "SentenceEmbeddingsPipeline": SUPPORTED_TASKS["sentence-embeddings"]["impl"],
    "FillMaskPipeline": SUPPORTED_TASKS["fill-mask"]["impl"],
    "TokenClassificationPipeline": SUPPORTED_TASKS["token-classification"]["impl"],
    "NerPipeline": SUPPORTED_TASKS["token-classification"]["impl"],
    "QuestionAnsweringPipeline": SUPPORTED_TASKS["question-answering"]["impl"],
    "ZeroShotClassificationPipeline": SUPPORTED_TASKS["zero-shot-classification"]["impl"],
    "ChunkPipeline": "leanformers.pipelines.chunk:ChunkPipeline",
    "SummarizationPipeline": SUPPORTED_TASKS["summarization"]["impl"],
    "TranslationPipeline": SUPPORTED_TASKS["translation"]["impl"],
    "Text2TextGenerationPipeline": SUPPORTED_TASKS["text2text-generation"]["impl"],
}

# Head-class name endings -> task, to infer the task from a model when none is given.
_ARCHITECTURE_TASKS = (
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForConditionalGeneration", "text2text-generation"),
    ("MTModel", "translation"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("Model", "feature-extraction"),
)

# Hub options forwarded to both model and tokenizer loading.
_HUB_KWARGS = ("revision", "token", "local_files_only", "cache_dir", "force_download")


def _import_path(path: str):
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise ImportError(f"{attr} is not available: this build of leanformers has no {module_name}.") from None
    return getattr(module, attr)


def __getattr__(name: str):
    if name in _LAZY_CLASSES:
        value = _import_path(_LAZY_CLASSES[name])
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_supported_tasks() -> list[str]:
    """Every task name ``pipeline()`` accepts, aliases included."""
    return sorted(set(SUPPORTED_TASKS) | set(TASK_ALIASES))


def check_task(task: str) -> tuple[str, dict]:
    """``(canonical task name, its SUPPORTED_TASKS entry)``, or a KeyError listing the known tasks."""
    if not isinstance(task, str):
        raise TypeError(f"task must be a string like 'text-classification', not {type(task).__name__}.")
    name = TASK_ALIASES.get(task, task)
    if name.startswith("translation_"):
        parts = name.split("_")
        if len(parts) == 4 and parts[2] == "to" and parts[1] and parts[3]:
            return name, SUPPORTED_TASKS["translation"]  # the pipeline reads the languages from the name
        raise KeyError(f"Invalid translation task {task!r}: use the 'translation_XX_to_YY' format, e.g. "
                       f"'translation_en_to_fr'.")
    if name not in SUPPORTED_TASKS:
        known = ", ".join(
            f"{t!r}" + (f" (alias {', '.join(repr(a) for a, c in TASK_ALIASES.items() if c == t)})"
                        if t in TASK_ALIASES.values() else "")
            for t in sorted(SUPPORTED_TASKS)
        )
        raise KeyError(f"Unknown task {task!r}. leanformers pipelines support: {known}, 'translation_XX_to_YY'.")
    return name, SUPPORTED_TASKS[name]


def _infer_task(model, config_architectures: list[str] | None) -> str:
    names = [type(model).__name__] if not isinstance(model, str) else list(config_architectures or [])
    for name in names:
        for ending, task in _ARCHITECTURE_TASKS:
            if name.endswith(ending):
                return task
    raise RuntimeError(
        f"Cannot tell which task to run for {model if isinstance(model, str) else type(model).__name__!r} "
        f"(its architectures are {names or 'not recorded'}). Pass the task: pipeline('text-classification', "
        f"model=...). Known tasks: {', '.join(get_supported_tasks())}."
    )


def _default_hub_model(task: str, repo: str, revision: str, hub: dict) -> tuple[str, str]:
    """(Hub id, revision) of the reference's default checkpoint for ``task``: the pinned revision or
    main, whichever the HF cache holds, else (online) the pinned revision to download."""
    from ..hub import _cached_snapshot, hf_cache_dir, is_offline

    cache = hf_cache_dir(hub.get("cache_dir"))
    found = next((rev for rev in (revision, "main") if _cached_snapshot(repo, rev, cache) is not None), None)
    if found is None and is_offline(hub.get("local_files_only")):
        raise OSError(
            f"No model was given for {task!r}, and its default model {repo} (revision {revision}, the one "
            f"transformers uses) is not in the Hugging Face cache at {cache}, and downloads are off "
            f"(HF_HUB_OFFLINE=1). Fetch it once with network access: `hf download {repo}` (or run this "
            f"without HF_HUB_OFFLINE), or pass a model: pipeline({task!r}, model='<Hub id or local folder>')."
        )
    revision = found or revision
    print(f"No model was supplied, defaulted to {repo} and revision {revision} "
          f"(https://huggingface.co/{repo}). Pass model= to choose one.", file=sys.stderr)
    return repo, revision


def _default_model(task: str) -> str:
    path = DEFAULT_MODELS.get(task)
    if path is None:
        raise ValueError(
            f"The {task!r} pipeline has no default model in leanformers: pass one, e.g. "
            f"pipeline({task!r}, model='<Hub id or local folder>')."
        )
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise OSError(
            f"No model was given for {task!r}, and {_DEFAULT_MODEL_DESCRIPTIONS.get(task, 'its default model')} "
            f"is not installed: {path} holds no config.json (this build of leanformers ships without it). "
            f"Pass a model, e.g. pipeline({task!r}, "
            f"model='distilbert/distilbert-base-uncased-finetuned-sst-2-english') or a local folder."
        )
    import logging  # a warning, as in the reference: leanformers.logging.set_verbosity_error() hides it

    logging.getLogger("leanformers").warning(
        f"No model was supplied, using {_DEFAULT_MODEL_DESCRIPTIONS.get(task, 'the default model')} at {path}")
    return path


def _load_tokenizer(tokenizer, model, model_name, config, hub: dict, use_fast: bool, gguf_file=None):
    """The tokenizer object: given, loaded by name, or loaded from where the model came from (from
    the same GGUF file when the model came from one)."""
    from ..auto import AutoTokenizer

    if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike, tuple)):
        return tokenizer
    if tokenizer is None and gguf_file is not None:
        name = model_name or getattr(model, "name_or_path", None)
        hub = {k: v for k, v in hub.items() if k != "force_download"}
        return AutoTokenizer.from_pretrained(os.fspath(name), gguf_file=gguf_file, **hub)
    extra = {} if use_fast else {"use_fast": False}
    if isinstance(tokenizer, tuple):  # (name, kwargs), as the reference allows
        name, kwargs = tokenizer
        return AutoTokenizer.from_pretrained(name, **{**hub, **extra, **kwargs})
    name = tokenizer
    if name is None:
        name = model_name or (config if isinstance(config, str) else None) \
            or getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "name_or_path", None)
    if not name:
        raise ValueError(
            f"Cannot tell which tokenizer goes with this {type(model).__name__}: it was not loaded from a "
            f"folder or Hub id (its name_or_path is empty). Pass tokenizer=AutoTokenizer.from_pretrained(...) "
            f"or tokenizer='<Hub id or folder>'."
        )
    return AutoTokenizer.from_pretrained(os.fspath(name), **hub, **extra)


def pipeline(task: str | None = None, model=None, config=None, tokenizer=None, feature_extractor=None,
             image_processor=None, processor=None, revision: str | None = None, use_fast: bool = True,
             token=None, device=None, device_map=None, dtype=None, trust_remote_code: bool | None = None,
             model_kwargs: dict | None = None, pipeline_class=None, batch_size: int | None = None, **kwargs):
    """Build a pipeline for ``task`` (e.g. ``"text-classification"``), the reference's way.

    ``model`` is a Hub id, a local folder, a path to a ``.gguf`` file (or a folder / Hub id with
    ``gguf_file="name.gguf"``: model and tokenizer then both load from that file), or a loaded model
    (the tokenizer then comes from the model's ``name_or_path`` unless ``tokenizer`` is given).
    Without a model the task's default is used: for text-classification / sentiment-analysis, the
    sentiment model embedded in leanformers, loaded as float32 on the CPU. Without a task it is
    inferred from the model's architecture (``*ForSequenceClassification`` → text-classification,
    ``*ForCausalLM`` → text-generation, a bare ``*Model`` → feature-extraction; a GGUF file →
    text-generation).

    ``device``: -1 or "cpu", an index like 0 (CUDA), "cuda:0", or a ``torch.device``; by default
    CUDA when available (as the reference), except for an embedded default model (CPU).
    ``dtype`` (alias ``torch_dtype``) is passed to ``from_pretrained`` ("auto" when unset: the
    checkpoint's own dtype). ``batch_size`` is the default for calls on lists (32 when unset).
    ``quantization`` ("int8", "int4", "gguf") goes to ``from_pretrained`` too (weight-only quantized
    CPU decoding, see :mod:`leanformers.quantization`).
    ``model_kwargs`` go to ``from_pretrained``; other keyword arguments go to the pipeline
    (``top_k``, ``function_to_apply``, ``return_tensors``...).
    """
    if "torch_dtype" in kwargs:
        torch_dtype = kwargs.pop("torch_dtype")
        if dtype is not None and torch_dtype is not None and dtype != torch_dtype:
            raise ValueError("Pass dtype or torch_dtype (its older name), not both.")
        dtype = dtype if dtype is not None else torch_dtype
    model_kwargs = dict(model_kwargs or {})
    quantization = kwargs.pop("quantization", None)
    hub = {"revision": revision, "token": token}
    for key in _HUB_KWARGS:
        if key in kwargs:
            hub[key] = kwargs.pop(key)
    hub = {k: v for k, v in hub.items() if v is not None}
    kwargs.pop("_commit_hash", None)
    del trust_remote_code, feature_extractor, image_processor, processor  # no remote code; text only

    if task is None and model is None:
        raise RuntimeError("pipeline() needs a task or a model (or both), e.g. pipeline('sentiment-analysis').")
    if model is None and tokenizer is not None:
        raise RuntimeError(
            "A tokenizer was given without a model; it may not match the default model. Pass the model too."
        )
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    model_name = model if isinstance(model, str) else None
    gguf_file = kwargs.pop("gguf_file", None) or model_kwargs.pop("gguf_file", None)
    from ..hub import split_gguf_path  # model="dir/x.gguf" loads as ("dir", gguf_file="x.gguf")

    model_name, gguf_file = split_gguf_path(model_name, gguf_file)

    if task is None and gguf_file is not None:
        task = "text-generation"  # GGUF files hold causal language models
    if task is None:
        architectures = None
        if model_name is not None:
            from ..configuration import PretrainedConfig

            architectures = PretrainedConfig.read_config_dict(model_name, **hub).get("architectures")
        task = _infer_task(model, architectures)
    task, entry = check_task(task)
    if pipeline_class is None:
        pipeline_class = _import_path(entry["impl"])

    if model is None and "default_hub_by_languages" in entry:
        parts = task.split("_")
        pair = (parts[1], parts[3]) if len(parts) == 4 else None
        if pair not in entry["default_hub_by_languages"]:
            known = ", ".join(f"'translation_{a}_to_{b}'" for a, b in entry["default_hub_by_languages"])
            raise ValueError(f"{task!r} has no default model (defaults exist for {known}): pass one, e.g. "
                             f"pipeline({task!r}, model='Helsinki-NLP/opus-mt-{pair[0]}-{pair[1]}')" if pair else
                             f"'translation' needs the languages to pick a default model: use a task like {known}, "
                             f"or pass a model.")
        model_name, hub["revision"] = _default_hub_model(task, *entry["default_hub_by_languages"][pair], hub)
        model = model_name
    elif model is None and "default_hub" in entry:
        model_name, hub["revision"] = _default_hub_model(task, *entry["default_hub"], hub)
        model = model_name
    elif model is None:
        model = model_name = _default_model(task)
        if dtype is None:
            dtype = "float32"
        if device is None:
            device = "cpu"

    if isinstance(config, (str, os.PathLike)):
        from ..auto import AutoConfig

        config = AutoConfig.from_pretrained(os.fspath(config), **hub)

    if model_name is not None:
        from .. import auto

        auto_class = getattr(auto, entry["auto_model"])
        if device_map is not None:
            if "device_map" in model_kwargs:
                raise ValueError("device_map is given twice (argument and model_kwargs). Keep one.")
            model_kwargs["device_map"] = device_map
        if dtype is not None:
            if "dtype" in model_kwargs or "torch_dtype" in model_kwargs:
                raise ValueError("dtype is given twice (argument and model_kwargs). Keep one.")
            model_kwargs["dtype"] = dtype
        if gguf_file is not None:
            model_kwargs["gguf_file"] = gguf_file
        if quantization is not None:
            model_kwargs["quantization"] = quantization
        model = auto_class.from_pretrained(model_name, config=config, **{**hub, **model_kwargs})
    elif quantization is not None:
        raise ValueError("quantization=... applies when pipeline() loads the model: pass the model's name or "
                         "folder, or load it yourself with from_pretrained(..., quantization=...).")
    if getattr(pipeline_class, "_load_tokenizer", True) is not False:
        tokenizer_hub = dict(hub)
        if "cache_dir" in model_kwargs:
            tokenizer_hub.setdefault("cache_dir", model_kwargs["cache_dir"])
        tokenizer = _load_tokenizer(tokenizer, model, model_name, config, tokenizer_hub, use_fast, gguf_file)

    if task == "translation":
        # a model that names its translation in task_specific_params (T5: translation_en_to_de...) gets it
        for key in getattr(getattr(model, "config", None), "task_specific_params", None) or {}:
            if key.startswith("translation"):
                task = key
                warnings.warn(f'"translation" task was used, instead of "translation_XX_to_YY", defaulting to "{task}"',
                              UserWarning)
                break
    if batch_size is not None:
        kwargs["batch_size"] = batch_size
    return pipeline_class(model=model, tokenizer=tokenizer, task=task, device=device, **kwargs)
