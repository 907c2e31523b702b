"""text-classification (alias sentiment-analysis): a sequence-classification model's labels and scores.

Result shapes follow the reference exactly, quirks included:

- ``pipe("text")`` → ``[{'label': 'POSITIVE', 'score': 0.99}]`` (a one-item list);
- ``pipe(["a", "b"])`` → ``[{...}, {...}]`` (one dict per input);
- ``pipe({"text": "a", "text_pair": "b"})`` → ``{...}`` (a bare dict);
- with ``top_k`` passed to the call (an int, or None for every label), each input gets a list of
  dicts sorted by score: ``pipe("text", top_k=None)`` → ``[{...}, {...}]``,
  ``pipe(["a", "b"], top_k=2)`` → ``[[{...}, {...}], [{...}, {...}]]``.

Unlike the reference, inputs longer than the model can take are truncated (the reference fails in
the position embeddings); pass ``truncation=False`` to get the reference's behaviour.
"""

from __future__ import annotations

import inspect

import numpy as np

from .base import Pipeline, with_default_truncation

__all__ = ["TextClassificationPipeline", "ClassificationFunction"]


class ClassificationFunction:
    """The score functions ``function_to_apply`` may name."""

    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"
    NONE = "none"
    ALL = (SIGMOID, SOFTMAX, NONE)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - np.max(x, axis=-1, keepdims=True))  # minus the max: no overflow
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _function_name(value) -> str | None:
    if value is None:
        return None
    name = str(getattr(value, "value", value)).lower()
    if name == "default":
        return None
    if name not in ClassificationFunction.ALL:
        raise ValueError(
            f"function_to_apply={value!r} is not one of 'softmax', 'sigmoid', 'none' (or 'default' for "
            f"the model's own rule)."
        )
    return name


class TextClassificationPipeline(Pipeline):
    """Classify texts or text pairs with any ``*ForSequenceClassification`` model.

    Parameters (constructor or call): ``top_k`` (default 1: only the best label, in the legacy
    shape; ``None``: every label), ``function_to_apply`` ("softmax", "sigmoid", "none"; by default
    none for regression, sigmoid for multi-label or a single label, softmax otherwise), and any
    tokenizer keyword (``truncation``, ``max_length``, ``padding``...).
    """

    def _sanitize_parameters(self, function_to_apply=None, top_k="", **tokenizer_kwargs):
        # top_k defaults to "" so that top_k=None ("all labels") can be told from "not given".
        postprocess_params = {}
        if isinstance(top_k, int) or top_k is None:
            if isinstance(top_k, int) and top_k < 1:
                raise ValueError(f"top_k must be a positive integer or None (all labels), not {top_k}.")
            postprocess_params["top_k"] = top_k
            postprocess_params["_legacy"] = False
        elif top_k != "":
            raise ValueError(f"top_k must be a positive integer or None (all labels), not {top_k!r}.")
        function_to_apply = _function_name(function_to_apply)
        if function_to_apply is not None:
            postprocess_params["function_to_apply"] = function_to_apply
        return tokenizer_kwargs, {}, postprocess_params

    def __call__(self, inputs=None, *args, **kwargs):
        """Classify one input (a str or ``{"text", "text_pair"}`` dict) or many (a list).

        Returns what the module docstring shows: a one-item list for a str, a dict for a pair,
        a list with one result per input for a list.
        """
        result = super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, str) and "top_k" not in kwargs:
            return [result]  # the reference's legacy shape for a single string
        return result

    def preprocess(self, inputs, **tokenizer_kwargs):
        tokenizer_kwargs = with_default_truncation(self.tokenizer, self.model.config, tokenizer_kwargs)
        if isinstance(inputs, dict):
            unknown = set(inputs) - {"text", "text_pair"}
            if unknown or "text" not in inputs:
                raise ValueError(
                    f"A dict input must have the keys 'text' and optionally 'text_pair', got {sorted(inputs)}."
                )
            return self.tokenizer(**inputs, return_tensors="pt", **tokenizer_kwargs)
        if isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], list) and len(inputs[0]) == 2:
            # [[text, pair]]: an older spelling of a pair that the reference still takes
            return self.tokenizer(text=inputs[0][0], text_pair=inputs[0][1], return_tensors="pt",
                                  **tokenizer_kwargs)
        if isinstance(inputs, (list, tuple)):
            raise ValueError(
                'This input is a list inside the list of inputs. To classify a text pair, pass a dict '
                '{"text": "My text", "text_pair": "My pair"} (or a list of such dicts).'
            )
        if not isinstance(inputs, str):
            raise TypeError(
                f"text-classification takes a str, a {{'text', 'text_pair'}} dict, or a list of those; "
                f"got {type(inputs).__name__}."
            )
        return self.tokenizer(inputs, return_tensors="pt", **tokenizer_kwargs)

    def _forward(self, model_inputs):
        # decoder models with a classification head must not build a KV cache here
        if "use_cache" in inspect.signature(self.model.forward).parameters:
            model_inputs["use_cache"] = False
        return self.model(**model_inputs)

    def _default_function(self) -> str:
        config = self.model.config
        if config.problem_type == "regression":
            return ClassificationFunction.NONE
        if config.problem_type == "multi_label_classification" or config.num_labels == 1:
            return ClassificationFunction.SIGMOID
        if config.problem_type == "single_label_classification" or config.num_labels > 1:
            return ClassificationFunction.SOFTMAX
        return _function_name(getattr(config, "function_to_apply", None)) or ClassificationFunction.NONE

    def postprocess(self, model_outputs, function_to_apply=None, top_k=1, _legacy=True):
        function_to_apply = function_to_apply or self._default_function()
        if "logits" not in model_outputs:
            raise ValueError(
                f"text-classification needs a sequence-classification model, and {type(self.model).__name__} "
                f"returns no logits. Load it with AutoModelForSequenceClassification (or use the "
                f"feature-extraction task for a bare model)."
            )
        logits = model_outputs["logits"][0].float().numpy()  # float32, also for fp16/bf16 models
        if function_to_apply == ClassificationFunction.SIGMOID:
            scores = sigmoid(logits)
        elif function_to_apply == ClassificationFunction.SOFTMAX:
            scores = softmax(logits)
        else:
            scores = logits
        id2label = self.model.config.id2label
        if top_k == 1 and _legacy:
            return {"label": id2label[scores.argmax().item()], "score": scores.max().item()}
        results = [{"label": id2label[i], "score": score.item()} for i, score in enumerate(scores)]
        if not _legacy:
            results.sort(key=lambda r: r["score"], reverse=True)
            if top_k is not None:
                results = results[:top_k]
        return results
