"""feature-extraction: the hidden states of a model's body, one ``[1, seq, hidden]`` block per input.

Each input's features cover exactly its own tokens, whatever the batch size: after a padded batch
the pad positions are cut off again (the reference returns them when batch_size > 1, so its output
shape depends on which texts share a batch; here it always equals the reference at batch_size=1).
"""

from __future__ import annotations

from .base import Pipeline, with_default_truncation

__all__ = ["FeatureExtractionPipeline"]


class FeatureExtractionPipeline(Pipeline):
    """Features (the model's first output, ``last_hidden_state`` for a base model) of texts.

    Parameters (constructor or call): ``return_tensors`` (True: a ``torch.Tensor`` per input
    instead of nested lists), ``truncation``, ``tokenize_kwargs`` (a dict passed to the tokenizer).
    Inputs longer than the model can take are truncated unless ``truncation=False``.
    """

    def _sanitize_parameters(self, truncation=None, tokenize_kwargs=None, return_tensors=None, **kwargs):
        if kwargs:
            raise TypeError(
                f"feature-extraction got unknown parameters {sorted(kwargs)}; tokenizer options go in "
                f"tokenize_kwargs={{...}}."
            )
        tokenize_kwargs = dict(tokenize_kwargs or {})
        if truncation is not None:
            if "truncation" in tokenize_kwargs:
                raise ValueError("truncation is given twice: as a keyword and inside tokenize_kwargs. Keep one.")
            tokenize_kwargs["truncation"] = truncation
        postprocess_params = {}
        if return_tensors is not None:
            postprocess_params["return_tensors"] = return_tensors
        return tokenize_kwargs, {}, postprocess_params

    def preprocess(self, inputs, **tokenize_kwargs):
        tokenize_kwargs = with_default_truncation(self.tokenizer, self.model.config, tokenize_kwargs)
        return self.tokenizer(inputs, return_tensors="pt", **tokenize_kwargs)

    def _forward(self, model_inputs):
        return self.model(**model_inputs)

    def _unpad(self, item_outputs, length, padded_length, padding_side):
        # keep only this input's own token positions of every (1, seq, ...) output
        def cut(t):
            if getattr(t, "dim", None) and t.dim() >= 3 and t.shape[1] == padded_length:
                return t[:, padded_length - length:] if padding_side == "left" else t[:, :length]
            return t

        return type(item_outputs)(**{k: cut(v) if not isinstance(v, tuple) else tuple(cut(x) for x in v)
                                     for k, v in item_outputs.items()})

    def postprocess(self, model_outputs, return_tensors=False):
        features = model_outputs[0]  # the first output: last_hidden_state, or logits for a head model
        if return_tensors:
            return features.clone()  # a normal tensor (outputs are made under inference mode)
        return features.tolist()

    def __call__(self, *args, **kwargs):
        """Features of one text (``[1, seq, hidden]`` nested lists) or of each text in a list."""
        return super().__call__(*args, **kwargs)
