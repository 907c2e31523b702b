"""zero-shot-classification: score labels chosen at call time with a model trained on NLI.

Each candidate label becomes a hypothesis (``hypothesis_template``, default "This example is {}.")
paired with the text; the model's entailment logit says how well the label fits. Results are shaped
as transformers 4.57's: ``{'sequence': text, 'labels': [...best first], 'scores': [...]}`` for one text,
a list of those for a list of texts.

- ``multi_label=False`` (default): a softmax of the entailment logits over the labels (scores sum to 1);
- ``multi_label=True`` (or a single label): each label on its own, a softmax of its entailment logit
  against its contradiction logit.

The entailment id is the first label of ``config.label2id`` that starts with "entail" (any case); the
contradiction id is 0, or the last label when entailment is 0 (the reference's rule).
"""

from __future__ import annotations

import inspect
import logging

import numpy as np

from .chunk import ChunkPipeline

__all__ = ["ZeroShotClassificationPipeline"]

logger = logging.getLogger("leanformers")


def _labels(candidate_labels) -> list:
    if isinstance(candidate_labels, str):
        return [label.strip() for label in candidate_labels.split(",") if label.strip()]
    return list(candidate_labels)


class ZeroShotClassificationPipeline(ChunkPipeline):
    """NLI-based zero-shot classification with any ``*ForSequenceClassification`` NLI model.

    Parameters (call, or constructor): ``candidate_labels`` (a list, or one comma-separated string;
    also the second positional argument), ``hypothesis_template``, ``multi_label`` (``multi_class``, its
    older name).
    """

    sequence_keys = ("input_ids", "attention_mask", "token_type_ids")  # the logits are one row per pair

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.entailment_id == -1:
            logger.warning("Failed to determine 'entailment' label id from the label2id mapping in the model config. "
                           "Setting to -1. Define a descriptive label2id mapping in the model config to ensure correct "
                           "outputs.")

    @property
    def entailment_id(self) -> int:
        for label, index in self.model.config.label2id.items():
            if label.lower().startswith("entail"):
                return index
        return -1

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, multi_label=None,
                             multi_class=None, **tokenizer_kwargs):
        if tokenizer_kwargs:
            raise TypeError(f"zero-shot-classification got unexpected arguments {sorted(tokenizer_kwargs)}; it takes "
                            f"candidate_labels, hypothesis_template and multi_label.")
        if multi_class is not None:
            logger.warning("The `multi_class` argument has been renamed to `multi_label`.")
            multi_label = multi_class
        preprocess_params = {}
        if candidate_labels is not None:
            preprocess_params["candidate_labels"] = _labels(candidate_labels)
        if hypothesis_template is not None:
            preprocess_params["hypothesis_template"] = hypothesis_template
        postprocess_params = {} if multi_label is None else {"multi_label": multi_label}
        return preprocess_params, {}, postprocess_params

    def __call__(self, sequences=None, *args, **kwargs):
        """Classify one text or each text of a list; ``pipe(text, ["a", "b"])`` passes the labels
        positionally."""
        if len(args) == 1 and "candidate_labels" not in kwargs:
            kwargs["candidate_labels"] = args[0]
        elif args:
            raise ValueError(f"Unable to understand extra arguments {args}: pass candidate_labels=[...].")
        return super().__call__(sequences, **kwargs)

    def preprocess(self, sequence, candidate_labels=None, hypothesis_template="This example is {}."):
        if candidate_labels is None:
            raise ValueError("zero-shot-classification needs candidate_labels: pipe(text, candidate_labels=['sports', "
                             "'politics']) or a comma-separated string 'sports, politics'.")
        if len(candidate_labels) == 0 or len(sequence) == 0:
            raise ValueError("You must include at least one label and at least one sequence: candidate_labels is "
                             f"{candidate_labels!r} and the text is {sequence!r}.")
        if hypothesis_template.format(candidate_labels[0]) == hypothesis_template:
            raise ValueError(
                f'The provided hypothesis_template "{hypothesis_template}" was not able to be formatted with the target '
                "labels. Make sure the passed template includes formatting syntax such as {} where the label should go.")
        if not isinstance(sequence, str):
            raise TypeError(f"zero-shot-classification takes a text (str) or a list of texts, not "
                            f"{type(sequence).__name__}.")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        rows = []
        for label in candidate_labels:
            pair = [[sequence, hypothesis_template.format(label)]]
            try:  # only the text is truncated, never the hypothesis
                inputs = self.tokenizer(pair, return_tensors="pt", padding=True, truncation="only_first")
            except Exception as e:  # noqa: BLE001 -- a hypothesis alone too long to truncate the text for
                if "too short" not in str(e):
                    raise
                inputs = self.tokenizer(pair, return_tensors="pt", padding=True, truncation=False)
            rows.append({**inputs, "candidate_label": label, "sequence": sequence})
        return rows

    def _forward(self, rows):
        model_inputs = {k: rows[k] for k in self.tokenizer.model_input_names if k in rows}
        if "use_cache" in inspect.signature(self.model.forward).parameters:
            model_inputs["use_cache"] = False
        outputs = self.model(**model_inputs)
        return {"logits": outputs["logits"], "candidate_label": rows["candidate_label"], "sequence": rows["sequence"]}

    def postprocess(self, rows, multi_label=False):
        labels = [row["candidate_label"] for row in rows]
        logits = np.concatenate([row["logits"].float().numpy() for row in rows])[None]  # (1, labels, classes)
        if multi_label or len(labels) == 1:
            entailment = self.entailment_id
            contradiction = -1 if entailment == 0 else 0
            pairs = np.exp(logits[..., [contradiction, entailment]])
            scores = (pairs / pairs.sum(-1, keepdims=True))[..., 1]
        else:
            entail = np.exp(logits[..., self.entailment_id])
            scores = entail / entail.sum(-1, keepdims=True)
        order = list(reversed(scores[0].argsort()))
        return {"sequence": rows[0]["sequence"], "labels": [labels[i] for i in order],
                "scores": scores[0, order].tolist()}
