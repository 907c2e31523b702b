"""text-generation: continue a prompt (or a chat) with a causal language model.

Result shapes follow the reference:

- ``pipe("Once upon")`` → ``[{'generated_text': 'Once upon a time ...'}]`` (one dict per returned
  sequence, ``num_return_sequences`` of them);
- ``pipe(["a", "b"])`` → ``[[{...}], [{...}]]`` (one list per prompt);
- ``pipe([{"role": "user", "content": "Hi"}])`` (chat messages, rendered with the tokenizer's chat
  template) → ``[{'generated_text': [<the messages>, {'role': 'assistant', 'content': '...'}]}]``;
- ``return_full_text=False`` gives only the new text; ``return_tensors=True`` gives
  ``{'generated_token_ids': [...]}`` instead of text.

Like the reference, generation defaults to ``max_new_tokens=256, do_sample=True, temperature=0.7``
where neither the call nor the model's generation config says otherwise, and ``pad_token_id``
comes from the tokenizer. Batched prompts are padded on the left (the pipeline sets the
tokenizer's ``padding_side``), which is what a decoder needs to continue every row from its end.
"""

from __future__ import annotations

import copy
import enum

from .base import Pipeline

__all__ = ["TextGenerationPipeline", "ReturnType", "Chat"]


class ReturnType(enum.Enum):
    TENSORS = 0
    NEW_TEXT = 1
    FULL_TEXT = 2


class Chat:
    """A list of chat messages passed as one input (kept apart from a list of prompts)."""

    def __init__(self, messages: list[dict]):
        for message in messages:
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                raise ValueError(f"Each chat message must be a dict with 'role' and 'content' keys, got {message!r}.")
        self.messages = messages


def _is_chat(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and isinstance(value[0], dict)


# Parameters the pipeline fills in when nobody set them (sampling ones only when sampling).
_PIPELINE_DEFAULTS = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}
_SAMPLING_PARAMS = {"temperature", "top_k", "top_p", "min_p", "top_h", "typical_p", "epsilon_cutoff", "eta_cutoff"}


class TextGenerationPipeline(Pipeline):
    """Generate text after a prompt with any causal LM (``AutoModelForCausalLM``)."""

    def __init__(self, *args, **kwargs):
        from ..generation.config import FIELDS

        # generation options given to the constructor apply to every call
        generation_keys = set(FIELDS) | {"generation_config"}
        self._generate_kwargs = {k: kwargs.pop(k) for k in generation_keys & kwargs.keys()}
        super().__init__(*args, **kwargs)
        if not getattr(self.model, "can_generate", lambda: False)():
            raise ValueError(f"text-generation needs a causal language model (AutoModelForCausalLM); "
                             f"{type(self.model).__name__} cannot generate.")
        if self.tokenizer is not None and getattr(self.tokenizer, "padding_side", "right") == "right":
            self.tokenizer.padding_side = "left"

    # ---- parameters ------------------------------------------------------------------------------
    def _sanitize_parameters(self, return_full_text=None, return_tensors=None, return_text=None,
                             return_type=None, clean_up_tokenization_spaces=None, prefix=None,
                             stop_sequence=None, truncation=None, max_length=None, continue_final_message=None,
                             skip_special_tokens=None, add_special_tokens=None, padding=None,
                             tokenizer_encode_kwargs=None, **generate_kwargs):
        preprocess = {}
        for name, value in (("truncation", truncation), ("max_length", max_length), ("prefix", prefix),
                            ("add_special_tokens", add_special_tokens), ("padding", padding),
                            ("continue_final_message", continue_final_message),
                            ("tokenizer_encode_kwargs", tokenizer_encode_kwargs)):
            if value is not None:
                preprocess[name] = value
        if max_length is not None:
            generate_kwargs["max_length"] = max_length
        if prefix:
            prefix_ids = self.tokenizer(prefix, add_special_tokens=bool(add_special_tokens))["input_ids"]
            generate_kwargs["prefix_length"] = len(prefix_ids)
        if stop_sequence is not None:
            generate_kwargs["stop_strings"] = [stop_sequence] if isinstance(stop_sequence, str) else stop_sequence
            generate_kwargs["tokenizer"] = self.tokenizer

        postprocess = {}
        if return_full_text is not None and return_type is None:
            if return_text is not None:
                raise ValueError("return_text and return_full_text cannot be used together.")
            if return_tensors is not None:
                raise ValueError("return_full_text and return_tensors cannot be used together.")
            return_type = ReturnType.FULL_TEXT if return_full_text else ReturnType.NEW_TEXT
        if return_tensors is not None and return_type is None:
            if return_text is not None:
                raise ValueError("return_text and return_tensors cannot be used together.")
            return_type = ReturnType.TENSORS
        if return_type is not None:
            postprocess["return_type"] = return_type
        if clean_up_tokenization_spaces is not None:
            postprocess["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if continue_final_message is not None:
            postprocess["continue_final_message"] = continue_final_message
        if skip_special_tokens is not None:
            postprocess["skip_special_tokens"] = skip_special_tokens
        return preprocess, generate_kwargs, postprocess

    def _generate_kwargs_for_call(self, call_kwargs: dict) -> dict:
        """The call's generation options over the constructor's, plus the pipeline's defaults for
        options neither they nor the model's generation config set."""
        kwargs = dict(call_kwargs) if "generation_config" in call_kwargs else {**self._generate_kwargs, **call_kwargs}
        model_config = self.model.generation_config
        already_set = dict(model_config.to_diff_dict()) if model_config is not None else {}
        if kwargs.get("generation_config") is not None:
            already_set.update(kwargs["generation_config"].to_diff_dict())
        already_set.update(kwargs)
        defaults = dict(_PIPELINE_DEFAULTS)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if pad is not None:
            defaults["pad_token_id"] = pad
        added = {k: v for k, v in defaults.items()
                 if k not in already_set and not (k == "max_new_tokens" and "max_length" in already_set)}
        if not {**already_set, **added}.get("do_sample"):
            added = {k: v for k, v in added.items() if k not in _SAMPLING_PARAMS}
        config = kwargs.get("generation_config")
        if config is None:
            return {**kwargs, **added}
        config = copy.deepcopy(config)
        config.update(**added)
        return {**kwargs, "generation_config": config}

    # ---- inputs --------------------------------------------------------------------------------
    def _is_single_input(self, inputs) -> bool:
        if _is_chat(inputs):
            return True  # one conversation
        return super()._is_single_input(inputs)

    def __call__(self, text_inputs=None, *args, **kwargs):
        if _is_chat(text_inputs):
            text_inputs = Chat(list(text_inputs))
        elif isinstance(text_inputs, (list, tuple)) and text_inputs and _is_chat(text_inputs[0]):
            text_inputs = [Chat(list(chat)) for chat in text_inputs]
        if (kwargs.get("batch_size") is None and self._batch_size is None
                and getattr(self.tokenizer, "pad_token_id", None) is None):
            kwargs["batch_size"] = 1  # prompts of different lengths cannot be padded without a pad token
        return super().__call__(text_inputs, *args, **kwargs)

    def preprocess(self, prompt_text, prefix="", add_special_tokens=None, truncation=None, padding=None,
                   max_length=None, continue_final_message=None, tokenizer_encode_kwargs=None):
        if self.tokenizer is None:
            raise ValueError("text-generation needs a tokenizer: pipeline('text-generation', model=..., "
                             "tokenizer=...).")
        tokenizer_kwargs = {k: v for k, v in (("add_special_tokens", add_special_tokens), ("truncation", truncation),
                                              ("padding", padding), ("max_length", max_length)) if v is not None}
        tokenizer_kwargs.update(tokenizer_encode_kwargs or {})
        if isinstance(prompt_text, Chat):
            tokenizer_kwargs.pop("add_special_tokens", None)
            if continue_final_message is None:
                continue_final_message = prompt_text.messages[-1]["role"] == "assistant"
            inputs = self.tokenizer.apply_chat_template(
                prompt_text.messages, add_generation_prompt=not continue_final_message,
                continue_final_message=continue_final_message, return_dict=True, return_tensors="pt",
                **tokenizer_kwargs)
        elif isinstance(prompt_text, str):
            inputs = self.tokenizer(prefix + prompt_text, return_tensors="pt", **tokenizer_kwargs)
        else:
            raise TypeError(f"text-generation takes a string, a list of chat messages, or a list of either; "
                            f"got {type(prompt_text).__name__}.")
        inputs = dict(inputs)
        inputs["prompt_text"] = prompt_text
        return inputs

    # ---- generation ------------------------------------------------------------------------------
    def _forward(self, model_inputs, **generate_kwargs):
        input_ids = model_inputs["input_ids"]
        attention_mask = model_inputs.get("attention_mask")
        if input_ids.shape[1] == 0:  # an empty prompt: generate from the bos token
            input_ids, attention_mask, in_batch = None, None, 1
        else:
            in_batch = input_ids.shape[0]
        prompt_text = model_inputs["prompt_text"]
        prefix_length = generate_kwargs.pop("prefix_length", 0)
        generate_kwargs = self._generate_kwargs_for_call(generate_kwargs)
        if prefix_length:
            # max_length / min_length count the prompt, and the prefix is part of it
            for length in ("max_length", "min_length"):
                if length in generate_kwargs and length.replace("length", "new_tokens") not in generate_kwargs:
                    generate_kwargs[length] += prefix_length
        output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **generate_kwargs)
        sequences = output.sequences if hasattr(output, "sequences") else output
        out_batch = sequences.shape[0]
        return {"generated_sequence": sequences.reshape(in_batch, out_batch // in_batch, *sequences.shape[1:]),
                "input_ids": input_ids, "prompt_text": prompt_text}

    def postprocess(self, model_outputs, return_type=ReturnType.FULL_TEXT, clean_up_tokenization_spaces=None,
                    continue_final_message=None, skip_special_tokens=None):
        sequences = model_outputs["generated_sequence"][0].tolist()
        input_ids = model_outputs["input_ids"]
        prompt_text = model_outputs["prompt_text"]
        skip_special_tokens = True if skip_special_tokens is None else skip_special_tokens
        prompt_length = 0 if input_ids is None else input_ids.shape[-1]
        records = []
        for sequence in sequences:
            if return_type == ReturnType.TENSORS:
                records.append({"generated_token_ids": sequence})
                continue
            # the new text is what follows the prompt's tokens (left padding included)
            text = self.tokenizer.decode(sequence[prompt_length:], skip_special_tokens=skip_special_tokens,
                                         clean_up_tokenization_spaces=clean_up_tokenization_spaces)
            if return_type == ReturnType.FULL_TEXT:
                if isinstance(prompt_text, str):
                    text = prompt_text + text
                elif isinstance(prompt_text, Chat):
                    messages = list(prompt_text.messages)
                    continues = (messages[-1]["role"] == "assistant" if continue_final_message is None
                                 else continue_final_message)
                    if continues:
                        last = messages[-1]
                        text = messages[:-1] + [{"role": last["role"], "content": last["content"] + text}]
                    else:
                        text = messages + [{"role": "assistant", "content": text}]
            records.append({"generated_text": text})
        return records
