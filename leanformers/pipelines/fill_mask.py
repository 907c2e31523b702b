"""fill-mask: the model's guesses for each mask token, shaped as transformers 4.57's results.

- ``pipe("Paris is the [MASK] of France.")`` → ``[{'score', 'token', 'token_str', 'sequence'}, ...]``
  (``top_k``, default 5, best first);
- several masks in one text → one such list per mask (each scored on its own, as the reference:
  probabilities of each position, not joint ones), and ``sequence`` then keeps the other masks;
- ``pipe([a, b])`` → one result per text (a one-item list gives that item's result, as the reference);
- ``targets`` (a word or a list) limits the guesses to those tokens; a target that is not one token of
  the vocabulary is replaced by its first token, with the reference's warning.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from .base import Pipeline, PipelineException

__all__ = ["FillMaskPipeline"]

logger = logging.getLogger("leanformers")


class FillMaskPipeline(Pipeline):
    """Predict the masked token(s) with any ``*ForMaskedLM`` model.

    Parameters (constructor or call): ``top_k`` (default 5), ``targets`` (str or list of str),
    ``tokenizer_kwargs`` (a dict for the tokenizer, e.g. ``{"truncation": True}``).
    """

    def _sanitize_parameters(self, top_k=None, targets=None, tokenizer_kwargs=None):
        if self.tokenizer.mask_token_id is None:
            raise PipelineException(
                "fill-mask", self.model.config.model_type,
                f"fill-mask needs a tokenizer with a mask token, and this {type(self.tokenizer).__name__} has "
                f"none. Use the tokenizer the model was trained with (a masked language model's).")
        preprocess_params = {} if tokenizer_kwargs is None else {"tokenizer_kwargs": dict(tokenizer_kwargs)}
        postprocess_params = {}
        if targets is not None:
            postprocess_params["target_ids"] = self._target_ids(targets)
        if top_k is not None:
            if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
                raise ValueError(f"top_k must be a positive integer, not {top_k!r}.")
            postprocess_params["top_k"] = top_k
        return preprocess_params, {}, postprocess_params

    def _target_ids(self, targets) -> np.ndarray:
        if isinstance(targets, str):
            targets = [targets]
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in targets:
            token_id = vocab.get(target)
            if token_id is None:
                # not one token: its first token stands in for it (what the reference does)
                pieces = self.tokenizer(target, add_special_tokens=False, return_attention_mask=False,
                                        return_token_type_ids=False, max_length=1, truncation=True)["input_ids"]
                if not pieces:
                    logger.warning(f"The specified target token `{target}` does not exist in the model vocabulary. "
                                   f"We cannot replace it with anything meaningful, ignoring it")
                    continue
                token_id = pieces[0]
                logger.warning(f"The specified target token `{target}` does not exist in the model vocabulary. "
                               f"Replacing with `{self.tokenizer.convert_ids_to_tokens(token_id)}`.")
            ids.append(token_id)
        ids = list(set(ids))  # the reference's order (a set's), which decides ties between equal scores
        if not ids:
            raise ValueError(f"targets={targets!r} holds no token of the model's vocabulary: give at least one "
                             f"word the tokenizer knows.")
        return np.array(ids)

    def __call__(self, inputs=None, *args, **kwargs):
        """Fill the mask(s) of one text (a str) or of each text of a list; see the module docstring."""
        results = super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, list) and len(inputs) == 1:
            return results[0]
        return results

    def preprocess(self, inputs, tokenizer_kwargs=None):
        if not isinstance(inputs, str):
            raise TypeError(f"fill-mask takes a text (str) or a list of texts, not {type(inputs).__name__}.")
        model_inputs = self.tokenizer(inputs, return_tensors="pt", **(tokenizer_kwargs or {}))
        if not bool((model_inputs["input_ids"] == self.tokenizer.mask_token_id).any()):
            mask = self.tokenizer.mask_token
            raise PipelineException(
                "fill-mask", self.model.config.model_type,
                f"No mask_token ({mask}) found on the input {inputs!r}: put the model's mask token {mask!r} "
                f"where the word to predict goes, e.g. 'Paris is the {mask} of France.'")
        return model_inputs

    def _forward(self, model_inputs):
        outputs = self.model(**model_inputs)
        return {"logits": outputs["logits"], "input_ids": model_inputs["input_ids"]}

    def postprocess(self, model_outputs, top_k=5, target_ids=None):
        if target_ids is not None:
            top_k = min(top_k, target_ids.shape[0])
        input_ids = model_outputs["input_ids"][0]
        positions = torch.nonzero(input_ids == self.tokenizer.mask_token_id, as_tuple=False).squeeze(-1)
        probs = model_outputs["logits"][0, positions, :].float().softmax(dim=-1)
        if target_ids is not None:
            probs = probs[..., target_ids]
        values, predictions = probs.topk(top_k)
        single_mask = values.shape[0] == 1
        pad_id = self.tokenizer.pad_token_id
        results = []
        for position, row_values, row_predictions in zip(positions.tolist(), values.tolist(),
                                                          predictions.tolist()):
            row = []
            for score, prediction in zip(row_values, row_predictions):
                token = int(target_ids[prediction]) if target_ids is not None else prediction
                tokens = input_ids.clone()
                tokens[position] = token
                tokens = tokens[tokens != pad_id] if pad_id is not None else tokens
                # with several masks the others stay visible in the sequence (skipping special tokens
                # would drop them)
                row.append({"score": score, "token": token, "token_str": self.tokenizer.decode([token]),
                            "sequence": self.tokenizer.decode(tokens.tolist(), skip_special_tokens=single_mask)})
            results.append(row)
        return results[0] if single_mask else results
