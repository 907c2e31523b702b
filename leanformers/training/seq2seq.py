"""Seq2SeqTrainer: the Trainer whose evaluation can score ``model.generate`` output (the reference's).

With ``Seq2SeqTrainingArguments(predict_with_generate=True)``, ``evaluate`` and ``predict`` run
``generate`` on each batch's inputs and hand the generated ids (not logits) to ``compute_metrics``,
padded like the reference pads them: each batch to the generation config's ``max_length`` with the
pad token, and batches of different widths to one array with -100. The loss is still the model's
loss on the labels.
"""

from __future__ import annotations

import copy
import os

import torch

from .trainer import Trainer

__all__ = ["Seq2SeqTrainer"]


class Seq2SeqTrainer(Trainer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if getattr(self.args, "generation_config", None) is not None:
            self.model.generation_config = self.load_generation_config(self.args.generation_config)
        self._gen_kwargs = {}

    @staticmethod
    def load_generation_config(gen_config_arg):
        """A copy of a GenerationConfig, or one read from a folder, a generation_config.json file or a Hub id."""
        from ..generation import GenerationConfig

        if isinstance(gen_config_arg, GenerationConfig):
            config = copy.deepcopy(gen_config_arg)
        else:
            path = os.fspath(gen_config_arg)
            if os.path.isfile(path):
                config = GenerationConfig.from_pretrained(os.path.dirname(path) or ".", os.path.basename(path))
            else:
                config = GenerationConfig.from_pretrained(path)
        try:
            config.validate()
        except ValueError as e:
            raise ValueError(f"{e}\n\nFix these issues to train your model.") from None
        return config

    # ---- evaluation with generate() -----------------------------------------------------------
    def _generation_kwargs(self, gen_kwargs: dict) -> dict:
        gen_kwargs = dict(gen_kwargs)
        max_length = getattr(self.args, "generation_max_length", None)
        if gen_kwargs.get("max_length") is None and gen_kwargs.get("max_new_tokens") is None and max_length is not None:
            gen_kwargs["max_length"] = max_length
        num_beams = getattr(self.args, "generation_num_beams", None)
        if gen_kwargs.get("num_beams") is None and num_beams is not None:
            gen_kwargs["num_beams"] = num_beams
        return gen_kwargs

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval", **gen_kwargs):
        """As Trainer.evaluate; ``gen_kwargs`` (max_length, num_beams, ...) go to generate()."""
        self._gen_kwargs = self._generation_kwargs(gen_kwargs)
        return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test", **gen_kwargs):
        """As Trainer.predict; with predict_with_generate the predictions are generated ids."""
        self._gen_kwargs = self._generation_kwargs(gen_kwargs)
        return super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def prediction_step(self, model, inputs, prediction_loss_only: bool, ignore_keys=None, **gen_kwargs):
        if not getattr(self.args, "predict_with_generate", False) or prediction_loss_only:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        has_labels = inputs.get("labels") is not None
        inputs = self._prepare_inputs(inputs)
        gen_kwargs = dict(gen_kwargs or self._gen_kwargs)
        for key in ("num_beams", "max_length"):
            if key in gen_kwargs and gen_kwargs[key] is None:
                gen_kwargs.pop(key)
        # generate() starts the decoder itself: the teacher-forcing inputs made from the labels, and the
        # labels, stay out of it
        generation_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        decoder_ids = inputs.get("decoder_input_ids")
        if has_labels and decoder_ids is not None and inputs["labels"].shape == decoder_ids.shape:
            generation_inputs.pop("decoder_input_ids")
            generation_inputs.pop("decoder_attention_mask", None)
        generator = self._unwrapped(model)
        generated = generator.generate(**generation_inputs, **gen_kwargs)

        # the reference pads to the model's generation config (not this call's): max_length, default 20
        config = self._generation_config(generator)
        max_length, max_new_tokens = config.get("max_length"), config.max_new_tokens
        if generated.shape[-1] < max_length:
            generated = self._pad_tensors_to_max_len(generated, max_length)
        elif max_new_tokens is not None and generated.shape[-1] < max_new_tokens + 1:
            generated = self._pad_tensors_to_max_len(generated, max_new_tokens + 1)

        loss = None
        if has_labels:
            with torch.no_grad(), self.compute_loss_context_manager():
                outputs = model(**inputs)
            loss = (outputs["loss"] if isinstance(outputs, dict) else outputs[0]).detach().mean()
        if self.args.prediction_loss_only:
            return loss, None, None
        labels = None
        if has_labels:
            labels = inputs["labels"]
            if labels.shape[-1] < max_length:
                labels = self._pad_tensors_to_max_len(labels, max_length)
            elif max_new_tokens is not None and labels.shape[-1] < max_new_tokens + 1:
                labels = self._pad_tensors_to_max_len(labels, max_new_tokens + 1)
        return loss, generated, labels

    @staticmethod
    def _unwrapped(model):
        return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model

    @staticmethod
    def _generation_config(model):
        from ..generation import GenerationConfig

        config = getattr(model, "generation_config", None)
        return config if config is not None else GenerationConfig.from_model_config(model.config)

    def _pad_tensors_to_max_len(self, tensor: torch.Tensor, max_length: int) -> torch.Tensor:
        tokenizer = self.processing_class
        if tokenizer is not None and hasattr(tokenizer, "pad_token_id"):
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        else:
            pad = getattr(self._unwrapped(self.model).config, "pad_token_id", None)
            if pad is None:
                raise ValueError("Padding generated ids needs a pad token: set model.config.pad_token_id, or pass "
                                 "the tokenizer to Seq2SeqTrainer(processing_class=tokenizer).")
        padded = torch.full((tensor.shape[0], max_length), pad, dtype=tensor.dtype, device=tensor.device)
        padded[:, :tensor.shape[-1]] = tensor
        return padded
