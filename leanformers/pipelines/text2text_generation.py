"""text2text-generation, summarization and translation: an encoder-decoder model's generate(), shaped as
transformers 4.57's pipelines (which v5 removed).

- ``pipe("text")`` → ``[{'generated_text': ...}]`` (``summary_text`` / ``translation_text`` for the
  other two), one dict per returned sequence (``num_return_sequences``);
- ``pipe(["a", "b"])`` → ``[{...}, {...}]`` when each input gives one sequence, else one list per input;
- ``return_tensors=True`` gives ``{'generated_token_ids': tensor}`` (``summary_token_ids``...) instead;
  ``clean_up_tokenization_spaces`` (default False) applies to the decoded text.

Generation settings, lowest to highest precedence: the model's generation config, the pipeline's
defaults ``max_new_tokens=256, num_beams=4`` (``max_new_tokens`` is dropped when a ``max_length`` is
set), the constructor's generation keyword arguments, ``config.task_specific_params[task]`` (the
``prefix`` put before each text, e.g. T5's "translate English to French: ", and its settings: they
win over the constructor's, as in the reference), the call's.

``translation_XX_to_YY`` takes its prefix and settings from ``task_specific_params``; a multilingual
tokenizer (one that builds translation inputs from ``src_lang`` / ``tgt_lang``) gets them from the
task name or the call. A T5 model with no prefix for the task, a multilingual model with no
languages, or languages given to a model that has none raise instead of translating wrongly.
"""

from __future__ import annotations

import enum

import torch

from .base import Pipeline

__all__ = ["Text2TextGenerationPipeline", "SummarizationPipeline", "TranslationPipeline", "ReturnType"]


class ReturnType(enum.Enum):
    TENSORS = 0
    TEXT = 1


# the reference's pipeline defaults, used where the model's generation config leaves them unset
_PIPELINE_DEFAULTS = {"max_new_tokens": 256, "num_beams": 4}
_PREFIX_MODELS = ("t5", "mt5")  # models that only know the task from a text prefix


class Text2TextGenerationPipeline(Pipeline):
    """Generate text from text with any encoder-decoder model (``AutoModelForSeq2SeqLM``)."""

    return_name = "generated"

    def __init__(self, *args, **kwargs):
        from ..generation.config import FIELDS

        generation_keys = set(FIELDS) - {"prefix"}
        constructor_generation = {k: kwargs.pop(k) for k in generation_keys & kwargs.keys()}
        super().__init__(*args, **kwargs)
        if not getattr(self.model, "can_generate", lambda: False)() or \
                not getattr(self.model.config, "is_encoder_decoder", False):
            raise ValueError(f"{self.task or 'text2text-generation'} needs an encoder-decoder model "
                             f"(AutoModelForSeq2SeqLM: BART, T5, Marian...); {type(self.model).__name__} is not one.")
        self.prefix = getattr(self.model.config, "prefix", None)
        self.generation_config = self._pipeline_generation_config(constructor_generation)

    def _pipeline_generation_config(self, constructor_generation: dict):
        """The GenerationConfig every call starts from (see the module docstring for the order)."""
        from ..generation.config import GenerationConfig

        model_config = self.model.generation_config
        model_values = dict(model_config.to_diff_dict()) if model_config is not None else {}
        # the pipeline's two defaults win over the model's, the constructor's options over both
        values = {**model_values, **_PIPELINE_DEFAULTS, **constructor_generation}
        if values.get("max_new_tokens") == _PIPELINE_DEFAULTS["max_new_tokens"] and \
                values.get("max_length") not in (None, 20):
            values.pop("max_new_tokens")  # the model says how long: its max_length applies
        # task_specific_params come last, over the constructor's options too (as the reference)
        task_params = (getattr(self.model.config, "task_specific_params", None) or {}).get(self.task)
        if task_params:
            task_params = dict(task_params)
            if "prefix" in task_params:
                self.prefix = task_params.pop("prefix")
            values.update(task_params)
        if values.get("pad_token_id") is None and getattr(self.tokenizer, "pad_token_id", None) is not None:
            values["pad_token_id"] = self.tokenizer.pad_token_id
        values.pop("transformers_version", None)
        return GenerationConfig(**values)

    def _sanitize_parameters(self, return_tensors=None, return_text=None, return_type=None,
                             clean_up_tokenization_spaces=None, truncation=None, stop_sequence=None,
                             **generate_kwargs):
        preprocess_params = {} if truncation is None else {"truncation": truncation}
        postprocess_params = {}
        if return_tensors is not None and return_type is None:
            return_type = ReturnType.TENSORS if return_tensors else ReturnType.TEXT
        elif return_text is not None and return_type is None:
            return_type = ReturnType.TEXT if return_text else ReturnType.TENSORS
        if return_type is not None:
            postprocess_params["return_type"] = return_type
        if clean_up_tokenization_spaces is not None:
            postprocess_params["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if stop_sequence is not None:
            ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if len(ids) != 1:
                raise ValueError(f"stop_sequence={stop_sequence!r} is {len(ids)} tokens; it must be exactly one token "
                                 f"(it becomes eos_token_id). Pass eos_token_id=... for a token id.")
            generate_kwargs["eos_token_id"] = ids[0]
        return preprocess_params, generate_kwargs, postprocess_params

    def __call__(self, inputs=None, *args, **kwargs):
        """Generate for one text or each text of a list; see the module docstring for the shapes."""
        results = super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, list) and all(isinstance(x, str) for x in inputs) and all(len(r) == 1 for r in results):
            return [r[0] for r in results]
        return results

    def _tokenize(self, text, truncation="do_not_truncate"):
        if not isinstance(text, str):
            raise TypeError(f"{self.task} takes a text (str) or a list of texts, not {type(text).__name__}.")
        inputs = self.tokenizer((self.prefix or "") + text, padding=False, truncation=truncation,
                                return_tensors="pt")
        return {k: v for k, v in inputs.items() if k != "token_type_ids"}

    def preprocess(self, inputs, truncation="do_not_truncate"):
        return self._tokenize(inputs, truncation)

    def _forward(self, model_inputs, **generate_kwargs):
        generate_kwargs.setdefault("generation_config", self.generation_config)
        in_batch = model_inputs["input_ids"].shape[0]
        output = self.model.generate(**model_inputs, **generate_kwargs)
        sequences = output.sequences if hasattr(output, "sequences") else output
        return {"output_ids": sequences.reshape(in_batch, sequences.shape[0] // in_batch, *sequences.shape[1:])}

    def postprocess(self, model_outputs, return_type=ReturnType.TEXT, clean_up_tokenization_spaces=False):
        sequences = self._own_length(model_outputs["output_ids"][0])
        records = []
        for ids in sequences:
            if return_type == ReturnType.TENSORS:
                records.append({f"{self.return_name}_token_ids": ids})
            else:
                records.append({f"{self.return_name}_text": self.tokenizer.decode(
                    ids, skip_special_tokens=True, clean_up_tokenization_spaces=clean_up_tokenization_spaces)})
        return records


    def _own_length(self, sequences):
        """This input's sequences cut to the length they would have had without batch-mates: up to
        the last first-eos among them (a batch pads every row to its longest row; the model itself
        may generate pad tokens, so pads cannot tell)."""
        eos = self.generation_config.eos_token_id
        if eos is None or sequences.shape[-1] <= 1:
            return sequences
        eos = torch.tensor(eos if isinstance(eos, (list, tuple)) else [eos])
        is_eos = torch.isin(sequences[:, 1:], eos)  # column 0 is the decoder start
        if not bool(is_eos.any(dim=1).all()):
            return sequences  # a sequence ran to the length limit: the batch did not lengthen this input
        ends = is_eos.int().argmax(dim=1) + 2  # first eos, plus the start column
        return sequences[:, :int(ends.max())]


class SummarizationPipeline(Text2TextGenerationPipeline):
    """Summarize documents; results are ``{'summary_text': ...}``."""

    return_name = "summary"


class TranslationPipeline(Text2TextGenerationPipeline):
    """Translate texts; results are ``{'translation_text': ...}``. See the module docstring for
    where the prefix and the languages come from."""

    return_name = "translation"

    def _multilingual(self) -> bool:
        return callable(getattr(self.tokenizer, "_build_translation_inputs", None))

    def _sanitize_parameters(self, src_lang=None, tgt_lang=None, **kwargs):
        preprocess_params, forward_params, postprocess_params = super()._sanitize_parameters(**kwargs)
        if (src_lang is not None or tgt_lang is not None) and not self._multilingual():
            raise ValueError(f"src_lang/tgt_lang choose the languages of a multilingual model (mBART-50, M2M100, "
                             f"NLLB), and this {type(self.tokenizer).__name__} has no language codes: leave them out "
                             f"(the model translates one way) or use a multilingual model.")
        if src_lang is None and tgt_lang is None:
            parts = self.task.split("_")
            if len(parts) == 4 and parts[0] == "translation" and parts[2] == "to":
                src_lang, tgt_lang = parts[1], parts[3]
        if src_lang is not None:
            preprocess_params["src_lang"] = src_lang
        if tgt_lang is not None:
            preprocess_params["tgt_lang"] = tgt_lang
        return preprocess_params, forward_params, postprocess_params

    def preprocess(self, inputs, truncation="do_not_truncate", src_lang=None, tgt_lang=None):
        if self._multilingual():
            if src_lang is None or tgt_lang is None:
                raise ValueError(f"This multilingual model needs the languages: pipeline('translation', model=..., "
                                 f"src_lang='en_XX', tgt_lang='fr_XX') or a task like 'translation_en_to_fr'.")
            return self.tokenizer._build_translation_inputs(inputs, return_tensors="pt", truncation=truncation,
                                                            src_lang=src_lang, tgt_lang=tgt_lang)
        if getattr(self.model.config, "model_type", None) in _PREFIX_MODELS and not self.prefix:
            known = sorted(k for k in (getattr(self.model.config, "task_specific_params", None) or {})
                           if k.startswith("translation"))
            raise ValueError(f"{self.model.config.model_type} knows which translation to do only from a text prefix, and "
                             f"its config has none for {self.task!r} (task_specific_params has "
                             f"{known or 'no translation entry'}). Use one of those tasks, e.g. "
                             f"pipeline('translation_en_to_fr', ...), or put the prefix in the text yourself with the "
                             f"text2text-generation task.")
        return self._tokenize(inputs, truncation)
