"""Data collators: a list of dataset rows -> one batch of tensors (the reference's behaviour).

The padding collators call ``tokenizer.pad`` (any tokenizer with the reference's ``pad`` API works),
so the padding side, pad id and ``pad_to_multiple_of`` rules are the tokenizer's own. The masked-LM
collator draws its random numbers in the reference's order, so the same torch seed gives the same
masks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "default_data_collator", "DefaultDataCollator", "DataCollatorWithPadding",
    "DataCollatorForTokenClassification", "DataCollatorForLanguageModeling", "DataCollatorForSeq2Seq",
]


def _check_return_tensors(return_tensors: str):
    if return_tensors != "pt":
        raise ValueError(f"return_tensors={return_tensors!r} is not supported by leanformers collators: "
                         f"they build torch tensors (return_tensors='pt').")


def default_data_collator(features: list, return_tensors: str = "pt") -> dict[str, Any]:
    """Stack rows that are already the same length; ``label``/``label_ids`` become ``labels``.

    Keys whose first value is None or a string are dropped (they cannot become a tensor).
    """
    _check_return_tensors(return_tensors)
    if not features:
        raise ValueError("default_data_collator got an empty list of features.")
    if not isinstance(features[0], Mapping):
        features = [vars(f) for f in features]
    first = features[0]
    batch = {}
    if "label" in first and first["label"] is not None:
        label = first["label"].item() if isinstance(first["label"], torch.Tensor) else first["label"]
        dtype = torch.long if isinstance(label, (int, np.integer)) else torch.float
        batch["labels"] = torch.tensor([f["label"] for f in features], dtype=dtype)
    elif "label_ids" in first and first["label_ids"] is not None:
        if isinstance(first["label_ids"], torch.Tensor):
            batch["labels"] = torch.stack([f["label_ids"] for f in features])
        else:
            dtype = torch.long if isinstance(first["label_ids"][0], (int, np.integer)) else torch.float
            batch["labels"] = torch.tensor([f["label_ids"] for f in features], dtype=dtype)
    for key, value in first.items():
        if key in ("label", "label_ids") or value is None or isinstance(value, str):
            continue
        column = [f[key] for f in features]
        try:
            if isinstance(value, torch.Tensor):
                batch[key] = torch.stack(column)
            elif isinstance(value, np.ndarray):
                batch[key] = torch.from_numpy(np.stack(column))
            else:
                batch[key] = torch.tensor(column)
        except (ValueError, RuntimeError) as e:
            raise ValueError(
                f"default_data_collator cannot stack {key!r}: its rows differ in length or type ({e}). "
                f"Pad them first, or pass data_collator=DataCollatorWithPadding(tokenizer)."
            ) from None
    return batch


@dataclass
class DefaultDataCollator:
    return_tensors: str = "pt"

    def __call__(self, features, return_tensors: str | None = None):
        return default_data_collator(features, return_tensors or self.return_tensors)


def _rename_labels(batch):
    for old in ("label", "label_ids"):
        if old in batch:
            batch["labels"] = batch[old]
            del batch[old]
    return batch


@dataclass
class DataCollatorWithPadding:
    """Pad each batch to its longest row (or ``max_length``) with ``tokenizer.pad``."""

    tokenizer: Any
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        _check_return_tensors(self.return_tensors)
        batch = self.tokenizer.pad(features, padding=self.padding, max_length=self.max_length,
                                   pad_to_multiple_of=self.pad_to_multiple_of, return_tensors=self.return_tensors)
        return _rename_labels(batch)


@dataclass
class DataCollatorForTokenClassification:
    """Pad inputs with ``tokenizer.pad`` and the per-token labels with ``label_pad_token_id``."""

    tokenizer: Any
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    return_tensors: str = "pt"

    def __call__(self, features, return_tensors: str | None = None):
        _check_return_tensors(return_tensors or self.return_tensors)
        label_name, labels, without_labels = _split_labels(features)
        batch = self.tokenizer.pad(without_labels, padding=self.padding, max_length=self.max_length,
                                   pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")
        if labels is None:
            return batch
        rows = _pad_rows(_label_rows(labels), batch["input_ids"].shape[1], self.label_pad_token_id,
                         self.tokenizer.padding_side)
        batch[label_name] = torch.tensor(rows, dtype=torch.int64)
        return batch


def _split_labels(features):
    """(the label key, each row's labels or None, the rows without them) of token/seq2seq features."""
    label_name = "label" if "label" in features[0] else "labels"
    labels = [f[label_name] for f in features] if label_name in features[0] else None
    return label_name, labels, [{k: v for k, v in f.items() if k != label_name} for f in features]


def _label_rows(labels) -> list[list]:
    return [label.tolist() if hasattr(label, "tolist") else list(label) for label in labels]


def _pad_rows(rows: list[list], width: int, pad: int, side: str) -> list[list]:
    """Pad each row to ``width`` with ``pad``, on the tokenizer's padding side."""
    if side == "right":
        return [row + [pad] * (width - len(row)) for row in rows]
    return [[pad] * (width - len(row)) + row for row in rows]


@dataclass
class DataCollatorForSeq2Seq:
    """Pad the inputs with ``tokenizer.pad`` and the labels with ``label_pad_token_id`` (on the
    tokenizer's padding side, to the longest label or ``max_length``, rounded up to
    ``pad_to_multiple_of``); with a ``model`` that has ``prepare_decoder_input_ids_from_labels``, add
    the ``decoder_input_ids`` it makes from the padded labels (the labels shifted right)."""

    tokenizer: Any
    model: Any | None = None
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    return_tensors: str = "pt"

    def __call__(self, features, return_tensors: str | None = None):
        _check_return_tensors(return_tensors or self.return_tensors)
        _, labels, without_labels = _split_labels(features)
        if labels is not None and all(label is None for label in labels):
            labels = None  # rows that say {"labels": None}
        batch = self.tokenizer.pad(without_labels, padding=self.padding, max_length=self.max_length,
                                   pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")
        if labels is None:
            batch["labels"] = None  # as the reference: the key is there, empty
            return batch
        rows = _label_rows(labels)
        if self.padding not in (False, "do_not_pad"):
            to_max = self.padding == "max_length" and self.max_length is not None
            width = self.max_length if to_max else max(len(row) for row in rows)
            if self.pad_to_multiple_of is not None:
                width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
            rows = _pad_rows(rows, width, self.label_pad_token_id, self.tokenizer.padding_side)
        try:
            batch["labels"] = torch.tensor(rows, dtype=torch.int64)
        except ValueError:
            raise ValueError("DataCollatorForSeq2Seq(padding=False) got labels of different lengths, which "
                             "cannot form one tensor: pad them (padding=True) or make them equal.") from None
        if self.model is not None and hasattr(self.model, "prepare_decoder_input_ids_from_labels"):
            batch["decoder_input_ids"] = self.model.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
        return batch


def _collate_token_lists(examples, tokenizer, pad_to_multiple_of: int | None = None) -> torch.Tensor:
    """Stack lists/arrays/tensors of token ids, padding with the tokenizer's pad id when needed."""
    if isinstance(examples[0], (list, tuple, np.ndarray)):
        examples = [torch.tensor(e, dtype=torch.long) for e in examples]
    first_len = examples[0].size(0)
    same_length = all(x.size(0) == first_len for x in examples)
    if same_length and (pad_to_multiple_of is None or first_len % pad_to_multiple_of == 0):
        return torch.stack(examples, dim=0)
    if tokenizer.pad_token is None:
        raise ValueError(f"The rows differ in length and must be padded, but the tokenizer "
                         f"({type(tokenizer).__name__}) has no pad token. Set tokenizer.pad_token "
                         f"(e.g. tokenizer.pad_token = tokenizer.eos_token).")
    max_length = max(x.size(0) for x in examples)
    if pad_to_multiple_of is not None and max_length % pad_to_multiple_of != 0:
        max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
    result = examples[0].new_full([len(examples), max_length], tokenizer.pad_token_id)
    for i, example in enumerate(examples):
        if tokenizer.padding_side == "right":
            result[i, : example.shape[0]] = example
        else:
            result[i, -example.shape[0]:] = example
    return result


@dataclass
class DataCollatorForLanguageModeling:
    """Masked-LM batches (``mlm=True``: mask ``mlm_probability`` of the non-special tokens; of those 80%
    become the mask token, 10% a random token, 10% stay) or causal-LM batches (``mlm=False``: labels
    are the inputs, with padding set to -100; the model shifts them)."""

    tokenizer: Any
    mlm: bool = True
    mlm_probability: float | None = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"
    seed: int | None = None
    whole_word_mask: bool = False

    def __post_init__(self):
        _check_return_tensors(self.return_tensors)
        if self.whole_word_mask:
            raise ValueError("whole_word_mask=True is not supported by leanformers; mask tokens individually.")
        if self.mlm:
            if self.tokenizer.mask_token is None:
                raise ValueError("This tokenizer has no mask token, which masked language modeling needs. "
                                 "Pass mlm=False to train a causal language model instead.")
            if self.mlm_probability is None or not 0 <= self.mlm_probability <= 1:
                raise ValueError(f"mlm_probability must be between 0 and 1, not {self.mlm_probability!r}.")
            self.mlm_probability = float(self.mlm_probability)
        for name in ("mask_replace_prob", "random_replace_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1, not {getattr(self, name)!r}.")
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise ValueError("mask_replace_prob + random_replace_prob must not exceed 1.")
        self.generator = None
        self._generator_pid = None

    def _ensure_generator(self):
        import os

        if self.seed is None or (self.generator is not None and self._generator_pid == os.getpid()):
            return
        info = torch.utils.data.get_worker_info()
        # each DataLoader worker gets its own stream: seed + worker id
        self.generator = torch.Generator().manual_seed(self.seed + (info.id if info is not None else 0))
        self._generator_pid = os.getpid()

    def __call__(self, examples, return_tensors: str | None = None) -> dict[str, Any]:
        _check_return_tensors(return_tensors or self.return_tensors)
        self._ensure_generator()
        if isinstance(examples[0], Mapping):
            batch = self.tokenizer.pad(examples, return_tensors="pt", pad_to_multiple_of=self.pad_to_multiple_of)
        else:
            batch = {"input_ids": _collate_token_lists(examples, self.tokenizer, self.pad_to_multiple_of)}
        special_tokens_mask = batch.pop("special_tokens_mask", None)
        batch.pop("offset_mapping", None)
        if self.mlm:
            batch["input_ids"], batch["labels"] = self.torch_mask_tokens(batch["input_ids"], special_tokens_mask)
        else:
            labels = batch["input_ids"].clone()
            if self.tokenizer.pad_token_id is not None:
                labels[labels == self.tokenizer.pad_token_id] = -100
            batch["labels"] = labels
        return batch

    def torch_mask_tokens(self, inputs: torch.Tensor, special_tokens_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        labels = inputs.clone()
        probability = torch.full(labels.shape, self.mlm_probability)
        if special_tokens_mask is None:
            special_tokens_mask = [self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                                   for row in labels.tolist()]
        if isinstance(special_tokens_mask, torch.Tensor):
            no_mask = special_tokens_mask.bool()
        else:
            no_mask = torch.tensor(special_tokens_mask, dtype=torch.bool)
        probability.masked_fill_(no_mask, value=0.0)
        masked = torch.bernoulli(probability, generator=self.generator).bool()
        labels[~masked] = -100  # the loss is computed on masked tokens only

        replaced = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob),
                                   generator=self.generator).bool() & masked
        inputs[replaced] = self.tokenizer.convert_tokens_to_ids(self.tokenizer.mask_token)
        if self.mask_replace_prob == 1 or self.random_replace_prob == 0:
            return inputs, labels
        # random_replace_prob is a share of all masked tokens; rescale it to the ones not yet replaced
        scaled = self.random_replace_prob / (1 - self.mask_replace_prob)
        randomized = torch.bernoulli(torch.full(labels.shape, scaled), generator=self.generator).bool() \
            & masked & ~replaced
        random_words = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long, generator=self.generator)
        inputs[randomized] = random_words[randomized]
        return inputs, labels
