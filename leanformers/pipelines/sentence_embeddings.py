"""sentence-embeddings: one vector per text, as sentence-transformers computes it (beyond the
reference, which leaves this to that library).

The checkpoint's sentence-transformers files say how: ``modules.json`` lists the modules
(Transformer → Pooling → optional Normalize), ``1_Pooling/config.json`` (the Pooling module's
folder) the pooling mode, and ``sentence_bert_config.json`` the longest input (``max_seq_length``,
longer texts are truncated). A checkpoint without these files is pooled as sentence-transformers
pools a plain Transformers model: the mean of the token vectors, not normalised.
"""

from __future__ import annotations

import json
import os

import torch

from .base import Pipeline, model_max_length

__all__ = ["SentenceEmbeddingsPipeline", "read_sentence_transformers_config"]

_POOLING_ORDER = ("cls", "max", "mean", "mean_sqrt_len", "lasttoken")  # concatenated in this order
_SUPPORTED_MODULES = {"Transformer", "Pooling", "Normalize"}


def _read_json(name: str, filename: str) -> dict | list | None:
    from ..hub import resolve_file

    try:
        path = resolve_file(name, filename, required=False)
    except OSError:
        return None
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_sentence_transformers_config(name: str | None) -> dict:
    """``{"modes": [...], "normalize": bool, "max_seq_length": int | None}`` from a checkpoint's files."""
    settings = {"modes": ["mean"], "normalize": False, "max_seq_length": None}
    modules = _read_json(name, "modules.json") if name else None
    if not modules:
        return settings
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    others = [k for k in kinds if k not in _SUPPORTED_MODULES]
    if others:
        raise ValueError(f"{name}'s modules.json lists sentence-transformers modules that leanformers does not "
                         f"implement: {others} (it implements Transformer, Pooling and Normalize).")
    settings["normalize"] = "Normalize" in kinds
    for module, kind in zip(modules, kinds):
        if kind != "Pooling":
            continue
        config = _read_json(name, os.path.join(module.get("path", ""), "config.json").replace(os.sep, "/")) or {}
        modes = [mode for mode in _POOLING_ORDER
                 if any(config.get(f"pooling_mode_{mode}{end}") for end in ("_tokens", "_token", ""))]
        if config.get("pooling_mode_weightedmean_tokens"):
            raise ValueError(f"{name} pools with weighted mean tokens, which leanformers does not implement.")
        if modes:
            settings["modes"] = modes
    sbert = _read_json(name, "sentence_bert_config.json") or {}
    if isinstance(sbert.get("max_seq_length"), int):
        settings["max_seq_length"] = sbert["max_seq_length"]
    return settings


def pool(hidden: torch.Tensor, mask: torch.Tensor, modes: list[str]) -> torch.Tensor:
    """(batch, seq, dim) token vectors → (batch, dim * len(modes)) by sentence-transformers' rules."""
    mask_f = mask.unsqueeze(-1).to(hidden.dtype)
    outputs = []
    for mode in modes:
        if mode == "cls":
            outputs.append(hidden[:, 0])
        elif mode == "max":
            outputs.append(hidden.masked_fill(mask_f == 0, -1e9).max(dim=1).values)
        elif mode in ("mean", "mean_sqrt_len"):
            total = (hidden * mask_f).sum(dim=1)
            count = mask_f.sum(dim=1).clamp(min=1e-9)
            outputs.append(total / count if mode == "mean" else total / count.sqrt())
        elif mode == "lasttoken":
            # the last real token of each row, wherever the padding is
            last = mask.shape[1] - 1 - mask.flip(1).int().argmax(dim=1)
            outputs.append(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
    return torch.cat(outputs, dim=-1)


class SentenceEmbeddingsPipeline(Pipeline):
    """``pipe("a text")`` → a list of floats; ``pipe([...])`` → one per text.

    Parameters: ``normalize`` (override the checkpoint's Normalize module), ``return_tensors``
    (a ``torch.Tensor`` per text instead of a list), ``truncation`` (default True, to the
    checkpoint's ``max_seq_length`` and the model's own limit).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        name = getattr(self.model, "name_or_path", None) or getattr(self.model.config, "name_or_path", None)
        self.settings = read_sentence_transformers_config(name)

    def _sanitize_parameters(self, normalize=None, return_tensors=None, truncation=None):
        preprocess = {} if truncation is None else {"truncation": truncation}
        postprocess = {}
        if normalize is not None:
            postprocess["normalize"] = bool(normalize)
        if return_tensors is not None:
            postprocess["return_tensors"] = bool(return_tensors)
        return preprocess, {}, postprocess

    def preprocess(self, text, truncation=True):
        if not isinstance(text, str):
            raise TypeError(f"sentence-embeddings takes a string (or a list of strings), not {type(text).__name__}.")
        kwargs = {}
        if truncation:
            limits = [x for x in (self.settings["max_seq_length"], model_max_length(self.tokenizer, self.model.config))
                      if x is not None]
            if limits:
                kwargs = {"truncation": True, "max_length": min(limits)}
        return self.tokenizer(text, return_tensors="pt", **kwargs)

    def _forward(self, model_inputs):
        hidden = self.model(**model_inputs)[0]
        mask = model_inputs.get("attention_mask")
        if mask is None:
            mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
        return {"sentence_embedding": pool(hidden.float(), mask, self.settings["modes"])}

    def postprocess(self, model_outputs, normalize=None, return_tensors=False):
        vector = model_outputs["sentence_embedding"][0]
        if self.settings["normalize"] if normalize is None else normalize:
            vector = torch.nn.functional.normalize(vector, p=2, dim=-1)
        return vector.clone() if return_tensors else vector.tolist()
